//! Delivery over SMTP with lettre: a pooled async transport behind the `MailTransport` trait.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpSecurity};

/// Whether trying again later can help: a 4xx or a network problem can; a 5xx cannot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("temporary: {0}")]
    Transient(String),
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Hands a rendered mail to the next hop; `Ok` only once the server has accepted it.
pub trait MailTransport: Send + Sync {
    fn send(
        &self,
        envelope_from: Option<&str>,
        recipients: &[String],
        raw: &[u8],
    ) -> impl std::future::Future<Output = Result<(), SendError>> + Send;
}

pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

#[derive(Debug, thiserror::Error)]
#[error("smtp: {0}")]
pub struct SmtpSetupError(String);

impl SmtpTransport {
    pub fn new(config: &SmtpConfig) -> Result<SmtpTransport, SmtpSetupError> {
        let tls = match config.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters(config)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(config)?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
                .port(config.port)
                .tls(tls)
                .hello_name(ClientId::Domain(config.hello_name.clone()))
                .timeout(Some(Duration::from_secs(config.timeout_secs)))
                .pool_config(
                    PoolConfig::new()
                        .max_size(config.connections as u32)
                        .idle_timeout(Duration::from_secs(60)),
                );
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(SmtpTransport {
            inner: builder.build(),
        })
    }
}

fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, SmtpSetupError> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| SmtpSetupError(format!("cannot read CA file {}: {e}", path.display())))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| SmtpSetupError(format!("CA file {}: {e}", path.display())))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| SmtpSetupError(format!("TLS setup: {e}")))
}

impl MailTransport for SmtpTransport {
    async fn send(
        &self,
        envelope_from: Option<&str>,
        recipients: &[String],
        raw: &[u8],
    ) -> Result<(), SendError> {
        let from = envelope_from
            .map(|address| address.parse())
            .transpose()
            .map_err(|e| SendError::Permanent(format!("bad envelope sender: {e}")))?;
        let to = recipients
            .iter()
            .map(|address| address.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Permanent(format!("bad recipient: {e}")))?;
        let envelope = Envelope::new(from, to).map_err(|e| SendError::Permanent(e.to_string()))?;
        match self.inner.send_raw(&envelope, raw).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Err(error) => Err(SendError::Transient(error_chain(&error))),
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
