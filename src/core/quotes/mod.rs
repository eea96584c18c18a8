//! The visible text of a reply: what the person newly wrote, without the quoted history below it
//! (or around it) and without a trailing signature.
//!
//! Pure text in, text out. The rules, in the order a mail is read from the top:
//! - a forwarded-message marker ("---------- Forwarded message ---------", "Begin forwarded
//!   message:", "-------- Messaggio inoltrato --------", mutt's "----- Forwarded message from
//!   … -----", ...) keeps everything from there on: the forwarded mail is content the sender
//!   chose to pass on (`visible_parts` gives it apart; `core::forward` reads its headers);
//! - a separator ("-----Original Message-----", "-------- Oprindelig besked --------") or a
//!   quoted mail's header block ("From: / Sent: / To: / Subject:" and its translations, see
//!   `headers`) cuts everything below it, and the separator lines right above it go too;
//! - an attribution line (recognised by its shape in any language, see `attribution`) cuts
//!   everything below it, unless a `>`-quoted block follows it: then only the attribution and
//!   that block go, and text written after the block (bottom-posting, interleaved answers)
//!   stays;
//! - a `>`-quoted block goes, with the attribution line just above it when there is one. A lone
//!   `>` line glued to text on both sides, or reading like a comparison ("> 5 users"), is not a
//!   quote;
//! - at the end, signatures go (see `signature`).
//!
//! When nothing new is left (a reply with only quoted history, or only command lines that the
//! caller already took out), the visible text is empty: there is nothing to relay or store.
//!
//! Every step looks at each line a bounded number of times, on a bounded length of it, so the
//! work is linear in the size of the mail.

mod attribution;
mod headers;
mod signature;
#[cfg(test)]
mod tests;

use attribution::{attribution_above, attribution_at};
pub use headers::is_forward_marker;
use headers::{is_original_separator, is_separator, HeaderScanner};
use signature::strip_signature;

pub(crate) use headers::forwarded_from;

/// What `text` newly says: the part above (or between) the quoted history, trimmed, without a
/// trailing signature. Empty when the text has nothing but quoted history and signatures.
pub fn visible_text(text: &str) -> String {
    let VisibleParts { own, forwarded } = visible_parts(text, false);
    match forwarded {
        Some(forwarded) if own.is_empty() => forwarded,
        Some(forwarded) => format!("{own}\n\n{forwarded}"),
        None => own,
    }
}

/// A mail's visible text in two parts: what the sender wrote, and the forwarded mail below it,
/// from its marker on, as written (see `core::forward`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibleParts {
    pub own: String,
    pub forwarded: Option<String>,
}

/// `visible_text`, with the forwarded part apart. `forward_subject` says the subject is a
/// forward's ("Fw:", "TR:", "WG:"): then the first quoted header block or "-----Original
/// Message-----" opens the forwarded mail instead of history (Outlook writes a forward so).
pub fn visible_parts(text: &str, forward_subject: bool) -> VisibleParts {
    let normalized: Line<'_> = if text.contains('\r') {
        Line::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Line::Borrowed(text)
    };
    let lines: Vec<&str> = normalized.split('\n').collect();
    let Split { mut head, tail } = split_quotes(&lines, forward_subject);
    strip_signature(&mut head);
    let join = |lines: &[Line<'_>]| {
        let mut joined = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            if !joined.is_empty() {
                joined.push('\n');
            }
            joined.push_str(line.trim_end());
        }
        let trimmed = joined.trim();
        if trimmed.len() == joined.len() {
            joined
        } else {
            trimmed.to_string()
        }
    };
    VisibleParts {
        own: join(&head),
        forwarded: (!tail.is_empty()).then(|| join(&tail)),
    }
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_quote_line(line: &str) -> bool {
    let rest = line.trim_start_matches([' ', '\t']);
    rest.starts_with('>') && line.len() - rest.len() <= 4
}

/// The text of a quoted line without its markers.
fn quote_content(line: &str) -> &str {
    line.trim_start_matches(|c: char| c == '>' || c.is_whitespace())
}

/// A line of the visible text: borrowed from the mail, or made (the text before an attribution
/// on its line, a blank line at a cut). Borrowing keeps a million-line mail from becoming a
/// million strings.
pub(super) type Line<'a> = std::borrow::Cow<'a, str>;

struct Split<'a> {
    /// What the sender wrote, quotes removed, signature not yet removed.
    head: Vec<Line<'a>>,
    /// A forwarded message, kept as it is.
    tail: Vec<Line<'a>>,
}

