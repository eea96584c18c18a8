//! The MTA pipe's hand-over: `guichet-deliver` (`deliver`), or `guichet ingest` on stdin, gives
//! its mail to a running `guichet run` over a Unix socket in the state directory, which stores it
//! with a pipeline that is already open (the schema read, statements prepared, the config built)
//! and answers once it is committed. A delivery then costs what its process start and one round
//! trip cost, and deliveries that come together share one commit. Without a daemon listening, or
//! when it cannot take this mail, the mail is stored by `guichet ingest` itself as before; nothing
//! is ever stored twice on purpose, and a retry after an unclear end is a duplicate the pipeline
//! recognises.
//!
//! The exchange, one mail a connection:
//!
//! ```text
//! → GUICHET-HANDOVER/1 <config digest> <length> <source>\n  then <length> bytes of mail
//! ← stored <outcome as JSON>\n | direct <reason>\n | tempfail <reason>\n
//! ```
//!
//! `direct` means "store it yourself": the daemon read another config file than the one the
//! process read (edited since the daemon loaded it), the mail is larger than `max_message_bytes`,
//! or it does not speak this version. `tempfail` means nothing was stored and the MTA should try
//! again later (exit 75).

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::config::{Config, ConfigHead};
use crate::pipeline::{system_now, IngestError, IngestOutcome, Pipeline, Source};

pub mod deliver;

/// The source piped mail is recorded with unless the command names another.
pub const PIPE_SOURCE: &str = "pipe";

/// The socket's name in the state directory.
pub const SOCKET_NAME: &str = "intake.sock";

const VERSION: &str = "GUICHET-HANDOVER/1";
/// A header line longer than this is not ours.
const HEADER_LIMIT: u64 = 1024;
/// Mails the writer stores in one transaction at most, and their bytes.
const BATCH_MAILS: usize = 64;
const BATCH_BYTES: usize = 16 << 20;
/// Deliveries read at once.
const CONNECTIONS: usize = 32;
/// How long a connection may take to send its mail.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a delivery waits for the reason of a refusal that cut its sending short.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a delivery waits for the daemon's answer before it tells the MTA to try again.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_NAME)
}

/// Whether a daemon takes hand-overs in `state_dir` now (something accepts on the socket; a
/// socket a killed daemon left behind does not).
pub fn listening(state_dir: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket_path(state_dir)).is_ok()
}

/// What the process sends before the mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub config_digest: String,
    pub length: u64,
    pub source: String,
}

impl Header {
    pub fn line(&self) -> String {
        format!(
            "{VERSION} {} {} {}\n",
            self.config_digest, self.length, self.source
        )
    }

    pub fn parse(line: &str) -> Result<Header, String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let mut parts = line.splitn(4, ' ');
        if parts.next() != Some(VERSION) {
            return Err(format!("not a {VERSION} request"));
        }
        let (Some(digest), Some(length), Some(source)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("a request names the config digest, the length and the source".into());
        };
        let length = length
            .parse()
            .map_err(|_| format!("`{length}` is not a length"))?;
        if source.is_empty() || source.chars().any(char::is_control) {
            return Err("the source must be a name on one line".into());
        }
        Ok(Header {
            config_digest: digest.to_string(),
            length,
            source: source.to_string(),
        })
    }
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Committed; the outcome as JSON.
    Stored(String),
    /// Not taken: the process stores the mail itself.
    Direct(String),
    /// Nothing stored; the MTA tries again later.
    TempFail(String),
}

impl Answer {
    pub fn line(&self) -> String {
        let (word, text) = match self {
            Answer::Stored(text) => ("stored", text),
            Answer::Direct(text) => ("direct", text),
            Answer::TempFail(text) => ("tempfail", text),
        };
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("{word} {text}\n")
    }

