//! Text Guichet itself sent on a ticket, recognised in a mail that comes back: a notice quoted
//! under commands, an acknowledgement pasted without `>`, a relay forwarded to someone else. Such
//! text is ours, not the writer's, so it is never relayed nor stored as what they wrote.
//!
//! Pure and linear: every sent text is cut into overlapping windows of `WINDOW` words whose hashes
//! go into a set; a mail's words are covered when a window of them is in the set. Windows of
//! words rather than lines survive a client that rewraps the quote or prefixes it with `>`.
//! A line goes only when all its words are covered and it belongs to a run long enough that it
//! cannot be a few words the writer happened to share with us.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// How many of a ticket's latest outgoing mails are compared: quoted mail is almost always recent.
pub const SENT_MAILS_COMPARED: usize = 50;
/// Sent text indexed at most, whatever the mails' sizes (an escalation notice carries the history).
const MAX_SENT_BYTES: usize = 512 * 1024;
/// Words in one window: fewer would match common phrases, more would miss short quoted lines.
const WINDOW: usize = 6;
/// A run of several lines goes when it has at least this many covered words.
const MIN_RUN_WORDS: usize = 8;
/// A single line goes alone only when it is this long: a sentence pasted whole, not a mention.
const LONG_LINE_WORDS: usize = 12;
/// The most lines of a quote header ("On … wrote:", an Outlook "From:/Sent:/To:/Subject:" block).
const MAX_HEADER_LINES: usize = 8;

/// The texts Guichet sent on one ticket, ready to be looked for in a mail.
#[derive(Debug, Clone, Default)]
pub struct SentText {
    windows: HashSet<u64>,
    /// How our mail names itself (support address and name, the ticket's tag), lowercased: a
    /// quote header above our text names one of them.
    identities: Vec<String>,
}

/// A mail's text with what Guichet sent taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnText {
    pub text: String,
    /// Lines left out because they were ours (quote headers included).
    pub removed_lines: usize,
}

