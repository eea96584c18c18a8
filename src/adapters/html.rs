//! HTML made readable in time linear in its size.
//!
//! html2text (over html5ever) takes time quadratic in the nesting depth of the document: 100k
//! nested `<div>` took 48 s, 1000 nested tables one second. A pass over the markup before it
//! keeps the first `MAX_HTML_DEPTH` levels and drops the tags below them (their text stays), so
//! the tree html2text builds is never deeper than that. The pass only has to be right about depth
//! for real mail, and never underestimate it for hostile mail; where it is unsure it counts deeper.

use std::borrow::Cow;

/// Nesting kept as it is; below it the structure is flattened. Real mail stays far above it:
/// even forwarded newsletters in forwarded replies rarely pass 30 levels.
pub const MAX_HTML_DEPTH: usize = 64;
/// Tables cost html2text more per level (each one lays out its cells): 1000 nested tables took a
/// second before this cap, so tables get their own, lower limit.
pub const MAX_TABLE_DEPTH: usize = 8;
/// html2text's time and memory grow with the size of the document times its depth (a million
/// paragraphs 60 levels deep: 11 s, 2 GB), with tables weighing more. Above this budget of
/// bytes × weighted depth the text comes from a one-pass converter without layout instead. Real
/// mail stays well within it: a 200 kB newsletter 20 levels deep is 4M.
pub const LAYOUT_BUDGET: usize = 16 << 20;
/// How much more a level of table costs html2text than a level of anything else.
const TABLE_WEIGHT: usize = 4;

/// HTML whose nesting was capped, and what the cap removed.
#[derive(Debug, PartialEq, Eq)]
pub struct Capped<'a> {
    pub html: Cow<'a, str>,
    /// The deepest nesting seen, as this pass counts it.
    pub deepest: usize,
    /// Tags left out because they were below the cap.
    pub dropped_tags: usize,
    /// The deepest nesting kept, and the most tables kept inside each other.
    pub kept_depth: usize,
    pub kept_tables: usize,
}

impl Capped<'_> {
    /// Whether html2text can lay this out within `LAYOUT_BUDGET`.
    pub fn fits_layout_budget(&self) -> bool {
        let weight = self.kept_depth + TABLE_WEIGHT * self.kept_tables + 1;
        self.html.len().saturating_mul(weight) <= LAYOUT_BUDGET
    }

    /// What was cut, in words, for the stored mail's events.
    pub fn cut(&self) -> Option<String> {
        (self.dropped_tags > 0).then(|| {
            format!(
                "HTML nested {} deep: flattened below depth {MAX_HTML_DEPTH} (tables below {MAX_TABLE_DEPTH}), {} tags left out, their text kept",
                self.deepest, self.dropped_tags
            )
        })
    }
}

/// Elements that never have content (no end tag, no nesting).
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// Elements whose content is text up to their end tag, never markup.
const RAW_TEXT: &[&str] = &[
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "plaintext",
];

/// Elements an HTML parser reopens after a misnested end tag (the "adoption agency"), so closing
/// an outer one does not end them.
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u",
];

/// Start tags that end an open `<p>` (HTML's "close a p element").
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
];

/// Dropped tags that stood for a line break, so flattened text does not run together.
const BREAKS_LINE: &[&str] = &[
    "blockquote",
    "dd",
    "div",
    "dl",
    "dt",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
];

/// Siblings that end each other: a new `<li>` ends the open `<li>`.
fn ends_open(opening: &str, open: &str) -> bool {
    match opening {
        "li" => open == "li",
        "dt" | "dd" => matches!(open, "dt" | "dd"),
        "td" | "th" => matches!(open, "td" | "th"),
        "tr" => matches!(open, "tr" | "td" | "th"),
        "option" => open == "option",
        _ => open == "p" && CLOSES_P.contains(&opening),
    }
}

enum Token {
    Text,
    /// Comments, doctypes, processing instructions: kept as they are.
    Opaque,
    Start {
        name: String,
        self_closing: bool,
    },
    End {
        name: String,
    },
    /// An unterminated tag or comment: the rest of the input, kept as it is.
    Rest,
}

/// The tag name at the start of `bytes`, lowercased (ASCII letters, digits, `-`, `:`).
fn tag_name(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'_'))
        .map(|b| b.to_ascii_lowercase() as char)
        .collect()
}

