//! Mail Guichet sends, as data: the SMTP adapter renders and delivers it.

use super::address::Mailbox;
use super::language::Language;
use super::mail::{AttachmentMeta, InboundMail};
use super::ticket::TicketNumber;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutgoingKind {
    Acknowledgement,
    NewTicketNotice,
    /// An agent's answer sent on to the requester and participants.
    Relay,
    /// A requester's mail sent on to the assignee or the triagers.
    RelayToAgents,
    AssignmentNotice,
    TransferNotice,
    EscalationNotice,
    ResolutionNotice,
    MergeNotice,
    /// An answer to a command mail: help, or why nothing was applied.
    CommandReply,
    SlaWarning,
    /// Tells an agent that their relayed answer did not reach some of its recipients.
    DeliveryFailureNotice,
    /// The ticket's attachments, to the agent who asked with `#attachments`.
    AttachmentDelivery,
    /// A knowledge-base article's draft or new version, to its editors.
    ArticleDraft,
    /// A `[[report]]` digest: the service figures of a period, on no ticket.
    Digest,
    /// A one-time link that signs an agent in to the dashboard.
    SignInLink,
    /// The link that confirms a request sent from the web form.
    RequestConfirmation,
}

impl OutgoingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutgoingKind::Acknowledgement => "acknowledgement",
            OutgoingKind::NewTicketNotice => "new_ticket_notice",
            OutgoingKind::Relay => "relay",
            OutgoingKind::RelayToAgents => "relay_to_agents",
            OutgoingKind::AssignmentNotice => "assignment_notice",
            OutgoingKind::TransferNotice => "transfer_notice",
            OutgoingKind::EscalationNotice => "escalation_notice",
            OutgoingKind::ResolutionNotice => "resolution_notice",
            OutgoingKind::MergeNotice => "merge_notice",
            OutgoingKind::CommandReply => "command_reply",
            OutgoingKind::SlaWarning => "sla_warning",
            OutgoingKind::DeliveryFailureNotice => "delivery_failure_notice",
            OutgoingKind::AttachmentDelivery => "attachment_delivery",
            OutgoingKind::ArticleDraft => "article_draft",
            OutgoingKind::Digest => "digest",
            OutgoingKind::SignInLink => "sign_in_link",
            OutgoingKind::RequestConfirmation => "request_confirmation",
        }
    }

    /// Automatic replies to whoever wrote count against the per-address hourly cap. (Notices to
    /// agents and relayed mail are not replies to the sender.)
    pub fn is_automatic(self) -> bool {
        matches!(
            self,
            OutgoingKind::Acknowledgement | OutgoingKind::CommandReply
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutgoingMail {
    pub kind: OutgoingKind,
    /// `None`: the mail is about an article alone (a draft mailed to editors).
    pub ticket: Option<TicketNumber>,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Where replies go when it is not `from` (relayed mail: always the support address).
    pub reply_to: Option<Mailbox>,
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
    /// Who is told when a recipient cannot be reached: the agent whose words a relay carries.
    /// `None` for everything else, so a failure notice never causes another one.
    pub report_failures_to: Option<FailureContact>,
    /// Stored attachments this mail carries, byte for byte (the core chose them within the
    /// limits; the renderer reads them from the attachment store).
    pub attachments: Vec<AttachmentMeta>,
}

/// An agent to tell about undelivered mail, and the language to tell them in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailureContact {
    pub agent: Mailbox,
    pub language: Language,
}

impl OutgoingMail {
    /// A mail from the support address about `ticket`, with the headers its kind calls for:
    /// automatic replies go out with the null sender and `Auto-Submitted: auto-replied`
    /// (RFC 3834), notices with `auto-generated` and a sender that can receive bounces, relayed
    /// mail (a person's words) without Auto-Submitted. Replies go to the support address; callers
    /// set threading headers, copies and the display name where they differ.
    pub fn from_support(
        support: &Mailbox,
        kind: OutgoingKind,
        ticket: TicketNumber,
        to: Vec<Mailbox>,
        (subject, body): (String, String),
        seed: &str,
        language: Language,
    ) -> OutgoingMail {
        OutgoingMail {
            kind,
            ticket: Some(ticket),
            from: support.clone(),
            to,
            cc: Vec::new(),
            reply_to: Some(support.clone()),
            envelope_from: (!kind.is_automatic()).then(|| support.address.clone()),
            subject,
            body,
            message_id: our_message_id(ticket, kind, seed, support.domain()),
            in_reply_to: None,
            references: Vec::new(),
            auto_submitted: match kind {
                OutgoingKind::Relay | OutgoingKind::RelayToAgents => None,
                _ if kind.is_automatic() => Some("auto-replied"),
                _ => Some("auto-generated"),
            },
            language,
            report_failures_to: None,
            attachments: Vec::new(),
        }
    }
}

impl OutgoingMail {
    /// Threads this mail as the answer to `mail`: In-Reply-To names it, References carry its
    /// thread and then it, so the reader's client files the answer under what they sent.
    pub fn answer_to(&mut self, mail: &InboundMail) {
        let mut references = mail.references.clone();
        if let Some(id) = &mail.message_id {
            references.retain(|r| r != id);
            references.push(id.clone());
        }
        self.in_reply_to = mail.message_id.clone();
        self.references = references;
    }
}

impl OutgoingMail {
    /// A notice about a knowledge-base article from the support address: not tied to a ticket,
    /// and under a Message-ID that names the article, so that a reply to it finds the article.
    pub fn about_article(
        support: &Mailbox,
        kind: OutgoingKind,
        article: super::knowledge::ArticleId,
        to: Vec<Mailbox>,
        rendered: (String, String),
        seed: &str,
        language: Language,
    ) -> OutgoingMail {
        let mut mail = OutgoingMail::from_support(
            support,
            kind,
            TicketNumber(0),
            to,
            rendered,
            seed,
            language,
        );
        mail.ticket = None;
        mail.message_id =
            super::knowledge::mail::article_message_id(article, kind, seed, support.domain());
        mail
    }
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
