//! Attribution lines ("On <date>, <name> wrote:") recognised by their shape rather than by a
//! list of phrases, so that a client's wording in any language is found: a date (and a time or
//! an address), a writer, a verb of writing (or, in Gmail's verbless forms, an address right
//! before the colon), and a closing colon. Clients put these parts in any order:
//! "Am 4. März 2024 um 09:12 schrieb Ada <ada@example.org>:", "Ada <ada@example.org> 于2024年3月4日
//! 09:12写道：", "2014-03-20 8:48 GMT+01:00 Ada <ada@example.org>:", "Ada kirjoitti 4.3.2024 klo
//! 9.12:".
//!
//! What keeps the writer's own sentences ("Here is what I tried:", "On 2024-03-04 I wrote:",
//! "The script wrote the file at 10:00:") is the shape too: a first- or second-person pronoun,
//! a colon or a question inside the line, or lowercase words after the verb mean a sentence.
//!
//! Each check looks at a bounded piece of text, so the work per line is constant.

use std::sync::LazyLock;

use regex::Regex;

use super::is_blank;

/// Longest text (in bytes) read as one attribution, wrapped lines joined. Real ones are short;
/// the bound keeps the work per line constant however long a mail's lines are.
const MAX_BYTES: usize = 480;
/// How many lines a wrapped attribution may span.
const MAX_LINES: usize = 4;

static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9_.+\-]+@[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)+").unwrap()
});

/// Whether `text` holds a mail address.
pub(super) fn has_address(text: &str) -> bool {
    text.contains('@') && EMAIL_RE.is_match(text)
}

// Dates and times are read by hand rather than with regexes: every line of a mail is asked,
// and this is several times cheaper to start and to run.

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The runs of ASCII digits in `bytes`, as (start, end) offsets.
fn digit_runs(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && !bytes[at].is_ascii_digit() {
            at += 1;
        }
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        Some((start, at))
    })
}

/// The digit run starting at `at`, if one does.
fn run_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let len = bytes
        .get(at..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    (len > 0).then_some((at, at + len))
}

/// Whether `start..end` stands alone: no letter, digit or underscore glued to either side.
fn bounded(bytes: &[u8], start: usize, end: usize) -> bool {
    let glued_before = start > 0 && is_word_byte(bytes[start - 1]);
    let glued_after = bytes.get(end).copied().is_some_and(is_word_byte);
    !glued_before && !glued_after
}

/// A calendar date: a year ("2024"), a numeric date ("04.03.2024", "2024-03-04", "4/3/24"), or
/// a CJK one ("2024年", "2024년").
pub(super) fn has_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    digit_runs(bytes).any(|(start, end)| {
        let len = end - start;
        let year = len == 4
            && matches!(&bytes[start..start + 2], b"19" | b"20")
            && bounded(bytes, start, end);
        let cjk = ["年", "년", " 年", " 년"]
            .iter()
            .any(|unit| text[end..].starts_with(unit));
        year || cjk || (len <= 4 && numeric_date_from(bytes, start, end))
    })
}

/// "04.03.2024", "2024-03-04", "4/3/24": three digit runs joined by the same kind of separator.
fn numeric_date_from(bytes: &[u8], start: usize, end: usize) -> bool {
    let separator = |at: usize| {
        bytes
            .get(at)
            .copied()
            .filter(|b| matches!(b, b'/' | b'.' | b'-'))
    };
    let Some(sep) = separator(end) else {
        return false;
    };
    let Some((_, month_end)) = run_at(bytes, end + 1).filter(|(s, e)| e - s <= 2) else {
        return false;
    };
    if separator(month_end) != Some(sep) {
        return false;
    }
    run_at(bytes, month_end + 1)
        .filter(|(s, e)| e - s <= 4)
        .is_some_and(|(_, last)| bounded(bytes, start, last))
}

