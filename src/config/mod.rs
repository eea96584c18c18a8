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

/// Where the config file is unless `--config` or `GUICHET_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/guichet/guichet.toml";

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
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
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

#[derive(Debug, Clone, PartialEq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<SmtpAuth>,
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

/// How `[smtp]` logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpAuth {
    /// AUTH PLAIN or LOGIN.
    Password { user: String, password: Secret },
    /// A token of the named `[[oauth2]]` account, for `user` (the login, not the sender).
    OAuth2 {
        user: String,
        account: String,
        mechanism: OAuth2Mechanism,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapAuth {
    Login(Secret),
    Plain(Secret),
    /// A token of the named `[[oauth2]]` account.
    OAuth2 {
        account: String,
        mechanism: OAuth2Mechanism,
    },
}

/// How to reach and log in to one IMAP account.
#[derive(Debug, Clone, PartialEq)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
    /// The login, which may differ from the mailbox's address (a shared mailbox).
    pub username: String,
    pub auth: ImapAuth,
    pub ca_file: Option<PathBuf>,
    /// Use IDLE when the server offers it.
    pub idle: bool,
    pub timeout_secs: u64,
}

/// One watched mailbox: where its mail comes from, where it goes after, and its queue.
#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, PartialEq)]
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
    /// The `[[report]]` digests `guichet run` mails.
    pub reports: Vec<crate::core::report::digest::DigestConfig>,
    /// `[retention]`: what `guichet run` purges from done tickets, and how often.
    pub retention: crate::core::retention::RetentionPolicy,
    /// The dashboard, when `[web]` is configured.
    pub web: Option<web::WebConfig>,
    /// The `[[oauth2]]` clients mailboxes and `[smtp]` log in with.
    pub oauth2: Vec<OAuth2Account>,
    /// Where `guichet run` serves `/metrics`, when `[metrics]` is configured.
    pub metrics: Option<MetricsConfig>,
    /// The `[[webhook]]` receivers `guichet run` POSTs ticket events to.
    pub webhooks: Vec<Webhook>,
    /// SHA-256 of the file's text, in hex: `guichet ingest` hands its mail to the daemon only
    /// when both read the same file (`handover`).
    pub digest: String,
}

impl Config {
    pub fn database_path(&self) -> PathBuf {
        self.state_dir.join("guichet.sqlite3")
    }

    /// Attachments, content-addressed by SHA-256.
    pub fn attachments_dir(&self) -> PathBuf {
        self.state_dir.join("attachments")
    }

    /// Quarantined mail, named by its content hash.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.state_dir.join("quarantine")
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_file(path)?;
        Config::parse(path, &text, &|name| std::env::var(name).ok())
    }

    /// What a piped delivery reads of the same file.
    pub fn head(&self) -> ConfigHead {
        ConfigHead {
            state_dir: self.state_dir.clone(),
            digest: self.digest.clone(),
        }
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
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
            knowledge: Default::default(),
            replies: knowledge::validate_replies(
                &raw.replies,
                general.templates_dir.as_deref(),
                &error,
            )?,
            attachment_limits: validate_attachments(&raw.attachments, &error)?,
        };
        validate_commands(raw.commands, &mut intake, &error)?;
        intake.fields = validate_fields(&raw.fields, &error)?;
        intake.rules = validate_rules(&raw.rules, &intake, &error)?;
        intake.sla = validate_sla(&raw.calendars, &raw.slas, &raw.escalation, &intake, &error)?;
        intake.knowledge =
            knowledge::validate_knowledge(&raw.knowledge, &raw.queues, &intake, &error)?;
        // Mail to the knowledge address is ours: never a participant, never mailed.
        if let Some(address) = &intake.knowledge.address {
            intake.loops.own_addresses.push(address.clone());
        }

        let reports = report::validate_reports(&raw.reports, &intake, &error)?;
        let retention = retention::validate_retention(&raw.retention, &error)?;
        let web = raw
            .web
            .map(|web| web::validate_web(web, &intake, &error))
            .transpose()?;
        let webhooks = webhooks::validate_webhooks(raw.webhooks, env, &error)?;
        let mut oauth2: Vec<OAuth2Account> = Vec::new();
        for (index, account) in raw.oauth2.into_iter().enumerate() {
            let account = validate_oauth2(index, account, &general.state_dir, env, &error)?;
            if oauth2.iter().any(|known| known.name == account.name) {
                return Err(error(
                    &format!("oauth2[{index}].name"),
                    format!("`{}` is used by another [[oauth2]]", account.name),
                ));
            }
            oauth2.push(account);
        }
        let metrics = raw
            .metrics
            .as_ref()
            .map(|raw| metrics::validate_metrics(raw, &error))
            .transpose()?;
        let smtp = raw
            .smtp
            .map(|smtp| validate_smtp(smtp, &support_address, &oauth2, env, &error))
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
            let mailbox = validate_mailbox(index, mailbox, &oauth2, env, &error)?;
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
            reports,
            retention,
            web,
            oauth2,
            metrics,
            webhooks,
            digest: head::digest(text),
        })
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError {
        file: path.to_path_buf(),
        key: "(file)".into(),
        reason: format!("cannot read: {error}"),
    })
}

/// A file TOML cannot read, by the line where it stopped.
fn syntax_error(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let key = error
        .span()
        .map(|span| {
            let line = text[..span.start].matches('\n').count() + 1;
            format!("line {line}")
        })
        .unwrap_or_else(|| "(syntax)".into());
    ConfigError {
        file: path.to_path_buf(),
        key,
        reason: error.message().to_string(),
    }
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

mod head;
mod knowledge;
mod mail;
mod metrics;
mod oauth2;
mod people;
mod raw;
mod report;
mod retention;
mod rules;
mod sla;
mod web;
mod webhooks;
pub use head::ConfigHead;
pub use web::WebConfig;
pub use webhooks::Webhook;

use mail::*;
pub use metrics::MetricsConfig;
use oauth2::{oauth2_login, validate_oauth2};
pub use oauth2::{OAuth2Account, OAuth2Grant, OAuth2Mechanism};
use people::*;
use raw::*;
use rules::*;
use sla::*;

#[cfg(test)]
mod tests;
