//! `systemctl reload` (SIGHUP) over the real mail stack: a new queue and routing rule take effect
//! for the next mail without the mailbox reconnecting; a broken config is refused and the running
//! one keeps working; a mailbox added on reload is watched and one removed stops; a change to the
//! mailbox's own table reconnects that mailbox only.

mod common;

use std::time::Duration;

use common::{mailstack, request, unique, wait_until, Instance, MailStack};
use guichet::adapters::store::Store;

const WAIT: Duration = Duration::from_secs(45);

const PRINTERS: &str = "[[queue]]\nname = \"hardware\"\n\n[[rule]]\nname = \"printers\"\n\
conditions = [{ field = \"subject\", contains = \"printer\" }]\nactions = { queue = \"hardware\" }\n";

/// The queue of the ticket opened by the mail with Message-ID `id`.
fn queue_of(store: &Store, subject: &str) -> String {
    wait_until(WAIT, "the ticket", || {
        store
            .read()
            .list_tickets(None)
            .unwrap()
            .into_iter()
            .find(|ticket| ticket.subject.contains(subject))
            .map(|ticket| ticket.queue)
    })
}

fn send(stack: &MailStack, support: &str, subject: &str) {
    let requester = format!("{}@example.test", unique("req"));
    let id = unique("reload@client");
    stack.send(
        &requester,
        support,
        &request(&requester, support, subject, &id, "It does not print."),
    );
}

fn count(log: &str, line: &str) -> usize {
    log.lines().filter(|l| l.contains(line)).count()
}

/// Log lines of one mailbox's task (its span names it) that say `event`.
fn mailbox_lines(log: &str, name: &str, event: &str) -> usize {
    let span = format!("mailbox{{name={name}}}");
    log.lines()
        .filter(|l| l.contains(&span) && l.contains(event))
        .count()
}

/// Waits for the `nth` (1-based) log line containing `line`.
fn wait_log(desk: &Instance, line: &str, nth: usize) {
    wait_until(WAIT, line, || {
        (count(&desk.log(), line) >= nth).then_some(())
    });
}

#[test]
fn a_reload_routes_the_next_mail_by_the_new_rule_without_reconnecting_the_mailbox() {
    let Some(stack) = mailstack() else { return };
    let support = format!("{}@example.test", unique("reload"));
    let mailbox = |poll: u32| {
        stack.mailbox_toml(
            "support",
            &support,
            "INBOX",
            stack.master_password(),
            &format!("poll_interval_secs = {poll}\n"),
        )
    };
    let mut desk = Instance::with_support(
        &stack,
        &unique("reload"),
        &support,
        stack.smtp_port(),
        &mailbox(60),
    );
    let original = std::fs::read_to_string(&desk.config).unwrap();
    desk.start();
    let store = desk.store();
    wait_log(&desk, "mailbox connected", 1);

    send(&stack, &support, "Printer one");
    assert_eq!(queue_of(&store, "Printer one"), "general", "no rule yet");

    std::fs::write(&desk.config, format!("{original}{PRINTERS}")).unwrap();
    desk.signal("HUP");
    wait_log(&desk, "config reloaded", 1);
    send(&stack, &support, "Printer two");
    assert_eq!(queue_of(&store, "Printer two"), "hardware");
    let log = desk.log();
    assert_eq!(count(&log, "mailbox connected"), 1, "{log}");
    assert_eq!(count(&log, "task=\"mailbox support\""), 0, "{log}");

    // A rule without conditions: refused, with the file, key and reason; the old config stays.
    std::fs::write(
        &desk.config,
        format!("{original}{PRINTERS}[[rule]]\nname = \"broken\"\n"),
    )
    .unwrap();
    desk.signal("HUP");
    wait_log(&desk, "config not reloaded", 1);
    let log = desk.log();
    let refusal = log
        .lines()
        .find(|l| l.contains("config not reloaded"))
        .unwrap();
    assert!(
        refusal.contains(&desk.config.display().to_string()) && refusal.contains("rule"),
        "{refusal}"
    );
    send(&stack, &support, "Printer three");
    assert_eq!(queue_of(&store, "Printer three"), "hardware");

    // A mailbox added on reload is watched at once; removed again, it stops; the first one stays.
    let sales = format!("{}@example.test", unique("sales"));
    let sales_mailbox = stack.mailbox_toml(
        "sales",
        &sales,
        "INBOX",
        stack.master_password(),
        "queue = \"hardware\"\n",
    );
    std::fs::write(&desk.config, format!("{original}{PRINTERS}{sales_mailbox}")).unwrap();
    desk.signal("HUP");
    wait_log(&desk, "config reloaded", 2);
    wait_until(WAIT, "the sales mailbox connected", || {
        (mailbox_lines(&desk.log(), "sales", "mailbox connected") > 0).then_some(())
    });
    send(&stack, &sales, "Quote for ten screens");
    assert_eq!(queue_of(&store, "Quote for ten screens"), "hardware");
    std::fs::write(&desk.config, format!("{original}{PRINTERS}")).unwrap();
    desk.signal("HUP");
    wait_log(&desk, "config reloaded", 3);
    wait_until(WAIT, "the sales mailbox stopped", || {
        (mailbox_lines(&desk.log(), "sales", "mailbox stopped") > 0).then_some(())
    });
    let log = desk.log();
    assert_eq!(
        mailbox_lines(&log, "support", "mailbox connected"),
        1,
        "{log}"
    );

    // The mailbox's own table changed: that mailbox, and only it, reconnects.
    std::fs::write(
        &desk.config,
        format!("{}{PRINTERS}", original.replace(&mailbox(60), &mailbox(30))),
    )
    .unwrap();
    desk.signal("HUP");
    wait_log(&desk, "config reloaded", 4);
    wait_until(WAIT, "the support mailbox connected again", || {
        (mailbox_lines(&desk.log(), "support", "mailbox connected") >= 2).then_some(())
    });
    let log = desk.log();
    let restarts: Vec<&str> = log.lines().filter(|l| l.contains("restarting")).collect();
    assert!(
        restarts
            .iter()
            .any(|l| l.contains("task=\"mailbox support\"")),
        "{log}"
    );
    assert!(
        !restarts.iter().any(|l| l.contains("outbox sender")),
        "SMTP did not change: {log}"
    );
    send(&stack, &support, "Printer four");
    assert_eq!(queue_of(&store, "Printer four"), "hardware");
    desk.stop();
}