/// A time of day: "9:12", "10h30", "klo 9.12", "kl. 09.12".
pub(super) fn has_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    digit_runs(bytes).any(|(start, end)| {
        if end - start > 2 || (start > 0 && is_word_byte(bytes[start - 1])) {
            return false;
        }
        let minutes =
            |at: usize| run_at(bytes, at).is_some_and(|(s, e)| e - s == 2 && bounded(bytes, s, e));
        match bytes.get(end) {
            Some(b':' | b'h') => minutes(end + 1),
            Some(b'.') => {
                let before = text[..start].trim_end().to_lowercase();
                (before.ends_with("klo") || before.ends_with("kl.") || before.ends_with("kello"))
                    && minutes(end + 1)
            }
            _ => false,
        }
    })
}

/// A date, a time, or a CJK month ("3月", "3월").
pub(super) fn has_date_or_time(text: &str) -> bool {
    has_date(text) || has_time(text) || ["月", "월"].iter().any(|unit| text.contains(unit))
}

/// Verbs of writing as mail clients use them in attributions, written as whole words.
const VERBS: &[&str] = &[
    "wrote",
    "writes",
    "a écrit",
    "a ecrit",
    "ha scritto",
    "scrive",
    "schrieb",
    "schreibt",
    "geschreven",
    "schreef",
    "escribió",
    "escribio",
    "escreveu",
    "va escriure",
    "ha escrit",
    "escrigué",
    "skrev",
    "skriver",
    "kirjoitti",
    "napisał",
    "napisała",
    "napisana",
    "napisal",
    "pisze",
    "napsal",
    "napsala",
    "napísal",
    "написал",
    "написала",
    "пишет",
    "írta",
    "yazdı",
    "skrifaði",
    "đã viết",
    "a scris",
    "menulis",
    "έγραψε",
];
/// Verbs of writing in scripts without spaces between words, matched anywhere.
const GLUED_VERBS: &[&str] = &[
    "写道",
    "寫道",
    "書きました",
    "のメール",
    "のメッセージ",
    "작성",
    "쓴 글",
];
/// Verbs that make an attribution only right above a quoted block ("Bob sent:", "Ann said:").
const WEAK_VERBS: &[&str] = &["sent", "said", "writes"];
/// First- and second-person pronouns: a line with one is the writer speaking, not a client's
/// attribution. Compared with lowercased words.
const PRONOUNS: &[&str] = &[
    "i", "we", "you", "me", "us", "je", "j'", "nous", "vous", "ich", "wir", "io", "noi", "yo",
    "eu", "ik", "wij", "jag", "jeg", "я", "мы",
];
const GLUED_PRONOUNS: &[&str] = &["我", "私は"];
/// Words that open an attribution before its date ("On", "Le", "Il giorno", "Am", ...). Used
/// only to find an attribution that starts inside a line ("reply On Wed, ... wrote:").
const INTROS: &[&str] = &[
    "On",
    "Le",
    "Il giorno",
    "Il",
    "In data",
    "Am",
    "El",
    "Op",
    "Em",
    "Den",
    "På",
    "W dniu",
    "Dnia",
    "Dne",
    "Dňa",
    "Vào",
    "Pada",
    "Ngày",
    "В",
];

/// The shape of an attribution (see the module's comment): strong enough to cut the mail even
/// when unquoted history follows it. Weaker shapes count only right above a `>` block (see
/// `is_weak_attribution`).
pub(super) fn is_attribution(text: &str) -> bool {
    let text = text.trim();
    if text.len() > MAX_BYTES {
        return false;
    }
    let core =
        text.trim_start_matches(|c: char| matches!(c, '-' | '*' | '_' | '>') || c.is_whitespace());
    let Some(body) = without_closing(core) else {
        return false;
    };
    if !has_date(body) || is_sentence(body) {
        return false;
    }
    let address_last = ends_with_address(body);
    if !(has_time(body) || has_address(body)) {
        return false;
    }
    match last_verb(body) {
        Some((start, end)) => {
            verb_is_followed_well(&body[end..]) && writer_beside_verb(body, start, end)
        }
        // Gmail's verbless forms open with the date and end on the writer's address:
        // "2014-03-20 8:48 GMT+01:00 Ada <ada@example.org>:", "пн, 4 мар. 2024 г. в 09:12, Ada
        // <ada@example.org>:".
        None => address_last && opens_with_date(body),
    }
}

