//! The plan types shared by intake (a new ticket) and follow-up (a mail on a ticket): the
//! policy and input they decide from, the ticket as they see it, and the plan they return
//! (ticket change, updates, events, outgoing mail). Both depend on this module, not on each other.

use std::collections::BTreeMap;

use super::address::Mailbox;
use super::commands::Vocabulary;
use super::language::Language;
use super::loops::{AutoReplyVerdict, LoopPolicy};
use super::mail::InboundMail;
use super::outgoing::OutgoingMail;
use super::people::{Directory, Trust, Workload};
use super::rules::{FieldSpec, Rule};
use super::sla::{SlaPolicy, SlaState};
use super::subject::TagFormat;
use super::templates::TemplateSet;
use super::threading::ThreadDecision;
use super::ticket::{Level, Priority, Status, TicketNumber};
use super::visibility::{Reader, Visibility};

/// What to do with a reply from someone who is not a participant of the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrangerPolicy {
    /// Keep it as an internal note, flag it, never send them the ticket's correspondence.
    InternalNote,
    /// Add them as a participant (copied on correspondence).
    Join,
}

#[derive(Debug, Clone)]
pub struct IntakePolicy {
    pub tags: TagFormat,
    /// The From of our mail: support name and address.
    pub support: Mailbox,
    pub loops: LoopPolicy,
    pub reopen_on_reply: bool,
    pub strangers: StrangerPolicy,
    pub default_queue: String,
    pub default_priority: Priority,
    pub default_level: Level,
    pub language: Language,
    pub guess_language: bool,
    pub templates: TemplateSet,
    pub acknowledge_new_tickets: bool,
    pub directory: Directory,
    pub trust: Trust,
    pub vocabulary: Vocabulary,
    /// Mail sent (also) to this address stays internal.
    pub comment_address: Option<String>,
    /// Custom fields: declared, typed, read from the body.
    pub fields: Vec<FieldSpec>,
    /// Routing rules, in order.
    pub rules: Vec<Rule>,
    pub sla: SlaPolicy,
    /// What notices and relays carry of the attachments they are about.
    pub attachment_limits: super::attachments::AttachmentLimits,
    pub knowledge: super::knowledge::KnowledgePolicy,
    /// Saved replies agents send with `#reply NAME`.
    pub replies: Vec<super::replies::SavedReply>,
}

impl IntakePolicy {
    /// The queue called `name` (in any case) as configured: a `[[queue]]` or the default queue.
    pub fn queue_named(&self, name: &str) -> Option<String> {
        self.directory
            .queue(name)
            .map(|queue| queue.name.clone())
            .or_else(|| {
                name.eq_ignore_ascii_case(&self.default_queue)
                    .then(|| self.default_queue.clone())
            })
    }
}

/// The part of a stored ticket the intake decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketView {
    pub number: TicketNumber,
    /// The number a mail named when it led here through a merge.
    pub requested_as: Option<TicketNumber>,
    pub status: Status,
    pub priority: Priority,
    pub level: Level,
    pub queue: String,
    /// The assigned agent's name.
    pub assignee: Option<String>,
    pub subject: String,
    pub language: Language,
    pub requester: Mailbox,
    /// Participant addresses, lowercased (the requester included).
    pub participants: Vec<String>,
    /// Participants copied on correspondence.
    pub cc: Vec<Mailbox>,
    pub tags: Vec<String>,
    /// Custom field values.
    pub fields: BTreeMap<String, String>,
    /// The ticket's mail with a Message-ID, oldest first: who sent and received each, so that our
    /// mail to a person threads on what they know (`personal_thread`).
    pub thread: Vec<super::personal_thread::ThreadMessage>,
    pub history: Vec<HistoryEntry>,
    pub merged_into: Option<TicketNumber>,
    pub created_at: i64,
    pub sla: SlaState,
    /// Since when the requester has waited for an answer.
    pub awaiting_since: Option<i64>,
    /// The texts of the latest mail Guichet sent on the ticket, newest first: what a reply may
    /// quote or paste, never to be relayed as the writer's words (`own_text`).
    pub sent_texts: Vec<String>,
    /// The resolution text, once one was written (`#resolve TEXT`).
    pub resolution: Option<String>,
}

