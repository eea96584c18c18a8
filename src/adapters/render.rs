//! `OutgoingMail` → RFC 5322 bytes, with lettre's builder (header encoding, transfer encoding).
//!
//! **Total:** `render` never panics and never lets a value from a mail add a header or a
//! recipient. Intake already refuses undeliverable addresses and cleans names, subjects and
//! Message-IDs; rendering checks again, because the store may hold older data, and drops what
//! still cannot be written (a recipient) or fails the one mail with its reason.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, UNIX_EPOCH};

use lettre::address::Envelope;
use lettre::message::header::{
    ContentDisposition, ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{header, Body, Mailbox as LettreMailbox, Mailboxes, MultiPart, SinglePart};
use lettre::Message;
use sha2::{Digest, Sha256};

use crate::adapters::blobs::BlobStore;
use crate::adapters::parse::hex;
use crate::core::attachments::human_size;
use crate::core::mail::AttachmentMeta;

use crate::adapters::store::RenderedMail;
use crate::core::address::{check_address, clean_display_name, one_line, Mailbox};
use crate::core::mail::clean_message_id;
use crate::core::outgoing::OutgoingMail;
use crate::core::plan::{EventDraft, EventKind};

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
    let address = check_address(&m.address)
        .map_err(|why| format!("`{}` is not a deliverable address: {why}", m.address))?
        .parse()
        .map_err(|e| format!("`{}` is not a deliverable address: {e}", m.address))?;
    let name = m.name.as_deref().and_then(clean_display_name);
    Ok(LettreMailbox::new(name, address))
}

/// A rendered mail: its bytes, the envelope recipients it was written for, the recipients that
/// had to be left out, with why, and the attachments it names but could not carry, with why.
#[derive(Debug)]
pub struct Rendered {
    pub raw: Vec<u8>,
    pub recipients: Vec<String>,
    pub left_out: Vec<String>,
    pub attachments_not_sent: Vec<String>,
}

/// Where the renderer finds the bytes of a stored attachment.
pub trait AttachmentFiles {
    fn read(&self, sha256: &str) -> std::io::Result<Vec<u8>>;
}

impl AttachmentFiles for BlobStore {
    fn read(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let path = self.path_of(sha256, "");
        std::fs::read(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    }
}

/// For mail that never carries attachments (the outbox's failure notices).
pub struct NoAttachmentFiles;

impl AttachmentFiles for NoAttachmentFiles {
    fn read(&self, _sha256: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no attachment store",
        ))
    }
}

/// Longest subject written, in characters (one header line).
const MAX_SUBJECT_CHARS: usize = 998;

/// The bytes that go into the outbox; `now` becomes the Date header.
pub fn render(
    mail: &OutgoingMail,
    now: i64,
    files: &dyn AttachmentFiles,
) -> Result<Rendered, RenderError> {
    let error = |reason: String| RenderError {
        to: mail
            .to
            .iter()
            .chain(&mail.cc)
            .map(|m| one_line(&m.address, 254))
            .collect::<Vec<_>>()
            .join(", "),
        reason,
    };
    match catch_unwind(AssertUnwindSafe(|| build(mail, now, files))) {
        Ok(result) => result.map_err(error),
        Err(panic) => Err(error(format!(
            "the mail builder failed: {}",
            crate::panic_message(&*panic)
        ))),
    }
}

