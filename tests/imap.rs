//! The IMAP poller against the real Dovecot of scripts/mailstack.sh: push delivery with IDLE,
//! mail arriving while a batch is stored, several mailboxes, exactly-once through a kill -9,
//! UIDVALIDITY changes, failures and the backlog shown in `guichet status`, and a mail server
//! restarted under a running Guichet.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{header, mailstack, request, unique, wait_until, Instance, MailStack};
use guichet::adapters::store::Store;

const WAIT: Duration = Duration::from_secs(45);

fn watched(prefix: &str) -> String {
    format!("{}@example.test", unique(prefix))
}

fn tickets(store: &Store) -> usize {
    store.read().list_tickets(None).unwrap().len()
}

fn connected(store: &Store, name: &str) -> bool {
    store
        .read()
        .mailbox_state(name)
        .unwrap()
        .is_some_and(|s| s.connected && s.last_success_at.is_some())
}

#[test]
fn mail_arriving_during_idle_is_ticketed_at_once_and_filed() {
    let Some(stack) = mailstack() else { return };
    let support = watched("idle");
    // Polls and full checks every ten minutes: only IDLE can make this fast.
    let mailbox = stack.mailbox_toml(
        "support",
        &support,
        "INBOX",
        stack.master_password(),
        "poll_interval_secs = 600\nfull_check_interval_secs = 600\n",
    );
    let mut desk = Instance::with_support(
        &stack,
        &unique("idle"),
        &support,
        stack.smtp_port(),
        &mailbox,
    );
    desk.start();
    let store = desk.store();
    wait_until(WAIT, "the mailbox connected", || {
        connected(&store, "support").then_some(())
    });
    // Let the daemon settle into IDLE.
    std::thread::sleep(Duration::from_millis(500));

    let requester = watched("req");
    let id = unique("idle@client");
    let sent = Instant::now();
    stack.send(
        &requester,
        &support,
        &request(&requester, &support, "Wi-Fi drops", &id, "The Wi-Fi drops."),
    );
    wait_until(
        Duration::from_secs(10),
        "the ticket, pushed by IDLE",
        || (tickets(&store) == 1).then_some(()),
    );
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");

    let ack = stack.wait_for_mail(&requester, WAIT, |raw| raw.contains("[Helpdesk #1]"));
    assert_eq!(header(&ack, "In-Reply-To"), Some(format!("<{id}>")));
    wait_until(WAIT, "the mail moved to Processed", || {
        (stack.count(&support, "INBOX") == 0 && stack.count(&support, "Processed") == 1)
            .then_some(())
    });
    let detail = store
        .read()
        .ticket(guichet::core::ticket::TicketNumber(1))
        .unwrap()
        .unwrap();
    assert_eq!(detail.messages[0].source, "imap:support");
    desk.stop();
    let state = store.read().mailbox_state("support").unwrap().unwrap();
    assert!(
        !state.connected,
        "a stopped daemon leaves the mailbox marked disconnected"
    );
}