/// The writer stands next to the verb: an address in the line, or a name (a capitalised word,
/// a word in a script without case, a closing bracket) right before or right after the verb.
/// "the backup job wrote:" and "il server ha scritto:" are the writer's own lines.
fn writer_beside_verb(body: &str, start: usize, end: usize) -> bool {
    let names = |word: &str| {
        word.ends_with([')', '>', '"', ']'])
            || word
                .chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || (c.is_alphabetic() && !c.is_lowercase()))
    };
    let before = body[..start].split_whitespace().next_back().unwrap_or("");
    let after = body[end..]
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')'))
        .split_whitespace()
        .next()
        .unwrap_or("");
    has_address(body)
        || names(before)
        || (!after.is_empty() && (names(after) || after.starts_with('<')))
}

/// Whether `body` starts with its date: a number ("2014-03-20", "2024年3月4日", "04.03.2024")
/// or a short weekday followed by one ("Mon, 4 Mar", "пн, 4 мар.").
fn opens_with_date(body: &str) -> bool {
    let mut words = body.split_whitespace();
    let first = words.next().unwrap_or("");
    if first.starts_with(|c: char| c.is_ascii_digit()) {
        return true;
    }
    let weekday = first.trim_end_matches([',', '.']);
    weekday.len() < first.len()
        && (1..=4).contains(&weekday.chars().count())
        && weekday.chars().all(char::is_alphabetic)
        && words
            .next()
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()))
}

/// Whether `text`, right above a `>` block, introduces it: an attribution, a line ending with a
/// verb of writing, or a line ending with a colon that has a date or an address.
pub(super) fn is_weak_attribution(text: &str) -> bool {
    let text = text.trim();
    if text.len() > MAX_BYTES {
        return false;
    }
    if is_attribution(text) {
        return true;
    }
    let body = without_closing(text).unwrap_or(text);
    let body = body.trim_end_matches(|c: char| !c.is_alphanumeric());
    let lower = body.to_lowercase();
    let ends_with_verb = VERBS.iter().chain(WEAK_VERBS).any(|verb| {
        lower.strip_suffix(verb).is_some_and(|before| {
            before.is_empty() || before.ends_with(|c: char| !c.is_alphanumeric())
        })
    }) || GLUED_VERBS.iter().any(|verb| lower.ends_with(verb));
    let closes = without_closing(text).is_some();
    ends_with_verb
        || (closes && (has_date_or_time(text) || has_address(text)))
        || (starts_with_date(text) && has_address(text))
}

/// The text before the closing colon ("wrote:", "a écrit :", "写道：", "*wrote:*"), or before
/// a dashed frame ("-----On <date>, <name> wrote-----").
fn without_closing(text: &str) -> Option<&str> {
    let trimmed = text.trim_end_matches(|c: char| matches!(c, '*' | '_') || c.is_whitespace());
    if let Some(body) = trimmed
        .strip_suffix(':')
        .or_else(|| trimmed.strip_suffix('：'))
    {
        return Some(body.trim_end());
    }
    let unframed = trimmed.trim_end_matches('-');
    (unframed.len() + 2 <= trimmed.len()).then(|| unframed.trim_end())
}

