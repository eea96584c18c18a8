//! The TOML as written: every table and key, unknown ones refused, before validation.

use super::*;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) general: Option<RawGeneral>,
    #[serde(default)]
    pub(super) threading: RawThreading,
    #[serde(default)]
    pub(super) loop_protection: RawLoopProtection,
    pub(super) smtp: Option<RawSmtp>,
    #[serde(default)]
    pub(super) outbox: RawOutbox,
    #[serde(default)]
    pub(super) attachments: RawAttachments,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default, rename = "mailbox")]
    pub(super) mailboxes: Vec<RawMailbox>,
    #[serde(default)]
    pub(super) commands: RawCommands,
    #[serde(default, rename = "agent")]
    pub(super) agents: Vec<RawAgent>,
    #[serde(default, rename = "queue")]
    pub(super) queues: Vec<RawQueue>,
    #[serde(default, rename = "level")]
    pub(super) levels: Vec<RawLevel>,
    #[serde(default, rename = "field")]
    pub(super) fields: Vec<RawField>,
    #[serde(default, rename = "rule")]
    pub(super) rules: Vec<RawRule>,
    #[serde(default, rename = "calendar")]
    pub(super) calendars: Vec<RawCalendar>,
    #[serde(default, rename = "sla")]
    pub(super) slas: Vec<RawSla>,
    #[serde(default)]
    pub(super) escalation: RawEscalation,
    #[serde(default)]
    pub(super) knowledge: RawKnowledge,
    #[serde(default, rename = "reply")]
    pub(super) replies: Vec<RawReply>,
    #[serde(default, rename = "report")]
    pub(super) reports: Vec<super::report::RawReport>,
    #[serde(default)]
    pub(super) retention: super::retention::RawRetention,
    pub(super) web: Option<super::web::RawWeb>,
    #[serde(default, rename = "oauth2")]
    pub(super) oauth2: Vec<super::oauth2::RawOAuth2>,
    pub(super) metrics: Option<super::metrics::RawMetrics>,
    #[serde(default, rename = "webhook")]
    pub(super) webhooks: Vec<super::webhooks::RawWebhook>,
}