/// The backlog `guichet status` prints for `mailbox`.
fn status_backlog(desk: &Instance, mailbox: &str) -> u32 {
    let (code, out, err) = desk.cli(&["status"]);
    // 1 while the mailbox reconnects: the backlog is still the last one checked.
    assert!(code == 0 || code == 1, "{code} {err}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("mailbox {mailbox}:")))
        .unwrap_or_else(|| panic!("no line for {mailbox}: {out}"));
    let (_, tail) = line.split_once("backlog ").unwrap();
    tail.split(',').next().unwrap().trim().parse().unwrap()
}

#[test]
fn mail_arriving_while_a_batch_is_stored_is_filed_within_seconds() {
    let Some(stack) = mailstack() else { return };
    let support = watched("during");
    let requester = watched("req");
    let backlog: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            request(
                &requester,
                &support,
                &format!("Queued request {i}"),
                &unique(&format!("q{i}@c")),
                "please",
            )
        })
        .collect();
    stack.append(&support, "INBOX", &backlog);
    // Full checks every ten minutes: only the check after the batch can find the late mail in
    // time, since the server announced it during the batch, not during IDLE.
    let extra = format!(
        "{}[loop_protection]\nmax_auto_replies_per_hour = 10000\nmax_automatic_mails_per_hour = 10000\nmax_automatic_mails_per_ticket_per_hour = 10000\n",
        stack.mailbox_toml(
            "support",
            &support,
            "INBOX",
            stack.master_password(),
            "poll_interval_secs = 600\nfull_check_interval_secs = 600\n"
        )
    );
    let mut desk = Instance::with_support(
        &stack,
        &unique("during"),
        &support,
        stack.smtp_port(),
        &extra,
    );
    desk.start();
    let store = desk.store();
    // The first "mail stored" is logged inside the batch's transaction, before it commits.
    wait_until(WAIT, "the batch being stored", || {
        desk.log().contains("mail stored").then_some(())
    });
    let late = watched("late");
    stack.send(
        &late,
        &support,
        &request(
            &late,
            &support,
            "Arrived during the batch",
            &unique("late@c"),
            "me too",
        ),
    );
    let sent = Instant::now();
    wait_until(
        Duration::from_secs(30),
        "the late mail ticketed and filed",
        || {
            let rows = store.read().list_tickets(None).unwrap();
            (rows.iter().any(|t| t.subject == "Arrived during the batch")
                && stack.count(&support, "INBOX") == 0)
                .then_some(())
        },
    );
    eprintln!(
        "late mail filed {:?} after it was sent; found by the post-batch check: {}",
        sent.elapsed(),
        desk.log().contains("mail arrived during the batch")
    );
    assert_eq!(tickets(&store), 201);
    assert_eq!(stack.count(&support, "Processed"), 201);
    wait_until(WAIT, "the status backlog at zero", || {
        (status_backlog(&desk, "support") == 0).then_some(())
    });

    // Mail the daemon does not see arrive (it is stopped) shows in the backlog of its next check.
    desk.stop();
    let more: Vec<Vec<u8>> = (0..3)
        .map(|i| request(&late, &support, &format!("Later {i}"), &unique("l@c"), "hi"))
        .collect();
    stack.append(&support, "INBOX", &more);
    let (code, out, _) = desk.cli(&["status"]);
    assert_eq!(code, 2, "the daemon is not running: {out}");
    assert!(out.contains("mailbox support: not connected"), "{out}");
    desk.start();
    wait_until(WAIT, "the three filed", || {
        (stack.count(&support, "Processed") == 204).then_some(())
    });
    wait_until(WAIT, "the status backlog matching the empty folder", || {
        (status_backlog(&desk, "support") == stack.count(&support, "INBOX")).then_some(())
    });
    desk.stop();
}

