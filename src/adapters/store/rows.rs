//! What the store hands to the CLI and the daemon: rows as they print and serialise.

use super::*;

#[derive(Debug, Clone, serde::Serialize)]
pub struct TicketRow {
    pub number: u64,
    pub subject: String,
    pub requester: String,
    pub requester_name: Option<String>,
    pub status: String,
    pub priority: String,
    pub level: u8,
    pub queue: String,
    pub assignee: Option<String>,
    pub language: String,
    pub merged_into: Option<u64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MessageRow {
    pub id: i64,
    pub direction: String,
    pub visibility: String,
    pub kind: String,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub source: String,
    pub created_at: i64,
    pub attachments: Vec<AttachmentRow>,
    pub delivery: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AttachmentRow {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ParticipantRow {
    pub address: String,
    pub name: Option<String>,
    pub role: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRow {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub message: Option<i64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TicketDetail {
    pub ticket: TicketRow,
    pub tags: Vec<String>,
    pub fields: std::collections::BTreeMap<String, String>,
    pub participants: Vec<ParticipantRow>,
    pub messages: Vec<MessageRow>,
    pub events: Vec<EventRow>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineRow {
    pub id: i64,
    pub received_at: i64,
    pub source: String,
    pub reason: String,
    pub size: u64,
    pub path: String,
}

/// An open ticket's place in the work list: what its rank and the dashboard's filters need.
#[derive(Debug, Clone)]
pub struct WorkRank {
    pub number: u64,
    pub priority: String,
    pub level: u8,
    pub queue: String,
    pub assignee: Option<String>,
    pub awaiting_since: Option<i64>,
    pub sla: SlaState,
    /// Higher is more urgent.
    pub urgency: i64,
}

/// An open ticket in the work list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WorkRow {
    pub number: u64,
    pub subject: String,
    pub status: String,
    pub priority: String,
    pub level: u8,
    pub queue: String,
    pub assignee: Option<String>,
    pub requester: String,
    pub awaiting_since: Option<i64>,
    pub sla: SlaState,
    /// Higher is more urgent.
    pub urgency: i64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MailboxStateRow {
    pub name: String,
    pub uid_validity: Option<u32>,
    pub last_uid: u32,
    pub connected: bool,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub backlog: u64,
    pub processed: u64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DaemonStateRow {
    pub pid: u32,
    pub started_at: i64,
    pub heartbeat_at: i64,
    pub stopped_at: Option<i64>,
}

/// A change to a mailbox's state row; `None` fields are left as they are.
#[derive(Debug, Clone, Default)]
pub struct MailboxUpdate<'a> {
    pub uid_validity: Option<u32>,
    pub last_uid: Option<u32>,
    pub connected: Option<bool>,
    pub success: bool,
    pub error: Option<&'a str>,
    pub backlog: Option<u64>,
    pub processed_more: u64,
}
