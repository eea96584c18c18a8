//! IMAP with async-imap over tokio-rustls: one session on one folder, behind `MailboxSession` so
//! that the poller's rules are tested against a fake (see `crate::poller`).

use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::Handle;
use async_imap::imap_proto::{Response, Status};
use async_imap::Session;
use futures::{StreamExt, TryStreamExt};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::oauth2::{sasl_response, TokenSource};
use crate::config::{ImapAuth, ImapSecurity, ImapSettings};

/// What went wrong, sorted by what an operator does about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("login refused for {user}: {reason}")]
    Login { user: String, reason: String },
    /// No access token to log in with (the provider refused or could not be reached).
    #[error("{0}")]
    OAuth2(String),
    #[error("folder `{folder}`: {reason}")]
    Folder { folder: String, reason: String },
    #[error("{0}")]
    Protocol(String),
    /// `step` names what was waiting: the operator can tell a dead network from a slow login.
    #[error("{step}: no answer within {secs} s")]
    Timeout { step: String, secs: u64 },
}

/// Bounds one network step; every step of a session goes through this (or `timed`).
async fn bounded<F: std::future::Future>(
    timeout: Duration,
    step: &str,
    future: F,
) -> Result<F::Output, ImapError> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| ImapError::Timeout {
            step: step.to_string(),
            secs: timeout.as_secs(),
        })
}

/// The selected folder as the server reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderStatus {
    pub uid_validity: u32,
    /// How many mails the folder holds: the backlog, as the server counts it.
    pub exists: u32,
    /// The UID the next arriving mail will get, when the server says (RFC 3501 servers do).
    pub uid_next: Option<u32>,
}

/// What the server said while we were idling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleEvent {
    /// The folder changed (EXISTS, EXPUNGE, RECENT, FETCH): worth a check.
    Changed,
    /// A keepalive (`* OK Still here`) or other talk that says nothing about the folder. It must
    /// not postpone anything: a server that sends one every two minutes would otherwise keep a
    /// five-minute wait from ever ending.
    Chatter,
}

/// Opens sessions; one per (re)connection.
pub trait MailboxConnector: Send + Sync {
    type Session: MailboxSession;
    fn connect(&self)
        -> impl std::future::Future<Output = Result<Self::Session, ImapError>> + Send;
}

/// One logged-in IMAP session.
pub trait MailboxSession: Send {
    /// Creates the folder unless it exists.
    fn ensure_folder(
        &mut self,
        folder: &str,
    ) -> impl std::future::Future<Output = Result<(), ImapError>> + Send;
    fn select(
        &mut self,
        folder: &str,
    ) -> impl std::future::Future<Output = Result<FolderStatus, ImapError>> + Send;
    /// UIDs and sizes of the mails in the selected folder whose UID is at least `first_uid`,
    /// ascending; only call it when the folder is not empty (servers answer `1:*` on an empty
    /// folder with an error).
    fn list_from(
        &mut self,
        first_uid: u32,
    ) -> impl std::future::Future<Output = Result<Vec<(u32, u64)>, ImapError>> + Send;
    /// The raw bytes of these mails (without setting \Seen).
    fn fetch(
        &mut self,
        uids: &[u32],
    ) -> impl std::future::Future<Output = Result<Vec<(u32, Vec<u8>)>, ImapError>> + Send;
    /// Flags these mails \Seen and moves them to `folder` (MOVE, or COPY + EXPUNGE).
    fn file_away(
        &mut self,
        uids: &[u32],
        folder: &str,
    ) -> impl std::future::Future<Output = Result<(), ImapError>> + Send;
    /// Whether the server pushes changes (IDLE); without it the caller polls.
    fn can_idle(&self) -> bool;
    /// Enters IDLE on the selected folder; no other command until `idle_done`.
    fn idle_start(&mut self) -> impl std::future::Future<Output = Result<(), ImapError>> + Send;
    /// The next thing the server says while idling. It has no deadline of its own: the caller
    /// races it against its own, and dropping it loses nothing (the read buffer stays in the
    /// session).
    fn idle_next(
        &mut self,
    ) -> impl std::future::Future<Output = Result<IdleEvent, ImapError>> + Send;
    /// When the session should log in again because its access token expires (OAuth2).
    fn reauthenticate_at(&self) -> Option<Instant> {
        None
    }
    /// Leaves IDLE (DONE) and waits for the server's OK.
    fn idle_done(&mut self) -> impl std::future::Future<Output = Result<(), ImapError>> + Send;
    fn logout(self) -> impl std::future::Future<Output = ()> + Send;
}

pub trait ImapStream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> ImapStream for T {}
type Stream = Box<dyn ImapStream>;

