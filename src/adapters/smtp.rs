//! Delivery over SMTP, one recipient at a time, on connections we open and pool ourselves.
//!
//! lettre's `send` gives up on the whole mail when the server refuses one recipient. We drive the
//! transaction ourselves instead: MAIL FROM, one RCPT TO per recipient with its reply kept, then
//! DATA for the accepted ones only, so each recipient gets its own outcome.
//!
//! lettre writes a message and its final `.` in two writes; on a socket without TCP_NODELAY the
//! second waits for the server's delayed ACK (~40 ms a mail, measured). We open the sockets, set
//! TCP_NODELAY, and hand them to lettre; we also skip the NOOP lettre's pool sends before reusing
//! a connection, retrying once on a fresh one when a reused connection turns out to be dead.
//!
//! Every network step (TCP connect, TLS handshake, greeting and EHLO, STARTTLS, AUTH, each
//! command and the message itself) is bounded by `timeout_secs`: a server that accepts the
//! connection and then says nothing costs one timeout and a retry later, never a stuck outbox.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::Address;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::oauth2::{sasl_response, TokenSource};
use crate::config::{OAuth2Mechanism, SmtpAuth, SmtpConfig, SmtpSecurity};
use crate::core::delivery::Outcome;

/// Hands a rendered mail to the next hop, recipient by recipient.
pub trait MailTransport: Send + Sync {
    /// One outcome per recipient, in the order given. `Delivered` only once the server has
    /// accepted the mail for that recipient; a recipient refused does not stop the others.
    fn send(
        &self,
        envelope_from: Option<&str>,
        recipients: &[String],
        raw: &[u8],
    ) -> impl Future<Output = Vec<Outcome>> + Send;
}

/// Idle connections older than this are closed rather than reused (servers time them out).
const IDLE_LIMIT: Duration = Duration::from_secs(30);

pub struct SmtpTransport {
    config: SmtpConfig,
    hello: ClientId,
    starttls: Option<TlsParameters>,
    implicit_tls: Option<tokio_rustls::TlsConnector>,
    idle: Mutex<Vec<(Open, Instant)>>,
    /// The access tokens of `auth = "oauth2"` / `"oauthbearer"`.
    tokens: Option<Arc<TokenSource>>,
}

#[derive(Debug, thiserror::Error)]
#[error("smtp: {0}")]
pub struct SmtpSetupError(String);

/// A connection, ready for mail.
struct Open {
    connection: AsyncSmtpConnection,
    /// Logged in with an OAuth2 token: not reused once the token is due for renewal, so that
    /// no mail goes out on a login the server may end when the token expires.
    login_until: Option<tokio::time::Instant>,
}

/// How one step of a conversation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StepError {
    /// The server answered no (4xx or 5xx); the connection itself is still usable.
    Reply { permanent: bool, text: String },
    /// Network trouble, no answer in time, or a reply we cannot read: the connection is gone.
    Broken(String),
}

impl StepError {
    fn outcome(&self) -> Outcome {
        match self {
            StepError::Reply {
                permanent: true,
                text,
            } => Outcome::Refused(text.clone()),
            StepError::Reply { text, .. } | StepError::Broken(text) => {
                Outcome::Deferred(text.clone())
            }
        }
    }
}

/// What one conversation on one connection came to.
struct Conversation {
    /// `(index into the recipients, outcome)` for each recipient tried.
    outcomes: Vec<(usize, Outcome)>,
    /// The connection can go back to the pool.
    reusable: bool,
    /// The connection was dead before the server said anything: nothing reached it.
    dead_at_start: bool,
}

