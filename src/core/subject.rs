//! Subjects: reply/forward prefixes in many languages, and our ticket tag `[Helpdesk #1042]`.

use super::ticket::TicketNumber;

/// Reply and forward prefixes seen in the wild: English, French (TR, RE :, Réf), Italian (R, RIF, I),
/// German (AW, WG), Nordic (SV, VS, VB, VL), Dutch (Antw, Doorst), Polish (Odp, PD), Turkish (YNT),
/// Spanish/Portuguese (RV, ENC, RES), Finnish (VL), Greek, Chinese and Japanese clients.
const REPLY_PREFIXES: &[&str] = &[
    "re", "fwd", "fw", "tr", "wtr", "aw", "wg", "sv", "vs", "vb", "vl", "r", "rif", "réf", "réf.",
    "ref", "i", "antw", "doorst", "odp", "pd", "ynt", "rv", "enc", "res", "fs", "atb", "πρ",
    "σχετ", "回复", "回覆", "答复", "转发", "轉寄", "返信", "転送",
];

/// One prefix at the start of `subject` (`Re:`, `RE :`, `Re[2]:`, `回复：`): the rest after it.
fn strip_one_prefix(subject: &str) -> Option<&str> {
    let (colon, colon_len) = subject
        .char_indices()
        .take(12)
        .find(|(_, c)| *c == ':' || *c == '：')
        .map(|(i, c)| (i, c.len_utf8()))?;
    let mut word = subject[..colon].trim_end();
    // Reply counters: Re[2]: and Re(2):
    if let Some(stripped) = word.strip_suffix(']').or_else(|| word.strip_suffix(')')) {
        let open = stripped.rfind(['[', '('])?;
        if !stripped[open + 1..].chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        word = stripped[..open].trim_end();
    }
    let word = word.to_lowercase();
    REPLY_PREFIXES
        .contains(&word.as_str())
        .then(|| subject[colon + colon_len..].trim_start())
}

/// Removes any chain of reply/forward prefixes: `TR: Re: AW: hello` → `hello`.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    let mut rest = subject.trim();
    while let Some(next) = strip_one_prefix(rest) {
        rest = next;
    }
    rest
}

/// Our own subject tag. Only our prefix counts: `[RT #1042]` or `[issue1042]` from other trackers
/// are left alone so that mail forwarded from them opens a ticket here instead of hijacking one.
///
/// Matched by hand rather than by a case-insensitive regex: compiling that regex was a tenth of
/// the instructions of a one-process-per-mail delivery (bench/README.md, "Intake").
#[derive(Debug, Clone)]
pub struct TagFormat {
    prefix: String,
}

