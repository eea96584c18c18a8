//! Which attachments a mail Guichet sends carries: the attachments of the mail it is about, within
//! the configured limits; those left out are named with their size, and an agent fetches them by
//! replying `#attachments`. Also the text of mails attached to a mail (message/rfc822), as the
//! ticket history and notices show it.

use super::language::Language;
use super::mail::{AttachedMail, AttachmentMeta, InboundMail};
use super::outgoing::OutgoingMail;
use super::quotes::visible_text;

/// Sizes are counted on the decoded attachment (base64 adds a third on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentLimits {
    /// Largest attachment a notice or relay carries; a larger one is named with its size.
    pub max_attachment_bytes: u64,
    /// Most attachment bytes in one mail: a notice or relay, or each answer to `#attachments`
    /// (which ignores `max_attachment_bytes`, so that large files can still be fetched).
    pub max_mail_bytes: u64,
}

impl Default for AttachmentLimits {
    fn default() -> AttachmentLimits {
        AttachmentLimits {
            max_attachment_bytes: 10 * 1024 * 1024,
            max_mail_bytes: 20 * 1024 * 1024,
        }
    }
}

/// The attachments a mail carries and those it only names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    pub attached: Vec<AttachmentMeta>,
    pub named: Vec<AttachmentMeta>,
}

/// The same file under the same name, sent twice in one thread, is carried once.
fn distinct(candidates: &[AttachmentMeta]) -> Vec<&AttachmentMeta> {
    let mut seen: Vec<&AttachmentMeta> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if !seen
            .iter()
            .any(|known| known.sha256 == candidate.sha256 && known.filename == candidate.filename)
        {
            seen.push(candidate);
        }
    }
    seen
}

/// In order, each attachment that fits both limits is attached; the others are named.
pub fn choose(candidates: &[AttachmentMeta], limits: &AttachmentLimits) -> Choice {
    let mut choice = Choice::default();
    let mut total = 0u64;
    for candidate in distinct(candidates) {
        let fits = candidate.size <= limits.max_attachment_bytes
            && total.saturating_add(candidate.size) <= limits.max_mail_bytes;
        if fits {
            total += candidate.size;
            choice.attached.push(candidate.clone());
        } else {
            choice.named.push(candidate.clone());
        }
    }
    choice
}

/// The mails that answer `#attachments`: every attachment, as few mails as the per-mail limit
/// allows (first fit, in order); an attachment larger than a whole mail is returned apart, to be
/// named.
pub fn fetch_batches(
    candidates: &[AttachmentMeta],
    limits: &AttachmentLimits,
) -> (Vec<Vec<AttachmentMeta>>, Vec<AttachmentMeta>) {
    let mut batches: Vec<(u64, Vec<AttachmentMeta>)> = Vec::new();
    let mut too_large = Vec::new();
    for candidate in distinct(candidates) {
        if candidate.size > limits.max_mail_bytes {
            too_large.push(candidate.clone());
            continue;
        }
        match batches
            .iter_mut()
            .find(|(total, _)| total.saturating_add(candidate.size) <= limits.max_mail_bytes)
        {
            Some((total, batch)) => {
                *total += candidate.size;
                batch.push(candidate.clone());
            }
            None => batches.push((candidate.size, vec![candidate.clone()])),
        }
    }
    (
        batches.into_iter().map(|(_, batch)| batch).collect(),
        too_large,
    )
}

