//! The command line: clap definitions, and each command's work. Errors carry their exit code.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::adapters::parse::parse_mail;
use crate::adapters::store::{Store, TicketDetail};
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
    /// `guichet status`: the daemon runs, but a mailbox is failing (for monitoring checks).
    pub const STATUS_MAILBOX_FAILING: i32 = 1;
    /// `guichet status`: the daemon is not running (never started, stopped, heartbeat stale).
    pub const STATUS_NOT_RUNNING: i32 = 2;
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
        default_value = crate::config::DEFAULT_PATH
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
        /// At most this many tickets.
        #[arg(long)]
        limit: Option<usize>,
        /// Only the tickets ranked below this ticket number (the last of the previous page).
        #[arg(long)]
        after: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Routing rules and custom fields.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The knowledge base: articles, search, import and export as Markdown files.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Service figures for a period: volumes, backlog, response and resolution times, SLA,
    /// escalations, per agent. The README's "Reports" defines each figure.
    Report {
        /// Start, included: YYYY-MM-DD (midnight UTC) or RFC 3339.
        #[arg(long)]
        from: Option<String>,
        /// End, excluded: YYYY-MM-DD (midnight UTC) or RFC 3339; now by default.
        #[arg(long)]
        to: Option<String>,
        /// The period before --to: 7d, 4w, 1m (calendar months); 7d by default.
        #[arg(long)]
        last: Option<String>,
        /// queue, agent, level, priority, domain or field:NAME.
        #[arg(long, default_value = "queue")]
        by: String,
        #[arg(long)]
        json: bool,
        /// RFC 4180 CSV, one row per group and a total row.
        #[arg(long)]
        csv: bool,
    },
    /// A consistent copy of the store and the files it references into DIR (new or empty),
    /// while the daemon runs and mail arrives; a manifest lists every file with its hash.
    Backup { dir: PathBuf },
    /// Puts a backup back into the state directory. Refused while the daemon runs, and into a
    /// state directory that holds anything unless --force.
    Restore {
        dir: PathBuf,
        /// Replace the store and files the state directory holds.
        #[arg(long)]
        force: bool,
    },
    /// Verifies the store: the database's integrity and references, every referenced file
    /// present and matching its hash; lists orphan files. Exits 0 when sound, 1 when damaged.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Applies [retention] once, now or as at --at, as `guichet run` does on its schedule.
    Retention {
        /// The instant to apply it at: YYYY-MM-DD (midnight UTC) or RFC 3339.
        #[arg(long)]
        at: Option<String>,
    },
    /// Writes everything held about a person into DIR (new or empty): person.json (tickets and
    /// mails), mail.mbox, attachments/.
    ExportPerson { address: String, dir: PathBuf },
    /// Erases a person's personal data everywhere, leaving only a record that an erasure took
    /// place (README, "Personal data").
    Forget { address: String },
    /// Clients of the JSON API (`[web] api = true`): make one (its token is printed once),
    /// list them, revoke one.
    ApiClient {
        #[command(subcommand)]
        command: ApiClientCommand,
    },
    /// OAuth2 logins for `[[oauth2]]` accounts.
    Oauth {
        #[command(subcommand)]
        command: OauthCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum OauthCommand {
    /// The one-time consent on a headless server (device-code flow): prints a code and the URL
    /// to open in any browser, waits, and stores the refresh token (0600, in the state directory).
    Login {
        /// The `name` of the `[[oauth2]]` table.
        name: String,
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
    /// Tickets by number, streamed a page at a time (memory stays flat at any size).
    List {
        /// new, open, pending, waiting, resolved or closed.
        #[arg(long)]
        status: Option<String>,
        /// At most this many tickets.
        #[arg(long)]
        limit: Option<usize>,
        /// Only tickets numbered above this (the last number of the previous page).
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long)]
        json: bool,
    },
    Show {
        number: u64,
        #[arg(long)]
        json: bool,
    },
    /// Makes every link to the ticket's requester page mailed so far stop working (a mail
    /// forwarded to the wrong person); the next mail to the requester carries a new one.
    RevokeLinks { number: u64 },
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
    /// `guichet status` found something a monitoring check must see: the code and why.
    #[error("{1}")]
    Unhealthy(i32, String),
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
                | Command::Report { .. }
                | Command::Check { .. }
                | Command::Kb {
                    command: KbCommand::List { .. }
                        | KbCommand::Show { .. }
                        | KbCommand::Search { .. }
                        | KbCommand::Export { .. }
                }
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
            CliError::Unhealthy(code, _) => *code,
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
                .fmt_fields(log_fields::LogFields)
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
                Command::Queue {
                    name,
                    level,
                    limit,
                    after,
                    json,
                } => work_list(
                    &config,
                    WorkListArgs {
                        queue: name.as_deref(),
                        level,
                        limit,
                        after,
                        json,
                    },
                ),
                Command::Kb { command } => kb(&config, command),
                Command::Report {
                    from,
                    to,
                    last,
                    by,
                    json,
                    csv,
                } => report(
                    &config,
                    ReportArgs {
                        from,
                        to,
                        last,
                        by,
                        json,
                        csv,
                    },
                ),
                Command::Backup { dir } => backup(&config, &dir),
                Command::Restore { dir, force } => restore(&config, &dir, force),
                Command::Check { json } => check(&config, json),
                Command::Retention { at } => retention(&config, at.as_deref()),
                Command::ExportPerson { address, dir } => export_person(&config, &address, &dir),
                Command::Forget { address } => forget(&config, &address),
                Command::Oauth {
                    command: OauthCommand::Login { name },
                } => oauth_login(&config, &name),
                Command::ApiClient { command } => api_client(&config, command),
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

mod api;
mod backup;
mod ingest;
mod inspect;
mod kb;
mod log_fields;
mod oauth;
mod privacy;
mod report;
mod rules;
mod status;
mod tickets;

use api::api_client;
pub use api::ApiClientCommand;
use backup::{backup, check, restore};
use ingest::ingest;
use inspect::inspect;
use kb::kb;
pub use kb::KbCommand;
use oauth::oauth_login;
use privacy::{export_person, forget, retention};
pub use report::report_figures;
use report::{report, ReportArgs};
use rules::rules_test;
use status::{check_config, status};
use tickets::WorkListArgs;
use tickets::{quarantine_list, tickets, work_list};
