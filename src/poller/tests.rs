//! The poller's rules against an in-memory IMAP server: exactly-once filing, a crash between
//! commit and move, UIDVALIDITY changes, failing logins. Time is tokio's paused clock.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::*;
use crate::config::Config;
use crate::core::ticket::Status;

#[derive(Default)]
struct Folder {
    uid_validity: u32,
    next_uid: u32,
    mails: BTreeMap<u32, Vec<u8>>,
}

impl Folder {
    fn add(&mut self, raw: Vec<u8>) {
        self.next_uid += 1;
        self.mails.insert(self.next_uid, raw);
    }
}

#[derive(Default)]
struct Server {
    folders: BTreeMap<String, Folder>,
    refuse_logins: u32,
    fail_file_away: u32,
    connects: u32,
}

#[derive(Clone, Default)]
struct FakeConnector(Arc<Mutex<Server>>);

struct FakeSession {
    server: Arc<Mutex<Server>>,
    selected: String,
}

impl MailboxConnector for FakeConnector {
    type Session = FakeSession;
    async fn connect(&self) -> Result<FakeSession, ImapError> {
        let mut server = self.0.lock().unwrap();
        server.connects += 1;
        if server.refuse_logins > 0 {
            server.refuse_logins -= 1;
            return Err(ImapError::Login {
                user: "support".into(),
                reason: "no response: [AUTHENTICATIONFAILED] Authentication failed.".into(),
            });
        }
        Ok(FakeSession {
            server: self.0.clone(),
            selected: String::new(),
        })
    }
}

impl MailboxSession for FakeSession {
    async fn ensure_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        let mut server = self.server.lock().unwrap();
        server
            .folders
            .entry(folder.to_string())
            .or_insert_with(|| Folder {
                uid_validity: 7,
                ..Folder::default()
            });
        Ok(())
    }

    async fn select(&mut self, folder: &str) -> Result<FolderStatus, ImapError> {
        let server = self.server.lock().unwrap();
        let found = server
            .folders
            .get(folder)
            .ok_or_else(|| ImapError::Folder {
                folder: folder.into(),
                reason: "NO Mailbox doesn't exist".into(),
            })?;
        self.selected = folder.to_string();
        Ok(FolderStatus {
            uid_validity: found.uid_validity,
            exists: found.mails.len() as u32,
        })
    }

    async fn list(&mut self) -> Result<Vec<(u32, u64)>, ImapError> {
        let server = self.server.lock().unwrap();
        Ok(server.folders[&self.selected]
            .mails
            .iter()
            .map(|(uid, raw)| (*uid, raw.len() as u64))
            .collect())
    }

    async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        let server = self.server.lock().unwrap();
        let folder = &server.folders[&self.selected];
        Ok(uids
            .iter()
            .filter_map(|uid| Some((*uid, folder.mails.get(uid)?.clone())))
            .collect())
    }

    async fn file_away(&mut self, uids: &[u32], target: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let mut server = self.server.lock().unwrap();
        if server.fail_file_away > 0 {
            server.fail_file_away -= 1;
            return Err(ImapError::Protocol("connection reset by peer".into()));
        }
        let selected = self.selected.clone();
        for uid in uids {
            let raw = server
                .folders
                .get_mut(&selected)
                .unwrap()
                .mails
                .remove(uid)
                .unwrap();
            server.folders.get_mut(target).unwrap().add(raw);
        }
        Ok(())
    }

    async fn wait_for_news(
        &mut self,
        wait: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ImapError> {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
        Ok(())
    }

    async fn logout(self) {}
}

fn mail(n: u32) -> Vec<u8> {
    format!("From: user{n}@example.test\r\nTo: support@example.test\r\nSubject: request {n}\r\nMessage-ID: <m{n}@example.test>\r\n\r\nhello {n}\r\n")
        .into_bytes()
}

struct Harness {
    server: FakeConnector,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    config: Arc<Config>,
}

fn config(dir: &Path) -> Arc<Config> {
    let text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@example.test\"\n\
         [[mailbox]]\nname = \"support\"\nhost = \"127.0.0.1\"\nsecurity = \"insecure\"\nusername = \"u\"\npassword = \"p\"\n\
         queue = \"hardware\"\nbatch_size = 2\nfull_check_interval_secs = 5\n",
        dir
    );
    Arc::new(Config::parse(Path::new("t.toml"), &text, &|_| None).unwrap())
}

fn start(dir: &Path, server: FakeConnector) -> Harness {
    let config = config(dir);
    let task = MailboxTask {
        config: config.mailboxes[0].clone(),
        connector: server.clone(),
        pipeline: Arc::new(std::sync::Mutex::new(
            Pipeline::open(config.clone()).unwrap(),
        )),
        wake_outbox: Arc::new(Notify::new()),
    };
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(task.run(stopping));
    Harness {
        server,
        stop,
        task,
        config,
    }
}

impl Harness {
    fn folder_len(&self, name: &str) -> usize {
        self.server
            .0
            .lock()
            .unwrap()
            .folders
            .get(name)
            .map_or(0, |f| f.mails.len())
    }