    pub fn parse(line: &str) -> Result<Answer, String> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let (word, text) = line.split_once(' ').unwrap_or((line, ""));
        let text = text.to_string();
        match word {
            "stored" => Ok(Answer::Stored(text)),
            "direct" => Ok(Answer::Direct(text)),
            "tempfail" => Ok(Answer::TempFail(text)),
            _ => Err(format!("the daemon answered `{line}`")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The process side.

/// Offers `raw` to a daemon listening in the state directory of `config` (the file the process
/// read). `Direct` when there is none (no socket, nobody behind it) or it did not take the mail:
/// then nothing of it was stored.
/// `TempFail` when the exchange broke after the mail was sent: the daemon may have stored it, so
/// the MTA's retry, a duplicate then, is the safe way on.
pub fn hand_over(config: &ConfigHead, source: &str, raw: &[u8]) -> Answer {
    let path = socket_path(&config.state_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(error) => return Answer::Direct(format!("{}: {error}", path.display())),
    };
    let header = Header {
        config_digest: config.digest.clone(),
        length: raw.len() as u64,
        source: source.to_string(),
    };
    let _ = stream.set_write_timeout(Some(RECEIVE_TIMEOUT));
    let sent = stream
        .write_all(header.line().as_bytes())
        .and_then(|()| stream.write_all(raw));
    if let Err(error) = sent {
        // The daemon stores a mail only once it has all of it. It may have refused it before
        // the end (too large, another config) and said why before closing: read that, briefly.
        let _ = stream.set_read_timeout(Some(REFUSAL_TIMEOUT));
        return match read_answer(&stream) {
            Ok(Answer::Direct(reason)) => Answer::Direct(reason),
            _ => Answer::Direct(format!("sending to {}: {error}", path.display())),
        };
    }
    let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
    match read_answer(&stream) {
        Ok(answer) => answer,
        Err(reason) => Answer::TempFail(format!("{}: {reason}", path.display())),
    }
}

/// The daemon's answer line; an `Err` says why there is none.
fn read_answer(stream: &std::os::unix::net::UnixStream) -> Result<Answer, String> {
    let mut line = String::new();
    match std::io::BufReader::new(stream.take(HEADER_LIMIT * 64)).read_line(&mut line) {
        Ok(0) => Err("the daemon closed the connection without an answer".into()),
        Ok(_) => Answer::parse(&line),
        Err(error) => Err(format!("no answer from the daemon: {error}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon side.

/// A mail received whole, waiting for the writer.
struct Received {
    header: Header,
    raw: Vec<u8>,
    answer: oneshot::Sender<Answer>,
}

/// Listens on the state directory's socket until `stop`, storing what it is handed with its own
/// pipeline (which follows `configs`). A socket it cannot bind is logged and left: deliveries
/// then store their mail themselves.
pub async fn serve(
    configs: watch::Receiver<Arc<Config>>,
    mut stop: watch::Receiver<bool>,
    wake_outbox: Arc<Notify>,
) -> anyhow::Result<()> {
    let config = configs.borrow().clone();
    let path = socket_path(&config.state_dir);
    let listener = match bind(&path) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(socket = %path.display(), %error,
                "no hand-over socket: each piped mail is stored by `guichet ingest` itself");
            return Ok(());
        }
    };
    let opening = config.clone();
    let mut pipeline = tokio::task::spawn_blocking(move || Pipeline::open(opening))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    pipeline.follow(configs.clone());
    let (sender, receiver) = mpsc::channel::<Received>(BATCH_MAILS * 4);
    let writer = std::thread::Builder::new()
        .name("handover-writer".into())
        .spawn({
            let span = tracing::Span::current();
            move || span.in_scope(|| write_received(pipeline, receiver, &wake_outbox))
        })?;
    tracing::info!(socket = %path.display(), "taking piped mail handed over");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let own_uid = unsafe { libc::geteuid() };
    let mut connections = tokio::task::JoinSet::new();
    // Each delivery's mail is held whole while it waits for the writer: past this many at once,
    // the next wait in the socket's backlog.
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    loop {
        let slot = tokio::select! {
            () = stopped(&mut stop) => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let limit = configs.borrow().max_message_bytes;
                    let sender = sender.clone();
                    connections.spawn(async move {
                        if let Err(error) = serve_one(stream, own_uid, limit, sender).await {
                            tracing::debug!(%error, "hand-over connection ended");
                        }
                        drop(slot);
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "hand-over socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }
    // New deliveries store their mail themselves from now on; those in hand are answered.
    drop(listener);
    let _ = std::fs::remove_file(&path);
    while connections.join_next().await.is_some() {}
    drop(sender);
    tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the hand-over writer panicked"))?;
    Ok(())
}

/// Returns once `stop` says so (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// Binds the socket, replacing one a stopped daemon left behind.
fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    tokio::net::UnixListener::bind(path)
}

async fn serve_one(
    stream: tokio::net::UnixStream,
    own_uid: u32,
    limit: u64,
    writer: mpsc::Sender<Received>,
) -> std::io::Result<()> {
    let peer = stream.peer_cred()?.uid();
    let (reader, mut out) = stream.into_split();
    // The state directory is the owner's alone: another user (root) gets the answer it would get
    // storing the mail itself.
    if peer != own_uid {
        let answer = Answer::Direct(format!("the daemon runs as another user than {peer}"));
        out.write_all(answer.line().as_bytes()).await?;
        return out.shutdown().await;
    }
    let mut reader = tokio::io::BufReader::new(reader);
    let received = tokio::time::timeout(RECEIVE_TIMEOUT, async {
        let mut line = Vec::new();
        (&mut reader)
            .take(HEADER_LIMIT)
            .read_until(b'\n', &mut line)
            .await?;
        let header = match std::str::from_utf8(&line)
            .map_err(|_| "a request line in UTF-8".to_string())
            .and_then(Header::parse)
        {
            Ok(header) => header,
            Err(reason) => return Ok(Err(Answer::Direct(reason))),
        };
        if header.length > limit {
            return Ok(Err(Answer::Direct(format!(
                "{} bytes, past max_message_bytes ({limit})",
                header.length
            ))));
        }
        let mut raw = vec![0; header.length as usize];
        reader.read_exact(&mut raw).await?;
        Ok::<_, std::io::Error>(Ok((header, raw)))
    })
    .await
    .map_err(|_| std::io::Error::other("the mail took too long to arrive"))??;
    let answer = match received {
        Err(answer) => answer,
        Ok((header, raw)) => {
            let (answer, answered) = oneshot::channel();
            let received = Received {
                header,
                raw,
                answer,
            };
            if writer.send(received).await.is_err() {
                Answer::Direct("the daemon is stopping".into())
            } else {
                answered.await.unwrap_or_else(|_| {
                    Answer::TempFail("the daemon's writer stopped before answering".into())
                })
            }
        }
    };
    out.write_all(answer.line().as_bytes()).await?;
    out.shutdown().await
}

/// The writer: whatever arrived together is stored together, in arrival order.
fn write_received(mut pipeline: Pipeline, mut receiver: mpsc::Receiver<Received>, wake: &Notify) {
    while let Some(first) = receiver.blocking_recv() {
        let mut batch = vec![first];
        let mut bytes = batch[0].raw.len();
        while batch.len() < BATCH_MAILS && bytes < BATCH_BYTES {
            match receiver.try_recv() {
                Ok(next) => {
                    bytes += next.raw.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let answers = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store_batch(&mut pipeline, &batch)
        }))
        .unwrap_or_else(|panic| {
            let reason = format!("internal error: {}", crate::panic_message(&*panic));
            vec![Answer::TempFail(reason); batch.len()]
        });
        if answers
            .iter()
            .any(|answer| matches!(answer, Answer::Stored(_)))
        {
            wake.notify_one();
        }
        for (received, answer) in batch.into_iter().zip(answers) {
            let _ = received.answer.send(answer);
        }
    }
}

/// One answer a mail of `batch`, in its order. Mails from one source in a row go in one
/// transaction; when the store refuses a run of them, each is tried alone.
fn store_batch(pipeline: &mut Pipeline, batch: &[Received]) -> Vec<Answer> {
    let digest = pipeline.config_now().digest.clone();
    let mut answers: Vec<Option<Answer>> = batch
        .iter()
        .map(|received| {
            (received.header.config_digest != digest).then(|| {
                Answer::Direct(
                    "the config file differs from the one the daemon runs with (reload it)".into(),
                )
            })
        })
        .collect();
    let mut start = 0;
    while start < batch.len() {
        if answers[start].is_some() {
            start += 1;
            continue;
        }
        let source = &batch[start].header.source;
        let run: Vec<usize> = (start..batch.len())
            .take_while(|&i| answers[i].is_none() && &batch[i].header.source == source)
            .collect();
        start += run.len();
        let mails: Vec<&[u8]> = run.iter().map(|&i| batch[i].raw.as_slice()).collect();
        let source = Source::named(source.clone());
        match pipeline.ingest_batch(&mails, &source, system_now()) {
            Ok(outcomes) => {
                for (&i, outcome) in run.iter().zip(outcomes) {
                    answers[i] = Some(stored(&outcome));
                }
            }
            Err(IngestError::Temporary(_)) if run.len() > 1 => {
                for (&i, mail) in run.iter().zip(mails) {
                    answers[i] = Some(match pipeline.ingest(mail, &source, system_now()) {
                        Ok(outcome) => stored(&outcome),
                        Err(IngestError::Temporary(reason)) => Answer::TempFail(reason),
                    });
                }
            }
            Err(IngestError::Temporary(reason)) => answers[run[0]] = Some(Answer::TempFail(reason)),
        }
    }
    answers
        .into_iter()
        .map(|answer| answer.expect("every mail answered"))
        .collect()
}

fn stored(outcome: &IngestOutcome) -> Answer {
    Answer::Stored(serde_json::to_string(outcome).unwrap_or_default())
}

#[cfg(test)]
mod tests;
