//! The command line: clap definitions, and each command's work. Errors carry their exit code.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::adapters::parse::parse_mail;
use crate::adapters::store::{Store, TicketDetail, TicketRow};
use crate::config::{Config, ConfigError};
use crate::core::intake::requester_of;
use crate::core::language::guess_language;
use crate::core::threading::decide_thread;
use crate::core::ticket::{Status, TicketNumber};
use crate::pipeline::{system_now, thread_clues, IngestError, IngestOutcome, Pipeline, Source};

/// sysexits(3) codes that MTAs and systemd understand.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 64;
    pub const NO_INPUT: i32 = 66;
    pub const SOFTWARE: i32 = 70;
    pub const TEMPFAIL: i32 = 75;
    pub const CONFIG: i32 = 78;
}

#[derive(Debug, Parser)]
#[command(
    name = "guichet",
    version,
    about = "An email-driven helpdesk: mail in, tickets, mail out."
)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "GUICHET_CONFIG",
        default_value = "/etc/guichet/guichet.toml"
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch the mailboxes, deliver the outbox, until SIGTERM or SIGINT.
    Run,
    /// What the daemon is doing: per mailbox connected or not, last success, last error,
    /// backlog; the outbox and the quarantine.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Store mail given on stdin (one message: the MTA pipe mode) or in FILEs.
    Ingest {
        /// .eml files; none reads one message from stdin.
        files: Vec<PathBuf>,
        /// Recorded as the mail's source.
        #[arg(long)]
        source: Option<String>,
    },
    /// Check the configuration and say what it sets up.
    CheckConfig,
    /// Look at tickets.
    Tickets {
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Show what Guichet sees in a mail, changing nothing.
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Mail that could not make a ticket, kept raw.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// The work list: open tickets, most urgent first (priority, the requester's wait, the
    /// nearest SLA deadline).
    Queue {
        /// Only this queue.
        name: Option<String>,
        /// Only this support level (1 to 4).
        #[arg(long)]
        level: Option<u8>,
        #[arg(long)]
        json: bool,
    },
    /// Routing rules and custom fields.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Which fields a mail would carry and which rules would match, changing nothing.
    Test {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    List {
        /// new, open, pending, waiting, resolved or closed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Show {
        number: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    TempFail(String),
    #[error("{0}")]
    NoInput(String),
    #[error("{0}")]
    Failure(String),
    #[error("{0:#}")]
    Software(#[from] anyhow::Error),
}

impl Command {
    /// Commands that only print what they read, and hold no connection or mail.
    pub fn only_prints(&self) -> bool {
        matches!(
            self,
            Command::Status { .. }
                | Command::CheckConfig
                | Command::Tickets { .. }
                | Command::Inspect { .. }
                | Command::Quarantine { .. }
                | Command::Queue { .. }
                | Command::Rules { .. }
        )
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Config(_) => exit::CONFIG,
            CliError::TempFail(_) => exit::TEMPFAIL,
            CliError::NoInput(_) => exit::NO_INPUT,
            CliError::Failure(_) => exit::FAILURE,
            CliError::Software(_) => exit::SOFTWARE,
        }
    }
}

impl From<crate::adapters::store::StoreError> for CliError {
    fn from(error: crate::adapters::store::StoreError) -> CliError {
        if error.is_temporary() {
            CliError::TempFail(error.to_string())
        } else {
            CliError::Software(error.into())
        }
    }
}

/// Logs to stderr; `$GUICHET_LOG` (e.g. `guichet=debug,info`) overrides `log.level`.
pub fn init_logging(level: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // Targets parses without regexes, which keeps the start-up of `guichet ingest` (once per mail
    // under an MTA) short.
    let filter: tracing_subscriber::filter::Targets = std::env::var("GUICHET_LOG")
        .ok()
        .and_then(|value| value.parse().ok())
        .or_else(|| level.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
        });
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .try_init();
}

pub fn execute(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Inspect { file, json } => inspect(&cli.config, &file, json),
        command => {
            let config = match Config::load(&cli.config) {
                Ok(config) => config,
                // The MTA keeps a mail it could not hand us and tries again: a config mistake
                // must not bounce every mail until it is fixed.
                Err(error) if matches!(command, Command::Ingest { .. }) => {
                    return Err(CliError::TempFail(error.to_string()))
                }
                Err(error) => return Err(error.into()),
            };
            init_logging(&config.log_level);
            match command {
                Command::Run => run(config),
                Command::Status { json } => status(&config, json),
                Command::Ingest { files, source } => {
                    ingest(std::sync::Arc::new(config), &files, source)
                }
                Command::CheckConfig => check_config(&config),
                Command::Tickets { command } => tickets(&config, command),
                Command::Quarantine {
                    command: QuarantineCommand::List { json },
                } => quarantine_list(&config, json),
                Command::Rules {
                    command: RulesCommand::Test { file, json },
                } => rules_test(&config, &file, json),
                Command::Queue { name, level, json } => {
                    work_list(&config, name.as_deref(), level, json)
                }
                Command::Inspect { .. } => unreachable!("handled above"),
            }
        }
    }
}