impl TagFormat {
    /// `prefix` is the word before `#`, e.g. `Helpdesk` for `[Helpdesk #1042]`.
    pub fn new(prefix: &str) -> TagFormat {
        TagFormat {
            prefix: prefix.trim().to_string(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn tag(&self, number: TicketNumber) -> String {
        format!("[{} #{}]", self.prefix, number)
    }

    /// The first of our tags anywhere in the subject.
    pub fn find(&self, subject: &str) -> Option<TicketNumber> {
        self.tags_in(subject).next().map(|(_, number)| number)
    }

    /// Each tag in `subject`, left to right, with its byte range: `[`, optional blanks, the
    /// prefix in any letter case, blanks, `#`, blanks, 1 to 18 digits, blanks, `]`.
    fn tags_in<'s>(
        &'s self,
        subject: &'s str,
    ) -> impl Iterator<Item = (std::ops::Range<usize>, TicketNumber)> + 's {
        let mut from = 0;
        std::iter::from_fn(move || {
            while let Some(offset) = subject[from..].find('[') {
                let start = from + offset;
                match self.tag_at(subject, start) {
                    Some((end, number)) => {
                        from = end;
                        return Some((start..end, number));
                    }
                    None => from = start + 1,
                }
            }
            from = subject.len();
            None
        })
    }

    /// The tag opening at `start` (a `[`): where it ends and its number.
    fn tag_at(&self, subject: &str, start: usize) -> Option<(usize, TicketNumber)> {
        fn blanks(text: &str) -> &str {
            text.trim_start_matches([' ', '\t'])
        }
        let mut chars = blanks(&subject[start + 1..]).chars();
        for wanted in self.prefix.chars() {
            let found = chars.next()?;
            if found != wanted && !found.to_lowercase().eq(wanted.to_lowercase()) {
                return None;
            }
        }
        let rest = blanks(blanks(chars.as_str()).strip_prefix('#')?);
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if !(1..=18).contains(&digits) {
            return None;
        }
        let number = rest[..digits].parse().ok()?;
        let rest = blanks(&rest[digits..]).strip_prefix(']')?;
        Some((subject.len() - rest.len(), TicketNumber(number)))
    }

    /// The subject without reply prefixes and without our tags: what the ticket is "about".
    pub fn topic(&self, subject: &str) -> String {
        let mut without_tags = String::with_capacity(subject.len());
        let mut copied = 0;
        for (range, _) in self.tags_in(subject) {
            without_tags.push_str(&subject[copied..range.start]);
            without_tags.push(' ');
            copied = range.end;
        }
        without_tags.push_str(&subject[copied..]);
        let mut topic = strip_reply_prefixes(&without_tags);
        // A tag may have stood between two prefixes: `Re: [Helpdesk #1] Re: x`.
        loop {
            let again = strip_reply_prefixes(topic);
            if again == topic {
                break;
            }
            topic = again;
        }
        collapse_whitespace(topic)
    }

    /// `[Helpdesk #1042] Printer jammed`, whatever prefixes and tags the given subject had.
    pub fn tagged_subject(&self, number: TicketNumber, subject: &str) -> String {
        let topic = self.topic(subject);
        if topic.is_empty() {
            self.tag(number)
        } else {
            format!("{} {}", self.tag(number), topic)
        }
    }
}

pub fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_chains_in_many_languages() {
        let cases = [
            ("Re: hello", "hello"),
            ("RE : hello", "hello"),
            ("re:hello", "hello"),
            ("Fwd: Fw: hello", "hello"),
            ("TR: Re: AW: WG: hello", "hello"),
            ("SV: VS: hello", "hello"),
            ("R: RIF: I: ciao", "ciao"),
            ("Antw: Doorst: hallo", "hallo"),
            ("Re[2]: Re(3): hello", "hello"),
            ("Réf. : bonjour", "bonjour"),
            ("回复：你好", "你好"),
            ("ODP: YNT: RV: ENC: x", "x"),
            ("  Re:   spaced  ", "spaced"),
            ("Reply needed", "Reply needed"),
            ("Italia: bella", "Italia: bella"),
            ("Rest: is not a prefix", "Rest: is not a prefix"),
            ("", ""),
        ];
        for (given, expected) in cases {
            assert_eq!(strip_reply_prefixes(given), expected, "subject {given:?}");
        }
    }

    #[test]
    fn finds_our_tag_anywhere_in_any_case() {
        let tags = TagFormat::new("Helpdesk");
        let cases = [
            ("[Helpdesk #1042] Printer", Some(1042)),
            ("Re: [Helpdesk #1042] Printer", Some(1042)),
            ("TR: RE: AW: [helpdesk #7] x", Some(7)),
            ("Question about [Helpdesk #1042] billing", Some(1042)),
            ("[HELPDESK#12]", Some(12)),
            ("[ Helpdesk # 12 ]", Some(12)),
            ("[RT #1042] Printer", None),
            ("[issue1042] Printer", None),
            ("[Helpdesk 1042] no hash", None),
            ("[Helpdeskx #1] other word", None),
            ("Helpdesk #1042 without brackets", None),
            ("[Helpdesk #99999999999999999999] too long", None),
        ];
        for (subject, expected) in cases {
            assert_eq!(
                tags.find(subject),
                expected.map(TicketNumber),
                "subject {subject:?}"
            );
        }
    }

