//! IMAP with async-imap over tokio-rustls: one session on one folder, behind `MailboxSession` so
//! that the poller's rules are tested against a fake (see `crate::poller`).

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::Session;
use futures::TryStreamExt;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

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
    #[error("folder `{folder}`: {reason}")]
    Folder { folder: String, reason: String },
    #[error("{0}")]
    Protocol(String),
    #[error("no answer within {0} s")]
    Timeout(u64),
}

/// The selected folder as the server reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderStatus {
    pub uid_validity: u32,
    pub exists: u32,
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
    /// UIDs and sizes of every mail in the selected folder, ascending; only call it when the
    /// folder is not empty (servers answer `1:*` on an empty folder with an error).
    fn list(
        &mut self,
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
    /// Returns when the server says the folder changed (IDLE), when `wait` has passed, or when
    /// `stop` turns true. Without IDLE it just waits.
    fn wait_for_news(
        &mut self,
        wait: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = Result<(), ImapError>> + Send;
    fn logout(self) -> impl std::future::Future<Output = ()> + Send;
}

pub trait ImapStream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> ImapStream for T {}
type Stream = Box<dyn ImapStream>;

pub struct ImapConnector {
    settings: ImapSettings,
    tls: tokio_rustls::TlsConnector,
}

impl ImapConnector {
    pub fn new(settings: ImapSettings) -> Result<ImapConnector, ImapError> {
        let config =
            super::tls::client_config(settings.ca_file.as_deref()).map_err(ImapError::Tls)?;
        Ok(ImapConnector {
            settings,
            tls: tokio_rustls::TlsConnector::from(config),
        })
    }

    async fn tls(&self, tcp: TcpStream) -> Result<Stream, ImapError> {
        let name = ServerName::try_from(self.settings.host.clone()).map_err(|e| {
            ImapError::Tls(format!(
                "`{}` is not a server name: {e}",
                self.settings.host
            ))
        })?;
        let stream = self.tls.connect(name, tcp).await.map_err(|e| {
            ImapError::Tls(format!(
                "{}:{}: {e}",
                self.settings.host, self.settings.port
            ))
        })?;
        Ok(Box::new(stream))
    }

    async fn open(&self) -> Result<Session<Stream>, ImapError> {
        let s = &self.settings;
        let address = format!("{}:{}", s.host, s.port);
        let tcp = TcpStream::connect((s.host.as_str(), s.port))
            .await
            .map_err(|e| ImapError::Connect(format!("{address}: {e}")))?;
        let client = match s.security {
            ImapSecurity::Tls => {
                let mut client = async_imap::Client::new(self.tls(tcp).await?);
                greeting(&mut client, &address).await?;
                client
            }
            ImapSecurity::StartTls => {
                let mut client = async_imap::Client::new(tcp);
                greeting(&mut client, &address).await?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| ImapError::Tls(format!("{address}: STARTTLS refused: {e}")))?;
                // No second greeting after STARTTLS.
                async_imap::Client::new(self.tls(client.into_inner()).await?)
            }
            ImapSecurity::Insecure => {
                let mut client = async_imap::Client::new(Box::new(tcp) as Stream);
                greeting(&mut client, &address).await?;
                client
            }
        };
        let login_failed = |reason: String| ImapError::Login {
            user: s.username.clone(),
            reason,
        };
        match s.auth {
            ImapAuth::Login => client
                .login(&s.username, s.password.expose())
                .await
                .map_err(|(e, _)| login_failed(e.to_string())),
            ImapAuth::Plain => client
                .authenticate(
                    "PLAIN",
                    PlainAuth {
                        user: s.username.clone(),
                        password: s.password.expose().to_string(),
                    },
                )
                .await
                .map_err(|(e, _)| login_failed(e.to_string())),
        }
    }
}

async fn greeting<T: ImapStream>(
    client: &mut async_imap::Client<T>,
    address: &str,
) -> Result<(), ImapError> {
    match tokio::time::timeout(Duration::from_secs(30), client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(ImapError::Connect(format!(
            "{address}: closed before the greeting"
        ))),
        Ok(Err(e)) => Err(ImapError::Connect(format!("{address}: {e}"))),
        Err(_) => Err(ImapError::Timeout(30)),
    }
}

