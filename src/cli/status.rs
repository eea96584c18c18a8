//! `guichet check-config` and `guichet status`.

use super::*;

pub(super) fn check_config(config: &Config) -> Result<(), CliError> {
    println!("{}: ok", config.file.display());
    println!("  support address: {}", config.intake.support);
    println!("  state directory: {}", config.state_dir.display());
    println!(
        "  subject tag:     {}",
        config.intake.tags.tag(TicketNumber(1042))
    );
    match &config.smtp {
        Some(smtp) => println!(
            "  smtp:            {}:{} ({:?}, {} connections)",
            smtp.host, smtp.port, smtp.security, smtp.connections
        ),
        None => println!("  smtp:            none (mail waits in the outbox)"),
    }
    for account in &config.oauth2 {
        let grant = match &account.grant {
            crate::config::OAuth2Grant::ClientCredentials => "client credentials".to_string(),
            crate::config::OAuth2Grant::RefreshToken(Some(_)) => {
                "refresh token from the config".to_string()
            }
            crate::config::OAuth2Grant::RefreshToken(None) if account.stored_token.exists() => {
                format!("refresh token in {}", account.stored_token.display())
            }
            crate::config::OAuth2Grant::RefreshToken(None) => format!(
                "no refresh token yet: run `guichet oauth login {}`",
                account.name
            ),
        };
        println!("  oauth2 {}: {} ({grant})", account.name, account.token_url);
    }
    if let Some(web) = &config.web {
        println!("  web:             {} ({})", web.listen, web.public_url);
        if !web.form_queues.is_empty() {
            println!(
                "  request form:    {}/new for {}",
                web.public_url,
                web.form_queues.join(", ")
            );
        }
        if let Some(days) = web.requester_link_days {
            println!("  requester pages: links valid {days} days");
        }
        if web.api {
            println!("  api:             {}/api/v1", web.public_url);
        }
    }
    for webhook in &config.webhooks {
        println!(
            "  webhook {}: {} ({})",
            webhook.name,
            webhook.url,
            webhook.events.join(", ")
        );
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
struct StatusReport {
    daemon: Option<crate::adapters::store::DaemonStateRow>,
    daemon_running: bool,
    /// Whether piped mail is handed to the daemon now (`handover`).
    pipe_handover: bool,
    mailboxes: Vec<MailboxStatus>,
    outbox: crate::adapters::store::OutboxCounts,
    quarantined: u64,
    /// Outgoing mail that could not be rendered (`mail_not_rendered` events).
    unsendable: u64,
    last_unsendable: Option<crate::adapters::store::EventRow>,
    webhooks: Vec<WebhookStatus>,
}

#[derive(Debug, serde::Serialize)]
struct WebhookStatus {
    name: String,
    /// The last event it took (or skipped as not wanted); `None` before its first pass.
    delivered_through: Option<i64>,
    /// Failed attempts in a row at its next event, and the last one's error.
    failures: u32,
    last_error: Option<String>,
}

#[derive(Debug, serde::Serialize)]
struct MailboxStatus {
    name: String,
    state: Option<crate::adapters::store::MailboxStateRow>,
}

/// A heartbeat older than this means the daemon is gone (it beats every 5 s).
const HEARTBEAT_STALE_SECS: i64 = 30;

/// Whether the daemon whose state this is still runs: not stopped, and a fresh heartbeat.
pub(super) fn daemon_running(daemon: &crate::adapters::store::DaemonStateRow, now: i64) -> bool {
    daemon.stopped_at.is_none() && now - daemon.heartbeat_at <= HEARTBEAT_STALE_SECS
}

pub(super) fn status(config: &Config, json: bool) -> Result<(), CliError> {
    let store = open_read_only(config)?;
    let reader = store.read();
    let states = reader.mailbox_states()?;
    let daemon = reader.daemon_state()?;
    let now = system_now();
    let daemon_running = daemon.as_ref().is_some_and(|d| daemon_running(d, now));
    let (unsendable, last_unsendable) = reader.unsendable()?;
    let report = StatusReport {
        daemon_running,
        daemon,
        pipe_handover: crate::handover::listening(&config.state_dir),
        mailboxes: config
            .mailboxes
            .iter()
            .map(|m| MailboxStatus {
                name: m.name.clone(),
                state: states.iter().find(|s| s.name == m.name).cloned(),
            })
            .collect(),
        outbox: reader.outbox_counts()?,
        quarantined: reader.quarantine_count()?,
        unsendable,
        last_unsendable,
        webhooks: config
            .webhooks
            .iter()
            .map(|w| {
                let cursor = reader.webhook_cursor(&w.name)?;
                Ok(WebhookStatus {
                    name: w.name.clone(),
                    delivered_through: cursor.as_ref().map(|c| c.delivered_through),
                    failures: cursor.as_ref().map_or(0, |c| c.failures),
                    last_error: cursor.and_then(|c| c.last_error),
                })
            })
            .collect::<Result<_, crate::adapters::store::StoreError>>()?,
    };
    let health = health(&report);
    if json {
        print_json(&report)?;
        return health;
    }
    let ago = |at: i64| format!("{} ({} s ago)", time(at), (now - at).max(0));
    match (&report.daemon, report.daemon_running) {
        (Some(d), true) => println!(
            "daemon:     running, pid {}, since {}, heartbeat {}",
            d.pid,
            time(d.started_at),
            ago(d.heartbeat_at)
        ),
        (Some(d), false) => match d.stopped_at {
            Some(at) => println!("daemon:     stopped at {}", time(at)),
            None => println!(
                "daemon:     not running (last heartbeat {})",
                ago(d.heartbeat_at)
            ),
        },
        (None, _) => println!("daemon:     never ran"),
    }
    let socket = crate::handover::socket_path(&config.state_dir);
    match report.pipe_handover {
        true => println!("pipe:       handed to the daemon ({})", socket.display()),
        false => println!(
            "pipe:       each delivery stores its mail itself (nothing listens on {})",
            socket.display()
        ),
    }
    for mailbox in &report.mailboxes {
        let Some(state) = &mailbox.state else {
            println!("mailbox {}: not yet connected", mailbox.name);
            continue;
        };
        let connected = if state.connected && report.daemon_running {
            "connected"
        } else {
            "not connected"
        };
        println!(
            "mailbox {}: {connected}, last success {}, backlog {}, processed {}",
            mailbox.name,
            state.last_success_at.map_or("never".into(), ago),
            state.backlog,
            state.processed
        );
        if let Some(error) = &state.last_error {
            println!(
                "    last error {}: {error}",
                state.last_error_at.map_or("-".into(), ago)
            );
        }
    }
    println!(
        "outbox:     {} pending, {} sent, {} dead; {} recipients refused or given up",
        report.outbox.pending,
        report.outbox.sent,
        report.outbox.dead,
        report.outbox.unreached_recipients
    );
    println!("quarantine: {} mails", report.quarantined);
    for webhook in &report.webhooks {
        match (&webhook.last_error, webhook.failures) {
            (Some(error), failures) if failures > 0 => println!(
                "webhook {}: failing, {failures} attempts at its next event: {error}",
                webhook.name
            ),
            _ => println!(
                "webhook {}: delivered through event {}",
                webhook.name,
                webhook
                    .delivered_through
                    .map_or("-".into(), |id| id.to_string())
            ),
        }
    }
    if let Some(last) = &report.last_unsendable {
        println!(
            "unsendable: {} outgoing mails could not be written; last {}: {}",
            report.unsendable,
            time(last.at),
            last.detail
        );
    }
    health
}

/// A mailbox is failing when it is not connected, or its last error is newer than its last
/// success (a daemon that is not running makes every mailbox moot).
fn mailbox_failing(state: Option<&crate::adapters::store::MailboxStateRow>) -> bool {
    state.is_none_or(|state| {
        !state.connected
            || state
                .last_error_at
                .is_some_and(|error| state.last_success_at.is_none_or(|ok| error > ok))
    })
}

/// The exit code monitoring checks read: 0 all well, 2 the daemon is not running, 1 a mailbox is
/// failing (README, "Command line").
fn health(report: &StatusReport) -> Result<(), CliError> {
    if !report.daemon_running {
        return Err(CliError::Unhealthy(
            exit::STATUS_NOT_RUNNING,
            "the daemon is not running".into(),
        ));
    }
    let failing: Vec<&str> = report
        .mailboxes
        .iter()
        .filter(|m| mailbox_failing(m.state.as_ref()))
        .map(|m| m.name.as_str())
        .collect();
    if !failing.is_empty() {
        return Err(CliError::Unhealthy(
            exit::STATUS_MAILBOX_FAILING,
            format!("mailbox failing: {}", failing.join(", ")),
        ));
    }
    Ok(())
}