    #[test]
    fn prefix_with_regex_characters_is_literal() {
        let tags = TagFormat::new("IT.Support+");
        assert_eq!(tags.find("[IT.Support+ #5] x"), Some(TicketNumber(5)));
        assert_eq!(tags.find("[ITxSupport #5] x"), None);
    }

    /// The matcher against the regex it replaced, on subjects made of the pieces tags are
    /// made of.
    #[test]
    fn matches_as_the_case_insensitive_regex_did() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let tags = TagFormat::new("Helpdesk");
        let regex =
            regex::Regex::new(r"(?i)\[[ \t]*Helpdesk[ \t]*#[ \t]*([0-9]{1,18})[ \t]*\]").unwrap();
        let piece = prop::sample::select(vec![
            "[",
            "]",
            "#",
            " ",
            "\t",
            "\n",
            "Helpdesk",
            "HELPDESK",
            "helpdesk",
            "Help",
            "x",
            "7",
            "123456789",
            "é",
            "\u{212a}",
            "[Helpdesk #",
            "[ hElPdEsK#",
            "12]",
            "3 ]",
        ]);
        let subject = prop::collection::vec(piece, 0..14).prop_map(|pieces| pieces.concat());
        TestRunner::new(Config::with_cases(4000))
            .run(&subject, |subject| {
                let expected = regex
                    .captures(&subject)
                    .and_then(|c| c[1].parse().ok())
                    .map(TicketNumber);
                prop_assert_eq!(tags.find(&subject), expected);
                let replaced = regex.replace_all(&subject, " ");
                prop_assert_eq!(
                    tags.topic(&subject),
                    collapse_whitespace(strip_reply_prefixes(&replaced))
                );
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_first_whole_tag_counts_and_broken_ones_are_skipped() {
        let tags = TagFormat::new("Helpdesk");
        let cases = [
            ("[[Helpdesk #4]", Some(4)),
            ("[Helpdesk #] [Helpdesk #5]", Some(5)),
            ("[Helpdesk #6 [Helpdesk #7]", Some(7)),
            ("[Helpdesk\t#\t8\t]", Some(8)),
            ("[Help", None),
            ("[", None),
            (
                "[Helpdesk #123456789012345678]",
                Some(123_456_789_012_345_678),
            ),
            ("[Helpdesk #1234567890123456789]", None),
            ("[Helpdesk #9x]", None),
            ("[Helpdesk\n#9]", None),
            ("[Assistance élève #2] [HELPDESK #3]", Some(3)),
        ];
        for (subject, expected) in cases {
            assert_eq!(
                tags.find(subject),
                expected.map(TicketNumber),
                "{subject:?}"
            );
        }
        let french = TagFormat::new("Assistance élève");
        assert_eq!(french.find("[ASSISTANCE ÉLÈVE #2]"), Some(TicketNumber(2)));
        assert_eq!(
            tags.topic("[Helpdesk #1][Helpdesk #2] x [Helpdesk #3]"),
            "x"
        );
    }

    #[test]
    fn topic_drops_prefixes_and_our_tags_only() {
        let tags = TagFormat::new("Helpdesk");
        assert_eq!(tags.topic("Re: [Helpdesk #1] Re: Printer"), "Printer");
        assert_eq!(tags.topic("TR: [RT #9] Printer"), "[RT #9] Printer");
        assert_eq!(
            tags.tagged_subject(
                TicketNumber(1042),
                "RE: [Helpdesk #1042]  Imprimante   bloquée"
            ),
            "[Helpdesk #1042] Imprimante bloquée"
        );
        assert_eq!(tags.tagged_subject(TicketNumber(3), ""), "[Helpdesk #3]");
    }
}
