//! `OutgoingMail` → RFC 5322 bytes, with lettre's builder (header encoding, transfer encoding).

use std::time::{Duration, UNIX_EPOCH};

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::Mailbox as LettreMailbox;
use lettre::Message;

use crate::core::address::Mailbox;
use crate::core::outgoing::OutgoingMail;

#[derive(Debug, thiserror::Error)]
#[error("cannot render mail to {to}: {reason}")]
pub struct RenderError {
    pub to: String,
    pub reason: String,
}

macro_rules! text_header {
    ($type:ident, $name:literal) => {
        #[derive(Debug, Clone)]
        struct $type(String);

        impl Header for $type {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }
            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($type(s.to_string()))
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(AutoSubmitted, "Auto-Submitted");
text_header!(AutoResponseSuppress, "X-Auto-Response-Suppress");
text_header!(GuichetTicket, "X-Guichet-Ticket");

fn mailbox(m: &Mailbox) -> Result<LettreMailbox, String> {
    let address = m
        .address
        .parse()
        .map_err(|e| format!("`{}` is not a deliverable address: {e}", m.address))?;
    Ok(LettreMailbox::new(m.name.clone(), address))
}

/// `text` with every line ending CRLF. lettre converts bare LF itself, but by inserting one `\r`
/// at a time into the string: quadratic, 44 s for a million lines. A lone CR becomes CRLF too.
fn crlf_line_endings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut rest = text;
    while let Some(at) = rest.find(['\r', '\n']) {
        out.push_str(&rest[..at]);
        out.push_str("\r\n");
        let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[at + skip..];
    }
    out.push_str(rest);
    out
}

/// The bytes that go into the outbox; `now` becomes the Date header.
pub fn render(mail: &OutgoingMail, now: i64) -> Result<Vec<u8>, RenderError> {
    let error = |reason: String| RenderError {
        to: mail
            .to
            .iter()
            .map(|m| m.address.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        reason,
    };
    let mut builder = Message::builder()
        .from(mailbox(&mail.from).map_err(error)?)
        .subject(mail.subject.clone())
        .date(UNIX_EPOCH + Duration::from_secs(now.max(0) as u64))
        .message_id(Some(format!("<{}>", mail.message_id)))
        .header(GuichetTicket(mail.ticket.to_string()));
    for to in &mail.to {
        builder = builder.to(mailbox(to).map_err(error)?);
    }
    for cc in &mail.cc {
        builder = builder.cc(mailbox(cc).map_err(error)?);
    }
    if let Some(reply_to) = &mail.reply_to {
        builder = builder.reply_to(mailbox(reply_to).map_err(error)?);
    }
    if let Some(id) = &mail.in_reply_to {
        builder = builder.in_reply_to(format!("<{id}>"));
    }
    if !mail.references.is_empty() {
        let references = mail
            .references
            .iter()
            .map(|id| format!("<{id}>"))
            .collect::<Vec<_>>()
            .join(" ");
        builder = builder.references(references);
    }
    if let Some(value) = mail.auto_submitted {
        // RFC 3834, and Exchange's way of saying "do not auto-reply to this".
        builder = builder
            .header(AutoSubmitted(value.to_string()))
            .header(AutoResponseSuppress("All".to_string()));
    }
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(crlf_line_endings(&mail.body))
        .map_err(|e| error(e.to_string()))?;
    Ok(message.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::parse::parse_mail;
    use crate::core::language::Language;
    use crate::core::outgoing::OutgoingKind;
    use crate::core::ticket::TicketNumber;

    #[test]
    fn line_endings_become_crlf() {
        assert_eq!(
            crlf_line_endings("a\nb\r\nc\rd\n\n"),
            "a\r\nb\r\nc\r\nd\r\n\r\n"
        );
        assert_eq!(crlf_line_endings("no break"), "no break");
    }

    #[test]
    fn rendered_mail_parses_back_to_what_was_meant() {
        let mail = OutgoingMail {
            kind: OutgoingKind::Acknowledgement,
            ticket: TicketNumber(1042),
            from: Mailbox::new(Some("Équipe Support"), "support@desk.example.test"),
            to: vec![Mailbox::new(Some("Hélène Marchand"), "helene@example.test")],
            cc: vec![Mailbox::new(None, "carol@example.test")],
            reply_to: Some(Mailbox::new(None, "support@desk.example.test")),
            envelope_from: None,
            subject: "[Helpdesk #1042] Imprimante bloquée".into(),
            body: "Bonjour Hélène,\n\nticket n° 1042.\n".into(),
            message_id: "guichet.1042.acknowledgement.x@desk.example.test".into(),
            in_reply_to: Some("m1@example.test".into()),
            references: vec!["m0@example.test".into(), "m1@example.test".into()],
            auto_submitted: Some("auto-replied"),
            language: Language::Fr,
        };
        let raw = render(&mail, 1_700_000_000).unwrap();
        let back = parse_mail(&raw).unwrap().mail;
        assert_eq!(back.subject, mail.subject);
        assert_eq!(back.from, Some(mail.from.clone()));
        assert_eq!(back.to, mail.to);
        assert_eq!(back.cc, mail.cc);
        assert_eq!(back.reply_to, mail.reply_to);
        assert_eq!(back.message_id.as_deref(), Some(mail.message_id.as_str()));
        assert_eq!(back.in_reply_to, vec!["m1@example.test".to_string()]);
        assert_eq!(back.references, mail.references);
        assert_eq!(
            back.loop_signals.auto_submitted.as_deref(),
            Some("auto-replied")
        );
        assert_eq!(back.text, "Bonjour Hélène,\n\nticket n° 1042.");
        assert_eq!(back.date, Some(1_700_000_000));
    }
}