impl SentText {
    /// Indexes `sent` (latest first is best: the byte cap keeps the most recent) and remembers
    /// the names our mail goes by.
    pub fn new<'a>(
        sent: impl IntoIterator<Item = &'a str>,
        identities: impl IntoIterator<Item = &'a str>,
    ) -> SentText {
        let mut windows = HashSet::new();
        let mut budget = MAX_SENT_BYTES;
        for text in sent {
            let text = &text[..floor_char_boundary(text, budget)];
            budget -= text.len();
            let hashes: Vec<u64> = text.lines().flat_map(line_words).map(hash_word).collect();
            windows.extend(hashes.windows(WINDOW).map(window_hash));
            if budget == 0 {
                break;
            }
        }
        let identities = identities
            .into_iter()
            .map(|i| i.trim().to_lowercase())
            .filter(|i| i.chars().count() >= 3)
            .collect();
        SentText {
            windows,
            identities,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// `text` without the runs of lines that come from our mail, nor the quote header just above
    /// such a run. Blank lines left where a run was are collapsed; the result is trimmed.
    pub fn remove_from(&self, text: &str) -> OwnText {
        let lines: Vec<&str> = text.lines().collect();
        if self.is_empty() || lines.is_empty() {
            return OwnText {
                text: text.trim().to_string(),
                removed_lines: 0,
            };
        }
        let coverage = self.coverage(&lines);
        let mut cut = vec![false; lines.len()];
        let runs = self.runs(&lines, &coverage);
        for &(start, end) in &runs {
            cut[start..end].iter_mut().for_each(|c| *c = true);
            if let Some(header) = self.header_above(&lines, &cut, start) {
                cut[header..start].iter_mut().for_each(|c| *c = true);
            }
        }
        let removed_lines = cut
            .iter()
            .zip(&lines)
            .filter(|(c, l)| **c && !l.trim().is_empty())
            .count();
        if removed_lines == 0 {
            return OwnText {
                text: text.trim().to_string(),
                removed_lines,
            };
        }
        OwnText {
            text: join_kept(&lines, &cut),
            removed_lines,
        }
    }

    /// For each line, its words and how many of them a window of our text covers.
    fn coverage(&self, lines: &[&str]) -> Vec<Coverage> {
        let mut words: Vec<(usize, u64)> = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            words.extend(line_words(line).map(|w| (index, hash_word(w))));
        }
        let mut covered = vec![false; words.len()];
        let hashes: Vec<u64> = words.iter().map(|(_, h)| *h).collect();
        for (start, window) in hashes.windows(WINDOW).enumerate() {
            if self.windows.contains(&window_hash(window)) {
                covered[start..start + WINDOW]
                    .iter_mut()
                    .for_each(|c| *c = true);
            }
        }
        let mut coverage = vec![Coverage::default(); lines.len()];
        for ((line, _), covered) in words.iter().zip(covered) {
            coverage[*line].words += 1;
            coverage[*line].covered += usize::from(covered);
        }
        coverage
    }

    /// Runs of wholly covered lines (blank lines may sit inside) long enough to be ours, as
    /// half-open ranges. Two runs with only `>`-quoted lines between them are one: a line the
    /// client altered inside our quoted mail is still ours.
    fn runs(&self, lines: &[&str], coverage: &[Coverage]) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut index = 0;
        while index < lines.len() {
            if !coverage[index].is_ours() {
                index += 1;
                continue;
            }
            let start = index;
            let mut end = index + 1;
            let (mut ours, mut words) = (1, coverage[index].words);
            let mut next = end;
            while next < lines.len() && (coverage[next].is_ours() || coverage[next].words == 0) {
                if coverage[next].is_ours() {
                    ours += 1;
                    words += coverage[next].words;
                    end = next + 1;
                }
                next += 1;
            }
            index = end;
            let long_enough = if ours == 1 {
                words >= LONG_LINE_WORDS
            } else {
                words >= MIN_RUN_WORDS
            };
            if !long_enough {
                continue;
            }
            match runs.last_mut() {
                Some(previous) if lines[previous.1..start].iter().all(|l| is_quoted(l)) => {
                    previous.1 = end
                }
                _ => runs.push((start, end)),
            }
        }
        runs
    }

    /// Where the quote header right above a run begins, if the lines there are one: an
    /// attribution ("On …, Helpdesk <support@…> wrote:") or a header block ("From: Helpdesk",
    /// "Sent: …", "Subject: …"), naming us. The writer's own words above it are never taken.
    fn header_above(&self, lines: &[&str], cut: &[bool], run_start: usize) -> Option<usize> {
        let mut end = run_start;
        while end > 0 && !cut[end - 1] && lines[end - 1].trim().is_empty() {
            end -= 1;
        }
        let mut start = end;
        while start > 0
            && end - start < MAX_HEADER_LINES
            && !cut[start - 1]
            && !lines[start - 1].trim().is_empty()
        {
            start -= 1;
        }
        let block = &lines[start..end];
        if block.is_empty() {
            return None;
        }
        // An attribution: its last line ends with a colon, and it fits in three lines.
        let last = unquote(block[block.len() - 1]);
        if last.ends_with(':') || last.ends_with('：') {
            for size in 1..=block.len().min(3) {
                let header = &block[block.len() - size..];
                if self.names_us(header) && header.iter().any(|l| l.contains(char::is_numeric)) {
                    return Some(end - size);
                }
            }
        }
        // A header block: "Key: value" lines and separators, at least two keys.
        let size = block
            .iter()
            .rev()
            .take_while(|l| is_header_field(l) || is_separator(l))
            .count();
        let header = &block[block.len() - size..];
        let fields = header.iter().filter(|l| is_header_field(l)).count();
        (fields >= 2 && self.names_us(header)).then_some(end - size)
    }

    fn names_us(&self, lines: &[&str]) -> bool {
        lines.iter().any(|line| {
            let line = line.to_lowercase();
            self.identities.iter().any(|id| line.contains(id.as_str()))
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Coverage {
    words: usize,
    covered: usize,
}

impl Coverage {
    fn is_ours(&self) -> bool {
        self.words > 0 && self.covered == self.words
    }
}

/// A line's words as compared: `>` prefixes gone, lowercased, edge punctuation trimmed.
fn line_words(line: &str) -> impl Iterator<Item = String> + '_ {
    unquote(line)
        .split_whitespace()
        .map(|word| {
            word.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|word| !word.is_empty())
}

fn unquote(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '>' || c.is_whitespace())
        .trim_end()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// "From: …", "*Sent:* …", "Objet : …", "发件人: …": one to three words, then a colon.
fn is_header_field(line: &str) -> bool {
    let line = unquote(line).trim_start_matches('*');
    let Some(colon) = line.find([':', '：']) else {
        return false;
    };
    let key = line[..colon].trim().trim_end_matches('*');
    !key.is_empty()
        && key.split_whitespace().count() <= 3
        && key
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-' || c == '.')
}

/// "-----Original Message-----", "________________________________", "=====".
fn is_separator(line: &str) -> bool {
    let line = unquote(line);
    let marks = line
        .chars()
        .filter(|c| matches!(c, '-' | '_' | '=' | '*'))
        .count();
    marks >= 3 && (line.starts_with(['-', '_', '=', '*']) || marks * 2 >= line.chars().count())
}

fn hash_word(word: String) -> u64 {
    let mut hasher = DefaultHasher::new();
    word.hash(&mut hasher);
    hasher.finish()
}

fn window_hash(window: &[u64]) -> u64 {
    let mut hasher = DefaultHasher::new();
    window.hash(&mut hasher);
    hasher.finish()
}

fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// The kept lines, with blank lines where a run was collapsed into one, trimmed.
fn join_kept(lines: &[&str], cut: &[bool]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for (line, cut) in lines.iter().zip(cut) {
        if *cut {
            continue;
        }
        let blank = line.trim().is_empty();
        if blank && out.last().is_none_or(|l| l.trim().is_empty()) {
            continue;
        }
        out.push(line.trim_end());
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTICE: &str = "A new ticket came in.\n\n\
        Ticket: [Helpdesk #7] Printer jammed\n\
        From: Carla <carla@client.example>\n\
        Queue: general, priority normal\n\n\
        It is broken, please help, the printer on floor 3 eats every sheet.\n\n\
        Reply to this mail with commands on lines of their own:\n\
          #assign NAME|me       give the ticket to an agent\n\
          #priority low|normal|high|urgent\n\
          #note TEXT            an internal note\n\n\
        -- \nExample Helpdesk";

    const ACK: &str = "Hello Carla,\n\n\
        We received your request and gave it the number 7. Please keep [Helpdesk #7] in the\n\
        subject of your replies so that they reach the right ticket.\n\n\
        An agent will answer you soon.\n\n\
        -- \nExample Helpdesk";

    fn sent(texts: &[&str]) -> SentText {
        SentText::new(
            texts.iter().copied(),
            ["support@corp.example", "Example Helpdesk", "[Helpdesk #7]"],
        )
    }

    fn quoted(text: &str) -> String {
        text.lines()
            .map(|l| {
                if l.is_empty() {
                    ">".to_string()
                } else {
                    format!("> {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_quoted_notice_under_commands_leaves_nothing() {
        // What remains once the command lines are parsed out of an agent's reply.
        let body = format!(
            "\n\nOn Mon, 4 Mar 2024 at 10:02, Example Helpdesk <support@corp.example> wrote:\n{}\n",
            quoted(NOTICE)
        );
        let own = sent(&[NOTICE]).remove_from(&body);
        assert_eq!(own.text, "");
        assert!(own.removed_lines > 10, "{own:?}");
    }

    #[test]
    fn an_outlook_block_without_quote_marks_goes_with_the_notice() {
        let body = format!(
            "\n________________________________\n\
             From: Example Helpdesk <support@corp.example>\n\
             Sent: Monday, March 4, 2024 10:02 AM\n\
             To: Alice Triage <alice@corp.example>\n\
             Subject: [Helpdesk #7] New ticket: Printer jammed\n\n{NOTICE}\n"
        );
        assert_eq!(sent(&[NOTICE]).remove_from(&body).text, "");
    }

    #[test]
    fn a_pasted_acknowledgement_leaves_only_the_new_lines() {
        // Rewrapped by the client, pasted without `>`, between the requester's own words.
        let body = "It still jams on tray 2.\nThe model is an HP 4200.\n\n\
            You wrote me:\nHello Carla,\nWe received your request and gave it the number 7.\n\
            Please keep [Helpdesk #7] in the subject of your replies so that they reach\n\
            the right ticket.\nAn agent will answer you soon.\n\nBest, Carla";
        let own = sent(&[ACK, NOTICE]).remove_from(body);
        assert_eq!(
            own.text,
            "It still jams on tray 2.\nThe model is an HP 4200.\n\nYou wrote me:\n\nBest, Carla"
        );
    }

    #[test]
    fn a_mention_of_one_line_is_the_writers_own_text() {
        let body = "Carla, about \"It is broken, please help, the printer on floor 3 eats every sheet.\": I replaced the roller.\n\
            Reply to this mail with commands on lines of their own:\n\
            Thanks";
        let own = sent(&[NOTICE]).remove_from(body);
        assert_eq!(own.text, body);
        assert_eq!(own.removed_lines, 0);
    }

    #[test]
    fn short_common_lines_are_never_cut() {
        let body = "Thanks\n\nHello Carla,\n\nExample Helpdesk";
        assert_eq!(sent(&[ACK]).remove_from(body).text, body);
    }

    #[test]
    fn a_header_that_does_not_name_us_stays() {
        // An attribution of someone else's mail above our text: only our text goes.
        let body = format!(
            "New text here.\n\nOn Mon, 4 Mar 2024, Dan <dan@client.example> wrote:\n{}",
            quoted(ACK)
        );
        let own = sent(&[ACK]).remove_from(&body);
        assert_eq!(
            own.text,
            "New text here.\n\nOn Mon, 4 Mar 2024, Dan <dan@client.example> wrote:"
        );
    }

    #[test]
    fn nothing_sent_changes_nothing() {
        let own = SentText::default().remove_from("  hello\n> quoted  \n");
        assert_eq!(own.text, "hello\n> quoted");
        assert_eq!(own.removed_lines, 0);
    }

    #[test]
    fn the_byte_cap_keeps_the_first_texts_given() {
        let filler = "word ".repeat(MAX_SENT_BYTES / 5 + 10);
        let body = quoted(ACK);
        assert_eq!(sent(&[&filler, ACK]).remove_from(&body).removed_lines, 0);
        assert_eq!(sent(&[ACK, &filler]).remove_from(&body).text, "");
    }
}
