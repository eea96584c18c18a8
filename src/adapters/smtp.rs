//! Delivery over SMTP: lettre's SMTP client on connections we open and pool ourselves.
//!
//! lettre writes a message and its final `.` in two writes; on a socket without TCP_NODELAY the
//! second waits for the server's delayed ACK (~40 ms a mail, measured). We open the sockets, set
//! TCP_NODELAY, and hand them to lettre; we also skip the NOOP lettre's pool sends before reusing
//! a connection, retrying once on a fresh one when a reused connection turns out to be dead.

use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

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

/// Idle connections older than this are closed rather than reused (servers time them out).
const IDLE_LIMIT: Duration = Duration::from_secs(30);

pub struct SmtpTransport {
    config: SmtpConfig,
    hello: ClientId,
    starttls: Option<TlsParameters>,
    implicit_tls: Option<tokio_rustls::TlsConnector>,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

#[derive(Debug, thiserror::Error)]
#[error("smtp: {0}")]
pub struct SmtpSetupError(String);

impl SmtpTransport {
    pub fn new(config: &SmtpConfig) -> Result<SmtpTransport, SmtpSetupError> {
        let starttls = match config.security {
            SmtpSecurity::StartTls => Some(starttls_parameters(config)?),
            _ => None,
        };
        let implicit_tls = match config.security {
            SmtpSecurity::Tls => Some(tokio_rustls::TlsConnector::from(
                super::tls::client_config(config.ca_file.as_deref()).map_err(SmtpSetupError)?,
            )),
            _ => None,
        };
        Ok(SmtpTransport {
            hello: ClientId::Domain(config.hello_name.clone()),
            config: config.clone(),
            starttls,
            implicit_tls,
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let config = &self.config;
        let address = format!("{}:{}", config.host, config.port);
        let transient = |what: &str, e: &dyn std::fmt::Display| {
            SendError::Transient(format!("{address}: {what}: {e}"))
        };
        let tcp = TcpStream::connect((config.host.as_str(), config.port))
            .await
            .map_err(|e| transient("connection refused or unreachable", &e))?;
        tcp.set_nodelay(true).map_err(|e| transient("socket", &e))?;
        let mut connection = match &self.implicit_tls {
            Some(connector) => {
                let name = ServerName::try_from(config.host.clone())
                    .map_err(|e| transient("server name", &e))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| transient("TLS", &e))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(ImplicitTls(tls)), &self.hello)
                    .await
            }
            None => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await,
        }
        .map_err(classify)?;
        if let Some(parameters) = &self.starttls {
            if !connection.can_starttls() {
                return Err(SendError::Transient(format!(
                    "{address}: the server offers no STARTTLS"
                )));
            }
            connection
                .starttls(parameters.clone(), &self.hello)
                .await
                .map_err(classify)?;
        }
        if let Some((user, password)) = &config.credentials {
            let credentials = Credentials::new(user.clone(), password.expose().to_string());
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(classify)?;
        }
        Ok(connection)
    }

    /// A pooled connection (`true`) or a new one.
    async fn checkout(&self) -> Result<(AsyncSmtpConnection, bool), SendError> {
        {
            let mut idle = self.idle.lock().await;
            while let Some((connection, since)) = idle.pop() {
                if since.elapsed() < IDLE_LIMIT && !connection.has_broken() {
                    return Ok((connection, true));
                }
            }
        }
        Ok((self.connect().await?, false))
    }

    async fn checkin(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().await;
        if idle.len() < self.config.connections {
            idle.push((connection, Instant::now()));
        }
    }

    async fn attempt(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), (SendError, bool)> {
        let (mut connection, reused) = self.checkout().await.map_err(|e| (e, false))?;
        let timeout = Duration::from_secs(self.config.timeout_secs);
        match tokio::time::timeout(timeout, connection.send(envelope, raw)).await {
            Ok(Ok(_)) => {
                self.checkin(connection).await;
                Ok(())
            }
            Ok(Err(error)) => {
                let broken = connection.has_broken();
                if !broken && error.is_permanent() {
                    // The connection is fine; the server refused this mail.
                    self.checkin(connection).await;
                } else {
                    connection.abort().await;
                }
                Err((classify(error), reused && broken))
            }
            Err(_) => {
                connection.abort().await;
                Err((
                    SendError::Transient(format!("no answer within {} s", timeout.as_secs())),
                    false,
                ))
            }
        }
    }
}

/// Our own TLS stream (over our TCP_NODELAY socket), in the shape lettre takes.
#[derive(Debug)]
struct ImplicitTls(tokio_rustls::client::TlsStream<TcpStream>);

impl lettre::transport::smtp::client::AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

fn starttls_parameters(config: &SmtpConfig) -> Result<TlsParameters, SmtpSetupError> {
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

fn classify(error: lettre::transport::smtp::Error) -> SendError {
    if error.is_permanent() {
        SendError::Permanent(error.to_string())
    } else {
        SendError::Transient(error_chain(&error))
    }
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
        match self.attempt(&envelope, raw).await {
            Ok(()) => Ok(()),
            // A pooled connection the server had closed: once more on a fresh one.
            Err((_, true)) => self
                .attempt(&envelope, raw)
                .await
                .map_err(|(error, _)| error),
            Err((error, false)) => Err(error),
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