fn build(mail: &OutgoingMail, now: i64, files: &dyn AttachmentFiles) -> Result<Rendered, String> {
    let mut builder = Message::builder()
        .from(mailbox(&mail.from)?)
        .subject(one_line(&mail.subject, MAX_SUBJECT_CHARS))
        .date(UNIX_EPOCH + Duration::from_secs(now.max(0) as u64));
    // A mail about an article alone (a draft to its editors) belongs to no ticket.
    if let Some(ticket) = mail.ticket {
        builder = builder.header(GuichetTicket(ticket.to_string()));
    }
    builder = match clean_message_id(&mail.message_id) {
        Some(id) => builder.message_id(Some(format!("<{id}>"))),
        None => return Err(format!("our Message-ID `{}` is not valid", mail.message_id)),
    };
    let mut recipients = Vec::with_capacity(mail.to.len() + mail.cc.len());
    let mut envelope = Vec::with_capacity(mail.to.len() + mail.cc.len());
    let mut left_out = Vec::new();
    let mut to = Mailboxes::new();
    let mut cc = Mailboxes::new();
    for (is_cc, person) in mail
        .to
        .iter()
        .map(|m| (false, m))
        .chain(mail.cc.iter().map(|m| (true, m)))
    {
        match mailbox(person) {
            Ok(lettre_mailbox) if !recipients.contains(&person.address) => {
                recipients.push(person.address.clone());
                envelope.push(lettre_mailbox.email.clone());
                match is_cc {
                    true => cc.push(lettre_mailbox),
                    false => to.push(lettre_mailbox),
                }
            }
            Ok(_) => {}
            Err(why) => left_out.push(why),
        }
    }
    if recipients.is_empty() {
        return Err(match left_out.is_empty() {
            true => "no recipient".to_string(),
            false => left_out.join("; "),
        });
    }
    // Each list is set once and the envelope given: lettre adds to a list, and derives an
    // envelope, by parsing the header back, which its parser cannot do for an address literal
    // (`x@[127.0.0.1]`), so the literal was silently dropped from the header.
    if to.iter().next().is_some() {
        builder = builder.mailbox(header::To::from(to));
    }
    if cc.iter().next().is_some() {
        builder = builder.mailbox(header::Cc::from(cc));
    }
    builder =
        builder.envelope(Envelope::new(None, envelope).map_err(|e| format!("no envelope: {e}"))?);
    if let Some(reply_to) = &mail.reply_to {
        builder = builder.reply_to(mailbox(reply_to)?);
    }
    if let Some(id) = mail.in_reply_to.as_deref().and_then(clean_message_id) {
        builder = builder.in_reply_to(format!("<{id}>"));
    }
    let references: Vec<String> = mail
        .references
        .iter()
        .filter_map(|id| clean_message_id(id))
        .map(|id| format!("<{id}>"))
        .collect();
    if !references.is_empty() {
        builder = builder.references(references.join(" "));
    }
    if let Some(value) = mail.auto_submitted {
        // RFC 3834, and Exchange's way of saying "do not auto-reply to this".
        builder = builder
            .header(AutoSubmitted(value.to_string()))
            .header(AutoResponseSuppress("All".to_string()));
    }
    let (parts, attachments_not_sent) = attachment_parts(&mail.attachments, files);
    let mut body = mail.body.clone();
    if !attachments_not_sent.is_empty() {
        body.push_str("\n\nNot attached (the stored file could not be read):\n");
        for (meta, _) in &attachments_not_sent {
            body.push_str(&format!(
                "  - {} ({})\n",
                one_line(&meta.filename, 200),
                human_size(meta.size)
            ));
        }
    }
    let message = if parts.is_empty() {
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(crlf_body(&body))
    } else {
        let mut mixed = MultiPart::mixed().singlepart(SinglePart::plain(crlf_body(&body)));
        for part in parts {
            mixed = mixed.singlepart(part);
        }
        builder.multipart(mixed)
    }
    .map_err(|e| e.to_string())?;
    Ok(Rendered {
        raw: message.formatted(),
        recipients,
        left_out,
        attachments_not_sent: attachments_not_sent
            .into_iter()
            .map(|(meta, why)| format!("{}: {why}", one_line(&meta.filename, 200)))
            .collect(),
    })
}