/// Signs of the writer's own sentence: a pronoun, a question or exclamation, a colon that
/// introduces something inside the line (times such as "9:12" have no space after theirs).
fn is_sentence(body: &str) -> bool {
    if body.contains(['?', '!', '？', '！']) || body.contains(": ") || body.contains("：") {
        return true;
    }
    if GLUED_PRONOUNS.iter().any(|p| body.contains(p)) {
        return true;
    }
    body.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '"'))
        .filter(|word| !word.is_empty())
        .any(|word| {
            let lower = word.to_lowercase();
            let bare = lower.trim_end_matches(['.', ',']);
            // "I" is a pronoun; "I." is an initial.
            if word == "I" {
                return true;
            }
            bare != "i" && PRONOUNS.contains(&bare) && !word.ends_with('.')
                || lower.starts_with("j'") && lower.len() > 2
        })
}

fn ends_with_address(body: &str) -> bool {
    let body = body.trim_end_matches([')', ']', ' ']);
    body.ends_with('>') && {
        let open = body.rfind('<').unwrap_or(0);
        body[open..].contains('@')
    }
}

fn starts_with_date(text: &str) -> bool {
    let text = text.trim_start_matches(|c: char| matches!(c, '-' | '*' | '_') || c.is_whitespace());
    let first = text.split_whitespace().next().unwrap_or("");
    first.starts_with(|c: char| c.is_ascii_digit()) && has_date(first.trim_end_matches(','))
}

/// Where the last verb of writing in `body` starts and ends, if there is one.
fn last_verb(body: &str) -> Option<(usize, usize)> {
    let lower = body.to_lowercase();
    // Lowercasing keeps byte offsets only when it keeps lengths; otherwise search the original.
    let haystack = if lower.len() == body.len() {
        lower.as_str()
    } else {
        body
    };
    let mut last: Option<(usize, usize)> = None;
    for verb in VERBS {
        for (at, _) in haystack.match_indices(verb) {
            let end = at + verb.len();
            // Offsets in the lowercased text are used in `body` too: only where both agree.
            if !body.is_char_boundary(at) || !body.is_char_boundary(end) {
                continue;
            }
            let bounded_before = haystack[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric());
            let bounded_after = haystack[end..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_alphanumeric());
            if bounded_before && bounded_after && last.is_none_or(|(_, l)| end > l) {
                last = Some((at, end));
            }
        }
    }
    for verb in GLUED_VERBS {
        if let Some(at) = haystack.rfind(verb) {
            let end = at + verb.len();
            if !body.is_char_boundary(at) || !body.is_char_boundary(end) {
                continue;
            }
            if last.is_none_or(|(_, l)| end > l) {
                last = Some((at, end));
            }
        }
    }
    last
}

/// After the verb comes nothing, the writer ("schrieb Ada <ada@example.org>", "napisał(a)"), or
/// the date behind a preposition ("schrieb am Mo., 4. März 2024, 09:12"); a sentence goes on in
/// lowercase words ("wrote the file at 10:00").
fn verb_is_followed_well(after: &str) -> bool {
    let after =
        after.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')'));
    let after = after.strip_prefix("a)").unwrap_or(after).trim_start();
    match after.chars().next() {
        None => true,
        Some(c) if c.is_uppercase() || !c.is_alphabetic() => true,
        Some(_) => {
            let first_word = after.split_whitespace().next().unwrap_or("");
            has_address(after) || (DATE_PREPOSITIONS.contains(&first_word) && has_date(after))
        }
    }
}

/// Words that put a date after the verb: "schrieb am <date>", "wrote on <date>".
const DATE_PREPOSITIONS: &[&str] = &[
    "am", "on", "le", "den", "em", "el", "il", "op", "w", "dnia", "в", "kl.", "klo",
];