    async fn until(&self, what: &str, done: impl Fn(&Harness) -> bool) {
        for _ in 0..10_000 {
            if done(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("never: {what}");
    }

    fn store(&self) -> crate::adapters::store::Store {
        crate::adapters::store::Store::open(&self.config.database_path()).unwrap()
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

fn server_with(mails: impl IntoIterator<Item = Vec<u8>>) -> FakeConnector {
    let server = FakeConnector::default();
    let mut inbox = Folder {
        uid_validity: 1,
        ..Folder::default()
    };
    for raw in mails {
        inbox.add(raw);
    }
    server
        .0
        .lock()
        .unwrap()
        .folders
        .insert("INBOX".into(), inbox);
    server
}

#[tokio::test(start_paused = true)]
async fn mail_is_ticketed_then_filed_away_and_garbage_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with([mail(1), mail(2), b"\x00\x01 garbage".to_vec(), mail(3)]);
    let harness = start(dir.path(), server);
    harness
        .until("INBOX empty", |h| h.folder_len("INBOX") == 0)
        .await;
    assert_eq!(harness.folder_len("Processed"), 3);
    assert_eq!(harness.folder_len("Quarantine"), 1);
    let store = harness.store();
    let tickets = store.read().list_tickets(None).unwrap();
    assert_eq!(tickets.len(), 3);
    assert!(tickets
        .iter()
        .all(|t| t.queue == "hardware" && t.status == Status::New.as_str()));
    assert_eq!(store.read().outbox_counts().unwrap().pending, 3);
    let state = store.read().mailbox_state("support").unwrap().unwrap();
    assert!(state.connected);
    assert_eq!((state.processed, state.backlog, state.last_uid), (4, 0, 4));
    assert_eq!(state.uid_validity, Some(1));

    // New mail arrives; the periodic check finds it.
    harness
        .server
        .0
        .lock()
        .unwrap()
        .folders
        .get_mut("INBOX")
        .unwrap()
        .add(mail(4));
    harness
        .until("the new mail filed", |h| h.folder_len("Processed") == 4)
        .await;
    harness.stop().await;
    let state = harness_store_state(dir.path());
    assert!(!state.connected, "a stopped task says it is not connected");
}

fn harness_store_state(dir: &Path) -> crate::adapters::store::MailboxStateRow {
    let config = config(dir);
    crate::adapters::store::Store::open(&config.database_path())
        .unwrap()
        .read()
        .mailbox_state("support")
        .unwrap()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_failure_between_commit_and_move_makes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with((1..=5).map(mail));
    server.0.lock().unwrap().fail_file_away = 1;
    let harness = start(dir.path(), server);
    harness
        .until("INBOX empty", |h| h.folder_len("INBOX") == 0)
        .await;
    assert_eq!(harness.folder_len("Processed"), 5);
    let store = harness.store();
    assert_eq!(store.read().list_tickets(None).unwrap().len(), 5);
    assert_eq!(
        store.read().outbox_counts().unwrap().pending,
        5,
        "one acknowledgement each"
    );
    assert!(
        harness.server.0.lock().unwrap().connects >= 2,
        "it reconnected"
    );
    harness.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_uid_validity_rescans_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let harness = start(dir.path(), server_with((1..=3).map(mail)));
    harness
        .until("INBOX empty", |h| h.folder_len("INBOX") == 0)
        .await;
    {
        // The folder is recreated (new UIDVALIDITY) with the same mail restored into it.
        let mut server = harness.server.0.lock().unwrap();
        let mut recreated = Folder {
            uid_validity: 99,
            ..Folder::default()
        };
        for raw in (1..=3).map(mail) {
            recreated.add(raw);
        }
        server.folders.insert("INBOX".into(), recreated);
    }
    harness
        .until("the restored mail filed again", |h| {
            h.folder_len("Processed") == 6
        })
        .await;
    let store = harness.store();
    assert_eq!(
        store.read().list_tickets(None).unwrap().len(),
        3,
        "no duplicate tickets"
    );
    assert_eq!(store.read().outbox_counts().unwrap().pending, 3);
    assert_eq!(
        store
            .read()
            .mailbox_state("support")
            .unwrap()
            .unwrap()
            .uid_validity,
        Some(99)
    );
    harness.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_login_shows_in_the_state_until_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with([mail(1)]);
    server.0.lock().unwrap().refuse_logins = 3;
    let harness = start(dir.path(), server);
    harness
        .until("the login error recorded", |h| {
            h.store()
                .read()
                .mailbox_state("support")
                .unwrap()
                .is_some_and(|s| {
                    s.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("login refused for support"))
                })
        })
        .await;
    harness
        .until("INBOX empty", |h| h.folder_len("INBOX") == 0)
        .await;
    let state = harness
        .store()
        .read()
        .mailbox_state("support")
        .unwrap()
        .unwrap();
    assert!(state.connected);
    assert_eq!(state.last_error, None, "a success clears the error");
    assert!(state.last_error_at.is_some());
    assert_eq!(harness.server.0.lock().unwrap().connects, 4);
    harness.stop().await;
}

#[test]
fn backoff_doubles_to_a_cap_with_bounded_jitter() {
    let plain: Vec<u64> = (1..=9).map(|n| backoff(n, 0).as_secs()).collect();
    assert_eq!(plain, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    for seed in [1u64, 977, 123_456_789] {
        let delay = backoff(7, seed);
        assert!(
            delay >= Duration::from_secs(60) && delay < Duration::from_secs(75),
            "{delay:?}"
        );
    }
}

#[test]
fn batches_respect_count_and_bytes() {
    let listing = [(1, 10), (2, 10), (3, 10), (4, 100), (5, 1)];
    assert_eq!(
        batches(&listing, 2, 1000),
        vec![vec![1, 2], vec![3, 4], vec![5]]
    );
    assert_eq!(
        batches(&listing, 10, 50),
        vec![vec![1, 2, 3], vec![4], vec![5]]
    );
    assert!(batches(&[], 10, 50).is_empty());
}