impl SmtpTransport {
    pub fn new(
        config: &SmtpConfig,
        tokens: Option<Arc<TokenSource>>,
    ) -> Result<SmtpTransport, SmtpSetupError> {
        if matches!(config.credentials, Some(SmtpAuth::OAuth2 { .. })) && tokens.is_none() {
            return Err(SmtpSetupError("no token source for an OAuth2 login".into()));
        }
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
            tokens,
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs)
    }

    /// Runs one network step under the timeout.
    async fn step<T>(
        &self,
        what: &str,
        future: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, StepError> {
        match tokio::time::timeout(self.timeout(), future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(step_error(what, &error)),
            Err(_) => Err(StepError::Broken(format!(
                "no answer to {what} within {} s",
                self.config.timeout_secs
            ))),
        }
    }

    /// A new connection, greeted, secured and logged in. A failure here says nothing about the
    /// mail or its recipients (our relay is down, slow or misconfigured), so it is always
    /// temporary: the outbox tries again until it gives up.
    async fn connect(&self) -> Result<Open, String> {
        let config = &self.config;
        let address = format!("{}:{}", config.host, config.port);
        let late =
            |what: &str| format!("{address}: no {what} within {} s", self.config.timeout_secs);
        let tcp = tokio::time::timeout(
            self.timeout(),
            TcpStream::connect((config.host.as_str(), config.port)),
        )
        .await
        .map_err(|_| late("TCP connection"))?
        .map_err(|e| format!("{address}: connection refused or unreachable: {e}"))?;
        tcp.set_nodelay(true)
            .map_err(|e| format!("{address}: socket: {e}"))?;
        let greeted = match &self.implicit_tls {
            Some(connector) => {
                let name = ServerName::try_from(config.host.clone())
                    .map_err(|e| format!("{address}: server name: {e}"))?;
                let tls = tokio::time::timeout(self.timeout(), connector.connect(name, tcp))
                    .await
                    .map_err(|_| late("TLS handshake"))?
                    .map_err(|e| format!("{address}: TLS: {e}"))?;
                let stream = Box::new(ImplicitTls(tls));
                self.step(
                    "the greeting and EHLO",
                    AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
                )
                .await
            }
            None => {
                self.step(
                    "the greeting and EHLO",
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello),
                )
                .await
            }
        };
        let setup = |error: StepError| match error {
            StepError::Reply { text, .. } | StepError::Broken(text) => format!("{address}: {text}"),
        };
        let mut connection = greeted.map_err(setup)?;
        if let Some(parameters) = &self.starttls {
            if !connection.can_starttls() {
                return Err(format!("{address}: the server offers no STARTTLS"));
            }
            self.step(
                "STARTTLS",
                connection.starttls(parameters.clone(), &self.hello),
            )
            .await
            .map_err(setup)?;
        }
        let mut login_until = None;
        match &config.credentials {
            Some(SmtpAuth::Password { user, password }) => {
                let credentials = Credentials::new(user.clone(), password.expose().to_string());
                self.step(
                    "AUTH",
                    connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
                )
                .await
                .map_err(setup)?;
            }
            Some(SmtpAuth::OAuth2 {
                user, mechanism, ..
            }) => {
                let tokens = self.tokens.as_ref().ok_or("no OAuth2 token source")?;
                let renew_at = match self
                    .oauth2_login(&mut connection, tokens, user, *mechanism)
                    .await?
                {
                    Ok(renew_at) => renew_at,
                    Err(refused) => {
                        // A revoked or early-expired token: once more with a new one.
                        tracing::info!(%user, reason = %refused, "OAuth2 token refused; trying once with a new one");
                        self.oauth2_login(&mut connection, tokens, user, *mechanism)
                            .await?
                            .map_err(|refused| format!("{address}: {refused}"))?
                    }
                };
                login_until = Some(renew_at);
            }
            None => {}
        }
        Ok(Open {
            connection,
            login_until,
        })
    }

    /// AUTH XOAUTH2 / OAUTHBEARER with the initial response (lettre has no OAUTHBEARER): when
    /// the token is due for renewal, or the server's refusal (the token is then dropped from the
    /// cache).
    async fn oauth2_login(
        &self,
        connection: &mut AsyncSmtpConnection,
        tokens: &TokenSource,
        user: &str,
        mechanism: OAuth2Mechanism,
    ) -> Result<Result<tokio::time::Instant, String>, String> {
        let token = tokens.token().await.map_err(|e| e.to_string())?;
        let response = sasl_response(
            mechanism,
            user,
            &self.config.host,
            self.config.port,
            &token.secret,
        );
        let line = SaslLine(format!(
            "AUTH {} {}",
            mechanism.sasl_name(),
            base64::engine::general_purpose::STANDARD.encode(response.expose())
        ));
        let refused = match self.step("AUTH", connection.command(line)).await {
            Ok(reply) if reply.has_code(235) => return Ok(Ok(token.renew_at)),
            // The server's error details (RFC 7628 section 3.2.3): an empty line ends the
            // exchange with the final refusal.
            Ok(_) => match self
                .step("AUTH", connection.command(SaslLine(String::new())))
                .await
            {
                Err(StepError::Reply { text, .. }) => text,
                Err(StepError::Broken(text)) => return Err(text),
                Ok(reply) => format!("unexpected reply {}", reply.code()),
            },
            Err(StepError::Reply { text, .. }) => text,
            Err(StepError::Broken(text)) => return Err(text),
        };
        tokens.rejected(&token.secret).await;
        Ok(Err(refused))
    }

    /// A pooled connection (`true`) or a new one.
    async fn checkout(&self) -> Result<(Open, bool), String> {
        {
            let mut idle = self.idle.lock().await;
            while let Some((open, since)) = idle.pop() {
                let login_valid = open
                    .login_until
                    .is_none_or(|until| tokio::time::Instant::now() < until);
                if since.elapsed() < IDLE_LIMIT && login_valid && !open.connection.has_broken() {
                    return Ok((open, true));
                }
            }
        }
        Ok((self.connect().await?, false))
    }

    async fn checkin(&self, open: Open) {
        let mut idle = self.idle.lock().await;
        if idle.len() < self.config.connections {
            idle.push((open, Instant::now()));
        }
    }

    /// One mail transaction: MAIL FROM, a RCPT TO per recipient, DATA for those accepted.
    async fn converse(
        &self,
        connection: &mut AsyncSmtpConnection,
        from: Option<&Address>,
        recipients: &[(usize, Address)],
        raw: &[u8],
    ) -> Conversation {
        let mut done = Conversation {
            outcomes: Vec::with_capacity(recipients.len()),
            reusable: true,
            dead_at_start: false,
        };
        let info = connection.server_info();
        let utf8 = info.supports_feature(Extension::SmtpUtfEight);
        let eight_bit = info.supports_feature(Extension::EightBitMime);
        let mut candidates: Vec<&(usize, Address)> = Vec::with_capacity(recipients.len());
        for target in recipients {
            if utf8 || is_ascii(&target.1) {
                candidates.push(target);
            } else {
                // RFC 6531: without SMTPUTF8 such an address cannot even be written in RCPT TO.
                done.outcomes.push((
                    target.0,
                    Outcome::Refused(format!(
                        "{}: the server does not offer SMTPUTF8, which a non-ASCII address needs",
                        self.config.host
                    )),
                ));
            }
        }
        let refuse_all =
            |done: &mut Conversation, candidates: &[&(usize, Address)], why: String| {
                done.outcomes.extend(
                    candidates
                        .iter()
                        .map(|(index, _)| (*index, Outcome::Refused(why.clone()))),
                );
            };
        if candidates.is_empty() {
            return done;
        }
        if from.is_some_and(|from| !is_ascii(from)) && !utf8 {
            let why = "the envelope sender is not ASCII and the server does not offer SMTPUTF8";
            refuse_all(&mut done, &candidates, why.into());
            return done;
        }
        if !raw.is_ascii() && !eight_bit {
            let why = "the mail has 8-bit content and the server does not offer 8BITMIME";
            refuse_all(&mut done, &candidates, why.into());
            return done;
        }
        let mut parameters = Vec::new();
        let any_utf8 = from.is_some_and(|from| !is_ascii(from))
            || candidates.iter().any(|(_, address)| !is_ascii(address));
        if any_utf8 {
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !raw.is_ascii() {
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let every = |done: &mut Conversation, who: &[&(usize, Address)], error: &StepError| {
            let outcome = error.outcome();
            done.outcomes
                .extend(who.iter().map(|(index, _)| (*index, outcome.clone())));
            if let StepError::Broken(_) = error {
                done.reusable = false;
            }
        };
        if let Err(error) = self
            .step(
                "MAIL FROM",
                connection.command(Mail::new(from.cloned(), parameters)),
            )
            .await
        {
            done.dead_at_start = matches!(error, StepError::Broken(_));
            every(&mut done, &candidates, &error);
            return done;
        }
        let mut accepted: Vec<&(usize, Address)> = Vec::with_capacity(candidates.len());
        for (position, target) in candidates.iter().enumerate() {
            match self
                .step(
                    "RCPT TO",
                    connection.command(Rcpt::new(target.1.clone(), Vec::new())),
                )
                .await
            {
                Ok(_) => accepted.push(target),
                Err(StepError::Reply { permanent, text }) => {
                    let error = StepError::Reply { permanent, text };
                    done.outcomes.push((target.0, error.outcome()));
                }
                Err(error) => {
                    every(&mut done, &accepted, &error);
                    every(&mut done, &candidates[position..], &error);
                    return done;
                }
            }
        }
        if accepted.is_empty() {
            self.reset(connection, &mut done).await;
            return done;
        }
        if let Err(error) = self.step("DATA", connection.command(Data)).await {
            every(&mut done, &accepted, &error);
            if done.reusable {
                self.reset(connection, &mut done).await;
            }
            return done;
        }
        // The server answers once for the message; a refusal here ends the transaction itself.
        match self.step("the message", connection.message(raw)).await {
            Ok(_) => done.outcomes.extend(
                accepted
                    .iter()
                    .map(|(index, _)| (*index, Outcome::Delivered)),
            ),
            Err(error) => every(&mut done, &accepted, &error),
        }
        done
    }

    /// Ends an open transaction so that the connection can serve the next mail.
    async fn reset(&self, connection: &mut AsyncSmtpConnection, done: &mut Conversation) {
        if self.step("RSET", connection.command(Rset)).await.is_err() {
            done.reusable = false;
        }
    }
}

/// One line of a SASL exchange; its text may hold a token, so it has no `Debug`.
struct SaslLine(String);

impl std::fmt::Display for SaslLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\r\n", self.0)
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

/// The server's reply, as it gave it ("554 5.7.1 <x@y>: Relay access denied"), or what broke.
fn step_error(what: &str, error: &lettre::transport::smtp::Error) -> StepError {
    match error.status() {
        Some(code) => StepError::Reply {
            permanent: error.is_permanent(),
            text: match std::error::Error::source(error) {
                Some(message) => format!("{code} {message}"),
                None => code.to_string(),
            },
        },
        // lettre's Display already ends with its cause.
        None => StepError::Broken(format!("{what}: {error}")),
    }
}

fn is_ascii(address: &Address) -> bool {
    AsRef::<str>::as_ref(address).is_ascii()
}

impl MailTransport for SmtpTransport {
    async fn send(
        &self,
        envelope_from: Option<&str>,
        recipients: &[String],
        raw: &[u8],
    ) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; recipients.len()];
        let from = match envelope_from.map(str::parse::<Address>).transpose() {
            Ok(from) => from,
            Err(error) => {
                let why = format!("bad envelope sender: {error}");
                return vec![Outcome::Refused(why); recipients.len()];
            }
        };
        let mut targets = Vec::with_capacity(recipients.len());
        for (index, recipient) in recipients.iter().enumerate() {
            match recipient.parse::<Address>() {
                Ok(address) => targets.push((index, address)),
                Err(error) => {
                    outcomes[index] = Some(Outcome::Refused(format!("not an address: {error}")))
                }
            }
        }
        if !targets.is_empty() {
            for outcome in self.deliver(from.as_ref(), &targets, raw).await {
                outcomes[outcome.0] = Some(outcome.1);
            }
        }
        outcomes
            .into_iter()
            .map(|outcome| {
                // Every recipient gets an outcome above; this only guards against a gap.
                outcome.unwrap_or_else(|| Outcome::Deferred("no answer recorded".into()))
            })
            .collect()
    }
}

impl SmtpTransport {
    async fn deliver(
        &self,
        from: Option<&Address>,
        targets: &[(usize, Address)],
        raw: &[u8],
    ) -> Vec<(usize, Outcome)> {
        let mut fresh_tried = false;
        loop {
            let (mut open, reused) = match self.checkout().await {
                Ok(checked_out) => checked_out,
                Err(why) => {
                    return targets
                        .iter()
                        .map(|(index, _)| (*index, Outcome::Deferred(why.clone())))
                        .collect()
                }
            };
            fresh_tried |= !reused;
            let done = self
                .converse(&mut open.connection, from, targets, raw)
                .await;
            if done.reusable {
                self.checkin(open).await;
            }
            // A broken connection is dropped, which closes its socket: a polite QUIT could wait
            // forever on a server that stopped answering.
            // A pooled connection the server had closed: once more on a fresh one.
            if !(done.dead_at_start && reused && !fresh_tried) {
                return done.outcomes;
            }
        }
    }
}

#[cfg(test)]
mod tests;