/// `1.5 MB`, `30.0 MB`, `512 bytes`: what a person reads in a notice.
pub fn human_size(bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let size = bytes as f64;
    if size >= KB * KB {
        format!("{:.1} MB", size / (KB * KB))
    } else if size >= KB {
        format!("{:.1} kB", size / KB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Who reads the mail: agents may fetch what was left out with `#attachments`, others may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Agent,
    Outsider,
}

/// The lines that name attachments a mail does not carry, in the mail's language.
pub fn named_note(named: &[AttachmentMeta], language: Language, reader: Reader) -> String {
    if named.is_empty() {
        return String::new();
    }
    let intro = match (language, reader) {
        (Language::En, Reader::Agent) => {
            "Not attached (over the size limit); reply with #attachments to receive them:"
        }
        (Language::En, Reader::Outsider) => "Not attached (over the size limit):",
        (Language::Fr, Reader::Agent) => {
            "Non jointes (taille au-delà de la limite) ; répondez #pieces-jointes pour les recevoir :"
        }
        (Language::Fr, Reader::Outsider) => "Non jointes (taille au-delà de la limite) :",
        (Language::It, Reader::Agent) => {
            "Non allegati (oltre il limite di dimensione); rispondete #allegati per riceverli:"
        }
        (Language::It, Reader::Outsider) => "Non allegati (oltre il limite di dimensione):",
    };
    let lines: String = named
        .iter()
        .map(|a| format!("  - {} ({})\n", a.filename, human_size(a.size)))
        .collect();
    format!("{intro}\n{lines}")
}

/// Lets `mail` carry what fits of `candidates` and names the rest at the end of its body.
pub fn carry(
    mail: &mut OutgoingMail,
    candidates: &[AttachmentMeta],
    limits: &AttachmentLimits,
    reader: Reader,
) {
    let choice = choose(candidates, limits);
    let note = named_note(&choice.named, mail.language, reader);
    if !note.is_empty() {
        if !mail.body.ends_with('\n') {
            mail.body.push('\n');
        }
        mail.body.push('\n');
        mail.body.push_str(&note);
    }
    mail.attachments = choice.attached;
}

/// The visible text of a mail followed by the mails attached to it, each under a marker line with
/// its sender, date and subject: what the ticket history stores and notices show.
pub fn with_attached_mails(visible: String, mail: &InboundMail) -> String {
    if mail.attached.is_empty() {
        return visible;
    }
    let mut text = visible;
    for attached in &mail.attached {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&attached_mail_block(attached));
    }
    text
}

fn attached_mail_block(attached: &AttachedMail) -> String {
    let date = attached
        .date
        .map_or_else(String::new, super::plan::format_time);
    format!(
        "---------- Attached message ----------\nFrom: {}\nDate: {}\nSubject: {}\n\n{}",
        attached.from,
        date,
        attached.subject,
        visible_text(&attached.text).trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> AttachmentMeta {
        AttachmentMeta {
            filename: name.into(),
            content_type: "application/octet-stream".into(),
            size,
            sha256: format!("{name}-hash"),
        }
    }

    const MB: u64 = 1024 * 1024;

    #[test]
    fn what_fits_is_attached_and_the_rest_named_in_order() {
        let limits = AttachmentLimits::default();
        let candidates = [
            file("shot.png", 2 * MB),
            file("dump.bin", 30 * MB),
            file("log.txt", 9 * MB),
            file("trace.txt", 9 * MB + 1),
            file("small.txt", 100),
        ];
        let choice = choose(&candidates, &limits);
        let names =
            |list: &[AttachmentMeta]| list.iter().map(|a| a.filename.clone()).collect::<Vec<_>>();
        // 2 + 9 = 11 MB; trace.txt would make 20 MB and a byte: over the 20 MB per mail.
        assert_eq!(
            names(&choice.attached),
            vec!["shot.png", "log.txt", "small.txt"]
        );
        assert_eq!(names(&choice.named), vec!["dump.bin", "trace.txt"]);
    }

    #[test]
    fn the_same_file_twice_is_carried_once() {
        let candidates = [file("a.png", 10), file("a.png", 10), file("b.png", 10)];
        let choice = choose(&candidates, &AttachmentLimits::default());
        assert_eq!(choice.attached.len(), 2);
        assert!(choice.named.is_empty());
    }

    #[test]
    fn fetching_ignores_the_per_attachment_limit_but_not_the_per_mail_one() {
        let limits = AttachmentLimits {
            max_attachment_bytes: 10 * MB,
            max_mail_bytes: 40 * MB,
        };
        let candidates = [
            file("big.bin", 30 * MB),
            file("b.bin", 15 * MB),
            file("c.bin", 5 * MB),
            file("huge.iso", 41 * MB),
        ];
        let (batches, too_large) = fetch_batches(&candidates, &limits);
        let names: Vec<Vec<&str>> = batches
            .iter()
            .map(|b| b.iter().map(|a| a.filename.as_str()).collect())
            .collect();
        assert_eq!(names, vec![vec!["big.bin", "c.bin"], vec!["b.bin"]]);
        assert_eq!(too_large, vec![file("huge.iso", 41 * MB)]);
    }

    #[test]
    fn a_mail_names_what_it_does_not_carry_with_its_size() {
        let mut mail = OutgoingMail::from_support(
            &super::super::address::Mailbox::new(None, "support@desk.example"),
            super::super::outgoing::OutgoingKind::AssignmentNotice,
            super::super::ticket::TicketNumber(5),
            vec![super::super::address::Mailbox::new(
                None,
                "bob@desk.example",
            )],
            ("s".into(), "Body".into()),
            "seed",
            Language::En,
        );
        carry(
            &mut mail,
            &[file("shot.png", 1000), file("dump.bin", 30 * MB)],
            &AttachmentLimits::default(),
            Reader::Agent,
        );
        assert_eq!(mail.attachments, vec![file("shot.png", 1000)]);
        assert!(
            mail.body.contains("dump.bin (30.0 MB)") && mail.body.contains("#attachments"),
            "{}",
            mail.body
        );
        assert_eq!(human_size(1536), "1.5 kB");
        assert_eq!(human_size(12), "12 bytes");
    }

    #[test]
    fn attached_mails_follow_the_visible_text() {
        let mail = InboundMail {
            attached: vec![AttachedMail {
                from: "Printer <alerts@printer.example>".into(),
                date: Some(1_700_000_000),
                subject: "Toner low".into(),
                text: "Toner at 3%.".into(),
            }],
            ..InboundMail::default()
        };
        assert_eq!(
            with_attached_mails("See below.".into(), &mail),
            "See below.\n\n---------- Attached message ----------\nFrom: Printer <alerts@printer.example>\nDate: 2023-11-14 22:13:20 UTC\nSubject: Toner low\n\nToner at 3%."
        );
    }
}