pub struct ImapConnector {
    settings: ImapSettings,
    tls: tokio_rustls::TlsConnector,
    /// The access tokens of `auth = "oauth2"` / `"oauthbearer"`.
    tokens: Option<Arc<TokenSource>>,
}

impl ImapConnector {
    pub fn new(
        settings: ImapSettings,
        tokens: Option<Arc<TokenSource>>,
    ) -> Result<ImapConnector, ImapError> {
        let config =
            super::tls::client_config(settings.ca_file.as_deref()).map_err(ImapError::Tls)?;
        if matches!(settings.auth, ImapAuth::OAuth2 { .. }) && tokens.is_none() {
            return Err(ImapError::OAuth2(
                "no token source for an OAuth2 login".into(),
            ));
        }
        Ok(ImapConnector {
            settings,
            tls: tokio_rustls::TlsConnector::from(config),
            tokens,
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_secs)
    }

    async fn tls(&self, tcp: TcpStream) -> Result<Stream, ImapError> {
        let s = &self.settings;
        let name = ServerName::try_from(s.host.clone())
            .map_err(|e| ImapError::Tls(format!("`{}` is not a server name: {e}", s.host)))?;
        let stream = bounded(self.timeout(), "TLS handshake", self.tls.connect(name, tcp))
            .await?
            .map_err(|e| ImapError::Tls(format!("{}:{}: {e}", s.host, s.port)))?;
        Ok(Box::new(stream))
    }

    /// TCP, TLS, greeting and login, each step under its own deadline; with OAuth2, when to log
    /// in again (the token's renewal, before it expires).
    async fn open(&self) -> Result<(Session<Stream>, Option<Instant>), ImapError> {
        let s = &self.settings;
        let timeout = self.timeout();
        let address = format!("{}:{}", s.host, s.port);
        let tcp = bounded(
            timeout,
            &format!("TCP connect to {address}"),
            TcpStream::connect((s.host.as_str(), s.port)),
        )
        .await?
        .map_err(|e| ImapError::Connect(format!("{address}: {e}")))?;
        let client = match s.security {
            ImapSecurity::Tls => {
                let mut client = async_imap::Client::new(self.tls(tcp).await?);
                greeting(&mut client, &address, timeout).await?;
                client
            }
            ImapSecurity::StartTls => {
                let mut client = async_imap::Client::new(tcp);
                greeting(&mut client, &address, timeout).await?;
                bounded(
                    timeout,
                    "STARTTLS",
                    client.run_command_and_check_ok("STARTTLS", None),
                )
                .await?
                .map_err(|e| ImapError::Tls(format!("{address}: STARTTLS refused: {e}")))?;
                // No second greeting after STARTTLS.
                async_imap::Client::new(self.tls(client.into_inner()).await?)
            }
            ImapSecurity::Insecure => {
                let mut client = async_imap::Client::new(Box::new(tcp) as Stream);
                greeting(&mut client, &address, timeout).await?;
                client
            }
        };
        let login_failed = |reason: String| ImapError::Login {
            user: s.username.clone(),
            reason,
        };
        match &s.auth {
            ImapAuth::Login(password) => bounded(
                timeout,
                "LOGIN",
                client.login(&s.username, password.expose()),
            )
            .await?
            .map(|session| (session, None))
            .map_err(|(e, _)| login_failed(e.to_string())),
            ImapAuth::Plain(password) => bounded(
                timeout,
                "AUTHENTICATE PLAIN",
                client.authenticate(
                    "PLAIN",
                    SaslOnce(Some(format!("\0{}\0{}", s.username, password.expose()))),
                ),
            )
            .await?
            .map(|session| (session, None))
            .map_err(|(e, _)| login_failed(e.to_string())),
            ImapAuth::OAuth2 { mechanism, .. } => {
                let tokens = self.tokens.as_ref().ok_or_else(|| {
                    ImapError::OAuth2("no token source for an OAuth2 login".into())
                })?;
                let token = tokens
                    .token()
                    .await
                    .map_err(|e| ImapError::OAuth2(e.to_string()))?;
                let response =
                    sasl_response(*mechanism, &s.username, &s.host, s.port, &token.secret);
                let step = format!("AUTHENTICATE {}", mechanism.sasl_name());
                let answer = bounded(
                    timeout,
                    &step,
                    client.authenticate(
                        mechanism.sasl_name(),
                        SaslOnce(Some(response.expose().to_string())),
                    ),
                )
                .await?;
                match answer {
                    Ok(session) => Ok((session, Some(token.renew_at))),
                    Err((e, _)) => {
                        tokens.rejected(&token.secret).await;
                        Err(login_failed(e.to_string()))
                    }
                }
            }
        }
    }
}

async fn greeting<T: ImapStream>(
    client: &mut async_imap::Client<T>,
    address: &str,
    timeout: Duration,
) -> Result<(), ImapError> {
    match bounded(timeout, "greeting", client.read_response()).await? {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Connect(format!(
            "{address}: closed before the greeting"
        ))),
        Err(e) => Err(ImapError::Connect(format!("{address}: {e}"))),
    }
}