/// A strong attribution starting at line `i` (or inside it), possibly wrapped over a few lines.
/// Returns the text before it on its first line, if any, and the line after it.
pub(super) fn attribution_at(lines: &[&str], i: usize) -> Option<(Option<String>, usize)> {
    let first = lines[i].trim();
    if first.is_empty() || first.len() > MAX_BYTES {
        return None;
    }
    if let Some(prefix) = attribution_in(first, first.len()) {
        return Some((prefix, i + 1));
    }
    if !may_open_wrapped(first) {
        return None;
    }
    let mut parts: Vec<&str> = vec![first];
    let mut next = i + 1;
    while parts.len() < MAX_LINES {
        // One blank line may sit inside a wrapped attribution, not more.
        if lines.get(next).is_some_and(|l| is_blank(l)) {
            next += 1;
        }
        let line = lines.get(next)?.trim();
        if line.is_empty() {
            return None;
        }
        parts.push(line);
        next += 1;
        if parts.iter().map(|p| p.len() + 1).sum::<usize>() > MAX_BYTES {
            return None;
        }
        // Only a line that closes like an attribution can end one.
        if without_closing(line).is_none() {
            continue;
        }
        if later_part_is_attribution(&parts) {
            return None;
        }
        if let Some(prefix) = attribution_in(&parts.join(" "), first.len()) {
            return Some((prefix, next));
        }
    }
    None
}

/// A line that may be the first of a wrapped attribution: it carries the date or the writer
/// and does not end a sentence.
fn may_open_wrapped(line: &str) -> bool {
    let opens_with_intro = INTROS.iter().any(|intro| {
        line.strip_prefix(intro)
            .is_some_and(|rest| rest.starts_with(char::is_whitespace))
    });
    !line.ends_with(['.', '!', '?'])
        && line
            .bytes()
            .any(|b| b.is_ascii_digit() || b == b'@' || b == b'<' || b.is_ascii_uppercase())
        && (opens_with_intro || has_date_or_time(line) || has_address(line) || line.contains('<'))
}

/// Whether the parts after the first already make an attribution: then the first part is a
/// line of the writer's text above it.
fn later_part_is_attribution(parts: &[&str]) -> bool {
    (1..parts.len()).any(|from| is_attribution(&parts[from..].join(" ")))
}

/// Whether `text` is an attribution, or ends with one that starts at an intro word inside its
/// first `first_len` bytes ("reply On Wed, ... wrote:"). Returns the text before it then.
pub(super) fn attribution_in(text: &str, first_len: usize) -> Option<Option<String>> {
    // Every attribution has a date, hence a digit: most lines are done with at this test.
    if text.len() > MAX_BYTES || !has_date(text) {
        return None;
    }
    for start in intro_starts(text, first_len) {
        if is_attribution(&text[start..]) {
            let prefix = text[..start].trim_end_matches(|c: char| c == '-' || c.is_whitespace());
            return Some((!prefix.is_empty()).then(|| prefix.to_string()));
        }
    }
    is_attribution(text).then_some(None)
}

/// Offsets (after the start) where an intro word begins a word inside the first `first_len`
/// bytes of `text`, in order.
fn intro_starts(text: &str, first_len: usize) -> Vec<usize> {
    let mut starts: Vec<usize> = Vec::new();
    for intro in INTROS {
        for (at, _) in text.match_indices(intro) {
            if at == 0 || at >= first_len {
                continue;
            }
            let before = text[..at].chars().next_back();
            let after = text[at + intro.len()..].chars().next();
            if before.is_some_and(|c| c.is_whitespace() || matches!(c, '-' | '*' | '_'))
                && after.is_some_and(char::is_whitespace)
            {
                starts.push(at);
            }
        }
    }
    starts.sort_unstable();
    starts
}