impl TicketView {
    /// A view with defaults, for tests and new tickets.
    pub fn new(number: TicketNumber, requester: Mailbox) -> TicketView {
        TicketView {
            number,
            requested_as: None,
            status: Status::New,
            priority: Priority::Normal,
            level: Level::FIRST,
            queue: "general".into(),
            assignee: None,
            subject: String::new(),
            language: Language::En,
            participants: vec![requester.address.clone()],
            requester,
            cc: Vec::new(),
            tags: Vec::new(),
            fields: BTreeMap::new(),
            thread: Vec::new(),
            history: Vec::new(),
            merged_into: None,
            created_at: 0,
            sla: SlaState::default(),
            awaiting_since: None,
            sent_texts: Vec::new(),
            resolution: None,
        }
    }
}

impl TicketView {
    /// The ticket so far as `reader` may read it, for notices that hand it to someone new.
    pub fn history_text(&self, reader: Reader) -> String {
        self.history
            .iter()
            .filter(|entry| reader.may_see(entry.visibility))
            .map(|entry| {
                format!(
                    "--- {} {}{}\n{}\n\n",
                    format_time(entry.at),
                    entry.from,
                    entry.visibility.label(),
                    entry.text.trim()
                )
            })
            .collect()
    }

    /// The attachments of the ticket's inbound mail, oldest first; only those of public mail when
    /// they go outside the helpdesk (the vendor), never an internal note's.
    pub fn attachments(&self, public_only: bool) -> Vec<super::mail::AttachmentMeta> {
        self.history
            .iter()
            .filter(|entry| !(public_only && entry.visibility != Visibility::Public))
            .flat_map(|entry| entry.attachments.iter().cloned())
            .collect()
    }
}

/// Instants as notices and the audit trail show them.
pub fn format_time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(
        || at.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// One stored message, as notices that hand a ticket over show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: i64,
    pub from: String,
    pub visibility: Visibility,
    pub text: String,
    pub attachments: Vec<super::mail::AttachmentMeta>,
}

#[derive(Debug, Clone)]
pub struct IntakeInput<'a> {
    pub mail: &'a InboundMail,
    pub thread: &'a ThreadDecision,
    /// The ticket the thread decision named; `None` for a new ticket.
    pub ticket: Option<&'a TicketView>,
    /// The number a new ticket gets.
    pub next_number: TicketNumber,
    /// Automatic replies sent to the requester's address in the last hour.
    pub auto_replies_last_hour: u32,
    pub now: i64,
    /// Unique per mail; makes our Message-IDs unique.
    pub id_seed: &'a str,
    /// The queue a new ticket opens in, when the mail's source names one.
    pub queue: Option<&'a str>,
    /// Other tickets the mail's commands name (`#merge N`), as found in the store.
    pub others: &'a [TicketView],
    /// Agents' loads, for queues that assign automatically.
    pub workloads: &'a [Workload],
    /// What the knowledge base holds for this mail (`knowledge::mail::KnowledgeInput::NONE` when
    /// nothing).
    pub knowledge: &'a super::knowledge::mail::KnowledgeInput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Requester,
    Cc,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Cc => "cc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewTicket {
    pub number: TicketNumber,
    pub subject: String,
    pub requester: Mailbox,
    pub queue: String,
    pub priority: Priority,
    pub level: Level,
    pub status: Status,
    pub language: Language,
    /// Chosen by a routing rule or the queue's automatic assignment, if any.
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub fields: BTreeMap<String, String>,
    pub sla: SlaState,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum TicketChange {
    Create(Box<NewTicket>),
    Append { updates: Vec<TicketUpdate> },
}

