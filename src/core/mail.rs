//! An inbound mail as the core sees it: our own type, filled by the parsing adapter.

use super::address::Mailbox;
use super::forward::{visible_with_forward, ForwardedText};
use super::language::{guess_language, Language};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct InboundMail {
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub sender: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Decoded (RFC 2047) subject; empty when missing.
    pub subject: String,
    /// Seconds since the Unix epoch, from the Date header.
    pub date: Option<i64>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub loop_signals: LoopSignals,
    /// The readable text: the text/plain body, or the HTML body turned into text.
    pub text: String,
    pub attachments: Vec<AttachmentMeta>,
    /// Mails attached to this one (message/rfc822 parts), outermost first, nested ones flattened:
    /// their text is shown with this mail's, their attachments are in `attachments`.
    pub attached: Vec<AttachedMail>,
    /// Message-IDs named inside a delivery report (the mail that bounced), to thread bounces.
    pub reported_message_ids: Vec<String>,
    /// `Authentication-Results` header fields, topmost first (only the MTA's own counts).
    pub auth_results: Vec<crate::core::auth_results::AuthResultsHeader>,
    /// Every header as (lowercased name, unfolded raw value), in order: for routing rules.
    pub headers: Vec<(String, String)>,
    /// What intake left out of this mail and why, one sentence each (an address that cannot be
    /// delivered to, HTML flattened below a depth, parts or addresses beyond a count): each becomes
    /// an `intake_cut` event; the raw mail keeps it all.
    pub cuts: Vec<String>,
    /// The mail's source proved the From address itself (a requester's signed link on the web):
    /// set by the pipeline, never from the mail's own headers.
    pub vouched_sender: bool,
    /// Custom field values given with the mail by its source (the web form), set by the
    /// pipeline: they win over values read from the text.
    pub given_fields: std::collections::BTreeMap<String, String>,
    /// What intake reads off the subject and text, worked out once (`visible`, `language_guess`).
    #[serde(skip)]
    pub derived: DerivedText,
}

/// A mail's visible text and language guess, each worked out the first time it is asked for
/// and kept: intake asks several times per mail, and the pipeline asks first on its parsing
/// thread (`InboundMail::derive_text`), beside the writer. Both follow from the subject and
/// text, which nothing changes once a mail is parsed.
#[derive(Debug, Clone, Default)]
pub struct DerivedText {
    visible: std::sync::OnceLock<ForwardedText>,
    language: std::sync::OnceLock<Option<Language>>,
    /// A new request's knowledge-base search terms and the language they were worked out in
    /// (`knowledge::matching::request_terms`).
    pub(crate) request_terms: std::sync::OnceLock<(String, Vec<String>)>,
}

/// Derived values follow from the other fields: two mails equal in those are equal.
impl PartialEq for DerivedText {
    fn eq(&self, _: &DerivedText) -> bool {
        true
    }
}

/// The headers that tell an automatic or bulk mail from a person's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoopSignals {
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub list_id: Option<String>,
    /// `Some("")` for the null return path `<>`.
    pub return_path: Option<String>,
    /// X-Autoreply, X-Autorespond, X-Auto-Response-Suppress and similar vendor headers, lowercased.
    pub vendor_auto_headers: Vec<(String, String)>,
    /// A `multipart/report` delivery status notification.
    pub is_delivery_report: bool,
}

/// A mail attached to a mail, as people read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AttachedMail {
    /// The From header as a person reads it (name and address), or empty.
    pub from: String,
    pub date: Option<i64>,
    pub subject: String,
    /// Its readable text (quoted history is cut when it is shown).
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttachmentMeta {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the content; the content itself lives in the attachment store.
    pub sha256: String,
}

/// Longest Message-ID kept (RFC 5322 allows no more than a 998-character line; real ones are
/// under 100).
const MAX_MESSAGE_ID: usize = 250;

/// A Message-ID without its angle brackets, when it can be written back into a header as it is:
/// printable ASCII, no white space or brackets. Anything else could inject into In-Reply-To or
/// References and is not worth threading on.
pub fn clean_message_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let printable = id
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    (!id.is_empty() && id.len() <= MAX_MESSAGE_ID && printable).then(|| id.to_string())
}

impl InboundMail {
    /// The visible text, quoted history and signature cut, a forward it carries read apart.
    pub fn visible(&self) -> &ForwardedText {
        self.derived
            .visible
            .get_or_init(|| visible_with_forward(&self.text, &self.subject))
    }

    /// The language the subject and text are written in, if the stop words tell.
    pub fn language_guess(&self) -> Option<Language> {
        *self
            .derived
            .language
            .get_or_init(|| guess_language(&format!("{}\n{}", self.subject, self.text)))
    }

    /// Works out now, on this thread, what intake will read: the visible text, and the
    /// language guess when `with_language`.
    pub fn derive_text(&self, with_language: bool) {
        self.visible();
        if with_language {
            self.language_guess();
        }
    }

    /// Who a reply goes to: Reply-To when given, else From.
    pub fn reply_address(&self) -> Option<&Mailbox> {
        self.reply_to.as_ref().or(self.from.as_ref())
    }

    /// Message-IDs this mail answers, most specific first: In-Reply-To, then References newest first.
    pub fn answered_message_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for id in self.in_reply_to.iter().chain(self.references.iter().rev()) {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        ids.extend(
            self.reported_message_ids
                .iter()
                .map(String::as_str)
                .filter(|id| !self.in_reply_to.iter().any(|known| known == id)),
        );
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_ids_in_reply_to_first_then_newest_reference() {
        let mail = InboundMail {
            in_reply_to: vec!["c@x".into()],
            references: vec!["a@x".into(), "b@x".into(), "c@x".into()],
            reported_message_ids: vec!["r@x".into()],
            ..InboundMail::default()
        };
        assert_eq!(
            mail.answered_message_ids(),
            vec!["c@x", "b@x", "a@x", "r@x"]
        );
    }

    #[test]
    fn message_ids_that_could_inject_are_dropped() {
        assert_eq!(clean_message_id(" <a.b@x> ").as_deref(), Some("a.b@x"));
        assert_eq!(clean_message_id("a@x>\r\nBcc: v@y"), None);
        assert_eq!(clean_message_id("a b@x"), None);
        assert_eq!(clean_message_id("<>"), None);
        assert_eq!(clean_message_id("é@x"), None);
        assert_eq!(clean_message_id(&"a".repeat(300)), None);
    }

    #[test]
    fn reply_to_wins_over_from() {
        let mail = InboundMail {
            from: Some(Mailbox::new(None, "a@x")),
            reply_to: Some(Mailbox::new(None, "b@x")),
            ..InboundMail::default()
        };
        assert_eq!(mail.reply_address().unwrap().address, "b@x");
    }
}