#[test]
fn two_mailboxes_feed_two_queues_and_a_wrong_password_stops_only_its_own() {
    let Some(stack) = mailstack() else { return };
    let support = watched("sup");
    let hardware = watched("hw");
    let broken = watched("broken");
    let mailboxes = [
        stack.mailbox_toml(
            "support",
            &support,
            "INBOX",
            stack.master_password(),
            "queue = \"general\"\n",
        ),
        stack.mailbox_toml(
            "hardware",
            &hardware,
            "INBOX",
            stack.master_password(),
            "queue = \"hardware\"\n",
        ),
        stack.mailbox_toml(
            "broken",
            &broken,
            "INBOX",
            "wrong-password",
            "queue = \"general\"\n",
        ),
    ];
    let extra = mailboxes.concat();
    let mut desk =
        Instance::with_support(&stack, &unique("two"), &support, stack.smtp_port(), &extra);
    desk.start();
    let store = desk.store();

    let requester = watched("req");
    stack.send(
        &requester,
        &support,
        &request(
            &requester,
            &support,
            "Password reset",
            &unique("a@c"),
            "Reset please",
        ),
    );
    stack.send(
        &requester,
        &hardware,
        &request(
            &requester,
            &hardware,
            "Broken keyboard",
            &unique("b@c"),
            "Keys stuck",
        ),
    );
    let rows = wait_until(WAIT, "a ticket from each working mailbox", || {
        let rows = store.read().list_tickets(None).unwrap();
        (rows.len() == 2).then_some(rows)
    });
    let queue_of = |subject: &str| {
        rows.iter()
            .find(|t| t.subject == subject)
            .unwrap()
            .queue
            .clone()
    };
    assert_eq!(queue_of("Password reset"), "general");
    assert_eq!(queue_of("Broken keyboard"), "hardware");
    let keyboard = rows
        .iter()
        .find(|t| t.subject == "Broken keyboard")
        .unwrap()
        .number;
    let detail = store
        .read()
        .ticket(guichet::core::ticket::TicketNumber(keyboard))
        .unwrap()
        .unwrap();
    assert_eq!(
        detail.participants.len(),
        1,
        "the hardware mailbox is ours, no participant: {:?}",
        detail.participants
    );

    // Dovecot delays a refused login (more so under the other tests' load): wait for it.
    wait_until(WAIT, "the refused login recorded", || {
        store
            .read()
            .mailbox_state("broken")
            .unwrap()
            .filter(|s| s.last_error.is_some())
    });
    let (code, out, err) = desk.cli(&["status"]);
    assert_eq!(code, 1, "a mailbox is failing: {err}");
    assert!(err.contains("mailbox failing: broken"), "{err}");
    assert!(out.contains("daemon:     running"), "{out}");
    assert!(out.contains("mailbox support: connected"), "{out}");
    assert!(out.contains("mailbox hardware: connected"), "{out}");
    assert!(out.contains("mailbox broken: not connected"), "{out}");
    assert!(out.contains("login refused for"), "{out}");
    assert!(
        !out.contains("wrong-password"),
        "the password never shows: {out}"
    );
    let (_, json, _) = desk.cli(&["status", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["mailboxes"][2]["state"]["connected"], false);
    desk.stop();
    let log = desk.log();
    assert!(log.contains("login refused for"), "the log says why");
    assert!(
        !log.contains("wrong-password"),
        "the password is never logged"
    );
}

#[test]
fn kill_9_in_the_middle_of_a_backlog_loses_nothing_and_repeats_nothing() {
    let Some(stack) = mailstack() else { return };
    let support = watched("backlog");
    let requester = watched("many");
    let backlog: Vec<Vec<u8>> = (0..500)
        .map(|i| {
            request(
                &requester,
                &support,
                &format!("Backlog request {i}"),
                &unique(&format!("bl{i}@c")),
                "please",
            )
        })
        .collect();
    stack.append(&support, "INBOX", &backlog);
    let extra = format!(
        "{}[loop_protection]\nmax_auto_replies_per_hour = 10000\nmax_automatic_mails_per_hour = 10000\nmax_automatic_mails_per_ticket_per_hour = 10000\n",
        stack.mailbox_toml(
            "support",
            &support,
            "INBOX",
            stack.master_password(),
            "batch_size = 25\n"
        )
    );
    // SMTP stays closed until the restart: this test is about intake. (Handing a mail to SMTP is
    // at least once: a kill in the instant between the server's 250 and our commit resends it.)
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut desk = Instance::with_support(&stack, &unique("kill"), &support, closed, &extra);
    desk.start();
    let store = desk.store();
    wait_until(WAIT, "intake under way", || {
        (tickets(&store) >= 40).then_some(())
    });
    desk.kill();
    let at_kill = tickets(&store);
    assert!(
        at_kill < 500,
        "the kill came too late to test anything ({at_kill} tickets)"
    );

    desk.set_smtp_port(stack.smtp_port());
    desk.start();
    // Mail that arrives while the restarted daemon drains the rest is not left behind.
    let latecomer = watched("latecomer");
    for i in 0..3 {
        stack.send(
            &latecomer,
            &support,
            &request(
                &latecomer,
                &support,
                &format!("During the restart {i}"),
                &unique("dr@c"),
                "hello",
            ),
        );
    }
    wait_until(Duration::from_secs(120), "every mail filed away", || {
        (stack.count(&support, "INBOX") == 0 && tickets(&store) == 503).then_some(())
    });
    wait_until(
        Duration::from_secs(120),
        "every acknowledgement sent",
        || {
            let counts = store.read().outbox_counts().unwrap();
            (counts.pending == 0).then_some(())
        },
    );
    stack.wait_queue_empty(WAIT);
    assert_eq!(tickets(&store), 503);
    assert_eq!(store.read().outbox_counts().unwrap().sent, 503);
    let acks = wait_until(WAIT, "500 acknowledgements delivered", || {
        let n = stack.count(&requester, "INBOX");
        (n >= 500).then_some(n)
    });
    assert_eq!(acks, 500, "one acknowledgement per mail, none twice");
    assert_eq!(stack.count(&support, "Processed"), 503);
    desk.stop();
}

#[test]
fn a_recreated_folder_makes_no_duplicate_tickets() {
    let Some(stack) = mailstack() else { return };
    let support = watched("uidv");
    let requester = watched("req");
    let mails: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            request(
                &requester,
                &support,
                &format!("Restore me {i}"),
                &unique(&format!("u{i}@c")),
                "hi",
            )
        })
        .collect();
    stack.append(&support, "Support", &mails);
    let mailbox = stack.mailbox_toml(
        "support",
        &support,
        "Support",
        stack.master_password(),
        "full_check_interval_secs = 1\n",
    );
    let mut desk = Instance::with_support(
        &stack,
        &unique("uidv"),
        &support,
        stack.smtp_port(),
        &mailbox,
    );
    desk.start();
    let store = desk.store();
    wait_until(WAIT, "three tickets", || {
        (tickets(&store) == 3).then_some(())
    });
    let first = store
        .read()
        .mailbox_state("support")
        .unwrap()
        .unwrap()
        .uid_validity
        .unwrap();

    // Delete and recreate the folder (a new UIDVALIDITY), and restore the same mail into it.
    stack.imap(&support, async |session| {
        session.delete("Support").await?;
        session.create("Support").await
    });
    stack.append(&support, "Support", &mails);
    wait_until(WAIT, "the restored mail filed again", || {
        (stack.count(&support, "Support") == 0 && stack.count(&support, "Processed") == 6)
            .then_some(())
    });
    let second = store
        .read()
        .mailbox_state("support")
        .unwrap()
        .unwrap()
        .uid_validity
        .unwrap();
    assert_ne!(first, second, "the folder really got a new UIDVALIDITY");
    assert_eq!(tickets(&store), 3, "no duplicate tickets");
    assert_eq!(
        store.read().outbox_counts().unwrap().pending + store.read().outbox_counts().unwrap().sent,
        3
    );
    desk.stop();
    assert!(desk.log().contains("UIDVALIDITY changed"), "{}", desk.log());
}