/// The attribution at the end of `kept`, right above a quoted block: where it starts in `kept`,
/// and the text before it on its first line, if any.
pub(super) fn attribution_above(kept: &[super::Line<'_>]) -> Option<(usize, Option<String>)> {
    let mut end = kept.len();
    let mut blanks = 0;
    while end > 0 && is_blank(&kept[end - 1]) {
        end -= 1;
        blanks += 1;
        if blanks > 3 {
            return None;
        }
    }
    let mut start = end;
    while start > 0 && end - start < 3 && !is_blank(&kept[start - 1]) {
        start -= 1;
    }
    let parts: Vec<&str> = kept[start..end].iter().map(|l| l.trim()).collect();
    if parts.iter().map(|p| p.len() + 1).sum::<usize>() > 3 * MAX_BYTES {
        return None;
    }
    let opens = |from: usize| from + 1 == parts.len() || may_open_wrapped(parts[from]);
    for from in 0..parts.len() {
        if !opens(from) || later_part_is_attribution(&parts[from..]) {
            continue;
        }
        if let Some(prefix) = attribution_in(&parts[from..].join(" "), parts[from].len()) {
            return Some((start + from, prefix));
        }
    }
    for from in 0..parts.len() {
        if opens(from) && is_weak_attribution(&parts[from..].join(" ")) {
            return Some((start + from, None));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{is_attribution, is_weak_attribution};

    #[test]
    fn attributions_in_many_languages_have_the_shape() {
        for line in [
            "On Mon, Mar 4, 2024 at 9:12 AM Ada Lovelace <ada@example.org> wrote:",
            "Le lun. 4 mars 2024 à 09:12, Ada Lovelace <ada@example.org> a écrit :",
            "Am Mo., 4. März 2024 um 09:12 Uhr schrieb Ada Lovelace <ada@example.org>:",
            "Ada Lovelace <ada@example.org> schrieb am Mo., 4. März 2024, 09:12:",
            "In data 4 marzo 2024 09:12:00 CET, Ada Lovelace <ada@example.org> ha scritto:",
            "2014-03-20 8:48 GMT+01:00 Ada Lovelace <ada@example.org>:",
            "pon., 4 mar 2024 o 09:12 Ada Lovelace <ada@example.org> napisał(a):",
            "W dniu 4.03.2024 o 09:12, Ada Lovelace pisze:",
            "ma 4. maalisk. 2024 klo 9.12 Ada Lovelace <ada@example.org> kirjoitti:",
            "Ada Lovelace kirjoitti 4.3.2024 klo 9.12:",
            "Den 04.03.2024 kl. 09.12 skrev Ada Lovelace:",
            "пн, 4 мар. 2024 г. в 09:12, Ada Lovelace <ada@example.org>:",
            "04.03.2024 09:12, Ada Lovelace пишет:",
            "Ada Lovelace <ada@example.org> 于2024年3月4日周一 09:12写道：",
            "2024年3月4日(月) 9:12 Ada Lovelace <ada@example.org>:",
            "2024년 3월 4일 (월) 오전 9:12, Ada Lovelace <ada@example.org>님이 작성:",
            "El dl., 4 de març 2024 a les 9:12, Ada Lovelace (<ada@example.org>) va escriure:",
            "Op 4 mrt 2024 om 09:12 heeft Ada Lovelace <ada@example.org> het volgende geschreven:",
            "Wiadomość napisana przez Ada Lovelace <ada@example.org> w dniu 4.03.2024, o godz. 09:12:",
            "po 4. 3. 2024 v 9:12 odesílatel Ada Lovelace <ada@example.org> napsal:",
        ] {
            assert!(is_attribution(line), "{line}");
        }
    }

    #[test]
    fn the_writers_own_sentences_are_not_attributions() {
        for line in [
            "Here is what I tried:",
            "So on 2024-03-04 I wrote:",
            "On 2024-03-04 we sent:",
            "One more thing: the VPN wrote errors at 10:00:",
            "The script wrote the file at 10:00 on 2024-03-04:",
            "Am 4. März 2024 um 09:12 habe ich geschrieben:",
            "Le 4 mars 2024 à 09:12, j'ai écrit à Ada :",
            "Planning for 2024:",
            "Did Ada <ada@example.org> write on 2024-03-04 at 9:12?",
            "我在2024年3月4日 09:12写道：",
        ] {
            assert!(!is_attribution(line), "{line}");
        }
        assert!(!is_weak_attribution("Here is what I tried:"));
    }
}
