//! Shared by the end-to-end tests: the private mail stack started by `scripts/test.sh`
//! (`scripts/mailstack.sh`), Guichet instances behind its pipe transport, a plain SMTP client that
//! sends exact bytes as a user's MTA would, and an IMAPS reader for users' mailboxes.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use guichet::adapters::store::Store;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

pub mod openapi;
pub mod webdriver;

pub type ImapSession = async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

pub struct MailStack {
    pub state_dir: PathBuf,
    env: HashMap<String, String>,
}

/// The running stack, or `None` (the test recorded as skipped) when the tests run without one.
/// Under the README's test command `GUICHET_REQUIRE_MAILSTACK=1` turns a missing stack into a
/// failure, as `CI=true` does.
pub fn mailstack() -> Option<MailStack> {
    let Some(dir) = std::env::var_os("GUICHET_TEST_MAILSTACK") else {
        if std::env::var("GUICHET_REQUIRE_MAILSTACK").as_deref() == Ok("1") {
            panic!("GUICHET_REQUIRE_MAILSTACK=1 but GUICHET_TEST_MAILSTACK is not set");
        }
        skipped("no mail stack (run scripts/test.sh, or set GUICHET_TEST_MAILSTACK=STATE_DIR)");
        return None;
    };
    Some(mailstack_at(Path::new(&dir)))
}

