//! Mail Guichet sends, as data: the SMTP adapter renders and delivers it.

use super::address::Mailbox;
use super::language::Language;
use super::ticket::TicketNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutgoingKind {
    Acknowledgement,
}

impl OutgoingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutgoingKind::Acknowledgement => "acknowledgement",
        }
    }

    /// Automatic mail counts against the per-sender hourly cap and carries `Auto-Submitted`.
    pub fn is_automatic(self) -> bool {
        matches!(self, OutgoingKind::Acknowledgement)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutgoingMail {
    pub kind: OutgoingKind,
    pub ticket: TicketNumber,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    /// SMTP reverse-path; `None` is the null sender `<>`, which RFC 3834 asks of automatic replies
    /// so that a bounce of a bounce cannot happen.
    pub envelope_from: Option<String>,
    pub subject: String,
    pub body: String,
    /// Without angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// `auto-replied` or `auto-generated` (RFC 3834).
    pub auto_submitted: Option<&'static str>,
    pub language: Language,
}

/// A Message-ID of ours: unique from the ticket, the kind and a seed the caller makes unique
/// (time and content hash), under our own domain so that replies can be recognised.
pub fn our_message_id(
    ticket: TicketNumber,
    kind: OutgoingKind,
    seed: &str,
    domain: &str,
) -> String {
    format!("guichet.{ticket}.{}.{seed}@{domain}", kind.as_str())
}
