//! A person's data: what erasing them does to a ticket, how their address and names are cut out
//! of text that stays, and their mail as an mbox.
//!
//! **Invariant:** what an erasure leaves reads `(erased)`; it never holds the address or a
//! name it was given.

/// What erased text, subjects, event details and actors read.
pub const ERASED: &str = "(erased)";

/// How a ticket fares when one person is erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketErasure {
    /// The person asked and nobody else outside the staff took part: the ticket is about them,
    /// all its content goes.
    Whole,
    /// Others took part too: only the person's mail, the mail sent to them or because of theirs,
    /// and their identity go; the rest stays, their address and names cut out.
    TheirPart,
}

/// `others` counts the ticket's participants, other than the person, who are not staff.
pub fn ticket_erasure(person_is_requester: bool, others: usize) -> TicketErasure {
    if person_is_requester && others == 0 {
        TicketErasure::Whole
    } else {
        TicketErasure::TheirPart
    }
}

/// Cuts a person's address and names out of text, ignoring ASCII case.
#[derive(Debug, Clone)]
pub struct Redaction {
    needles: Vec<String>,
}

impl Redaction {
    /// Names shorter than three characters are not cut: they would erase parts of other words.
    pub fn new(address: &str, names: &[String]) -> Redaction {
        let mut needles: Vec<String> = std::iter::once(address.trim().to_string())
            .chain(names.iter().map(|n| n.trim().to_string()))
            .filter(|n| n.chars().count() >= 3)
            .collect();
        // Longest first, so that "Carla Rossi" goes whole before "Carla" would.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Redaction { needles }
    }

    /// The address and names it cuts, longest first.
    pub fn needles(&self) -> &[String] {
        &self.needles
    }

    pub fn mentions(&self, text: &str) -> bool {
        self.needles
            .iter()
            .any(|n| find_ignoring_case(text.as_bytes(), n.as_bytes(), 0).is_some())
    }

    pub fn mentions_bytes(&self, raw: &[u8]) -> bool {
        self.needles
            .iter()
            .any(|n| find_ignoring_case(raw, n.as_bytes(), 0).is_some())
    }

    pub fn text(&self, text: &str) -> String {
        let bytes = self.bytes(text.as_bytes());
        // Needles and ERASED are whole UTF-8 strings replaced at char boundaries of a match.
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    pub fn bytes(&self, raw: &[u8]) -> Vec<u8> {
        let mut current = raw.to_vec();
        for needle in &self.needles {
            let needle = needle.as_bytes();
            let mut out = Vec::with_capacity(current.len());
            let mut from = 0;
            while let Some(at) = find_ignoring_case(&current, needle, from) {
                out.extend_from_slice(&current[from..at]);
                out.extend_from_slice(ERASED.as_bytes());
                from = at + needle.len();
            }
            out.extend_from_slice(&current[from..]);
            current = out;
        }
        current
    }
}

fn find_ignoring_case(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len())
        .find(|&at| haystack[at..at + needle.len()].eq_ignore_ascii_case(needle))
}

/// One mail in mboxrd form: a `From ` line, the mail with `>` added before every line that
/// starts with `>*From `, and a blank line.
pub fn mbox_entry(sender: &str, date: &str, raw: &[u8]) -> Vec<u8> {
    let sender = if sender.is_empty() || sender.contains(char::is_whitespace) {
        "MAILER-DAEMON"
    } else {
        sender
    };
    let mut out = format!("From {sender} {date}\n").into_bytes();
    for line in raw.split_inclusive(|b| *b == b'\n') {
        let quoted = line.iter().position(|b| *b != b'>').unwrap_or(line.len());
        if line[quoted..].starts_with(b"From ") {
            out.push(b'>');
        }
        if let Some(body) = line.strip_suffix(b"\r\n") {
            out.extend_from_slice(body);
            out.push(b'\n');
        } else {
            out.extend_from_slice(line);
        }
    }
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// The mails of an mbox written by `mbox_entry`, unquoted.
pub fn mbox_mails(mbox: &[u8]) -> Vec<Vec<u8>> {
    let mut mails: Vec<Vec<u8>> = Vec::new();
    for line in mbox.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(last) = mails.last_mut() {
                // The blank line that separates entries is not the mail's.
                if last.ends_with(b"\n\n") {
                    last.pop();
                }
            }
            mails.push(Vec::new());
            continue;
        }
        let Some(mail) = mails.last_mut() else {
            continue;
        };
        let quoted = line.iter().position(|b| *b != b'>').unwrap_or(line.len());
        if quoted > 0 && line[quoted..].starts_with(b"From ") {
            mail.extend_from_slice(&line[1..]);
        } else {
            mail.extend_from_slice(line);
        }
    }
    if let Some(last) = mails.last_mut() {
        if last.ends_with(b"\n\n") {
            last.pop();
        }
    }
    mails
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_shared_with_others_loses_only_the_persons_part() {
        assert_eq!(ticket_erasure(true, 0), TicketErasure::Whole);
        assert_eq!(ticket_erasure(true, 1), TicketErasure::TheirPart);
        assert_eq!(ticket_erasure(false, 0), TicketErasure::TheirPart);
        assert_eq!(ticket_erasure(false, 3), TicketErasure::TheirPart);
    }

    #[test]
    fn redaction_cuts_address_and_names_in_any_case() {
        let redaction = Redaction::new(
            "carla.rossi@example.test",
            &["Carla Rossi".into(), "Carla".into(), "Al".into()],
        );
        assert_eq!(
            redaction.text("From: CARLA ROSSI <Carla.Rossi@Example.TEST>, Carla said. Also Alan."),
            "From: (erased) <(erased)>, (erased) said. Also Alan."
        );
        assert!(redaction.mentions("hi carla"));
        assert!(!redaction.mentions("hi bruno"));
        assert_eq!(
            redaction.bytes("é carla.rossi@example.test é".as_bytes()),
            "é (erased) é".as_bytes()
        );
    }

    #[test]
    fn mbox_round_trips_mails_with_from_lines() {
        let first =
            b"From: a@x.test\r\nSubject: one\r\n\r\nFrom here on\r\n>From there\r\n".to_vec();
        let second = b"From: b@x.test\nSubject: two\n\nno newline at end".to_vec();
        let mut mbox = mbox_entry("a@x.test", "Thu Jan  1 00:00:00 1970", &first);
        mbox.extend(mbox_entry("", "Thu Jan  1 00:00:00 1970", &second));
        let text = String::from_utf8(mbox.clone()).unwrap();
        assert!(text.contains("\n>From here on\n>>From there\n"), "{text}");
        assert!(text.contains("From MAILER-DAEMON "), "{text}");
        let mails = mbox_mails(&mbox);
        assert_eq!(mails.len(), 2);
        assert_eq!(
            mails[0],
            first
                .iter()
                .filter(|b| **b != b'\r')
                .copied()
                .collect::<Vec<_>>()
        );
        assert_eq!(mails[1], [second.as_slice(), b"\n"].concat());
    }
}