/// Each attachment as a MIME part, its bytes read from the store and checked against their hash;
/// one that cannot be read (or no longer matches) is returned apart with why. Base64 always, so
/// that the bytes arrive as they were, line ends included.
fn attachment_parts<'a>(
    attachments: &'a [AttachmentMeta],
    files: &dyn AttachmentFiles,
) -> (Vec<SinglePart>, Vec<(&'a AttachmentMeta, String)>) {
    let mut parts = Vec::with_capacity(attachments.len());
    let mut not_sent = Vec::new();
    for meta in attachments {
        let bytes = match files.read(&meta.sha256) {
            Ok(bytes) if hex(&Sha256::digest(&bytes)) == meta.sha256 => bytes,
            Ok(_) => {
                not_sent.push((meta, "the stored file does not match its hash".to_string()));
                continue;
            }
            Err(error) => {
                not_sent.push((meta, error.to_string()));
                continue;
            }
        };
        let content_type = ContentType::parse(&meta.content_type)
            .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
        let filename = one_line(&meta.filename, 200);
        let filename = if filename.is_empty() {
            "attachment".to_string()
        } else {
            filename
        };
        let body = match Body::new_with_encoding(bytes, ContentTransferEncoding::Base64) {
            Ok(body) => body,
            Err(_) => {
                not_sent.push((meta, "cannot be encoded".to_string()));
                continue;
            }
        };
        parts.push(
            SinglePart::builder()
                .header(content_type)
                .header(ContentDisposition::attachment(&filename))
                .body(body),
        );
    }
    (parts, not_sent)
}

/// The body with CRLF line ends (after LF, CRLF or a lone CR) and no other control characters
/// but tabs, in one pass: lettre converts bare LF itself by inserting one `\r` at a time into
/// the string, quadratic (44 s for a million lines); a NUL or an escape is not text.
fn crlf_body(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + body.len() / 16);
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            '\t' => out.push(c),
            _ if c.is_control() => {}
            _ => out.push(c),
        }
    }
    out
}