fn run(config: Config) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Software(e.into()))?;
    runtime
        .block_on(crate::daemon::run(std::sync::Arc::new(config)))
        .map_err(CliError::Software)
}

fn ingest(
    config: std::sync::Arc<Config>,
    files: &[PathBuf],
    source: Option<String>,
) -> Result<(), CliError> {
    let mut pipeline =
        Pipeline::open(config).map_err(|IngestError::Temporary(e)| CliError::TempFail(e))?;
    if files.is_empty() {
        let mut raw = Vec::new();
        std::io::stdin()
            .read_to_end(&mut raw)
            .map_err(|e| CliError::TempFail(format!("reading stdin: {e}")))?;
        let source = Source::named(source.unwrap_or_else(|| "pipe".into()));
        return match pipeline.ingest(&raw, &source, system_now()) {
            Ok(_) => Ok(()),
            Err(IngestError::Temporary(reason)) => Err(CliError::TempFail(reason)),
        };
    }
    let started = Instant::now();
    let mut tally = [0usize; 4];
    let mut stored = 0usize;
    let source = Source::named(source.unwrap_or_else(|| "file".into()));
    // Files go in batches: one disk flush per batch instead of per mail.
    for batch in files.chunks(INGEST_BATCH) {
        let mut raws = Vec::with_capacity(batch.len());
        for file in batch {
            raws.push(
                std::fs::read(file)
                    .map_err(|e| CliError::NoInput(format!("{}: {e}", file.display())))?,
            );
        }
        let slices: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
        match pipeline.ingest_batch(&slices, &source, system_now()) {
            Ok(outcomes) => {
                for outcome in outcomes {
                    tally[match outcome {
                        IngestOutcome::Created { .. } => 0,
                        IngestOutcome::Appended { .. } => 1,
                        IngestOutcome::Duplicate { .. } => 2,
                        IngestOutcome::Quarantined { .. } => 3,
                    }] += 1;
                }
                stored += batch.len();
            }
            Err(IngestError::Temporary(reason)) => {
                return Err(CliError::TempFail(format!(
                    "{reason} ({stored} of {} files stored; from {} on, none were)",
                    files.len(),
                    batch[0].display()
                )))
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ingested {} mails in {seconds:.3} s ({:.0} mails/s): {} new tickets, {} follow-ups, {} duplicates, {} quarantined",
        files.len(),
        files.len() as f64 / seconds.max(1e-9),
        tally[0],
        tally[1],
        tally[2],
        tally[3]
    );
    Ok(())
}

/// Files per transaction in `guichet ingest FILE…`.
const INGEST_BATCH: usize = 256;

fn check_config(config: &Config) -> Result<(), CliError> {
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
    Ok(())
}

#[derive(Debug, serde::Serialize)]
struct StatusReport {
    daemon: Option<crate::adapters::store::DaemonStateRow>,
    daemon_running: bool,
    mailboxes: Vec<MailboxStatus>,
    outbox: crate::adapters::store::OutboxCounts,
    quarantined: u64,
    /// Outgoing mail that could not be rendered (`mail_not_rendered` events).
    unsendable: u64,
    last_unsendable: Option<crate::adapters::store::EventRow>,
}

#[derive(Debug, serde::Serialize)]
struct MailboxStatus {
    name: String,
    state: Option<crate::adapters::store::MailboxStateRow>,
}

/// A heartbeat older than this means the daemon is gone (it beats every 5 s).
const HEARTBEAT_STALE_SECS: i64 = 30;

fn status(config: &Config, json: bool) -> Result<(), CliError> {
    let store = open_read_only(config)?;
    let reader = store.read();
    let states = reader.mailbox_states()?;
    let daemon = reader.daemon_state()?;
    let now = system_now();
    let daemon_running = daemon
        .as_ref()
        .is_some_and(|d| d.stopped_at.is_none() && now - d.heartbeat_at <= HEARTBEAT_STALE_SECS);
    let (unsendable, last_unsendable) = reader.unsendable()?;
    let report = StatusReport {
        daemon_running,
        daemon,
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
    };
    if json {
        return print_json(&report);
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
    if let Some(last) = &report.last_unsendable {
        println!(
            "unsendable: {} outgoing mails could not be written; last {}: {}",
            report.unsendable,
            time(last.at),
            last.detail
        );
    }
    Ok(())
}

fn open_read_only(config: &Config) -> Result<Store, CliError> {
    let path = config.database_path();
    if !path.exists() {
        return Err(CliError::Failure(format!(
            "no database at {} yet: nothing has been ingested",
            path.display()
        )));
    }
    Ok(Store::open_read_only(&path)?)
}

fn tickets(config: &Config, command: TicketsCommand) -> Result<(), CliError> {
    let store = open_read_only(config)?;
    match command {
        TicketsCommand::List { status, json } => {
            let status = status
                .map(|s| s.parse::<Status>())
                .transpose()
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let rows = store.read().list_tickets(status)?;
            if json {
                print_json(&rows)
            } else {
                print_ticket_table(&rows);
                Ok(())
            }
        }
        TicketsCommand::Show { number, json } => {
            let detail = store
                .read()
                .ticket(TicketNumber(number))?
                .ok_or_else(|| CliError::Failure(format!("no ticket #{number}")))?;
            if json {
                print_json(&detail)
            } else {
                print_ticket(&detail);
                Ok(())
            }
        }
    }
}

fn quarantine_list(config: &Config, json: bool) -> Result<(), CliError> {
    let rows = open_read_only(config)?.read().list_quarantine()?;
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("quarantine is empty");
    }
    for row in rows {
        println!(
            "{:>5}  {}  {:>9} bytes  {}  {}\n       {}",
            row.id,
            time(row.received_at),
            row.size,
            row.source,
            row.reason,
            row.path
        );
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
struct RulesReport {
    fields: std::collections::BTreeMap<String, String>,
    matched: Vec<String>,
    queue: String,
    level: u8,
    priority: String,
    tags: Vec<String>,
    assignee: Option<String>,
    notify: Vec<String>,
    acknowledge: bool,
    missing_fields: Vec<String>,
}

fn work_list(
    config: &Config,
    queue: Option<&str>,
    level: Option<u8>,
    json: bool,
) -> Result<(), CliError> {
    if level.is_some_and(|l| !(1..=4).contains(&l)) {
        return Err(CliError::Usage("--level is 1 to 4".into()));
    }
    let store = open_read_only(config)?;
    let now = system_now();
    let mut rows = store.read().work_list(queue, level)?;
    for row in &mut rows {
        let priority = row
            .priority
            .parse()
            .unwrap_or(crate::core::ticket::Priority::Normal);
        let plan = config.intake.sla.plan_for(&row.queue, priority);
        row.urgency = crate::core::sla::urgency(priority, row.awaiting_since, &row.sla, plan, now);
    }
    rows.sort_by(|a, b| b.urgency.cmp(&a.urgency).then(a.number.cmp(&b.number)));
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("nothing open");
        return Ok(());
    }
    println!(
        "{:>7}  {:>7}  {:<8}  {:<7}  {:<3}  {:<10}  {:<10}  {:<22}  subject",
        "score", "number", "status", "prio", "lvl", "queue", "assignee", "next deadline"
    );
    for row in rows {
        let deadline = match (row.sla.next_due(), row.sla.paused_at) {
            (_, Some(_)) => "paused (waiting)".to_string(),
            (Some((_, due)), None) if due <= now => format!("LATE {}", time(due)),
            (Some((_, due)), None) => time(due),
            (None, None) => "-".to_string(),
        };
        println!(
            "{:>7}  {:>7}  {:<8}  {:<7}  L{:<2}  {:<10}  {:<10}  {:<22}  {}",
            row.urgency,
            format!("#{}", row.number),
            row.status,
            row.priority,
            row.level,
            row.queue,
            row.assignee.as_deref().unwrap_or("-"),
            deadline,
            row.subject
        );
    }
    Ok(())
}

fn rules_test(config: &Config, file: &Path, json: bool) -> Result<(), CliError> {
    let raw =
        std::fs::read(file).map_err(|e| CliError::NoInput(format!("{}: {e}", file.display())))?;
    let mail = parse_mail(&raw)
        .map_err(|e| CliError::Failure(format!("{}: would be quarantined: {e}", file.display())))?
        .mail;
    let workloads = match config.database_path().exists() {
        true => Store::open_read_only(&config.database_path())?
            .read()
            .workloads()?,
        false => Vec::new(),
    };
    let thread = crate::core::threading::ThreadDecision::New {
        reason: crate::core::threading::NewTicketReason::NoThreadClues,
    };
    let input = crate::core::plan::IntakeInput {
        mail: &mail,
        thread: &thread,
        ticket: None,
        next_number: TicketNumber(0),
        auto_replies_last_hour: 0,
        now: system_now(),
        id_seed: "rules-test",
        queue: None,
        others: &[],
        workloads: &workloads,
    };
    let text = crate::core::quotes::visible_text(&mail.text);
    let routing = crate::core::intake::route_new_ticket(&config.intake, &input, &text);
    let report = RulesReport {
        fields: routing.fields.clone(),
        matched: routing.matched.clone(),
        queue: routing.queue.clone(),
        level: routing.level.get(),
        priority: routing.priority.to_string(),
        tags: routing.tags.clone(),
        assignee: routing.assignee.map(|a| a.name.clone()),
        notify: routing.notify.clone(),
        acknowledge: !routing.no_acknowledgement,
        missing_fields: routing.missing.clone(),
    };
    if json {
        return print_json(&report);
    }
    println!(
        "Rules matched: {}",
        if report.matched.is_empty() {
            "none".into()
        } else {
            report.matched.join(", ")
        }
    );
    println!(
        "Queue:         {}  (level L{}, priority {})",
        report.queue, report.level, report.priority
    );
    println!(
        "Assignee:      {}",
        report.assignee.as_deref().unwrap_or("-")
    );
    if !report.tags.is_empty() {
        println!("Tags:          {}", report.tags.join(", "));
    }
    for (name, value) in &report.fields {
        println!("Field:         {name} = {value}");
    }
    for prompt in &report.missing_fields {
        println!("Missing:       {prompt} (the acknowledgement asks for it)");
    }
    if !report.notify.is_empty() {
        println!("Notify:        {}", report.notify.join(", "));
    }
    println!(
        "Acknowledge:   {}",
        if report.acknowledge {
            "yes (if loop rules allow)"
        } else {
            "no (a rule says so)"
        }
    );
    Ok(())
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(|e| CliError::Software(e.into()))?;
    let _ = writeln!(out);
    Ok(())
}

pub fn time(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || seconds.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}

fn print_ticket_table(rows: &[TicketRow]) {
    if rows.is_empty() {
        println!("no tickets");
        return;
    }
    println!(
        "{:>7}  {:<8}  {:<7}  {:<3}  {:<10}  {:<28}  subject",
        "number", "status", "prio", "lvl", "queue", "requester"
    );
    for row in rows {
        println!(
            "{:>7}  {:<8}  {:<7}  L{:<2}  {:<10}  {:<28}  {}",
            format!("#{}", row.number),
            row.status,
            row.priority,
            row.level,
            row.queue,
            row.requester,
            row.subject
        );
    }
}

fn print_ticket(detail: &TicketDetail) {
    let t = &detail.ticket;
    println!("Ticket #{}: {}", t.number, t.subject);
    println!(
        "  status {}  priority {}  level L{}  queue {}  assignee {}",
        t.status,
        t.priority,
        t.level,
        t.queue,
        t.assignee.as_deref().unwrap_or("-")
    );
    println!(
        "  requester {}  language {}  opened {}  updated {}",
        t.requester,
        t.language,
        time(t.created_at),
        time(t.updated_at)
    );
    if let Some(into) = t.merged_into {
        println!("  merged into #{into}");
    }
    if !detail.tags.is_empty() {
        println!("  tags {}", detail.tags.join(", "));
    }
    for (name, value) in &detail.fields {
        println!("  {name}: {value}");
    }
    println!("Participants:");
    for p in &detail.participants {
        println!("  {:<10} {}", p.role, p.address);
    }
    println!("Messages:");
    for m in &detail.messages {
        let arrow = if m.direction == "in" { "←" } else { "→" };
        println!(
            "  [{}] {arrow} {} {} {}{}",
            m.id,
            time(m.created_at),
            if m.direction == "in" {
                m.from.clone().unwrap_or_default()
            } else {
                m.to.join(", ")
            },
            m.kind,
            match (&m.visibility[..], &m.delivery) {
                ("internal", _) => " (internal)".to_string(),
                ("stranger", _) => " (stranger, internal)".to_string(),
                (_, Some(delivery)) => format!(" ({delivery})"),
                _ => String::new(),
            }
        );
        println!("      Subject: {}", m.subject);
        for a in &m.attachments {
            println!(
                "      Attachment: {} ({}, {} bytes)",
                a.filename, a.content_type, a.size
            );
        }
        for line in m.text.lines().take(20) {
            println!("      | {line}");
        }
    }
    println!("Events:");
    for e in &detail.events {
        println!(
            "  {} {:<22} {:<28} {}",
            time(e.at),
            e.kind,
            e.actor,
            e.detail
        );
    }
}

/// What `inspect` reports about a mail.
#[derive(Debug, serde::Serialize)]
struct Inspection {
    file: String,
    size: usize,
    content_hash: String,
    mail: Option<crate::core::mail::InboundMail>,
    requester: Option<String>,
    would_quarantine: Option<String>,
    already_stored: Option<Option<TicketNumber>>,
    tag: Option<TicketNumber>,
    threading: Option<String>,
    auto_reply: Option<String>,
    language_guess: Option<String>,
    /// What the person newly wrote: commands and quoted history cut.
    visible_text: Option<String>,
    commands: Vec<crate::core::commands::CommandLine>,
    command_errors: Vec<crate::core::commands::CommandError>,
    /// The configured agent the From names, if any.
    agent: Option<String>,
}

fn inspect(config_path: &Path, file: &Path, json: bool) -> Result<(), CliError> {
    let config = Config::load(config_path)?;
    let raw =
        std::fs::read(file).map_err(|e| CliError::NoInput(format!("{}: {e}", file.display())))?;
    let hash = crate::adapters::parse::content_hash(&raw);
    let mut report = Inspection {
        file: file.display().to_string(),
        size: raw.len(),
        content_hash: hash.clone(),
        mail: None,
        requester: None,
        would_quarantine: None,
        already_stored: None,
        tag: None,
        threading: None,
        auto_reply: None,
        language_guess: None,
        visible_text: None,
        commands: Vec::new(),
        command_errors: Vec::new(),
        agent: None,
    };
    if raw.len() as u64 > config.max_message_bytes {
        report.would_quarantine = Some(format!(
            "over general.max_message_bytes ({})",
            config.max_message_bytes
        ));
    } else {
        match parse_mail(&raw) {
            Err(rejection) => report.would_quarantine = Some(rejection.to_string()),
            Ok(parsed) => {
                let mail = parsed.mail;
                let store = if config.database_path().exists() {
                    Some(Store::open_read_only(&config.database_path())?)
                } else {
                    None
                };
                let empty;
                let store = match &store {
                    Some(store) => store,
                    None => {
                        empty = Store::open_memory()?;
                        &empty
                    }
                };
                let reader = store.read();
                report.already_stored =
                    reader.duplicate_of(mail.message_id.as_deref(), &parsed.content_hash)?;
                report.tag = config.intake.tags.find(&mail.subject);
                let thread = decide_thread(&thread_clues(&reader, &mail, &config.intake.tags)?);
                report.threading = Some(thread.to_string());
                let requester = requester_of(&mail);
                let sent = match &requester {
                    Some(r) => reader.auto_replies_since(&r.address, system_now() - 3600)?,
                    None => 0,
                };
                report.auto_reply = Some(match config.intake.loops.verdict(&mail, sent) {
                    crate::core::loops::AutoReplyVerdict::Allowed => "allowed".into(),
                    crate::core::loops::AutoReplyVerdict::Suppressed(reason) => {
                        format!("suppressed: {reason}")
                    }
                });
                if requester.is_none() {
                    report.would_quarantine =
                        Some(crate::core::plan::Unticketable::NoSender.to_string());
                }
                report.requester = requester.map(|r| r.to_string());
                let parsed = crate::core::commands::parse_commands(
                    &mail.subject,
                    &mail.text,
                    &config.intake.vocabulary,
                );
                let visible = crate::core::quotes::visible_text(&parsed.text);
                // On a ticket the store knows, what Guichet sent on it is not the writer's text.
                report.visible_text = Some(match thread {
                    crate::core::threading::ThreadDecision::Existing { ticket, .. } => {
                        let sent = reader
                            .sent_texts(ticket, crate::core::own_text::SENT_MAILS_COMPARED)?;
                        crate::core::followup::sent_on_ticket(&config.intake, ticket, &sent)
                            .remove_from(&visible)
                            .text
                    }
                    crate::core::threading::ThreadDecision::New { .. } => visible,
                });
                report.commands = parsed.commands;
                report.command_errors = parsed.errors;
                report.agent = mail
                    .from
                    .as_ref()
                    .and_then(|from| config.intake.directory.agent_by_address(&from.address))
                    .map(|agent| agent.name.clone());
                report.language_guess = guess_language(&format!("{}\n{}", mail.subject, mail.text))
                    .map(|l| l.code().to_string());
                report.mail = Some(mail);
            }
        }
    }
    hide_secrets(&mut report, &config.intake.vocabulary);
    if json {
        return print_json(&report);
    }
    print_inspection(&report);
    Ok(())
}

/// An agent's `#token` word is a password: `inspect` shows `#token ****` wherever it appears.
fn hide_secrets(report: &mut Inspection, vocabulary: &crate::core::commands::Vocabulary) {
    let mask = |text: &mut String| *text = vocabulary.mask_secrets(text);
    if let Some(mail) = &mut report.mail {
        mask(&mut mail.subject);
        mask(&mut mail.text);
        for (_, value) in &mut mail.headers {
            mask(value);
        }
    }
    if let Some(text) = &mut report.visible_text {
        mask(text);
    }
    for line in &mut report.commands {
        mask(&mut line.line);
        if let crate::core::commands::Command::Token(secret) = &mut line.command {
            *secret = crate::core::commands::MASKED_SECRET.to_string();
        }
    }
    for error in &mut report.command_errors {
        mask(&mut error.line);
    }
}

fn print_inspection(report: &Inspection) {
    println!("File:         {} ({} bytes)", report.file, report.size);
    if let Some(mail) = &report.mail {
        let list = |l: &[crate::core::address::Mailbox]| {
            l.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let show = |m: &Option<crate::core::address::Mailbox>| {
            m.as_ref().map_or("-".to_string(), |m| m.to_string())
        };
        println!("From:         {}", show(&mail.from));
        if mail.reply_to.is_some() {
            println!("Reply-To:     {}", show(&mail.reply_to));
        }
        if mail.sender.is_some() {
            println!("Sender:       {}", show(&mail.sender));
        }
        println!("To:           {}", list(&mail.to));
        if !mail.cc.is_empty() {
            println!("Cc:           {}", list(&mail.cc));
        }
        println!("Subject:      {}", mail.subject);
        println!("Date:         {}", mail.date.map_or("-".into(), time));
        println!(
            "Message-ID:   {}",
            mail.message_id
                .as_deref()
                .unwrap_or("- (deduplicated by content hash)")
        );
        if !mail.in_reply_to.is_empty() {
            println!("In-Reply-To:  {}", mail.in_reply_to.join(" "));
        }
        if !mail.references.is_empty() {
            println!("References:   {}", mail.references.join(" "));
        }
        println!(
            "Requester:    {}",
            report.requester.as_deref().unwrap_or("- (none)")
        );
        println!(
            "Tag:          {}",
            report
                .tag
                .map_or("none of ours".into(), |t| format!("#{t}"))
        );
        println!(
            "Threading:    {}",
            report.threading.as_deref().unwrap_or("-")
        );
        if let Some(stored) = &report.already_stored {
            println!(
                "Stored:       already stored ({}): ingesting again changes nothing",
                stored.map_or("no ticket".into(), |t| format!("ticket #{t}"))
            );
        }
        println!(
            "Auto-reply:   {}",
            report.auto_reply.as_deref().unwrap_or("-")
        );
        println!(
            "Language:     {}",
            report.language_guess.as_deref().unwrap_or("no clear guess")
        );
        for a in &mail.attachments {
            println!(
                "Attachment:   {} ({}, {} bytes)",
                a.filename, a.content_type, a.size
            );
        }
        if let Some(agent) = &report.agent {
            println!("Agent:        {agent}");
        }
        for command in &report.commands {
            println!("Command:      {}", command.line);
        }
        for error in &report.command_errors {
            println!(
                "Bad command:  {}: {}; {}",
                error.line, error.reason, error.hint
            );
        }
        for header in &mail.auth_results {
            for result in &header.results {
                println!(
                    "Auth:         {} {}={} {}",
                    header.authserv_id,
                    result.method,
                    result.result,
                    result.domain.as_deref().unwrap_or("")
                );
            }
        }
        println!("--- visible text (quoted history, command lines and mail Guichet sent cut) ---");
        match report.visible_text.as_deref() {
            Some("") => println!("(nothing new: on a ticket, nothing would be relayed)"),
            visible => println!("{}", visible.unwrap_or("")),
        }
    }
    if let Some(reason) = &report.would_quarantine {
        println!("Quarantine:   yes: {reason}");
    }
}
