//! Configuration: a raw TOML form (`deny_unknown_fields`) checked into a validated `Config` whose
//! errors name the file, the key and the reason.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::core::address::{check_address, Mailbox};
use crate::core::attachments::AttachmentLimits;
use crate::core::calendar::{BusinessCalendar, SlaClock};
use crate::core::caps::Caps;
use crate::core::commands::Vocabulary;
use crate::core::language::Language;
use crate::core::loops::{LoopPolicy, DEFAULT_ROLE_SENDERS};
use crate::core::people::{Agent, AgentRole, Assignment, Directory, Queue, Trust};
use crate::core::plan::{IntakePolicy, StrangerPolicy};
use crate::core::rules::{
    Actions as RuleActions, Condition as RuleCondition, FieldKind, FieldSpec, Rule,
    Subject as RuleSubject, Test as RuleTest,
};
use crate::core::sla::{parse_duration, SlaPlan, SlaPolicy};
use crate::core::spam::{SpamMarker, SpamMarkers};
use crate::core::subject::TagFormat;
use crate::core::templates::{Template, TemplateKind, TemplateSet};
use crate::core::ticket::{Level, Priority};

#[derive(Debug, thiserror::Error)]
#[error("{}: {key}: {reason}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub reason: String,
}

/// A password or other secret: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    general: Option<RawGeneral>,
    #[serde(default)]
    threading: RawThreading,
    #[serde(default)]
    loop_protection: RawLoopProtection,
    smtp: Option<RawSmtp>,
    #[serde(default)]
    outbox: RawOutbox,
    #[serde(default)]
    attachments: RawAttachments,
    #[serde(default)]
    log: RawLog,
    #[serde(default, rename = "mailbox")]
    mailboxes: Vec<RawMailbox>,
    #[serde(default)]
    commands: RawCommands,
    #[serde(default, rename = "agent")]
    agents: Vec<RawAgent>,
    #[serde(default, rename = "queue")]
    queues: Vec<RawQueue>,
    #[serde(default, rename = "level")]
    levels: Vec<RawLevel>,
    #[serde(default, rename = "field")]
    fields: Vec<RawField>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
    #[serde(default, rename = "calendar")]
    calendars: Vec<RawCalendar>,
    #[serde(default, rename = "sla")]
    slas: Vec<RawSla>,
    #[serde(default)]
    escalation: RawEscalation,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    name: String,
    time_zone: String,
    #[serde(default)]
    monday: Vec<String>,
    #[serde(default)]
    tuesday: Vec<String>,
    #[serde(default)]
    wednesday: Vec<String>,
    #[serde(default)]
    thursday: Vec<String>,
    #[serde(default)]
    friday: Vec<String>,
    #[serde(default)]
    saturday: Vec<String>,
    #[serde(default)]
    sunday: Vec<String>,
    #[serde(default)]
    holidays: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    queue: Option<String>,
    priority: Option<String>,
    calendar: Option<String>,
    first_response: Option<String>,
    next_response: Option<String>,
    resolution: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    warn_at: Option<f64>,
    raise_priority: Option<bool>,
    check_interval_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    choices: Vec<String>,
    extract: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    queues: Vec<String>,
    prompt: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(rename = "match")]
    combine: Option<String>,
    #[serde(default)]
    conditions: Vec<RawCondition>,
    #[serde(default)]
    actions: RawActions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    field: String,
    contains: Option<String>,
    equals: Option<String>,
    regex: Option<String>,
    domain: Option<String>,
    present: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawActions {
    queue: Option<String>,
    level: Option<u8>,
    priority: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    fields: std::collections::BTreeMap<String, String>,
    assign: Option<String>,
    #[serde(default)]
    notify: Vec<String>,
    acknowledge: Option<bool>,
    #[serde(default)]
    stop: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    trust: Option<String>,
    #[serde(default)]
    trusted_authserv_ids: Vec<String>,
    comment_address: Option<String>,
    #[serde(default)]
    aliases: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: String,
    display_name: Option<String>,
    addresses: Vec<String>,
    role: Option<String>,
    #[serde(default)]
    queues: Vec<String>,
    #[serde(default)]
    levels: Vec<u8>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    language: Option<String>,
    away: Option<bool>,
    /// A party outside the organisation: sees only the public history.
    external: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    name: String,
    #[serde(default)]
    triagers: Vec<String>,
    assignment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    level: u8,
    #[serde(default)]
    addresses: Vec<String>,
    /// Worked outside the organisation (level 4 is, unless set to false).
    external: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMailbox {
    name: String,
    address: Option<String>,
    host: String,
    port: Option<u16>,
    security: Option<String>,
    username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
    password_credential: Option<String>,
    auth: Option<String>,
    ca_file: Option<PathBuf>,
    folder: Option<String>,
    processed_folder: Option<String>,
    quarantine_folder: Option<String>,
    queue: Option<String>,
    idle: Option<bool>,
    poll_interval_secs: Option<u64>,
    full_check_interval_secs: Option<u64>,
    batch_size: Option<usize>,
    timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeneral {
    state_dir: PathBuf,
    support_address: String,
    support_name: Option<String>,
    #[serde(default)]
    own_addresses: Vec<String>,
    tag_prefix: Option<String>,
    first_ticket_number: Option<u64>,
    max_message_bytes: Option<u64>,
    language: Option<String>,
    guess_language: Option<bool>,
    default_queue: Option<String>,
    default_priority: Option<String>,
    default_level: Option<u8>,
    acknowledge_new_tickets: Option<bool>,
    templates_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawThreading {
    reopen_on_reply: Option<bool>,
    strangers: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLoopProtection {
    max_auto_replies_per_hour: Option<u32>,
    max_new_ticket_notices_per_sender_per_hour: Option<u32>,
    max_automatic_mails_per_ticket_per_hour: Option<u32>,
    max_automatic_mails_per_hour: Option<u32>,
    spam_headers: Option<Vec<String>>,
    #[serde(default)]
    extra_role_senders: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: Option<u16>,
    security: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    password_credential: Option<String>,
    ca_file: Option<PathBuf>,
    hello_name: Option<String>,
    timeout_secs: Option<u64>,
    connections: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    poll_interval_ms: Option<u64>,
    retry_initial_secs: Option<u64>,
    retry_max_secs: Option<u64>,
    give_up_after_hours: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAttachments {
    max_attachment_bytes: Option<u64>,
    max_mail_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS required (port 587, or 25).
    StartTls,
    /// No TLS: only to a loopback host.
    Plain,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, Secret)>,
    pub ca_file: Option<PathBuf>,
    pub hello_name: String,
    pub timeout_secs: u64,
    pub connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapSecurity {
    /// TLS from the first byte (port 993).
    Tls,
    /// STARTTLS required (port 143).
    StartTls,
    /// No TLS at all: only to a loopback host, and only when asked for by name.
    Insecure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapAuth {
    Login,
    Plain,
}

/// How to reach and log in to one IMAP account.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
    pub username: String,
    pub password: Secret,
    pub auth: ImapAuth,
    pub ca_file: Option<PathBuf>,
    /// Use IDLE when the server offers it.
    pub idle: bool,
    pub timeout_secs: u64,
}

/// One watched mailbox: where its mail comes from, where it goes after, and its queue.
#[derive(Debug, Clone)]
pub struct MailboxConfig {
    pub name: String,
    /// The address this mailbox receives mail for: one of Guichet's own addresses.
    pub address: Option<String>,
    pub imap: ImapSettings,
    pub folder: String,
    pub processed_folder: String,
    pub quarantine_folder: String,
    pub queue: Option<String>,
    /// Between checks when the server has no IDLE.
    pub poll_interval_secs: u64,
    /// A check at least this often even with IDLE, in case a push was missed.
    pub full_check_interval_secs: u64,
    /// Mails fetched per round trip (also bounded to `BATCH_BYTES`).
    pub batch_size: usize,
}

#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub poll_interval_ms: u64,
    pub retry_initial_secs: u64,
    pub retry_max_secs: u64,
    pub give_up_after_secs: i64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub state_dir: PathBuf,
    pub first_ticket_number: u64,
    pub max_message_bytes: u64,
    pub intake: IntakePolicy,
    pub smtp: Option<SmtpConfig>,
    pub outbox: OutboxConfig,
    pub log_level: String,
    pub mailboxes: Vec<MailboxConfig>,
}

impl Config {
    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("guichet.sqlite3")
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            file: path.to_path_buf(),
            key: "(file)".into(),
            reason: format!("cannot read: {error}"),
        })?;
        Config::parse(path, &text, &|name| std::env::var(name).ok())
    }

    /// `env` looks up environment variables (`CREDENTIALS_DIRECTORY`), injected for tests.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let error = |key: &str, reason: String| ConfigError {
            file: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let location = e
                .span()
                .map(|span| {
                    let line = text[..span.start].matches('\n').count() + 1;
                    format!("line {line}")
                })
                .unwrap_or_else(|| "(syntax)".into());
            error(&location, e.message().to_string())
        })?;
        let general = raw
            .general
            .ok_or_else(|| error("general", "the [general] table is required".into()))?;

        let support_address = check_address(&general.support_address).map_err(|why| {
            error(
                "general.support_address",
                format!("`{}` is not a mail address: {why}", general.support_address),
            )
        })?;
        let support = Mailbox::new(
            Some(general.support_name.as_deref().unwrap_or("Helpdesk")),
            &support_address,
        );
        let mut own_addresses = vec![support_address.clone()];
        for (index, address) in general.own_addresses.iter().enumerate() {
            let address = check_address(address).map_err(|why| {
                error(
                    &format!("general.own_addresses[{index}]"),
                    format!("`{address}` is not a mail address: {why}"),
                )
            })?;
            own_addresses.push(address);
        }
        let tag_prefix = general.tag_prefix.unwrap_or_else(|| "Helpdesk".into());
        if tag_prefix.trim().is_empty() || tag_prefix.contains(['[', ']', '#']) {
            return Err(error(
                "general.tag_prefix",
                "must be a non-empty word without `[`, `]` or `#`".into(),
            ));
        }
        let language = match general.language {
            Some(code) => code
                .parse::<Language>()
                .map_err(|e| error("general.language", e))?,
            None => Language::En,
        };
        let default_priority = match general.default_priority {
            Some(word) => word
                .parse::<Priority>()
                .map_err(|e| error("general.default_priority", e.to_string()))?,
            None => Priority::Normal,
        };
        let default_level = match general.default_level {
            Some(value) => Level::new(value).ok_or_else(|| {
                error(
                    "general.default_level",
                    format!("{value} is not a level 1 to 4"),
                )
            })?,
            None => Level::FIRST,
        };
        let default_queue = general.default_queue.unwrap_or_else(|| "general".into());
        if default_queue.trim().is_empty() {
            return Err(error("general.default_queue", "must not be empty".into()));
        }
        let mut templates = TemplateSet::shipped();
        if let Some(dir) = &general.templates_dir {
            load_template_overrides(dir, &mut templates)
                .map_err(|reason| error("general.templates_dir", reason))?;
        }
        let strangers = match raw.threading.strangers.as_deref().unwrap_or("note") {
            "note" => StrangerPolicy::InternalNote,
            "join" => StrangerPolicy::Join,
            other => {
                return Err(error(
                    "threading.strangers",
                    format!("`{other}` is not one of: note, join"),
                ))
            }
        };
        let mut role_senders: Vec<String> =
            DEFAULT_ROLE_SENDERS.iter().map(|s| s.to_string()).collect();
        role_senders.extend(
            raw.loop_protection
                .extra_role_senders
                .iter()
                .map(|s| s.to_lowercase()),
        );
        let mut intake = IntakePolicy {
            tags: TagFormat::new(&tag_prefix),
            support,
            loops: LoopPolicy {
                own_addresses,
                role_senders,
                caps: validate_caps(&raw.loop_protection),
                spam: validate_spam_headers(&raw.loop_protection, &error)?,
            },
            reopen_on_reply: raw.threading.reopen_on_reply.unwrap_or(true),
            strangers,
            default_queue,
            default_priority,
            default_level,
            language,
            guess_language: general.guess_language.unwrap_or(true),
            templates,
            acknowledge_new_tickets: general.acknowledge_new_tickets.unwrap_or(true),
            directory: validate_directory(&raw.agents, &raw.queues, &raw.levels, env, &error)?,
            trust: Trust::None,
            vocabulary: Vocabulary::builtin(),
            comment_address: None,
            fields: Vec::new(),
            rules: Vec::new(),
            sla: SlaPolicy::default(),
            attachment_limits: validate_attachments(&raw.attachments, &error)?,
        };
        validate_commands(raw.commands, &mut intake, &error)?;
        intake.fields = validate_fields(&raw.fields, &error)?;
        intake.rules = validate_rules(&raw.rules, &intake, &error)?;
        intake.sla = validate_sla(&raw.calendars, &raw.slas, &raw.escalation, &intake, &error)?;

        let smtp = raw
            .smtp
            .map(|smtp| validate_smtp(smtp, &support_address, env, &error))
            .transpose()?;
        let outbox = OutboxConfig {
            poll_interval_ms: raw.outbox.poll_interval_ms.unwrap_or(1000).max(10),
            retry_initial_secs: raw.outbox.retry_initial_secs.unwrap_or(30).max(1),
            retry_max_secs: raw.outbox.retry_max_secs.unwrap_or(3600).max(1),
            give_up_after_secs: raw.outbox.give_up_after_hours.unwrap_or(72) as i64 * 3600,
        };
        let log_level = raw.log.level.unwrap_or_else(|| "info".into());
        if log_level
            .parse::<tracing_subscriber::filter::Targets>()
            .is_err()
        {
            return Err(error(
                "log.level",
                format!("`{log_level}` is not a log filter (try info or debug)"),
            ));
        }
        let first_ticket_number = general.first_ticket_number.unwrap_or(1);
        if first_ticket_number == 0 || first_ticket_number > i64::MAX as u64 {
            return Err(error(
                "general.first_ticket_number",
                "must be at least 1".into(),
            ));
        }
        let mut mailboxes: Vec<MailboxConfig> = Vec::new();
        for (index, mailbox) in raw.mailboxes.into_iter().enumerate() {
            let mailbox = validate_mailbox(index, mailbox, env, &error)?;
            if mailboxes.iter().any(|known| known.name == mailbox.name) {
                return Err(error(
                    &format!("mailbox[{index}].name"),
                    format!("`{}` is used by another [[mailbox]]", mailbox.name),
                ));
            }
            if let Some(address) = &mailbox.address {
                intake.loops.own_addresses.push(address.clone());
            }
            mailboxes.push(mailbox);
        }
        Ok(Config {
            mailboxes,
            file: path.to_path_buf(),
            state_dir: general.state_dir,
            first_ticket_number,
            max_message_bytes: general.max_message_bytes.unwrap_or(50 * 1024 * 1024),
            intake,
            smtp,
            outbox,
            log_level,
        })
    }
}