fn split_quotes<'a>(lines: &[&'a str], forward_subject: bool) -> Split<'a> {
    let n = lines.len();
    let mut kept: Vec<Line<'a>> = Vec::new();
    let mut tail: Vec<Line<'a>> = Vec::new();
    let mut headers = HeaderScanner::new(lines);
    let mut i = 0;
    while i < n {
        let line = lines[i];
        if is_quote_line(line) {
            let end = quote_block_end(lines, i);
            let attribution = attribution_above(&kept);
            if is_real_quote(lines, i, end, attribution.is_some()) {
                if let Some((start, prefix)) = attribution {
                    kept.truncate(start);
                    if let Some(prefix) = prefix {
                        kept.push(Line::Owned(prefix));
                    }
                }
                i = resume_after(lines, end, &mut kept);
            } else {
                kept.extend(lines[i..end].iter().map(|l| Line::Borrowed(*l)));
                i = end;
            }
            continue;
        }
        if is_forward_marker(line) {
            tail.extend(lines[i..].iter().map(|l| Line::Borrowed(*l)));
            break;
        }
        if is_original_separator(line) || headers.block_at(i) {
            if forward_subject {
                while kept.last().is_some_and(|l| is_blank(l) || is_separator(l)) {
                    kept.pop();
                }
                tail.extend(lines[i..].iter().map(|l| Line::Borrowed(*l)));
                break;
            }
            while kept.last().is_some_and(|l| is_blank(l) || is_separator(l)) {
                kept.pop();
            }
            break;
        }
        if let Some((prefix, end)) = attribution_at(lines, i) {
            let next = (end..n).find(|&j| !is_blank(lines[j]));
            let quoted = next.filter(|&next| is_quote_line(lines[next]));
            match (quoted, prefix) {
                (Some(next), prefix) => {
                    kept.extend(prefix.map(Line::Owned));
                    let block_end = quote_block_end(lines, next);
                    i = resume_after(lines, block_end, &mut kept);
                    continue;
                }
                // Unquoted history below an attribution: everything from here on is old.
                (None, None) => break,
                // Inside a sentence, only a quoted block below makes it an attribution.
                (None, Some(_)) => {}
            }
        }
        kept.push(Line::Borrowed(line));
        i += 1;
    }
    Split { head: kept, tail }
}

/// After a removed block: drop the blank lines around the cut, leave one blank line between the
/// text above and the text below, and return where reading goes on.
fn resume_after(lines: &[&str], end: usize, kept: &mut Vec<Line<'_>>) -> usize {
    while kept.last().is_some_and(|l| is_blank(l)) {
        kept.pop();
    }
    let mut i = end;
    while i < lines.len() && is_blank(lines[i]) {
        i += 1;
    }
    if !kept.is_empty() && i < lines.len() {
        kept.push(Line::Borrowed(""));
    }
    i
}

/// The end (exclusive) of the quoted block starting at `start`: quoted lines, blank lines between
/// quoted lines, and a link that wrapping pushed out of the quote onto a line of its own.
fn quote_block_end(lines: &[&str], start: usize) -> usize {
    let n = lines.len();
    let mut end = start + 1;
    let mut j = start + 1;
    while j < n {
        let line = lines[j];
        if is_quote_line(line) {
            j += 1;
            end = j;
        } else if is_blank(line) {
            j += 1;
        } else if j == end
            && j + 1 < n
            && is_quote_line(lines[j + 1])
            && is_wrapped_link(lines[j - 1], line)
        {
            j += 1;
            end = j;
        } else {
            break;
        }
    }
    end
}

/// An unquoted line squeezed between quoted lines that is the rest of a wrapped link.
fn is_wrapped_link(previous: &str, line: &str) -> bool {
    let previous = quote_content(previous);
    let unclosed =
        |open: char, close: char| previous.matches(open).count() > previous.matches(close).count();
    line.contains("://") || line.contains("mailto:") || unclosed('(', ')') || unclosed('<', '>')
}

/// Whether the `>` lines in `start..end` are a quotation rather than text that happens to
/// start with `>`.
fn is_real_quote(lines: &[&str], start: usize, end: usize, attributed: bool) -> bool {
    let content: Vec<&str> = lines[start..end]
        .iter()
        .filter(|l| is_quote_line(l))
        .map(|l| quote_content(l))
        .filter(|c| !c.is_empty())
        .collect();
    if content.is_empty() {
        return false;
    }
    if attributed || content.len() > 1 {
        return true;
    }
    // One line, no attribution: "> 5 users affected", ">= 2", or a line glued to text on both
    // sides ("... >>> http://example.com <<< ...") is writing, not quoting.
    let single = content[0];
    if single.starts_with(|c: char| c.is_ascii_digit() || c == '=') {
        return false;
    }
    let glued_above = start > 0 && !is_blank(lines[start - 1]);
    let glued_below = end < lines.len() && !is_blank(lines[end]);
    !(glued_above && glued_below && end - start == 1)
}