/// Answers the first challenge with the response; any later one (a server's error details
/// after a refused token, RFC 7628 section 3.2.3) with an empty line, which ends the exchange.
struct SaslOnce(Option<String>);

impl async_imap::Authenticator for SaslOnce {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.0.take().unwrap_or_default()
    }
}

impl MailboxConnector for ImapConnector {
    type Session = ImapSession;

    async fn connect(&self) -> Result<ImapSession, ImapError> {
        let timeout = self.timeout();
        let (mut session, reauthenticate_at) = match self.open().await {
            // A refused token may have been revoked or expired early: one more try with a new
            // one before the task backs off.
            Err(ImapError::Login { reason, .. }) if self.tokens.is_some() => {
                tracing::info!(user = %self.settings.username, %reason, "OAuth2 token refused; trying once with a new one");
                self.open().await?
            }
            opened => opened?,
        };
        let capabilities =
            ImapSession::timed(timeout, "CAPABILITY", session.capabilities()).await?;
        Ok(ImapSession {
            state: State::Ready(session),
            idle: self.settings.idle && capabilities.has_str("IDLE"),
            can_move: capabilities.has_str("MOVE"),
            uidplus: capabilities.has_str("UIDPLUS"),
            timeout,
            reauthenticate_at,
        })
    }
}

/// IDLE takes the session over (async-imap's `Handle` owns it) until DONE gives it back.
enum State {
    Ready(Session<Stream>),
    Idling(Handle<Stream>),
    /// A step failed half-way (IDLE refused, DONE unanswered): only a new connection helps.
    Lost,
}

pub struct ImapSession {
    state: State,
    idle: bool,
    can_move: bool,
    uidplus: bool,
    timeout: Duration,
    reauthenticate_at: Option<Instant>,
}

/// `1:3,7,9:10` from sorted UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut index = 0;
    while index < uids.len() {
        let start = uids[index];
        let mut end = start;
        while index + 1 < uids.len() && uids[index + 1] == end + 1 {
            index += 1;
            end = uids[index];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        index += 1;
    }
    out
}

/// Sorts a response received during IDLE.
fn idle_event(response: &Response<'_>) -> Result<IdleEvent, ImapError> {
    match response {
        Response::Data {
            status: Status::Bye,
            outcome,
        } => Err(ImapError::Protocol(format!(
            "the server closed the session: {}",
            outcome.information.as_deref().unwrap_or("BYE")
        ))),
        Response::Data { .. } | Response::Continue(..) | Response::Capabilities(..) => {
            Ok(IdleEvent::Chatter)
        }
        Response::Done { .. } => Err(ImapError::Protocol(
            "the server ended IDLE on its own".into(),
        )),
        _ => Ok(IdleEvent::Changed),
    }
}

impl ImapSession {
    fn session(&mut self) -> Result<&mut Session<Stream>, ImapError> {
        match &mut self.state {
            State::Ready(session) => Ok(session),
            State::Idling(_) => Err(ImapError::Protocol("a command while idling".into())),
            State::Lost => Err(ImapError::Protocol("the session was lost".into())),
        }
    }

    async fn timed<T>(
        timeout: Duration,
        what: &str,
        future: impl std::future::Future<Output = async_imap::error::Result<T>>,
    ) -> Result<T, ImapError> {
        bounded(timeout, what, future)
            .await?
            .map_err(|e| ImapError::Protocol(format!("{what}: {e}")))
    }
}