/// A test whose prerequisite is missing. Under CI (`CI=true`) that is a failure. Otherwise the
/// test returns as passed, but says so where it cannot be missed: a line
/// `GUICHET-SKIPPED: <test>: <reason>` on stdout (cargo shows it only with --nocapture) and in
/// the file `$GUICHET_SKIPPED_FILE`, which scripts/test.sh counts in its closing line.
pub fn skipped(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if std::env::var("CI").is_ok_and(|ci| ci == "true" || ci == "1") {
        panic!("{test}: a prerequisite is missing under CI: {reason}");
    }
    let line = format!("GUICHET-SKIPPED: {test}: {reason}");
    println!("{line}");
    if let Some(file) = std::env::var_os("GUICHET_SKIPPED_FILE") {
        // Appends of one short line each do not interleave between the test threads.
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .unwrap_or_else(|e| panic!("GUICHET_SKIPPED_FILE {file:?}: {e}"));
        out.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
}

/// The stack whose state directory is `state_dir`.
pub fn mailstack_at(state_dir: &Path) -> MailStack {
    let state_dir = state_dir.to_path_buf();
    let text = std::fs::read_to_string(state_dir.join("mailstack.env")).unwrap_or_else(|e| {
        panic!(
            "{}/mailstack.env: {e} (is the stack running?)",
            state_dir.display()
        )
    });
    let env = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    MailStack { state_dir, env }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name no other test or run uses: for instance names and requester addresses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{}x{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 100_000
    )
}

impl MailStack {
    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from mailstack.env"))
    }

    pub fn port(&self, key: &str) -> u16 {
        self.get(key).parse().unwrap()
    }

    pub fn smtp_port(&self) -> u16 {
        self.port("MAILSTACK_SMTP_PORT")
    }

    pub fn pipe_domain(&self) -> &str {
        self.get("MAILSTACK_PIPE_DOMAIN")
    }

    /// Sends `raw` as it is over SMTP to the stack's MX port, like a user's mail server would.
    /// `mail_from` empty is the null reverse-path of a bounce.
    pub fn send(&self, mail_from: &str, rcpt_to: &str, raw: &[u8]) {
        send_smtp(self.smtp_port(), mail_from, &[rcpt_to], raw)
            .unwrap_or_else(|e| panic!("SMTP send: {e}"))
    }

    /// Blocks until Postfix has no mail left in its queue (every pipe delivery finished).
    pub fn wait_queue_empty(&self, timeout: Duration) {
        let config_dir = self.get("MAILSTACK_POSTFIX_CONFIG_DIR").to_string();
        wait_until(timeout, "the Postfix queue to empty", || {
            let out = Command::new("postqueue")
                .args(["-c", &config_dir, "-j"])
                .output()
                .ok()?;
            (out.status.success() && out.stdout.iter().all(|b| b.is_ascii_whitespace()))
                .then_some(())
        });
    }

    /// Every mail in `user`'s INBOX, raw, read over IMAPS with the master login.
    pub fn mailbox(&self, user: &str) -> Vec<Vec<u8>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(self.fetch_all(user))
            .unwrap_or_else(|e| panic!("IMAP for {user}: {e}"))
    }

    /// Waits for a mail in `user`'s INBOX for which `wanted` holds, and returns it.
    pub fn wait_for_mail(
        &self,
        user: &str,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        wait_until(timeout, &format!("a mail in {user}'s INBOX"), || {
            self.mailbox(user)
                .into_iter()
                .map(|raw| String::from_utf8_lossy(&raw).into_owned())
                .find(|text| wanted(text))
        })
    }

    /// Runs IMAP commands as `user` (master login) on a fresh connection.
    pub fn imap<T>(
        &self,
        user: &str,
        work: impl AsyncFnOnce(&mut ImapSession) -> Result<T, async_imap::error::Error>,
    ) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut session = self
                .login(user)
                .await
                .unwrap_or_else(|e| panic!("IMAP login for {user}: {e}"));
            let value = work(&mut session)
                .await
                .unwrap_or_else(|e| panic!("IMAP for {user}: {e}"));
            let _ = session.logout().await;
            value
        })
    }

    /// Puts mails straight into a folder (creating it), as a restore or a backlog would.
    pub fn append(&self, user: &str, folder: &str, mails: &[Vec<u8>]) {
        self.imap(user, async |session| {
            if folder != "INBOX" {
                let _ = session.create(folder).await;
            }
            for mail in mails {
                session.append(folder, None, None, mail).await?;
            }
            Ok(())
        })
    }

    /// How many mails a folder holds (0 when it does not exist).
    pub fn count(&self, user: &str, folder: &str) -> u32 {
        self.imap(user, async |session| {
            Ok(session
                .status(folder, "(MESSAGES)")
                .await
                .map_or(0, |mailbox| mailbox.exists))
        })
    }

    async fn login(&self, user: &str) -> Result<ImapSession, Box<dyn std::error::Error>> {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.get("MAILSTACK_CA_CERT"))? {
            roots.add(cert?)?;
        }
        let tls = tokio_rustls::rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port("MAILSTACK_IMAPS_PORT")))
            .await?;
        let stream = connector
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        let mut client = async_imap::Client::new(stream);
        client.read_response().await?.ok_or("no IMAP greeting")?;
        let login = format!("{user}*{}", self.get("MAILSTACK_MASTER_USER"));
        Ok(client
            .login(&login, self.get("MAILSTACK_MASTER_PASSWORD"))
            .await
            .map_err(|(e, _)| e)?)
    }

    /// A `[[mailbox]]` table that watches `user`'s `folder` over IMAPS with the master login.
    pub fn mailbox_toml(
        &self,
        name: &str,
        user: &str,
        folder: &str,
        password: &str,
        extra: &str,
    ) -> String {
        format!(
            "[[mailbox]]\nname = {name:?}\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"tls\"\nca_file = {:?}\n\
             address = {user:?}\nusername = \"{user}*{}\"\npassword = {password:?}\nfolder = {folder:?}\n{extra}\n",
            self.port("MAILSTACK_IMAPS_PORT"),
            self.get("MAILSTACK_CA_CERT"),
            self.get("MAILSTACK_MASTER_USER"),
        )
    }

    pub fn master_password(&self) -> &str {
        self.get("MAILSTACK_MASTER_PASSWORD")
    }

    async fn fetch_all(&self, user: &str) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
        let mut session = self.login(user).await?;
        let mailbox = session.select("INBOX").await?;
        let mut mails = Vec::new();
        if mailbox.exists > 0 {
            let fetches: Vec<_> = session
                .fetch("1:*", "BODY.PEEK[]")
                .await?
                .try_collect()
                .await?;
            mails.extend(fetches.iter().filter_map(|f| f.body().map(<[u8]>::to_vec)));
        }
        session.logout().await?;
        Ok(mails)
    }
}

/// Polls `probe` every 100 ms until it answers, or panics naming what never happened.
pub fn wait_until<T>(timeout: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        reply.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Ok(reply);
        }
    }
}

/// A minimal SMTP client: exactly the bytes given, dot-stuffed, CRLF line ends.
pub fn send_smtp(port: u16, mail_from: &str, rcpt_to: &[&str], raw: &[u8]) -> std::io::Result<()> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut expect =
        |writer: &mut TcpStream, command: Option<String>, code: &str| -> std::io::Result<()> {
            if let Some(command) = command {
                writer.write_all(command.as_bytes())?;
            }
            let reply = read_reply(&mut reader)?;
            if !reply.starts_with(code) {
                return Err(std::io::Error::other(format!(
                    "expected {code}, got {reply}"
                )));
            }
            Ok(())
        };
    expect(&mut writer, None, "220")?;
    expect(
        &mut writer,
        Some("EHLO client.example.test\r\n".into()),
        "250",
    )?;
    expect(
        &mut writer,
        Some(format!("MAIL FROM:<{mail_from}> BODY=8BITMIME\r\n")),
        "250",
    )?;
    for rcpt in rcpt_to {
        expect(&mut writer, Some(format!("RCPT TO:<{rcpt}>\r\n")), "250")?;
    }
    expect(&mut writer, Some("DATA\r\n".into()), "354")?;
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let mut data = Vec::with_capacity(raw.len() + 64);
    for line in text.split('\n') {
        if line.starts_with('.') {
            data.push(b'.');
        }
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
    }
    writer.write_all(&data)?;
    expect(&mut writer, Some(".\r\n".into()), "250")?;
    let _ = writer.write_all(b"QUIT\r\n");
    Ok(())
}