/// Where the `>` ending a start tag is, skipping quoted attribute values.
fn end_of_tag(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (offset, &b) in bytes[from..].iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(from + offset),
            _ => {}
        }
    }
    None
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The start of `</name` (any case) at or after `from`.
fn find_end_tag(bytes: &[u8], from: usize, name: &str) -> Option<usize> {
    let mut at = from;
    while let Some(lt) = bytes[at..].iter().position(|&b| b == b'<').map(|p| at + p) {
        let after = &bytes[lt + 1..];
        if after.first() == Some(&b'/')
            && after.len() > name.len()
            && after[1..=name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            return Some(lt);
        }
        at = lt + 1;
    }
    None
}

/// The next token at `at` (which holds `<`), and where it ends.
fn token_at(bytes: &[u8], at: usize) -> (Token, usize) {
    let rest = &bytes[at..];
    if rest.starts_with(b"<!--") {
        return match find(bytes, at + 4, b"-->") {
            Some(end) => (Token::Opaque, end + 3),
            None => (Token::Rest, bytes.len()),
        };
    }
    match rest.get(1) {
        Some(b'!' | b'?') => match bytes[at..].iter().position(|&b| b == b'>') {
            Some(end) => (Token::Opaque, at + end + 1),
            None => (Token::Rest, bytes.len()),
        },
        Some(b'/') if rest.get(2).is_some_and(u8::is_ascii_alphabetic) => {
            let name = tag_name(&rest[2..]);
            match bytes[at..].iter().position(|&b| b == b'>') {
                Some(end) => (Token::End { name }, at + end + 1),
                None => (Token::Rest, bytes.len()),
            }
        }
        Some(b) if b.is_ascii_alphabetic() => {
            let name = tag_name(&rest[1..]);
            match end_of_tag(bytes, at + 1 + name.len()) {
                Some(end) => (
                    Token::Start {
                        self_closing: bytes[end - 1] == b'/',
                        name,
                    },
                    end + 1,
                ),
                None => (Token::Rest, bytes.len()),
            }
        }
        _ => (Token::Text, at + 1),
    }
}