/// One change to an existing ticket, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "update", content = "value", rename_all = "snake_case")]
pub enum TicketUpdate {
    Status(Status),
    Priority(Priority),
    Level(Level),
    Queue(String),
    /// An agent's name, or none.
    Assignee(Option<String>),
    AddParticipant(Mailbox, Role),
    RemoveParticipant(String),
    AddTag(String),
    RemoveTag(String),
    Field(String, String),
    Resolution(String),
    /// This ticket into that one: its mail and participants move; its number leads there.
    MergeInto(TicketNumber),
    /// New deadlines.
    Sla(SlaState),
    AwaitingSince(Option<i64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Correspondence,
    Reopened,
    StrangerNote,
    AutoReplySuppressed,
    /// A new ticket from mail the spam filter marked waits in `spam` for an agent's `#release`.
    HeldAsSpam,
    AcknowledgementQueued,
    /// The server took an outgoing mail for these recipients.
    Delivered,
    /// The server refused a recipient for good.
    DeliveryRefused,
    /// A recipient could not be reached yet; the outbox tries again.
    DeliveryDeferred,
    /// A recipient still unreachable when the outbox stopped trying.
    DeliveryGivenUp,
    CommandApplied,
    CommandRefused,
    Note,
    NoticeQueued,
    Assigned,
    Routed,
    FieldSet,
    SlaWarning,
    SlaBreach,
    /// Intake left something of the mail out (an address, a structure past a limit).
    IntakeCut,
    /// A recipient could not be written into an outgoing mail and was left out of it.
    RecipientLeftOut,
    /// An outgoing mail could not be rendered and was not queued: an error someone must see.
    MailNotRendered,
    /// A stored attachment could not be read when a mail was rendered: it was named, not sent.
    AttachmentNotSent,
    /// Knowledge-base articles offered in an acknowledgement.
    ArticleSuggested,
    /// An article drafted (`#kb`, or a mail to the knowledge address).
    ArticleDrafted,
    /// A new version of an article from an editor's reply.
    ArticleRevised,
    ArticlePublished,
    ArticleRetired,
    /// An article sent to the requester as the answer (`#answer`).
    ArticleAnswered,
    /// The requester said a suggested article answered the question (`#solved`).
    SolvedByArticle,
    /// A saved reply sent to the requester (`#reply`).
    SavedReplySent,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Correspondence => "correspondence",
            EventKind::Reopened => "reopened",
            EventKind::StrangerNote => "stranger_note",
            EventKind::AutoReplySuppressed => "auto_reply_suppressed",
            EventKind::HeldAsSpam => "held_as_spam",
            EventKind::AcknowledgementQueued => "acknowledgement_queued",
            EventKind::Delivered => "delivered",
            EventKind::DeliveryRefused => "delivery_refused",
            EventKind::DeliveryDeferred => "delivery_deferred",
            EventKind::DeliveryGivenUp => "delivery_given_up",
            EventKind::CommandApplied => "command_applied",
            EventKind::CommandRefused => "command_refused",
            EventKind::Note => "note",
            EventKind::NoticeQueued => "notice_queued",
            EventKind::Assigned => "assigned",
            EventKind::Routed => "routed",
            EventKind::FieldSet => "field_set",
            EventKind::SlaWarning => "sla_warning",
            EventKind::SlaBreach => "sla_breach",
            EventKind::IntakeCut => "intake_cut",
            EventKind::RecipientLeftOut => "recipient_left_out",
            EventKind::MailNotRendered => "mail_not_rendered",
            EventKind::AttachmentNotSent => "attachment_not_sent",
            EventKind::ArticleSuggested => "article_suggested",
            EventKind::ArticleDrafted => "article_drafted",
            EventKind::ArticleRevised => "article_revised",
            EventKind::ArticlePublished => "article_published",
            EventKind::ArticleRetired => "article_retired",
            EventKind::ArticleAnswered => "article_answered",
            EventKind::SolvedByArticle => "solved_by_article",
            EventKind::SavedReplySent => "saved_reply_sent",
        }
    }
}

/// One line of the audit trail, before the store gives it an id and links the causing mail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventDraft {
    pub kind: EventKind,
    /// Who caused it: an address, or `guichet` for the daemon itself.
    pub actor: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntakePlan {
    pub ticket: TicketNumber,
    pub change: TicketChange,
    pub visibility: Visibility,
    pub new_participants: Vec<(Mailbox, Role)>,
    pub events: Vec<EventDraft>,
    pub outgoing: Vec<OutgoingMail>,
    pub auto_reply: AutoReplyVerdict,
    /// What is stored as the message's text: what the person newly wrote, without quoted
    /// history and command lines (the raw mail keeps everything).
    pub stored_text: String,
    /// Agents who went away (`true`) or came back (`false`).
    pub agents_away: Vec<(String, bool)>,
    /// What happens to the knowledge base: drafts, versions, states, links to the ticket.
    pub knowledge: Vec<super::knowledge::mail::KnowledgeAction>,
}

/// Why a parsed mail cannot make or join a ticket; the pipeline quarantines it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unticketable {
    #[error("no sender address: From, Reply-To, Sender and Return-Path are all missing or empty")]
    NoSender,
    #[error("the thread decision named ticket #{0} but the store has no such ticket")]
    MissingTicket(TicketNumber),
}