/// The binary the stack's pipe runs (scripts/test.sh copies it where user `guichet` can reach it).
pub fn guichet_bin() -> PathBuf {
    std::env::var_os("GUICHET_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_guichet")))
}

/// One Guichet behind the stack's pipe transport: mail to `NAME@desk.example.test` is piped into
/// `guichet ingest --config PIPE_ROOT/NAME/guichet.toml`, run as user `guichet`.
pub struct Instance {
    pub name: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub support: String,
    daemon: Option<Child>,
}

impl Instance {
    /// `smtp_port` is where the daemon sends; `extra` (whole tables) is appended to the config.
    pub fn new(stack: &MailStack, prefix: &str, smtp_port: u16, extra: &str) -> Instance {
        let name = unique(prefix);
        let support = format!("{name}@{}", stack.pipe_domain());
        Instance::with_support(stack, &name, &support, smtp_port, extra)
    }

    /// An instance whose support address is `support` (an IMAP-watched mailbox, say).
    pub fn with_support(
        stack: &MailStack,
        name: &str,
        support: &str,
        smtp_port: u16,
        extra: &str,
    ) -> Instance {
        let smtp = format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\nsecurity = \"plain\"\ntimeout_secs = 5\n"
        );
        Instance::custom(stack, name, support, &smtp, extra)
    }

    /// An instance with its own `[smtp]` table.
    pub fn custom(
        stack: &MailStack,
        name: &str,
        support: &str,
        smtp: &str,
        extra: &str,
    ) -> Instance {
        let name = name.to_string();
        let support = support.to_string();
        let dir = Path::new(stack.get("GUICHET_PIPE_ROOT")).join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("guichet.toml");
        std::fs::write(
            &config,
            format!(
                "[general]\nstate_dir = {:?}\nsupport_address = {support:?}\nsupport_name = \"Example Helpdesk\"\n\
                 {smtp}\
                 [outbox]\npoll_interval_ms = 100\nretry_initial_secs = 1\nretry_max_secs = 2\n\
                 {extra}\n",
                dir.join("state")
            ),
        )
        .unwrap();
        let status = Command::new("chown")
            .args(["-R", "guichet:guichet"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown the instance dir to guichet");
        Instance {
            name,
            dir,
            config,
            support,
            daemon: None,
        }
    }

    fn as_guichet(&self) -> Command {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=guichet", "--regid=guichet", "--init-groups", "--"])
            .arg(guichet_bin())
            .arg("--config")
            .arg(&self.config);
        command
    }

    /// Runs a guichet command as the instance's user and returns (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.as_guichet().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A guichet command as the instance's user, to run as the caller likes.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self.as_guichet();
        command.args(args);
        command
    }

    pub fn start(&mut self) {
        self.start_with_log("guichet=debug,info");
    }

    /// `guichet run` with this log filter (GUICHET_LOG).
    pub fn start_with_log(&mut self, filter: &str) {
        let log = std::fs::File::create(self.dir.join("daemon.log")).unwrap();
        let child = self
            .as_guichet()
            .arg("run")
            .env("GUICHET_LOG", filter)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
    }

    /// SIGTERM, as systemd sends; the daemon must exit 0 within a few seconds.
    pub fn stop(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = wait_until(
            Duration::from_secs(15),
            "the daemon to exit after SIGTERM",
            || child.try_wait().unwrap(),
        );
        assert!(
            status.success(),
            "daemon exit status {status:?}; log:\n{}",
            self.log()
        );
    }

    /// Sends the running daemon a signal by name (`HUP` is `systemctl reload`).
    pub fn signal(&self, name: &str) {
        let child = self.daemon.as_ref().expect("the daemon runs");
        let status = Command::new("kill")
            .args([&format!("-{name}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Points the daemon's SMTP at another port (takes effect at the next start).
    pub fn set_smtp_port(&self, port: u16) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let (head, tail) = text.split_once("[smtp]\n").unwrap();
        let (host, rest) = tail.split_once('\n').unwrap();
        let (_, rest) = rest.split_once('\n').unwrap();
        std::fs::write(
            &self.config,
            format!("{head}[smtp]\n{host}\nport = {port}\n{rest}"),
        )
        .unwrap();
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    pub fn store(&self) -> Store {
        let path = self.dir.join("state/guichet.sqlite3");
        // The daemon or the first delivery creates and migrates it.
        wait_until(Duration::from_secs(20), "the instance database", || {
            Store::open_read_only(&path).ok()
        })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A request as a user's mail program would write it.
pub fn request(from: &str, to: &str, subject: &str, message_id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Test Requester <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Tue, 24 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The value of a header in a raw mail (first occurrence, unfolded).
pub fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = &mut value {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((key, rest)) = line.split_once(':') {
            if key.eq_ignore_ascii_case(name) {
                value = Some(rest.trim().to_string());
            }
        }
    }
    value
}

/// The `[commands]` table that trusts what the test stack's MTA writes: tests stamp
/// `Authentication-Results: mx.example.test` on mail from people on our side.
pub const TRUSTED_MTA: &str = "[commands]\ntrusted_authserv_ids = [\"mx.example.test\"]\n";

/// The stamp the test stack's MTA vouches with for mail from example.test, where agents live.
pub const AUTHENTICATED: &str = "Authentication-Results: mx.example.test; dkim=pass header.d=example.test; spf=pass smtp.mailfrom=example.test\r\n";

/// An `[[agent]]` table; `levels` empty leaves the default.
pub fn agent_toml(
    name: &str,
    display_name: &str,
    address: &str,
    role: &str,
    levels: &[u8],
) -> String {
    let levels = if levels.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = levels.iter().map(u8::to_string).collect();
        format!("levels = [{}]\n", list.join(", "))
    };
    format!(
        "[[agent]]\nname = {name:?}\ndisplay_name = {display_name:?}\naddresses = [{address:?}]\nrole = {role:?}\n{levels}"
    )
}

/// A ticket's audit trail as `kind detail` lines, oldest first.
pub fn event_lines(detail: &guichet::adapters::store::TicketDetail) -> Vec<String> {
    detail
        .events
        .iter()
        .map(|e| format!("{} {}", e.kind, e.detail))
        .collect()
}

/// The `guichet` binary with `--config config` and `args`, `stdin` on its standard input.
pub fn run_guichet(config: &Path, args: &[&str], stdin: &[u8]) -> std::process::Output {
    run_guichet_logging(config, args, stdin, "warn")
}

/// `run_guichet` with the log at `level` (GUICHET_LOG).
pub fn run_guichet_logging(
    config: &Path,
    args: &[&str],
    stdin: &[u8],
    level: &str,
) -> std::process::Output {
    run_program(
        Path::new(env!("CARGO_BIN_EXE_guichet")),
        config,
        args,
        stdin,
        level,
    )
}

/// `program --config CONFIG ARGS… < stdin` with the log at `level`: `guichet` or
/// `guichet-deliver`.
pub fn run_program(
    program: &Path,
    config: &Path,
    args: &[&str],
    stdin: &[u8],
    level: &str,
) -> std::process::Output {
    let mut child = Command::new(program)
        .arg("--config")
        .arg(config)
        .args(args)
        .env("GUICHET_LOG", level)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before it reads stdin closes it: that is not the test's concern.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// A desk for the real binary in a temporary directory: `guichet.toml` there names `state/`
/// beside it and support@desk.example.test, then whatever `extra` adds.
pub struct TempDesk {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl TempDesk {
    pub fn new(extra: &str) -> TempDesk {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("guichet.toml");
        std::fs::write(
            &config,
            format!(
                "[general]\nstate_dir = {:?}\nsupport_address = \"support@desk.example.test\"\n{extra}",
                dir.path().join("state")
            ),
        )
        .unwrap();
        TempDesk { dir, config }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn run(&self, args: &[&str], stdin: &[u8]) -> std::process::Output {
        run_guichet(&self.config, args, stdin)
    }

    /// `guichet ingest` of `raw`, which must succeed.
    pub fn ingest(&self, raw: &[u8]) {
        let output = self.run(&["ingest"], raw);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.state().join("guichet.sqlite3")).unwrap()
    }
}

/// `guichet run` with `config`, as the current user; killed if the test ends before `stop`.
pub struct Daemon(Option<Child>);

impl Daemon {
    pub fn start(config: &Path) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_guichet"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("GUICHET_LOG", "error")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Daemon(Some(child))
    }

    /// SIGTERM, as systemd sends; returns whether the daemon exited 0.
    pub fn stop(mut self) -> bool {
        let mut child = self.0.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().unwrap().success()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nothing listens on at the moment (the daemon or a test server binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One number from the store, read-only while the daemon writes: `sql` with one parameter.
pub fn sql_count(database: &Path, sql: &str, param: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(sql, [param], |row| row.get(0)).unwrap()
}