/// A saved reply: `text` is the default, `text_en`/`text_fr`/`text_it` the translations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReply {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) text_en: Option<String>,
    pub(super) text_fr: Option<String>,
    pub(super) text_it: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKnowledge {
    pub(super) languages: Option<Vec<String>>,
    pub(super) address: Option<String>,
    #[serde(default)]
    pub(super) editors: Vec<String>,
    pub(super) suggest: Option<bool>,
    pub(super) link: Option<String>,
    pub(super) min_confidence: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    pub(super) name: String,
    pub(super) time_zone: String,
    #[serde(default)]
    pub(super) monday: Vec<String>,
    #[serde(default)]
    pub(super) tuesday: Vec<String>,
    #[serde(default)]
    pub(super) wednesday: Vec<String>,
    #[serde(default)]
    pub(super) thursday: Vec<String>,
    #[serde(default)]
    pub(super) friday: Vec<String>,
    #[serde(default)]
    pub(super) saturday: Vec<String>,
    #[serde(default)]
    pub(super) sunday: Vec<String>,
    #[serde(default)]
    pub(super) holidays: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSla {
    pub(super) queue: Option<String>,
    pub(super) priority: Option<String>,
    pub(super) calendar: Option<String>,
    pub(super) first_response: Option<String>,
    pub(super) next_response: Option<String>,
    pub(super) resolution: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEscalation {
    pub(super) warn_at: Option<f64>,
    pub(super) raise_priority: Option<bool>,
    pub(super) check_interval_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) choices: Vec<String>,
    pub(super) extract: Option<String>,
    #[serde(default)]
    pub(super) required: bool,
    #[serde(default)]
    pub(super) queues: Vec<String>,
    pub(super) prompt: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) name: String,
    #[serde(rename = "match")]
    pub(super) combine: Option<String>,
    #[serde(default)]
    pub(super) conditions: Vec<RawCondition>,
    #[serde(default)]
    pub(super) actions: RawActions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCondition {
    pub(super) field: String,
    pub(super) contains: Option<String>,
    pub(super) equals: Option<String>,
    pub(super) regex: Option<String>,
    pub(super) domain: Option<String>,
    pub(super) present: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawActions {
    pub(super) queue: Option<String>,
    pub(super) level: Option<u8>,
    pub(super) priority: Option<String>,
    #[serde(default)]
    pub(super) tags: Vec<String>,
    #[serde(default)]
    pub(super) fields: std::collections::BTreeMap<String, String>,
    pub(super) assign: Option<String>,
    #[serde(default)]
    pub(super) notify: Vec<String>,
    pub(super) acknowledge: Option<bool>,
    #[serde(default)]
    pub(super) stop: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCommands {
    pub(super) trust: Option<String>,
    #[serde(default)]
    pub(super) trusted_authserv_ids: Vec<String>,
    pub(super) comment_address: Option<String>,
    #[serde(default)]
    pub(super) aliases: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    pub(super) name: String,
    pub(super) display_name: Option<String>,
    pub(super) addresses: Vec<String>,
    pub(super) role: Option<String>,
    #[serde(default)]
    pub(super) queues: Vec<String>,
    #[serde(default)]
    pub(super) levels: Vec<u8>,
    pub(super) token: Option<String>,
    pub(super) token_file: Option<PathBuf>,
    pub(super) language: Option<String>,
    pub(super) away: Option<bool>,
    /// A party outside the organisation: sees only the public history.
    pub(super) external: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    pub(super) name: String,
    #[serde(default)]
    pub(super) triagers: Vec<String>,
    pub(super) assignment: Option<String>,
    #[serde(default)]
    pub(super) knowledge_editors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevel {
    pub(super) level: u8,
    #[serde(default)]
    pub(super) addresses: Vec<String>,
    /// Worked outside the organisation (level 4 is, unless set to false).
    pub(super) external: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMailbox {
    pub(super) name: String,
    pub(super) address: Option<String>,
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) security: Option<String>,
    pub(super) username: String,
    pub(super) password: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_credential: Option<String>,
    pub(super) auth: Option<String>,
    /// The `[[oauth2]]` account whose tokens log in, with `auth = "oauth2"` or `"oauthbearer"`.
    pub(super) oauth2: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) folder: Option<String>,
    pub(super) processed_folder: Option<String>,
    pub(super) quarantine_folder: Option<String>,
    pub(super) queue: Option<String>,
    pub(super) idle: Option<bool>,
    pub(super) poll_interval_secs: Option<u64>,
    pub(super) full_check_interval_secs: Option<u64>,
    pub(super) batch_size: Option<usize>,
    pub(super) timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGeneral {
    pub(super) state_dir: PathBuf,
    pub(super) support_address: String,
    pub(super) support_name: Option<String>,
    #[serde(default)]
    pub(super) own_addresses: Vec<String>,
    pub(super) tag_prefix: Option<String>,
    pub(super) first_ticket_number: Option<u64>,
    pub(super) max_message_bytes: Option<u64>,
    pub(super) language: Option<String>,
    pub(super) guess_language: Option<bool>,
    pub(super) default_queue: Option<String>,
    pub(super) default_priority: Option<String>,
    pub(super) default_level: Option<u8>,
    pub(super) acknowledge_new_tickets: Option<bool>,
    pub(super) templates_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThreading {
    pub(super) reopen_on_reply: Option<bool>,
    pub(super) strangers: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoopProtection {
    pub(super) max_auto_replies_per_hour: Option<u32>,
    pub(super) max_new_ticket_notices_per_sender_per_hour: Option<u32>,
    pub(super) max_automatic_mails_per_ticket_per_hour: Option<u32>,
    pub(super) max_automatic_mails_per_hour: Option<u32>,
    pub(super) spam_headers: Option<Vec<String>>,
    #[serde(default)]
    pub(super) extra_role_senders: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSmtp {
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) security: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) password_credential: Option<String>,
    pub(super) auth: Option<String>,
    pub(super) oauth2: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) hello_name: Option<String>,
    pub(super) timeout_secs: Option<u64>,
    pub(super) connections: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbox {
    pub(super) poll_interval_ms: Option<u64>,
    pub(super) retry_initial_secs: Option<u64>,
    pub(super) retry_max_secs: Option<u64>,
    pub(super) give_up_after_hours: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAttachments {
    pub(super) max_attachment_bytes: Option<u64>,
    pub(super) max_mail_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) level: Option<String>,
}