/// Renders a plan's outgoing mail. A mail that cannot be rendered is not queued: it becomes an
/// error event on its ticket, as does every recipient left out of a mail that was.
pub fn render_all<'m>(
    outgoing: &'m [OutgoingMail],
    files: &dyn AttachmentFiles,
    now: i64,
) -> (Vec<RenderedMail<'m>>, Vec<EventDraft>) {
    let mut rendered = Vec::with_capacity(outgoing.len());
    let mut events = Vec::new();
    for mail in outgoing {
        match render(mail, now, files) {
            Ok(done) => {
                for why in &done.attachments_not_sent {
                    tracing::error!(ticket = mail.ticket.map(|t| t.0), kind = mail.kind.as_str(), reason = %why, "attachment named, not attached");
                    events.push(EventDraft {
                        kind: EventKind::AttachmentNotSent,
                        actor: "guichet".into(),
                        detail: format!("{} named it, not attached: {why}", mail.kind.as_str()),
                    });
                }
                for why in &done.left_out {
                    tracing::warn!(ticket = mail.ticket.map(|t| t.0), kind = mail.kind.as_str(), reason = %why, "recipient left out");
                    events.push(EventDraft {
                        kind: EventKind::RecipientLeftOut,
                        actor: "guichet".into(),
                        detail: format!("{} left out: {why}", mail.kind.as_str()),
                    });
                }
                rendered.push(RenderedMail {
                    mail,
                    raw: done.raw,
                    recipients: done.recipients,
                });
            }
            Err(error) => {
                tracing::error!(ticket = mail.ticket.map(|t| t.0), kind = mail.kind.as_str(), %error, "outgoing mail not queued");
                events.push(EventDraft {
                    kind: EventKind::MailNotRendered,
                    actor: "guichet".into(),
                    detail: format!("{} not sent: {error}", mail.kind.as_str()),
                });
            }
        }
    }
    (rendered, events)
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
            crlf_body("a\nb\r\nc\rd\n\n\0e\u{1b}f\tg"),
            "a\r\nb\r\nc\r\nd\r\n\r\nef\tg"
        );
        assert_eq!(crlf_body("no break"), "no break");
    }

    #[test]
    fn rendered_mail_parses_back_to_what_was_meant() {
        let mail = OutgoingMail {
            kind: OutgoingKind::Acknowledgement,
            ticket: Some(TicketNumber(1042)),
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
            report_failures_to: None,
            attachments: Vec::new(),
        };
        let raw = render(&mail, 1_700_000_000, &NoAttachmentFiles)
            .unwrap()
            .raw;
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

    fn hostile() -> OutgoingMail {
        OutgoingMail {
            kind: OutgoingKind::Relay,
            ticket: Some(TicketNumber(7)),
            from: Mailbox::new(Some("Helpdesk"), "support@desk.example.test"),
            // Built field by field, as older rows of the store could hold them.
            to: vec![Mailbox {
                name: Some("a\r\nBcc: victim@else.test\0".into()),
                address: "alice@example.test".into(),
            }],
            cc: vec![
                Mailbox {
                    name: None,
                    address: "x..y@example.test".into(),
                },
                Mailbox {
                    name: Some("\u{202e}Carol".into()),
                    address: "carol@example.test".into(),
                },
            ],
            reply_to: Some(Mailbox::new(None, "support@desk.example.test")),
            envelope_from: Some("support@desk.example.test".into()),
            subject: "Re: [Helpdesk #7] a\r\nBcc: victim@else.test".into(),
            body: "line one\nline two\r\nthree\rfour\0five\n".into(),
            message_id: "guichet.7.relay.x@desk.example.test".into(),
            in_reply_to: Some("m1@example.test>\r\nBcc: victim@else.test".into()),
            references: vec!["m0@example.test".into(), "bad id@x".into()],
            auto_submitted: None,
            language: Language::En,
            report_failures_to: None,
            attachments: Vec::new(),
        }
    }

    #[test]
    fn address_literals_stay_in_the_headers_whatever_their_place() {
        let mut mail = hostile();
        mail.to = vec![Mailbox::new(None, "a@[127.0.0.1]")];
        mail.cc = vec![
            Mailbox::new(None, "b@[127.0.0.2]"),
            Mailbox::new(Some("Bü"), "c@bücher.example"),
        ];
        let rendered = render(&mail, 1_700_000_000, &NoAttachmentFiles).unwrap();
        let back = parse_mail(&rendered.raw).unwrap().mail;
        let addresses =
            |list: &[Mailbox]| list.iter().map(|m| m.address.clone()).collect::<Vec<_>>();
        assert_eq!(addresses(&back.to), ["a@[127.0.0.1]"]);
        assert_eq!(addresses(&back.cc), ["b@[127.0.0.2]", "c@bücher.example"]);
        assert_eq!(
            rendered.recipients,
            ["a@[127.0.0.1]", "b@[127.0.0.2]", "c@bücher.example"]
        );
    }

    #[test]
    fn hostile_values_render_without_adding_headers_or_recipients() {
        let rendered = render(&hostile(), 1_700_000_000, &NoAttachmentFiles).unwrap();
        assert_eq!(
            rendered.recipients,
            vec![
                "alice@example.test".to_string(),
                "carol@example.test".to_string()
            ]
        );
        assert_eq!(rendered.left_out.len(), 1);
        assert!(
            rendered.left_out[0].contains("x..y@example.test"),
            "{:?}",
            rendered.left_out
        );
        let text = String::from_utf8(rendered.raw.clone()).unwrap();
        let header_end = text.find("\r\n\r\n").unwrap();
        let names: Vec<&str> = text[..header_end]
            .split("\r\n")
            .filter(|line| !line.starts_with([' ', '\t']))
            .map(|line| line.split(':').next().unwrap())
            .collect();
        for name in &names {
            assert!(
                [
                    "From",
                    "Reply-To",
                    "To",
                    "Cc",
                    "Subject",
                    "Date",
                    "Message-ID",
                    "References",
                    "X-Guichet-Ticket",
                    "Content-Type",
                    "Content-Transfer-Encoding",
                    "MIME-Version"
                ]
                .contains(name),
                "unexpected header {name} in\n{text}"
            );
        }
        assert!(!text.to_ascii_lowercase().contains("\r\nbcc:"));
        let back = parse_mail(&rendered.raw).unwrap().mail;
        assert_eq!(back.to[0].address, "alice@example.test");
        assert_eq!(back.to[0].name.as_deref(), Some("a Bcc: victim@else.test"));
        assert_eq!(back.cc.len(), 1);
        assert_eq!(back.cc[0].name.as_deref(), Some("Carol"));
        assert_eq!(back.subject, "Re: [Helpdesk #7] a Bcc: victim@else.test");
        assert!(back.in_reply_to.is_empty());
        assert_eq!(back.references, vec!["m0@example.test".to_string()]);
        assert_eq!(back.text, "line one\nline two\nthree\nfourfive");
    }

    #[test]
    fn a_mail_with_no_deliverable_recipient_is_an_error_not_a_panic() {
        let mut mail = hostile();
        mail.to[0].address = ".x@example.test".into();
        mail.cc.clear();
        let error = render(&mail, 0, &NoAttachmentFiles).unwrap_err();
        assert!(error.reason.contains(".x@example.test"), "{error}");
        let (rendered, events) = render_all(std::slice::from_ref(&mail), &NoAttachmentFiles, 0);
        assert!(rendered.is_empty());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::MailNotRendered);
    }

    fn stored(
        blobs: &BlobStore,
        filename: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> AttachmentMeta {
        let sha256 = hex(&Sha256::digest(bytes));
        blobs.put(&sha256, "", bytes, false).unwrap();
        AttachmentMeta {
            filename: filename.into(),
            content_type: content_type.into(),
            size: bytes.len() as u64,
            sha256,
        }
    }

    #[test]
    fn attachments_parse_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path());
        let png: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        // Text with bare LFs, a lone CR and no final newline: must not be "fixed" on the way.
        let text = b"line one\nline two\r\nthree\rfour".to_vec();
        let mut mail = hostile();
        mail.attachments = vec![
            stored(&blobs, "écran 1.png", "image/png", &png),
            stored(&blobs, "notes.txt", "text/plain", &text),
        ];
        let rendered = render(&mail, 1_700_000_000, &blobs).unwrap();
        assert!(rendered.attachments_not_sent.is_empty());
        let parsed = parse_mail(&rendered.raw).unwrap();
        let back: Vec<(String, String, Vec<u8>)> = parsed
            .attachments()
            .map(|(meta, bytes)| {
                (
                    meta.filename.clone(),
                    meta.content_type.clone(),
                    bytes.to_vec(),
                )
            })
            .collect();
        assert_eq!(
            back,
            vec![
                ("écran 1.png".to_string(), "image/png".to_string(), png),
                ("notes.txt".to_string(), "text/plain".to_string(), text),
            ]
        );
        assert_eq!(parsed.mail.text, "line one\nline two\nthree\nfourfive");
    }

    #[test]
    fn a_missing_file_is_named_not_attached_and_audited() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path());
        let mut mail = hostile();
        let kept = stored(&blobs, "kept.bin", "application/octet-stream", b"kept");
        let mut lost = stored(&blobs, "lost.bin", "application/octet-stream", b"lost");
        lost.sha256 = "00".repeat(32);
        mail.attachments = vec![kept, lost];
        let (rendered, events) = render_all(std::slice::from_ref(&mail), &blobs, 0);
        assert_eq!(rendered.len(), 1);
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events
            .iter()
            .any(|e| e.kind == EventKind::AttachmentNotSent && e.detail.contains("lost.bin")));
        let parsed = parse_mail(&rendered[0].raw).unwrap();
        assert_eq!(parsed.attachments().count(), 1);
        assert!(
            parsed.mail.text.contains("lost.bin (4 bytes)"),
            "{}",
            parsed.mail.text
        );
    }
}