impl MailboxSession for ImapSession {
    async fn ensure_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        let timeout = self.timeout;
        let session = self.session()?;
        let existing: Vec<_> = ImapSession::timed(timeout, "LIST", async {
            session
                .list(Some(""), Some(folder))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if existing.is_empty() {
            ImapSession::timed(timeout, "CREATE", session.create(folder))
                .await
                .map_err(|e| ImapError::Folder {
                    folder: folder.to_string(),
                    reason: e.to_string(),
                })?;
            tracing::info!(folder, "folder created");
        }
        Ok(())
    }

    async fn select(&mut self, folder: &str) -> Result<FolderStatus, ImapError> {
        let timeout = self.timeout;
        let session = self.session()?;
        let mailbox = ImapSession::timed(timeout, "SELECT", session.select(folder))
            .await
            .map_err(|e| match e {
                timeout @ ImapError::Timeout { .. } => timeout,
                other => ImapError::Folder {
                    folder: folder.to_string(),
                    reason: other.to_string(),
                },
            })?;
        // What the server said unasked before this SELECT is stale now; async-imap keeps up to
        // 100 such responses, so drop them rather than let them sit.
        while session.unsolicited_responses.try_recv().is_ok() {}
        Ok(FolderStatus {
            uid_validity: mailbox.uid_validity.unwrap_or(0),
            exists: mailbox.exists,
            uid_next: mailbox.uid_next,
        })
    }

    async fn list_from(&mut self, first_uid: u32) -> Result<Vec<(u32, u64)>, ImapError> {
        let timeout = self.timeout * 4;
        let first_uid = first_uid.max(1);
        let session = self.session()?;
        // Each response is reduced to (uid, size) as it streams in: keeping the parsed responses
        // of a 10,000-mail folder cost ~60 MB.
        let mut list: Vec<(u32, u64)> =
            ImapSession::timed(timeout, "UID FETCH (RFC822.SIZE)", async {
                session
                    .uid_fetch(format!("{first_uid}:*"), "(UID RFC822.SIZE)")
                    .await?
                    .try_filter_map(|f| async move {
                        Ok(f.uid.map(|uid| (uid, f.size.unwrap_or(0) as u64)))
                    })
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        // `n:*` always matches the last mail, even when its UID is below n.
        list.retain(|(uid, _)| *uid >= first_uid);
        list.sort_unstable();
        list.dedup_by_key(|(uid, _)| *uid);
        Ok(list)
    }

    async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let timeout = self.timeout * 4;
        let set = uid_set(uids);
        let session = self.session()?;
        let mut mails: Vec<(u32, Vec<u8>)> = ImapSession::timed(timeout, "UID FETCH", async {
            session
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await?
                .try_filter_map(|f| async move { Ok(f.uid.zip(f.body().map(<[u8]>::to_vec))) })
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        mails.sort_unstable_by_key(|(uid, _)| *uid);
        Ok(mails)
    }

    async fn file_away(&mut self, uids: &[u32], folder: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let timeout = self.timeout * 4;
        let set = uid_set(uids);
        let (can_move, uidplus) = (self.can_move, self.uidplus);
        let session = self.session()?;
        ImapSession::timed(timeout, "UID STORE", async {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if can_move {
            return ImapSession::timed(timeout, "UID MOVE", session.uid_mv(&set, folder)).await;
        }
        ImapSession::timed(timeout, "UID COPY", session.uid_copy(&set, folder)).await?;
        ImapSession::timed(timeout, "UID STORE", async {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if uidplus {
            ImapSession::timed(timeout, "UID EXPUNGE", async {
                session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        } else {
            ImapSession::timed(timeout, "EXPUNGE", async {
                session.expunge().await?.try_collect::<Vec<_>>().await
            })
            .await?;
        }
        Ok(())
    }

    fn can_idle(&self) -> bool {
        self.idle
    }

    fn reauthenticate_at(&self) -> Option<Instant> {
        self.reauthenticate_at
    }

    async fn idle_start(&mut self) -> Result<(), ImapError> {
        let State::Ready(session) = std::mem::replace(&mut self.state, State::Lost) else {
            return Err(ImapError::Protocol("IDLE without a ready session".into()));
        };
        let mut handle = session.idle();
        ImapSession::timed(self.timeout, "IDLE", handle.init()).await?;
        self.state = State::Idling(handle);
        Ok(())
    }

    async fn idle_next(&mut self) -> Result<IdleEvent, ImapError> {
        let State::Idling(handle) = &mut self.state else {
            return Err(ImapError::Protocol("not idling".into()));
        };
        match handle.next().await {
            Some(Ok(response)) => idle_event(response.parsed()),
            Some(Err(e)) => Err(ImapError::Protocol(format!("IDLE: {e}"))),
            None => Err(ImapError::Protocol(
                "the server closed the connection during IDLE".into(),
            )),
        }
    }

    async fn idle_done(&mut self) -> Result<(), ImapError> {
        let State::Idling(handle) = std::mem::replace(&mut self.state, State::Lost) else {
            return Err(ImapError::Protocol("DONE without IDLE".into()));
        };
        let session = ImapSession::timed(self.timeout, "DONE", handle.done()).await?;
        self.state = State::Ready(session);
        Ok(())
    }

    async fn logout(mut self) {
        // A goodbye, not a step anything waits on: a short bound, and no error to report.
        let polite = Duration::from_secs(2);
        let session = match std::mem::replace(&mut self.state, State::Lost) {
            State::Ready(session) => Some(session),
            State::Idling(handle) => bounded(polite, "DONE", handle.done())
                .await
                .ok()
                .and_then(Result::ok),
            State::Lost => None,
        };
        if let Some(mut session) = session {
            let _ = bounded(polite, "LOGOUT", session.logout()).await;
        }
    }
}

#[cfg(test)]
mod tests;