fn validate_attachments(
    raw: &RawAttachments,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<AttachmentLimits, ConfigError> {
    let defaults = AttachmentLimits::default();
    let limits = AttachmentLimits {
        max_attachment_bytes: raw
            .max_attachment_bytes
            .unwrap_or(defaults.max_attachment_bytes),
        max_mail_bytes: raw.max_mail_bytes.unwrap_or(defaults.max_mail_bytes),
    };
    if limits.max_mail_bytes == 0 {
        return Err(error(
            "attachments.max_mail_bytes",
            "must be above 0 (set max_attachment_bytes = 0 to attach nothing to notices)".into(),
        ));
    }
    Ok(limits)
}

fn validate_smtp(
    smtp: RawSmtp,
    support_address: &str,
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<SmtpConfig, ConfigError> {
    let security = match smtp.security.as_deref().unwrap_or("starttls") {
        "tls" => SmtpSecurity::Tls,
        "starttls" => SmtpSecurity::StartTls,
        "plain" => SmtpSecurity::Plain,
        other => {
            return Err(error(
                "smtp.security",
                format!("`{other}` is not one of: tls, starttls, plain"),
            ))
        }
    };
    if security == SmtpSecurity::Plain && !is_loopback(&smtp.host) {
        return Err(error(
            "smtp.security",
            format!("plain SMTP sends passwords and mail in clear: only allowed to a loopback host, not `{}`", smtp.host),
        ));
    }
    let port = smtp.port.unwrap_or(match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Plain => 25,
    });
    let password = read_secret(
        "smtp",
        "password",
        smtp.password,
        smtp.password_file,
        smtp.password_credential,
        env,
        error,
    )?;
    let credentials = match (smtp.username, password) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(error(
                "smtp.username",
                "a username needs one of password, password_file or password_credential".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(error("smtp.password", "a password needs a username".into()))
        }
    };
    if let Some(ca) = &smtp.ca_file {
        if !ca.is_file() {
            return Err(error(
                "smtp.ca_file",
                format!("{} is not a readable file", ca.display()),
            ));
        }
    }
    Ok(SmtpConfig {
        host: smtp.host,
        port,
        security,
        credentials,
        ca_file: smtp.ca_file,
        hello_name: smtp
            .hello_name
            .unwrap_or_else(|| crate::core::address::domain(support_address).to_string()),
        timeout_secs: smtp.timeout_secs.unwrap_or(30).max(1),
        connections: smtp.connections.unwrap_or(4).clamp(1, 64),
    })
}

fn address_list(
    key: &str,
    list: &[String],
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<String>, ConfigError> {
    list.iter()
        .map(|address| {
            check_address(address)
                .map_err(|why| error(key, format!("`{address}` is not a mail address: {why}")))
        })
        .collect()
}

fn validate_directory(
    agents: &[RawAgent],
    queues: &[RawQueue],
    levels: &[RawLevel],
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Directory, ConfigError> {
    let mut directory = Directory::default();
    for (index, raw) in agents.iter().enumerate() {
        let key = |name: &str| format!("agent[{index}].{name}");
        let name = raw.name.trim().to_string();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(error(
                &key("name"),
                "must be one word (it is what #assign NAME takes)".into(),
            ));
        }
        if directory
            .agents
            .iter()
            .any(|a: &Agent| a.name.eq_ignore_ascii_case(&name))
        {
            return Err(error(
                &key("name"),
                format!("`{name}` names another agent too"),
            ));
        }
        let addresses = address_list(&key("addresses"), &raw.addresses, error)?;
        if addresses.is_empty() {
            return Err(error(
                &key("addresses"),
                "an agent needs at least one address".into(),
            ));
        }
        let role = match raw.role.as_deref().unwrap_or("agent") {
            "agent" => AgentRole::Agent,
            "triager" => AgentRole::Triager,
            "admin" => AgentRole::Admin,
            other => {
                return Err(error(
                    &key("role"),
                    format!("`{other}` is not one of: agent, triager, admin"),
                ))
            }
        };
        let levels = raw
            .levels
            .iter()
            .map(|level| {
                Level::new(*level)
                    .ok_or_else(|| error(&key("levels"), format!("{level} is not a level 1 to 4")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let token = read_secret(
            &format!("agent[{index}]"),
            "token",
            raw.token.clone(),
            raw.token_file.clone(),
            None,
            env,
            error,
        )?
        .map(|secret| secret.expose().to_string());
        let language = raw
            .language
            .as_deref()
            .map(|code| {
                code.parse::<Language>()
                    .map_err(|e| error(&key("language"), e))
            })
            .transpose()?;
        directory.agents.push(Agent {
            display_name: raw.display_name.clone().unwrap_or_else(|| name.clone()),
            name,
            addresses,
            role,
            queues: raw.queues.clone(),
            levels,
            token,
            language,
            away: raw.away.unwrap_or(false),
            external: raw.external,
        });
    }
    for (index, raw) in queues.iter().enumerate() {
        let triagers = address_list(&format!("queue[{index}].triagers"), &raw.triagers, error)?;
        let assignment = match raw.assignment.as_deref().unwrap_or("none") {
            "none" => Assignment::None,
            "round-robin" => Assignment::RoundRobin,
            "least-open" => Assignment::LeastOpen,
            other => {
                return Err(error(
                    &format!("queue[{index}].assignment"),
                    format!("`{other}` is not one of: none, round-robin, least-open"),
                ))
            }
        };
        directory.queues.push(Queue {
            name: raw.name.trim().to_string(),
            triagers,
            assignment,
        });
    }
    for (index, raw) in levels.iter().enumerate() {
        let level = Level::new(raw.level).ok_or_else(|| {
            error(
                &format!("level[{index}].level"),
                format!("{} is not a level 1 to 4", raw.level),
            )
        })?;
        let addresses = address_list(&format!("level[{index}].addresses"), &raw.addresses, error)?;
        let index = (level.get() - 1) as usize;
        directory.level_addresses[index].extend(addresses);
        if let Some(external) = raw.external {
            directory.external_levels[index] = external;
        }
    }
    Ok(directory)
}

fn validate_caps(raw: &RawLoopProtection) -> Caps {
    let defaults = Caps::default();
    Caps {
        replies_per_address: raw
            .max_auto_replies_per_hour
            .unwrap_or(defaults.replies_per_address),
        notices_per_sender: raw
            .max_new_ticket_notices_per_sender_per_hour
            .unwrap_or(defaults.notices_per_sender),
        per_ticket: raw
            .max_automatic_mails_per_ticket_per_hour
            .unwrap_or(defaults.per_ticket),
        overall: raw.max_automatic_mails_per_hour.unwrap_or(defaults.overall),
    }
}

fn validate_spam_headers(
    raw: &RawLoopProtection,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<SpamMarkers, ConfigError> {
    let Some(specs) = &raw.spam_headers else {
        return Ok(SpamMarkers::default());
    };
    specs
        .iter()
        .map(|spec| SpamMarker::parse(spec))
        .collect::<Result<Vec<_>, _>>()
        .map(SpamMarkers::new)
        .map_err(|bad| error("loop_protection.spam_headers", bad.to_string()))
}

fn validate_commands(
    raw: RawCommands,
    intake: &mut IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let ids: Vec<String> = raw
        .trusted_authserv_ids
        .iter()
        .map(|id| id.trim().to_lowercase())
        .collect();
    intake.trust = match raw.trust.as_deref().unwrap_or("authentication-results") {
        "authentication-results" => Trust::AuthenticationResults(ids.clone()),
        "token" => Trust::Token,
        "either" => Trust::Either(ids.clone()),
        "none" => Trust::None,
        other => {
            return Err(error(
                "commands.trust",
                format!("`{other}` is not one of: authentication-results, token, either, none"),
            ))
        }
    };
    if matches!(intake.trust, Trust::AuthenticationResults(_))
        && ids.is_empty()
        && !intake.directory.agents.is_empty()
    {
        return Err(error(
            "commands.trusted_authserv_ids",
            "empty, so no agent's mail can be trusted: name the authserv-id your MTA writes in Authentication-Results, or set commands.trust = \"token\"".into(),
        ));
    }
    if matches!(intake.trust, Trust::Token | Trust::Either(_)) {
        if let Some(agent) = intake.directory.agents.iter().find(|a| a.token.is_none()) {
            return Err(error(
                "commands.trust",
                format!(
                    "trust by token, but agent {} has no token or token_file",
                    agent.name
                ),
            ));
        }
    }
    if let Some(address) = raw.comment_address {
        let address = check_address(&address).map_err(|why| {
            error(
                "commands.comment_address",
                format!("`{address}` is not a mail address: {why}"),
            )
        })?;
        intake.loops.own_addresses.push(address.clone());
        intake.comment_address = Some(address);
    }
    let mut vocabulary = Vocabulary::builtin();
    for (alias, command) in raw.aliases {
        vocabulary = vocabulary
            .with_alias(&alias, &command)
            .map_err(|e| error(&format!("commands.aliases.{alias}"), e.reason))?;
    }
    intake.vocabulary = vocabulary;
    Ok(())
}

fn validate_fields(
    raw: &[RawField],
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<FieldSpec>, ConfigError> {
    let mut fields: Vec<FieldSpec> = Vec::new();
    for (index, field) in raw.iter().enumerate() {
        let key = |name: &str| format!("field[{index}].{name}");
        let name = field.name.trim().to_lowercase();
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('=') {
            return Err(error(
                &key("name"),
                "must be one word (it is what #field NAME=VALUE takes)".into(),
            ));
        }
        if fields.iter().any(|f| f.name == name) {
            return Err(error(&key("name"), format!("`{name}` is declared twice")));
        }
        let kind = match field.kind.as_deref().unwrap_or("text") {
            "text" => FieldKind::Text,
            "number" => FieldKind::Number,
            "date" => FieldKind::Date,
            "choice" if field.choices.is_empty() => {
                return Err(error(
                    &key("choices"),
                    "a choice field needs its choices".into(),
                ))
            }
            "choice" => FieldKind::Choice(field.choices.clone()),
            other => {
                return Err(error(
                    &key("type"),
                    format!("`{other}` is not one of: text, number, choice, date"),
                ))
            }
        };
        let extract = field
            .extract
            .as_deref()
            .map(|pattern| {
                regex::Regex::new(pattern)
                    .map_err(|e| error(&key("extract"), format!("not a valid regex: {e}")))
            })
            .transpose()?;
        fields.push(FieldSpec {
            prompt: field
                .prompt
                .clone()
                .unwrap_or_else(|| format!("{}: …", field.name.trim())),
            name,
            kind,
            extract,
            required: field.required,
            queues: field.queues.clone(),
        });
    }
    Ok(fields)
}

fn validate_rules(
    raw: &[RawRule],
    intake: &IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<Rule>, ConfigError> {
    let known_queue =
        |queue: &str| intake.directory.queue(queue).is_some() || queue == intake.default_queue;
    let mut rules = Vec::new();
    for (index, rule) in raw.iter().enumerate() {
        let key = |name: &str| format!("rule[{index}] ({}).{name}", rule.name);
        let all = match rule.combine.as_deref().unwrap_or("all") {
            "all" => true,
            "any" => false,
            other => {
                return Err(error(
                    &key("match"),
                    format!("`{other}` is not one of: all, any"),
                ))
            }
        };
        if rule.conditions.is_empty() {
            return Err(error(
                &key("conditions"),
                "a rule needs at least one condition".into(),
            ));
        }
        let mut conditions = Vec::new();
        for (c, raw) in rule.conditions.iter().enumerate() {
            let ckey = |name: &str| key(&format!("conditions[{c}].{name}"));
            let lowered = raw.field.trim().to_lowercase();
            let subject = match lowered.as_str() {
                "from" => RuleSubject::From,
                "to" => RuleSubject::To,
                "cc" => RuleSubject::Cc,
                "subject" => RuleSubject::Subject,
                "body" => RuleSubject::Body,
                "attachments" => RuleSubject::Attachments,
                other => match (other.strip_prefix("header:"), other.strip_prefix("field:")) {
                    (Some(header), _) if !header.is_empty() => RuleSubject::Header(header.to_string()),
                    (_, Some(name)) if intake.fields.iter().any(|f| f.name == name) => RuleSubject::Field(name.to_string()),
                    (_, Some(name)) => return Err(error(&ckey("field"), format!("no [[field]] is called `{name}`"))),
                    _ => {
                        return Err(error(
                            &ckey("field"),
                            format!("`{}` is not one of: from, to, cc, subject, body, attachments, header:NAME, field:NAME", raw.field),
                        ))
                    }
                },
            };
            let given = [
                raw.contains.is_some(),
                raw.equals.is_some(),
                raw.regex.is_some(),
                raw.domain.is_some(),
                raw.present.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(error(
                    &ckey("field"),
                    "give exactly one of contains, equals, regex, domain, present".into(),
                ));
            }
            let test = if let Some(text) = &raw.contains {
                RuleTest::Contains(text.clone())
            } else if let Some(text) = &raw.equals {
                RuleTest::Equals(text.clone())
            } else if let Some(pattern) = &raw.regex {
                RuleTest::Regex(
                    regex::Regex::new(pattern)
                        .map_err(|e| error(&ckey("regex"), format!("not a valid regex: {e}")))?,
                )
            } else if let Some(domain) = &raw.domain {
                if !matches!(
                    subject,
                    RuleSubject::From | RuleSubject::To | RuleSubject::Cc
                ) {
                    return Err(error(
                        &ckey("domain"),
                        "domain applies to from, to or cc".into(),
                    ));
                }
                RuleTest::Domain(domain.trim().to_lowercase())
            } else {
                RuleTest::Present(raw.present.unwrap_or(true))
            };
            conditions.push(RuleCondition { subject, test });
        }
        let raw_actions = &rule.actions;
        if let Some(queue) = &raw_actions.queue {
            if !known_queue(queue) {
                return Err(error(
                    &key("actions.queue"),
                    format!("there is no [[queue]] called `{queue}`"),
                ));
            }
        }
        let level = raw_actions
            .level
            .map(|l| {
                Level::new(l).ok_or_else(|| {
                    error(&key("actions.level"), format!("{l} is not a level 1 to 4"))
                })
            })
            .transpose()?;
        let priority = raw_actions
            .priority
            .as_deref()
            .map(|p| {
                p.parse::<Priority>()
                    .map_err(|e| error(&key("actions.priority"), e.to_string()))
            })
            .transpose()?;
        if let Some(name) = &raw_actions.assign {
            if intake.directory.agent_by_name(name).is_none() {
                return Err(error(
                    &key("actions.assign"),
                    format!("no [[agent]] is called `{name}`"),
                ));
            }
        }
        let mut fields = std::collections::BTreeMap::new();
        for (name, value) in &raw_actions.fields {
            let spec = intake
                .fields
                .iter()
                .find(|f| f.name == name.to_lowercase())
                .ok_or_else(|| {
                    error(
                        &key(&format!("actions.fields.{name}")),
                        format!("no [[field]] is called `{name}`"),
                    )
                })?;
            let value = spec
                .check(value)
                .map_err(|e| error(&key(&format!("actions.fields.{name}")), e))?;
            fields.insert(spec.name.clone(), value);
        }
        rules.push(Rule {
            name: rule.name.clone(),
            all,
            conditions,
            actions: RuleActions {
                queue: raw_actions.queue.clone(),
                level,
                priority,
                tags: raw_actions
                    .tags
                    .iter()
                    .map(|t| t.trim().to_lowercase())
                    .collect(),
                fields,
                assignee: raw_actions.assign.clone(),
                notify: address_list(&key("actions.notify"), &raw_actions.notify, error)?,
                no_acknowledgement: raw_actions.acknowledge == Some(false),
                stop: raw_actions.stop,
            },
        });
    }
    Ok(rules)
}

fn validate_sla(
    calendars: &[RawCalendar],
    slas: &[RawSla],
    escalation: &RawEscalation,
    intake: &IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<SlaPolicy, ConfigError> {
    let mut named: Vec<(String, BusinessCalendar)> = Vec::new();
    for (index, raw) in calendars.iter().enumerate() {
        let key = |name: &str| format!("calendar[{index}] ({}).{name}", raw.name);
        let holidays = raw
            .holidays
            .iter()
            .map(|day| {
                chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
                    error(
                        &key("holidays"),
                        format!("`{day}` is not a date like 2026-12-25"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let week = [
            &raw.monday,
            &raw.tuesday,
            &raw.wednesday,
            &raw.thursday,
            &raw.friday,
            &raw.saturday,
            &raw.sunday,
        ]
        .map(|day| day.iter().map(String::as_str).collect::<Vec<_>>());
        let calendar = BusinessCalendar::new(&raw.time_zone, week, holidays)
            .map_err(|e| error(&key("time_zone"), e.to_string()))?;
        named.push((raw.name.clone(), calendar));
    }
    let mut plans = Vec::new();
    for (index, raw) in slas.iter().enumerate() {
        let key = |name: &str| format!("sla[{index}].{name}");
        if let Some(queue) = &raw.queue {
            if intake.directory.queue(queue).is_none() && *queue != intake.default_queue {
                return Err(error(
                    &key("queue"),
                    format!("there is no [[queue]] called `{queue}`"),
                ));
            }
        }
        let priority = raw
            .priority
            .as_deref()
            .map(|p| {
                p.parse::<Priority>()
                    .map_err(|e| error(&key("priority"), e.to_string()))
            })
            .transpose()?;
        let clock = match &raw.calendar {
            Some(name) => SlaClock::Business(
                named
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, c)| c.clone())
                    .ok_or_else(|| {
                        error(
                            &key("calendar"),
                            format!("no [[calendar]] is called `{name}`"),
                        )
                    })?,
            ),
            None => SlaClock::WallClock,
        };
        let duration = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|text| parse_duration(text).map_err(|e| error(&key(name), e)))
                .transpose()
        };
        plans.push(SlaPlan {
            queue: raw.queue.clone(),
            priority,
            first_response: duration("first_response", &raw.first_response)?,
            next_response: duration("next_response", &raw.next_response)?,
            resolution: duration("resolution", &raw.resolution)?,
            clock,
        });
    }
    let warn_at = escalation.warn_at.unwrap_or(0.8);
    if !(0.0..=1.0).contains(&warn_at) {
        return Err(error(
            "escalation.warn_at",
            format!("{warn_at} is not a share between 0 and 1"),
        ));
    }
    Ok(SlaPolicy {
        plans,
        warn_at,
        raise_priority: escalation.raise_priority.unwrap_or(true),
        check_interval_secs: escalation.check_interval_secs.unwrap_or(60).max(1),
    })
}

fn validate_mailbox(
    index: usize,
    raw: RawMailbox,
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<MailboxConfig, ConfigError> {
    let key = |name: &str| format!("mailbox[{index}].{name}");
    let name = raw.name.trim().to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(error(
            &key("name"),
            "must be a word of letters, digits, `-`, `_` or `.`".into(),
        ));
    }
    let security = match raw.security.as_deref().unwrap_or("tls") {
        "tls" => ImapSecurity::Tls,
        "starttls" => ImapSecurity::StartTls,
        "insecure" => ImapSecurity::Insecure,
        other => {
            return Err(error(
                &key("security"),
                format!("`{other}` is not one of: tls, starttls, insecure"),
            ))
        }
    };
    if security == ImapSecurity::Insecure && !is_loopback(&raw.host) {
        return Err(error(
            &key("security"),
            format!("insecure IMAP sends the password in clear: only allowed to a loopback host, not `{}`", raw.host),
        ));
    }
    let auth = match raw.auth.as_deref().unwrap_or("login") {
        "login" => ImapAuth::Login,
        "plain" => ImapAuth::Plain,
        other => {
            return Err(error(
                &key("auth"),
                format!("`{other}` is not one of: login, plain"),
            ))
        }
    };
    let table = format!("mailbox[{index}]");
    let password = read_secret(
        &table,
        "password",
        raw.password,
        raw.password_file,
        raw.password_credential,
        env,
        error,
    )?
    .ok_or_else(|| {
        error(
            &key("password"),
            "one of password, password_file or password_credential is required".into(),
        )
    })?;
    if let Some(ca) = &raw.ca_file {
        if !ca.is_file() {
            return Err(error(
                &key("ca_file"),
                format!("{} is not a readable file", ca.display()),
            ));
        }
    }
    let folder_of =
        |value: Option<String>, default: &str, name: &str| -> Result<String, ConfigError> {
            let folder = value.unwrap_or_else(|| default.to_string());
            if folder.trim().is_empty() || folder.contains(['"', '\\', '\r', '\n']) {
                return Err(error(
                    &key(name),
                    format!("`{folder}` is not a usable folder name"),
                ));
            }
            Ok(folder)
        };
    let folder = folder_of(raw.folder, "INBOX", "folder")?;
    let processed_folder = folder_of(raw.processed_folder, "Processed", "processed_folder")?;
    let quarantine_folder = folder_of(raw.quarantine_folder, "Quarantine", "quarantine_folder")?;
    if processed_folder == folder || quarantine_folder == folder {
        return Err(error(
            &key("processed_folder"),
            "processed and quarantine folders must differ from the watched folder".into(),
        ));
    }
    let address = match raw.address {
        Some(address) => {
            let address = check_address(&address).map_err(|why| {
                error(
                    &key("address"),
                    format!("`{address}` is not a mail address: {why}"),
                )
            })?;
            Some(address)
        }
        None => check_address(&raw.username)
            .ok()
            .filter(|u| !u.contains('*')),
    };
    Ok(MailboxConfig {
        address,
        imap: ImapSettings {
            port: raw.port.unwrap_or(match security {
                ImapSecurity::Tls => 993,
                _ => 143,
            }),
            host: raw.host,
            security,
            username: raw.username,
            password,
            auth,
            ca_file: raw.ca_file,
            idle: raw.idle.unwrap_or(true),
            timeout_secs: raw.timeout_secs.unwrap_or(60).max(1),
        },
        name,
        folder,
        processed_folder,
        quarantine_folder,
        queue: raw.queue.filter(|q| !q.trim().is_empty()),
        poll_interval_secs: raw.poll_interval_secs.unwrap_or(60).max(1),
        full_check_interval_secs: raw.full_check_interval_secs.unwrap_or(300).max(1),
        batch_size: raw.batch_size.unwrap_or(500).clamp(1, 5000),
    })
}

/// One of: the value inline, a file holding it, or a systemd credential (`LoadCredential=`).
fn read_secret(
    table: &str,
    field: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
    credential: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<Secret>, ConfigError> {
    let given = [inline.is_some(), file.is_some(), credential.is_some()]
        .iter()
        .filter(|given| **given)
        .count();
    if given > 1 {
        return Err(error(
            &format!("{table}.{field}"),
            format!("give only one of {field}, {field}_file, {field}_credential"),
        ));
    }
    if let Some(password) = inline {
        return Ok(Some(Secret(password)));
    }
    let (key, path) = match (file, credential) {
        (Some(path), _) => (format!("{table}.{field}_file"), path),
        (_, Some(name)) => {
            let key = format!("{table}.{field}_credential");
            let dir = env("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                error(
                    &key,
                    "$CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=)"
                        .into(),
                )
            })?;
            (key, PathBuf::from(dir).join(name))
        }
        _ => return Ok(None),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| error(&key, format!("cannot read {}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(error(&key, format!("{} is empty", path.display())));
    }
    Ok(Some(Secret(secret)))
}

fn load_template_overrides(dir: &Path, templates: &mut TemplateSet) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    for kind in TemplateKind::ALL {
        for language in Language::ALL {
            let path = dir.join(format!("{}.{}.txt", kind.file_stem(), language.code()));
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let template =
                Template::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            templates.replace(kind, language, template);
        }
    }
    Ok(())
}

pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[general]
state_dir = "/tmp/guichet"
support_address = "Support@Desk.Example.Test"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/guichet.toml"), text, &|_| None)
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.intake.support.address, "support@desk.example.test");
        assert_eq!(config.intake.tags.prefix(), "Helpdesk");
        assert_eq!(config.first_ticket_number, 1);
        assert_eq!(config.intake.loops.caps, Caps::default());
        assert!(config.smtp.is_none());
        assert_eq!(
            config.database_path(),
            Path::new("/tmp/guichet/guichet.sqlite3")
        );
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../config.example.toml");
        let config = Config::parse(Path::new("config.example.toml"), text, &|_| None).unwrap();
        assert!(config.smtp.is_some());
        // Its commented [[mailbox]] example is valid too once uncommented (with an inline password).
        let mut uncommented = String::new();
        let mut in_example = false;
        for line in text.lines() {
            in_example |= [
                "# [[mailbox]]",
                "# [commands]",
                "# [[agent]]",
                "# [[queue]]",
                "# [[level]]",
            ]
            .contains(&line);
            in_example &= line.starts_with('#');
            match line.strip_prefix("# ").filter(|_| in_example) {
                Some(setting) if setting.starts_with("password_file") => {
                    uncommented.push_str("password = \"x\"")
                }
                Some(setting) if setting.starts_with("token_file") => {
                    uncommented.push_str("token = \"x\"")
                }
                Some(setting) => uncommented.push_str(setting),
                None => uncommented.push_str(line),
            }
            uncommented.push('\n');
        }
        let config = Config::parse(
            Path::new("config.example.toml"),
            &uncommented.replace("ca_file = \"/etc/guichet/ca.pem\"", ""),
            &|_| None,
        )
        .unwrap();
        assert_eq!(config.mailboxes[0].name, "support");
        assert_eq!(
            config.mailboxes[0].address.as_deref(),
            Some("support@example.com")
        );
    }

    fn error_of(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let cases = [
            ("", "/etc/guichet.toml: general: the [general] table is required"),
            (
                "[general]\nstate_dir = \"/x\"\nsupport_address = \"nope\"\n",
                "/etc/guichet.toml: general.support_address: `nope` is not a mail address",
            ),
            (
                &format!("{MINIMAL}colour = \"blue\"\n"),
                "/etc/guichet.toml: line 5: unknown field `colour`",
            ),
            (
                &format!("{MINIMAL}language = \"de\"\n"),
                "/etc/guichet.toml: general.language: `de` is not a shipped language; expected en, fr or it",
            ),
            (
                &format!("{MINIMAL}default_level = 7\n"),
                "/etc/guichet.toml: general.default_level: 7 is not a level 1 to 4",
            ),
            (
                &format!("{MINIMAL}[threading]\nstrangers = \"maybe\"\n"),
                "/etc/guichet.toml: threading.strangers: `maybe` is not one of: note, join",
            ),
            (
                &format!("{MINIMAL}[smtp]\nhost = \"mail.example.com\"\nsecurity = \"plain\"\n"),
                "/etc/guichet.toml: smtp.security: plain SMTP sends passwords and mail in clear: only allowed to a loopback host, not `mail.example.com`",
            ),
            (
                &format!("{MINIMAL}[smtp]\nhost = \"h\"\nusername = \"u\"\n"),
                "/etc/guichet.toml: smtp.username: a username needs one of password, password_file or password_credential",
            ),
            (
                &format!("{MINIMAL}[smtp]\nhost = \"h\"\nusername = \"u\"\npassword_credential = \"smtp\"\n"),
                "/etc/guichet.toml: smtp.password_credential: $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=)",
            ),
        ];
        for (text, expected) in cases {
            assert!(
                error_of(text).starts_with(expected),
                "got: {}\nwanted: {expected}",
                error_of(text)
            );
        }
    }

    #[test]
    fn passwords_come_from_credentials_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smtp"), "s3cret\n").unwrap();
        let dir_text = dir.path().to_str().unwrap().to_string();
        let text = format!("{MINIMAL}[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nusername = \"u\"\npassword_credential = \"smtp\"\n");
        let config = Config::parse(Path::new("g.toml"), &text, &|name| {
            (name == "CREDENTIALS_DIRECTORY").then(|| dir_text.clone())
        })
        .unwrap();
        let smtp = config.smtp.unwrap();
        assert_eq!(smtp.credentials.as_ref().unwrap().1.expose(), "s3cret");
        assert_eq!(smtp.port, 25);
        assert!(!format!("{smtp:?}").contains("s3cret"));
    }

    #[test]
    fn template_overrides_replace_shipped_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("acknowledgement.fr.txt"),
            "Subject: Reçu {tag}\n\nMerci, ticket {number}.\n",
        )
        .unwrap();
        let text = format!("{MINIMAL}templates_dir = {:?}\n", dir.path());
        let config = parse(&text).unwrap();
        let values = [("tag", "T".to_string()), ("number", "9".to_string())]
            .into_iter()
            .collect();
        let (subject, body) = config
            .intake
            .templates
            .get(TemplateKind::Acknowledgement, Language::Fr)
            .render(&values);
        assert_eq!(
            (subject.as_str(), body.as_str()),
            ("Reçu T", "Merci, ticket 9.\n")
        );
    }

    #[test]
    fn mailboxes_are_validated() {
        let mailbox = |body: &str| {
            format!("{MINIMAL}[[mailbox]]\nname = \"support\"\nusername = \"u\"\npassword = \"p\"\n{body}")
        };
        let config = parse(&mailbox(
            "host = \"imap.example.com\"\nqueue = \"hardware\"\n",
        ))
        .unwrap();
        let support = &config.mailboxes[0];
        assert_eq!(
            (support.imap.port, support.imap.security),
            (993, ImapSecurity::Tls)
        );
        assert_eq!(support.folder, "INBOX");
        assert_eq!(support.queue.as_deref(), Some("hardware"));
        assert!(!format!("{support:?}").contains("\"p\""), "password hidden");
        let cases = [
            ("host = \"imap.example.com\"\nsecurity = \"insecure\"\n", "mailbox[0].security: insecure IMAP sends the password in clear"),
            ("host = \"h\"\nsecurity = \"ssl\"\n", "mailbox[0].security: `ssl` is not one of: tls, starttls, insecure"),
            ("host = \"h\"\nauth = \"cram\"\n", "mailbox[0].auth: `cram` is not one of: login, plain"),
            ("host = \"h\"\nprocessed_folder = \"INBOX\"\n", "mailbox[0].processed_folder: processed and quarantine folders must differ"),
            ("host = \"h\"\n[[mailbox]]\nname = \"support\"\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\n", "mailbox[1].name: `support` is used by another [[mailbox]]"),
        ];
        for (body, expected) in cases {
            let message = parse(&mailbox(body)).unwrap_err().to_string();
            assert!(
                message.contains(expected),
                "got {message}\nwanted {expected}"
            );
        }
        let no_password =
            format!("{MINIMAL}[[mailbox]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\n");
        assert!(parse(&no_password)
            .unwrap_err()
            .to_string()
            .contains("mailbox[0].password: one of password"));
        let loopback = parse(&mailbox("host = \"127.0.0.1\"\nsecurity = \"insecure\"\n")).unwrap();
        assert_eq!(loopback.mailboxes[0].imap.port, 143);
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("10.0.0.1"));
        assert!(!is_loopback("mail.example.com"));
    }
}