/// `html` with every element nested deeper than `MAX_HTML_DEPTH` (or inside more than
/// `MAX_TABLE_DEPTH` tables) left out, its text kept. Borrowed unchanged when nothing was cut.
/// One pass: each byte is looked at a bounded number of times, and the open elements kept are
/// at most `MAX_HTML_DEPTH`, so searching them is bounded too.
pub fn cap_nesting(html: &str) -> Capped<'_> {
    let bytes = html.as_bytes();
    let mut out = String::new();
    // Where the input not yet copied to `out` starts; only used once something is dropped.
    let mut copied = 0;
    let mut dropped_tags = 0;
    let mut open: Vec<String> = Vec::new();
    let mut tables = 0usize;
    // Start tags dropped below the cap and not yet closed.
    let mut below = 0usize;
    let mut deepest = 0usize;
    let mut kept_depth = 0usize;
    let mut kept_tables = 0usize;
    let mut at = 0;
    let mut drop = |out: &mut String, copied: &mut usize, start: usize, end: usize, line: bool| {
        out.push_str(&html[*copied..start]);
        if line {
            out.push_str("<br>");
        }
        *copied = end;
        dropped_tags += 1;
    };
    while let Some(lt) = bytes[at..].iter().position(|&b| b == b'<').map(|p| at + p) {
        let (token, end) = token_at(bytes, lt);
        match token {
            Token::Start { name, self_closing } => {
                if VOID.contains(&name.as_str())
                    || self_closing && !RAW_TEXT.contains(&name.as_str())
                {
                    at = end;
                    continue;
                }
                if RAW_TEXT.contains(&name.as_str()) {
                    // Kept whole at any depth: it holds no elements.
                    at = find_end_tag(bytes, end, &name).unwrap_or(bytes.len());
                    continue;
                }
                while open.last().is_some_and(|top| ends_open(&name, top)) {
                    if open.pop().as_deref() == Some("table") {
                        tables -= 1;
                    }
                }
                let depth = open.len() + below + 1;
                deepest = deepest.max(depth);
                let too_deep = open.len() >= MAX_HTML_DEPTH
                    || below > 0
                    || name == "table" && tables >= MAX_TABLE_DEPTH;
                if too_deep {
                    below += 1;
                    drop(
                        &mut out,
                        &mut copied,
                        lt,
                        end,
                        BREAKS_LINE.contains(&name.as_str()),
                    );
                } else {
                    if name == "table" {
                        tables += 1;
                        kept_tables = kept_tables.max(tables);
                    }
                    open.push(name);
                    kept_depth = kept_depth.max(open.len());
                }
            }
            Token::End { name } => {
                if below > 0 {
                    below -= 1;
                    drop(
                        &mut out,
                        &mut copied,
                        lt,
                        end,
                        BREAKS_LINE.contains(&name.as_str()),
                    );
                } else if let Some(index) = open.iter().rposition(|o| *o == name) {
                    // A parser reopens the formatting elements this end tag skips over.
                    let reopened: Vec<String> = open[index + 1..]
                        .iter()
                        .filter(|o| FORMATTING.contains(&o.as_str()))
                        .cloned()
                        .collect();
                    for closed in open.drain(index..) {
                        if closed == "table" {
                            tables -= 1;
                        }
                    }
                    open.extend(reopened);
                }
            }
            Token::Text | Token::Opaque | Token::Rest => {}
        }
        at = end;
    }
    if dropped_tags == 0 {
        return Capped {
            html: Cow::Borrowed(html),
            deepest,
            dropped_tags,
            kept_depth,
            kept_tables,
        };
    }
    out.push_str(&html[copied..]);
    Capped {
        html: Cow::Owned(out),
        deepest,
        dropped_tags,
        kept_depth,
        kept_tables,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, depth: usize) -> String {
        format!("{}core{}", open.repeat(depth), close.repeat(depth))
    }

    #[test]
    fn ordinary_html_is_left_alone() {
        let html = "<html><head><style>p > b { x: '<div>' }</style></head><body><p>Hello<p>again<br><img src=\"a>b\"><ul><li>one<li>two</ul><table><tr><td>a<td>b<tr><td>c</table><!-- <div><div> --></body></html>";
        let capped = cap_nesting(html);
        assert_eq!(capped.html, html);
        assert_eq!(capped.dropped_tags, 0);
        assert_eq!(capped.cut(), None);
    }

    #[test]
    fn siblings_that_end_each_other_do_not_count_as_nesting() {
        let html =
            "<ul>".to_string() + &"<li>item".repeat(1000) + "</ul>" + &"<p>para".repeat(1000);
        let capped = cap_nesting(&html);
        assert_eq!(capped.dropped_tags, 0);
        assert!(capped.deepest <= 3, "{}", capped.deepest);
    }

    #[test]
    fn deep_nesting_is_flattened_below_the_cap_and_the_text_kept() {
        let html = nested("<div>x", "</div>", 1000);
        let capped = cap_nesting(&html);
        assert_eq!(capped.deepest, 1000);
        assert_eq!(capped.dropped_tags, 2 * (1000 - MAX_HTML_DEPTH));
        assert_eq!(capped.html.matches("<div>").count(), MAX_HTML_DEPTH);
        assert_eq!(capped.html.matches("</div>").count(), MAX_HTML_DEPTH);
        assert_eq!(capped.html.matches('x').count(), 1000);
        assert!(capped.html.contains("core"));
        assert!(capped
            .cut()
            .unwrap()
            .starts_with("HTML nested 1000 deep: flattened below depth 64"));
    }

    #[test]
    fn nested_tables_have_a_lower_cap() {
        let html = nested("<table><tr><td>", "</td></tr></table>", 100);
        let capped = cap_nesting(&html);
        assert_eq!(capped.html.matches("<table>").count(), MAX_TABLE_DEPTH);
        assert!(capped.html.contains("core"));
    }

    #[test]
    fn misnested_formatting_counts_as_the_parser_reopens_it() {
        // `<b><i></b>` leaves the <i> open in an HTML parser: repeated, it nests without end.
        let html = "<b><i></b>x".repeat(1000);
        let capped = cap_nesting(&html);
        assert!(capped.deepest >= 1000, "{}", capped.deepest);
        assert!(capped.dropped_tags > 0);
    }

    #[test]
    fn unterminated_markup_is_kept_as_it_is() {
        for html in [
            "<div>a<!-- never closed",
            "<div>a<p class=\"x>b",
            "<div><script>x",
        ] {
            assert_eq!(cap_nesting(html).html, html);
        }
    }
}