/// A private stack (its own ports and state), for a test that stops the servers.
struct PrivateStack {
    state: std::path::PathBuf,
    offset: u16,
}

impl PrivateStack {
    /// Starts on the first of `offsets` whose ports are free (benchmarks or a demo may hold some).
    fn start(offsets: &[u16]) -> PrivateStack {
        let state = std::path::PathBuf::from(format!("/tmp/guichet-private-{}", unique("s")));
        std::fs::create_dir_all(&state).unwrap();
        let mut failures = Vec::new();
        for &offset in offsets {
            let stack = PrivateStack {
                state: state.clone(),
                offset,
            };
            let out = stack.script("start");
            if out.status.success() {
                return stack;
            }
            failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
            std::mem::forget(stack);
        }
        panic!("no private mail stack could start: {failures:?}");
    }

    fn script(&self, action: &str) -> std::process::Output {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack.sh");
        Command::new("bash")
            .arg(script)
            .arg(action)
            .arg(&self.state)
            .env("MAILSTACK_PORT_OFFSET", self.offset.to_string())
            .env("GUICHET_BIN", common::guichet_bin())
            .output()
            .unwrap()
    }

    fn up(&self) {
        let out = self.script("start");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn down(&self) {
        let out = self.script("stop");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn env(&self) -> MailStack {
        common::mailstack_at(&self.state)
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = self.script("stop");
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

#[test]
fn guichet_reconnects_after_the_mail_servers_restart() {
    let Some(shared) = mailstack() else { return };
    let base: u16 = std::env::var("MAILSTACK_PORT_OFFSET")
        .ok()
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let private = PrivateStack::start(&[base + 1000, base + 2500, base + 3500, base + 4500]);
    let stack = private.env();
    let support = watched("restart");
    let mailbox = stack.mailbox_toml("support", &support, "INBOX", stack.master_password(), "");
    let mut desk = Instance::with_support(
        &shared,
        &unique("restart"),
        &support,
        stack.smtp_port(),
        &mailbox,
    );
    desk.start();
    let store = desk.store();
    let requester = watched("req");
    stack.send(
        &requester,
        &support,
        &request(
            &requester,
            &support,
            "Before the restart",
            &unique("r1@c"),
            "one",
        ),
    );
    wait_until(WAIT, "the first ticket", || {
        (tickets(&store) == 1).then_some(())
    });

    private.down();
    wait_until(WAIT, "the lost connection noticed", || {
        store
            .read()
            .mailbox_state("support")
            .unwrap()
            .filter(|s| !s.connected && s.last_error.is_some())
    });
    private.up();
    stack.send(
        &requester,
        &support,
        &request(
            &requester,
            &support,
            "After the restart",
            &unique("r2@c"),
            "two",
        ),
    );
    wait_until(
        Duration::from_secs(120),
        "the second ticket, after reconnecting",
        || (tickets(&store) == 2).then_some(()),
    );
    let state = store.read().mailbox_state("support").unwrap().unwrap();
    assert!(state.connected);
    assert_eq!(state.last_error, None);
    stack.wait_for_mail(&requester, WAIT, |raw| raw.contains("After the restart"));
    desk.stop();
    let log = desk.log();
    assert!(log.contains("mailbox reconnected"), "{log}");
}