struct PlainAuth {
    user: String,
    password: String,
}

impl async_imap::Authenticator for PlainAuth {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        format!("\0{}\0{}", self.user, self.password)
    }
}

impl MailboxConnector for ImapConnector {
    type Session = ImapSession;

    async fn connect(&self) -> Result<ImapSession, ImapError> {
        let timeout = self.settings.timeout_secs;
        let mut session = tokio::time::timeout(Duration::from_secs(timeout), self.open())
            .await
            .map_err(|_| ImapError::Timeout(timeout))??;
        let capabilities = session
            .capabilities()
            .await
            .map_err(|e| ImapError::Protocol(format!("CAPABILITY: {e}")))?;
        Ok(ImapSession {
            session: Some(session),
            idle: self.settings.idle && capabilities.has_str("IDLE"),
            can_move: capabilities.has_str("MOVE"),
            uidplus: capabilities.has_str("UIDPLUS"),
            timeout: Duration::from_secs(timeout),
        })
    }
}

pub struct ImapSession {
    /// `None` only while IDLE holds the session.
    session: Option<Session<Stream>>,
    idle: bool,
    can_move: bool,
    uidplus: bool,
    timeout: Duration,
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

impl ImapSession {
    fn session(&mut self) -> Result<&mut Session<Stream>, ImapError> {
        self.session
            .as_mut()
            .ok_or_else(|| ImapError::Protocol("session lost during IDLE".into()))
    }

    async fn timed<T>(
        timeout: Duration,
        what: &str,
        future: impl std::future::Future<Output = async_imap::error::Result<T>>,
    ) -> Result<T, ImapError> {
        match tokio::time::timeout(timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ImapError::Protocol(format!("{what}: {e}"))),
            Err(_) => Err(ImapError::Timeout(timeout.as_secs())),
        }
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
        let mailbox = ImapSession::timed(timeout, "SELECT", self.session()?.select(folder))
            .await
            .map_err(|e| ImapError::Folder {
                folder: folder.to_string(),
                reason: e.to_string(),
            })?;
        Ok(FolderStatus {
            uid_validity: mailbox.uid_validity.unwrap_or(0),
            exists: mailbox.exists,
        })
    }

    async fn list(&mut self) -> Result<Vec<(u32, u64)>, ImapError> {
        let timeout = self.timeout * 4;
        let session = self.session()?;
        // Each response is reduced to (uid, size) as it streams in: keeping the parsed responses
        // of a 10,000-mail folder cost ~60 MB.
        let mut list: Vec<(u32, u64)> =
            ImapSession::timed(timeout, "UID FETCH (RFC822.SIZE)", async {
                session
                    .uid_fetch("1:*", "(UID RFC822.SIZE)")
                    .await?
                    .try_filter_map(|f| async move {
                        Ok(f.uid.map(|uid| (uid, f.size.unwrap_or(0) as u64)))
                    })
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
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

    async fn wait_for_news(
        &mut self,
        wait: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ImapError> {
        if !self.idle {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
            return Ok(());
        }
        let session = self
            .session
            .take()
            .ok_or_else(|| ImapError::Protocol("no session".into()))?;
        let mut handle = session.idle();
        handle
            .init()
            .await
            .map_err(|e| ImapError::Protocol(format!("IDLE: {e}")))?;
        let outcome = {
            let (idle, interrupt) = handle.wait_with_timeout(wait);
            tokio::pin!(idle);
            tokio::select! {
                result = &mut idle => result,
                _ = stop.changed() => {
                    drop(interrupt);
                    idle.await
                }
            }
        };
        let session = tokio::time::timeout(self.timeout, handle.done())
            .await
            .map_err(|_| ImapError::Timeout(self.timeout.as_secs()))?
            .map_err(|e| ImapError::Protocol(format!("DONE: {e}")))?;
        self.session = Some(session);
        match outcome {
            Ok(
                IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt,
            ) => Ok(()),
            Err(e) => Err(ImapError::Protocol(format!("IDLE: {e}"))),
        }
    }

    async fn logout(mut self) {
        if let Some(mut session) = self.session.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), session.logout()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
