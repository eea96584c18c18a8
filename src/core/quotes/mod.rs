//! The visible text of a reply: what the person newly wrote, without the quoted history below it
//! (or around it) and without a trailing signature.
//!
//! Pure text in, text out. The rules, in the order a mail is read from the top:
//! - a forwarded-message marker ("---------- Forwarded message ---------", "Begin forwarded
//!   message:", "Début du message réexpédié :", "-------- Messaggio inoltrato --------", ...) keeps
//!   everything from there on: the forwarded mail is content the sender chose to pass on;
//! - an Outlook separator ("-----Original Message-----", "-----Message d'origine-----", ...) or an
//!   Outlook header block ("From: / Sent: / To: / Subject:" and its translations, also with
//!   "Date:") cuts everything below it;
//! - an attribution line ("On <date>, <name> wrote:", "Le <date>, <name> a écrit :", "Am <date>
//!   schrieb <name>:", ..., also split over a few lines) cuts everything below it, unless a
//!   `>`-quoted block follows it: then only the attribution and that block go, and text written
//!   after the block (bottom-posting, interleaved answers) stays;
//! - a `>`-quoted block goes, with the attribution line just above it when there is one (also one
//!   written in an unknown language, recognised by a date or an address and a final colon). A
//!   lone `>` line glued to text on both sides, or reading like a comparison ("> 5 users"), is
//!   not a quote;
//! - at the end: a "-- " signature (at most ten lines), a mailing-list footer under a line of
//!   underscores, a mobile signature ("Sent from my iPhone", "Envoyé de mon iPhone", "Inviato da
//!   iPhone", "Von meinem iPhone gesendet", "Get Outlook for iOS", ...) and a "-Name" sign-off go.
//!
//! When everything looks quoted, the input is returned trimmed: a mail never becomes empty.

use std::sync::LazyLock;

use regex::Regex;

/// What `text` newly says: the part above (or between) the quoted history, trimmed, without a
/// trailing signature. Never empty when `text` has non-whitespace content.
pub fn visible_text(text: &str) -> String {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let Split { mut head, tail } = split_quotes(&lines);
    strip_signature(&mut head);
    let mut out: Vec<String> = head;
    if !tail.is_empty() {
        if !out.is_empty() {
            out.push(String::new());
        }
        out.extend(tail);
    }
    let joined = out
        .iter()
        .map(|line| line.trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    let visible = joined.trim();
    if visible.is_empty() {
        text.trim().to_string()
    } else {
        visible.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

/// Words that open an attribution line, before the date: "On", "Le", "Il giorno", "Am", ...
const INTRO: &str = r"On|Le|Il giorno|Il|Am|El|Op|Em|Den|På|W dniu|Vào|Dne|Dňa|Pada|Ngày|В";
/// The verb of an attribution line: "wrote", "a écrit", "ha scritto", "schrieb", ...
const VERB: &str = r"wrote|a écrit|a ecrit|ha scritto|schrieb|escribió|escribio|schreef|geschreven|escreveu|skrev|napisał|napisal|napsal|написал|написала|đã viết|kirjoitti|írta|yazdı|skrifaði";
/// Verbs that make an attribution only right above a quoted block ("<name> sent:").
const WEAK_VERB: &str = r"sent|writes|said";
/// Weekdays that may open a date written first ("Mon, Mar 4, 2024", "mar 12 mar 2024").
const DATE_FIRST_WEEKDAYS: &str = r"Mon|Tue|Wed|Thu|Fri|Sat|Sun|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|lun|mar|mer|gio|ven|sab|dom";
/// Weekday and month names that may open an attribution right above a quoted block.
const WEEKDAYS: &str = r"Mon|Tue|Wed|Thu|Fri|Sat|Sun|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|lun|mar|mer|jeu|ven|sam|dim|gio|sab|dom|Mo|Di|Mi|Do|Fr|Sa|So|mié|jue|vie|sáb|seg|ter|qua|qui|sex|ma|wo|vr|za|zo";
const MONTHS: &str = r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|January|February|March|April|June|July|August|September|October|November|December|janv|févr|avr|mai|juin|juil|août|sept|déc|gen|mag|giu|lug|ago|set|ott|dic|ene|abr|dez|mrt|okt|Mär|Mai";

static DATE_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:19|20)[0-9]{2}\b|\b[0-9]{1,2}[:h][0-9]{2}\b|\b[0-9]{1,4}[/.\-][0-9]{1,2}[/.\-][0-9]{1,4}\b")
        .unwrap()
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9_.+\-]+@[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)+").unwrap()
});

/// Intro + verb, ending with a colon: "On <date>, <name> wrote:", "Am <date> schrieb <name>:".
static STRONG_INTRO_COLON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?i)^(?:{INTRO})\s.*\b(?:{VERB})\b.*:$")).unwrap());
/// Intro + verb, no colon, framed by dashes: "-----On <date>, <name> wrote-----".
static STRONG_INTRO_DASHED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?i)^(?:{INTRO})\s.*\b(?:{VERB})$")).unwrap());
/// Starts with a date, ends with verb and colon: "12/03/2024 10:00, Mario <m@x.it> ha scritto:".
static STRONG_DATE_FIRST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^(?:[0-9]|(?:{DATE_FIRST_WEEKDAYS})\.?,?\s+(?:[0-9]|(?:{MONTHS})\b)).*\b(?:{VERB})\s*:$"
    ))
    .unwrap()
});
/// Where an attribution may start inside a line ("reply On Wed, ... wrote:").
static INTRO_INSIDE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"[\s\-*_]((?:{INTRO})\s)")).unwrap());
/// A line that may begin an attribution: an intro word, a digit, a weekday or month name.
static ATTRIBUTION_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)^[\s\-*_>"]*(?:(?:{INTRO})\s|[0-9]|(?:{WEEKDAYS}|{MONTHS})\b)"#
    ))
    .unwrap()
});
/// A weaker attribution, accepted only right above a quoted block: "<name> wrote:".
static ENDS_WITH_VERB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?i)\b(?:{VERB}|{WEAK_VERB})\W*$")).unwrap());
static STARTS_WITH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[\s\-*_]*(?:[0-9]{1,4}[/.\-][0-9]{1,2}[/.\-][0-9]{1,4}|(?:19|20)[0-9]{2}\b)")
        .unwrap()
});

static FORWARD_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[\s\-_=*]*(?:forwarded message|begin forwarded message|weitergeleitete nachricht|anfang der weitergeleiteten nachricht|message transféré|message transfere|début du message réexpédié|début du message transféré|messaggio inoltrato|inizio messaggio inoltrato|mensaje reenviado|comienzo del mensaje reenviado|mensagem encaminhada|início da mensagem reencaminhada|mensagem reencaminhada|doorgestuurd bericht|begin doorgestuurd bericht|videresendt meddelelse|videresendt melding|vidarebefordrat meddelande|przekazana wiadomość|пересылаемое сообщение)\s*:?[\s\-_=*]*$",
    )
    .unwrap()
});
static ORIGINAL_SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*-{2,}\s*(?:original message|reply message|ursprüngliche nachricht|urspr\S*ngliche nachricht|antwort nachricht|oprindelig meddelelse|message d'origine|message d’origine|messaggio originale|mensaje original|mensagem original|oorspronkelijk bericht|origineel bericht|originalmeddelande|opprinnelig melding|alkuperäinen viesti|wiadomość oryginalna|původní zpráva|исходное сообщение|оригинальное сообщение)\s*-{2,}\s*$",
    )
    .unwrap()
});

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Date,
    To,
    Cc,
    Subject,
}

const FIELD_KEYS: &[(Field, &str)] = &[
    (Field::From, "From|De|Da|Von|Van|Fra|Från|Od|От|Từ|Lähettäjä|Feladó|Kimden|Remitente"),
    (Field::Date, "Sent|Date|Envoyé|Envoye|Inviato|Gesendet|Datum|Verzonden|Verstuurd|Sendt|Skickat|Enviado|Enviada|Enviado el|Enviada em|Data|Wysłano|Wysłane|Отправлено|Дата|Gửi|Ngày|Fecha|Lähetetty|Dátum|Tarih|Odesláno"),
    (Field::To, "To|À|A|An|Aan|Til|Till|Para|Do|Кому|Đến|Vastaanottaja|Címzett|Kime|Komu"),
    (Field::Cc, "Cc|CC|Kopie|Copie|Copia|Kopia|Копия|Kopio|Másolat|Bilgi"),
    (Field::Subject, "Subject|Objet|Oggetto|Betreff|Onderwerp|Emne|Ämne|Asunto|Assunto|Temat|Тема|Chủ đề|Aihe|Tárgy|Konu|Předmět|Sujet"),
];

/// One regex per header field, matching a line that starts with "Key:" (also "*Key:*", "Key :").
static FIELD_LINES: LazyLock<Vec<(Field, Regex)>> = LazyLock::new(|| {
    FIELD_KEYS
        .iter()
        .map(|(field, keys)| {
            let re = Regex::new(&format!(
                r"^\s*[*_]{{0,2}}(?:{keys})[*_]{{0,2}}\s*:[*_]{{0,2}}(?:\s|$)"
            ))
            .unwrap();
            (*field, re)
        })
        .collect()
});
/// A second header field further along the same line ("From: a@b.c Date: Thu, 24 Mar 2016").
static INLINE_FIELDS: LazyLock<Vec<(Field, Regex)>> = LazyLock::new(|| {
    FIELD_KEYS
        .iter()
        .filter(|(field, _)| matches!(field, Field::Date | Field::Subject))
        .map(|(field, keys)| {
            let re = Regex::new(&format!(r"\s[*_]{{0,2}}(?:{keys})[*_]{{0,2}}\s?:\s")).unwrap();
            (*field, re)
        })
        .collect()
});

static MOBILE_SIGNATURES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"^(?i:sent from my)(?:\s+[^\s.,;:!?()\[\]<>/]+){1,5}\.?$",
        r"^[Ss]ent (?:from|with|via) [A-ZÀ-ÖØ-ÞА-Я][^\s.,;:!?()\[\]<>/]*(?:\s+[^\s.,;:!?()\[\]<>/]+){0,4}\.?$",
        r"^(?i:envoyé|envoye) (?i:de|depuis) (?i:mon|ma|l'application|l’application|outlook|yahoo)(?:\s+[^\s.,;:!?()\[\]<>/]+){0,4}\.?$",
        r"^(?i:inviato da)(?:l mio| il mio)?(?:\s+[^\s.,;:!?()\[\]<>/]+){1,5}\.?$",
        r"^(?i:von meinem)(?:\s+[^\s.,;:!?()\[\]<>/]+){1,4} (?i:gesendet)\.?$",
        r"^(?i:gesendet) (?i:von|mit) (?:(?i:meinem) )?[^\s.,;:!?()\[\]<>/]+(?:\s+[^\s.,;:!?()\[\]<>/]+){0,4}\.?$",
        r"^(?i:enviado) (?i:desde|do|de|a partir do) (?:(?i:mi|meu|o meu) )?[^\s.,;:!?()\[\]<>/]+(?:\s+[^\s.,;:!?()\[\]<>/]+){0,4}\.?$",
        r"^(?i:verzonden) (?i:met|vanaf|van) (?:(?i:mijn) )?[^\s.,;:!?()\[\]<>/]+(?:\s+[^\s.,;:!?()\[\]<>/]+){0,4}\.?$",
        r"^(?i:get|download|obtenir|télécharger|scarica|descargar|baixe|baixar|holen sie sich) (?i:outlook) (?i:for|pour|per|para|für) (?i:ios|android)$",
        r"^(?i:outlook für) (?i:ios|android) (?i:beziehen|herunterladen)$",
    ]
    .iter()
    .map(|re| Regex::new(re).unwrap())
    .collect()
});
/// A link glued to the end of a signature line: "Get Outlook for iOS<https://aka.ms/o0ukef>".
static TRAILING_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*[<(\[](?:https?://|mailto:)[^\s>)\]]*[>)\]]\s*$").unwrap());
/// A "-Name" sign-off: "-Abhishek Kona", "--Jo".
static DASH_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^-{1,2}[A-ZÀ-ÖØ-ÞА-Я][^\s,;:!?()\[\]<>/]*(?:\s+[A-ZÀ-ÖØ-ÞА-Я][^\s,;:!?()\[\]<>/]*){0,2}$",
    )
    .unwrap()
});

// ---------------------------------------------------------------------------------------------
// Line predicates

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

fn has_date(text: &str) -> bool {
    DATE_LIKE.is_match(text)
}

fn header_field(line: &str) -> Option<Field> {
    FIELD_LINES
        .iter()
        .find(|(_, re)| re.is_match(line))
        .map(|(field, _)| *field)
}

// ---------------------------------------------------------------------------------------------
// Splitting

struct Split {
    /// What the sender wrote, quotes removed, signature not yet removed.
    head: Vec<String>,
    /// A forwarded message, kept as it is.
    tail: Vec<String>,
}

fn split_quotes(lines: &[&str]) -> Split {
    let n = lines.len();
    let mut kept: Vec<String> = Vec::new();
    let mut tail: Vec<String> = Vec::new();
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
                        kept.push(prefix);
                    }
                }
                i = resume_after(lines, end, &mut kept);
            } else {
                kept.extend(lines[i..end].iter().map(|l| l.to_string()));
                i = end;
            }
            continue;
        }
        if FORWARD_MARKER.is_match(line) {
            tail.extend(lines[i..].iter().map(|l| l.to_string()));
            break;
        }
        if ORIGINAL_SEPARATOR.is_match(line) || header_block_at(lines, i) {
            break;
        }
        if let Some((prefix, end)) = attribution_at(lines, i) {
            let next = (end..n).find(|&j| !is_blank(lines[j]));
            let quoted = next.filter(|&next| is_quote_line(lines[next]));
            match (quoted, prefix) {
                (Some(next), prefix) => {
                    kept.extend(prefix);
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
        kept.push(line.to_string());
        i += 1;
    }
    Split { head: kept, tail }
}

/// After a removed block: drop the blank lines around the cut, leave one blank line between the
/// text above and the text below, and return where reading goes on.
fn resume_after(lines: &[&str], end: usize, kept: &mut Vec<String>) -> usize {
    while kept.last().is_some_and(|l| is_blank(l)) {
        kept.pop();
    }
    let mut i = end;
    while i < lines.len() && is_blank(lines[i]) {
        i += 1;
    }
    if !kept.is_empty() && i < lines.len() {
        kept.push(String::new());
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

/// A strong attribution starting at line `i` (or inside it), possibly wrapped over a few lines.
/// Returns the text before it on its first line, if any, and the line after it.
fn attribution_at(lines: &[&str], i: usize) -> Option<(Option<String>, usize)> {
    let first = lines[i];
    if is_blank(first) {
        return None;
    }
    let mut joined = first.trim().to_string();
    let mut blanks = 0;
    for extra in 0..5 {
        let last = i + extra;
        if extra > 0 {
            if last >= lines.len() {
                break;
            }
            let line = lines[last].trim();
            if line.is_empty() {
                blanks += 1;
                if blanks > 1 {
                    break;
                }
                continue;
            }
            // A wrapped attribution is short lines; a sentence ends with its punctuation.
            if line.chars().count() > 120 || first.trim_end().ends_with(['.', '!', '?']) {
                break;
            }
            joined.push(' ');
            joined.push_str(line);
        }
        if joined.chars().count() > 400 {
            break;
        }
        if let Some(prefix) = strong_attribution(&joined, first.trim().len()) {
            return Some((prefix, last + 1));
        }
    }
    None
}

/// Whether `text` is (or, from an intro word inside its first `first_len` bytes, ends with) an
/// attribution. Returns the text before it when it starts inside the line.
fn strong_attribution(text: &str, first_len: usize) -> Option<Option<String>> {
    if !has_date(text) {
        return None;
    }
    if is_strong(text) {
        return Some(None);
    }
    for found in INTRO_INSIDE.captures_iter(text) {
        let start = found.get(1).unwrap().start();
        if start >= first_len {
            break;
        }
        if is_strong(&text[start..]) {
            let prefix = text[..start].trim_end_matches(|c: char| c == '-' || c.is_whitespace());
            return Some((!prefix.is_empty()).then(|| prefix.to_string()));
        }
    }
    None
}

fn is_strong(text: &str) -> bool {
    let core = text.trim_start_matches(|c: char| matches!(c, '-' | '*' | '_') || c.is_whitespace());
    let unframed = core.trim_end_matches(|c: char| c == '-' || c.is_whitespace());
    let dashed = unframed.len() + 2 <= core.len() && core.trim_end().ends_with("--");
    core.chars().count() <= 300
        && has_date(core)
        && (STRONG_INTRO_COLON.is_match(unframed)
            || STRONG_DATE_FIRST.is_match(unframed)
            || (dashed && STRONG_INTRO_DASHED.is_match(unframed)))
}

/// Whether `text` reads as an attribution when a quoted block follows it.
fn is_weak(text: &str) -> bool {
    let text = text.trim();
    text.chars().count() <= 300
        && (is_strong(text)
            || ENDS_WITH_VERB.is_match(text)
            || (text.ends_with(':') && (has_date(text) || EMAIL.is_match(text)))
            || (STARTS_WITH_DATE.is_match(text) && EMAIL.is_match(text)))
}

/// The attribution at the end of `kept`, right above a quoted block: where it starts in `kept`,
/// and the text before it on its first line, if any.
fn attribution_above(kept: &[String]) -> Option<(usize, Option<String>)> {
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
    for from in start..end {
        let window = &kept[from..end];
        let joined = window
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ");
        let first_len = window[0].trim().len();
        // Inside the first line: "reply On Wed, ... wrote:".
        if let Some(Some(prefix)) = strong_attribution(&joined, first_len) {
            return Some((from, Some(prefix)));
        }
        let starts_well = from + 1 == end || ATTRIBUTION_START.is_match(&window[0]);
        if starts_well && is_weak(&joined) {
            return Some((from, None));
        }
    }
    None
}

/// An Outlook-style header block starting at line `i`: at least two different fields (From,
/// Sent/Date, To, Cc, Subject, in several languages) on consecutive lines, one of them From or
/// both Date and To, with an address or a date among them unless there are three fields.
fn header_block_at(lines: &[&str], i: usize) -> bool {
    let Some(field) = header_field(lines[i]) else {
        return false;
    };
    let mut fields = vec![field];
    for (inline, re) in INLINE_FIELDS.iter() {
        if field == Field::From && re.is_match(lines[i]) && !fields.contains(inline) {
            fields.push(*inline);
        }
    }
    let mut evidence = EMAIL.is_match(lines[i]) || has_date(lines[i]);
    let mut gap = 0;
    for line in lines.iter().skip(i + 1).take(12) {
        if is_blank(line) {
            break;
        }
        match header_field(line) {
            Some(next) => {
                gap = 0;
                if !fields.contains(&next) {
                    fields.push(next);
                }
            }
            None => {
                gap += 1;
                if gap > 1 {
                    break;
                }
            }
        }
        evidence |= EMAIL.is_match(line) || has_date(line);
    }
    let anchored = fields.contains(&Field::From)
        || (fields.contains(&Field::Date) && fields.contains(&Field::To));
    anchored && (fields.len() >= 3 || (fields.len() == 2 && evidence))
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// Removes, from the end: separator lines, a "-- " signature of at most ten lines, a footer
/// under a line of underscores, a mobile signature, a "-Name" sign-off; again until none is left.
fn strip_signature(lines: &mut Vec<String>) {
    loop {
        while lines.last().is_some_and(|l| is_blank(l)) {
            lines.pop();
        }
        let Some(last) = lines.last() else {
            return;
        };
        let before = lines.len();
        let last = last.trim();
        if last.chars().count() >= 2
            && last
                .chars()
                .all(|c| matches!(c, '-' | '_' | '=' | '*' | '~'))
        {
            lines.pop();
            continue;
        }
        if is_mobile_signature(last) {
            lines.pop();
            continue;
        }
        if DASH_NAME.is_match(last) {
            let previous = lines[..lines.len() - 1].iter().rev().find(|l| !is_blank(l));
            if !previous.is_some_and(|p| p.trim_start().starts_with(['-', '*', '•'])) {
                lines.pop();
                continue;
            }
        }
        // Delimiters are looked for among the last lines only, so that this stays linear.
        let tail_start = lines.len().saturating_sub(SIGNATURE_WINDOW);
        let lines_after = |from: usize| lines[from + 1..].iter().filter(|l| !is_blank(l)).count();
        let find = |is_delimiter: fn(&str) -> bool| {
            (tail_start..lines.len())
                .rev()
                .find(|&at| is_delimiter(&lines[at]))
        };
        if let Some(delimiter) = find(|l| l.trim_end() == "--") {
            if lines_after(delimiter) <= 10 {
                lines.truncate(delimiter);
                continue;
            }
        }
        if let Some(rule) = find(|l| {
            let l = l.trim();
            l.len() >= 5 && l.chars().all(|c| c == '_')
        }) {
            if lines_after(rule) <= 6 {
                lines.truncate(rule);
                continue;
            }
        }
        if lines.len() == before {
            return;
        }
    }
}

/// How many trailing lines may hold a signature delimiter or a footer rule.
const SIGNATURE_WINDOW: usize = 40;

fn is_mobile_signature(line: &str) -> bool {
    let line = TRAILING_LINK.replace(line.trim(), "");
    let line = line.trim();
    line.chars().count() <= 70
        && !line.contains([',', ';', ':', '?', '!'])
        && MOBILE_SIGNATURES.iter().any(|re| re.is_match(line))
}

#[cfg(test)]
mod tests {
    use super::visible_text;

    /// (what it shows, input, expected visible text)
    const CASES: &[(&str, &str, &str)] = &[
        (
            "english attribution and quote",
            "Sounds good, see you then.\n\nOn Mon, Mar 4, 2024 at 9:12 AM, Ada Lovelace <ada@example.org> wrote:\n> Shall we meet on Friday?\n> Ada\n",
            "Sounds good, see you then.",
        ),
        (
            "english attribution over two lines",
            "Done.\n\nOn Tue, Jan 9, 2024 at 10:00 PM Grace Hopper <grace@example.net>\nwrote:\n\n> Please close the ticket.\n",
            "Done.",
        ),
        (
            "french attribution, unquoted history",
            "Merci, c'est réglé.\n\nLe jeu. 7 mars 2024 à 14:05, Jean Dupont <jean@exemple.fr> a écrit :\n\nBonjour, l'imprimante est en panne.\n",
            "Merci, c'est réglé.",
        ),
        (
            "italian attribution with il giorno",
            "Grazie mille!\n\nIl giorno mar 12 mar 2024 alle ore 10:00 Mario Rossi <mario@esempio.it> ha scritto:\n> Il server non risponde.\n",
            "Grazie mille!",
        ),
        (
            "italian attribution starting with the date",
            "Va bene.\n\n12/03/2024 10:00, Mario Rossi ha scritto:\nIl server non risponde.\n",
            "Va bene.",
        ),
        (
            "german attribution with the name after the verb",
            "Danke, funktioniert wieder.\n\nAm 05.02.2024 um 08:30 schrieb Hans Müller <hans@beispiel.de>:\n> Der Drucker ist kaputt.\n",
            "Danke, funktioniert wieder.",
        ),
        (
            "spanish attribution",
            "Listo.\n\nEl 3 abr 2024, a las 9:15, Ana Ruiz <ana@ejemplo.es> escribió:\n\n> ¿Puedes revisar?\n",
            "Listo.",
        ),
        (
            "dutch attribution",
            "Prima.\n\nOp 14-02-2024 11:02 schreef Piet Jansen <piet@voorbeeld.nl>:\n\nKunnen jullie helpen?\n",
            "Prima.",
        ),
        (
            "portuguese attribution",
            "Obrigado.\n\nEm 2 de mai. de 2024, às 16:40, João Silva <joao@exemplo.pt> escreveu:\n\n> Olá\n",
            "Obrigado.",
        ),
        (
            "outlook english header block under underscores",
            "Please find the logs attached.\n\n________________________________\nFrom: Support Desk <desk@example.com>\nSent: Friday, March 8, 2024 4:12 PM\nTo: Bob Stone\nSubject: RE: VPN down\n\nHi Bob, could you send the logs?\n",
            "Please find the logs attached.",
        ),
        (
            "outlook french header block",
            "Voici la facture.\n\nDe : Service Client <client@exemple.fr>\nEnvoyé : lundi 4 mars 2024 09:00\nÀ : Marie Curie\nObjet : Facture\n\nBonjour Marie,\n",
            "Voici la facture.",
        ),
        (
            "outlook italian header block with bold keys",
            "Fatto.\n\n*Da:* Ufficio IT [mailto:it@esempio.it]\n*Inviato:* lunedì 4 marzo 2024 09:00\n*A:* Luca\n*Oggetto:* Password\n\nCiao Luca,\n",
            "Fatto.",
        ),
        (
            "outlook german header block with Date instead of Sent",
            "Erledigt.\n\nVon: IT-Support <it@beispiel.de>\nDatum: Montag, 4. März 2024 09:00\nAn: Jonas\nBetreff: Passwort\n\nHallo Jonas,\n",
            "Erledigt.",
        ),
        (
            "original message separators",
            "See below.\n\n-----Messaggio originale-----\nIl server è giù.\n",
            "See below.",
        ),
        (
            "message d'origine separator",
            "Vu.\n\n-----Message d'origine-----\nTexte ancien\n",
            "Vu.",
        ),
        (
            "ursprüngliche nachricht separator",
            "Ok.\n\n-----Ursprüngliche Nachricht-----\nAlter Text\n",
            "Ok.",
        ),
        (
            "forwarded message is kept",
            "FYI, from a customer.\n\n---------- Forwarded message ---------\nFrom: Carol <carol@example.com>\nDate: Mon, Mar 4, 2024 at 8:00 AM\nSubject: Broken login\nTo: sales@example.com\n\nI cannot log in.\n",
            "FYI, from a customer.\n\n---------- Forwarded message ---------\nFrom: Carol <carol@example.com>\nDate: Mon, Mar 4, 2024 at 8:00 AM\nSubject: Broken login\nTo: sales@example.com\n\nI cannot log in.",
        ),
        (
            "italian forwarded message is kept, mobile signature above it goes",
            "Guarda qui.\n\nInviato da iPhone\n\n-------- Messaggio inoltrato --------\nOggetto: Errore\nData: 4 marzo 2024\n\nErrore 500\n",
            "Guarda qui.\n\n-------- Messaggio inoltrato --------\nOggetto: Errore\nData: 4 marzo 2024\n\nErrore 500",
        ),
        (
            "interleaved answers keep the new lines",
            "On 2024-03-01 10:00, Dan <dan@example.com> wrote:\n> Which version?\n\n2.4.1\n\n> Which OS?\n\nDebian 12\n",
            "2.4.1\n\nDebian 12",
        ),
        (
            "dash-dash-space signature",
            "The fix is deployed.\n\n-- \nEve Adams\nIT team, ext. 4242\n",
            "The fix is deployed.",
        ),
        (
            "mobile signatures in several languages",
            "Je regarde demain.\n\nEnvoyé de mon iPhone\n",
            "Je regarde demain.",
        ),
        (
            "german mobile signature",
            "Passt.\n\nVon meinem iPhone gesendet\n",
            "Passt.",
        ),
        (
            "outlook mobile signature with its link",
            "On it.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n",
            "On it.",
        ),
        (
            "NOT cut: From: in the middle of a normal message",
            "The package arrived.\nFrom: the warehouse in Lyon, as usual.\nThanks for checking.\n",
            "The package arrived.\nFrom: the warehouse in Lyon, as usual.\nThanks for checking.",
        ),
        (
            "NOT cut: a > used as greater-than",
            "Impact of the outage:\n\n> 5 users affected\n\nPlease hurry.\n",
            "Impact of the outage:\n\n> 5 users affected\n\nPlease hurry.",
        ),
        (
            "NOT cut: a > line glued to text",
            "Click below:\n>> https://status.example.com <<\nto see the status.\n",
            "Click below:\n>> https://status.example.com <<\nto see the status.",
        ),
        (
            "NOT cut: a sentence starting with On and no verb",
            "On Monday the office is closed.\nCall 555-0100 on 2024-03-04 if urgent.\n",
            "On Monday the office is closed.\nCall 555-0100 on 2024-03-04 if urgent.",
        ),
        (
            "NOT cut: One is not On",
            "One more thing: the VPN wrote errors at 10:00:\nsee the log.\n",
            "One more thing: the VPN wrote errors at 10:00:\nsee the log.",
        ),
        (
            "NOT cut: Sent from my desk in a sentence",
            "Printed.\n\nSent from my desk, since my phone is dead.\n",
            "Printed.\n\nSent from my desk, since my phone is dead.",
        ),
        (
            "NOT cut: dash-dash inside a line",
            "Rebooted -- it works now.\nThanks\n",
            "Rebooted -- it works now.\nThanks",
        ),
        (
            "NOT cut: date, time and address lines without a header block",
            "Your appointment:\n\nDate: Tuesday 5 March 2024\nTime: 10:00\nPlace: Room 4\n",
            "Your appointment:\n\nDate: Tuesday 5 March 2024\nTime: 10:00\nPlace: Room 4",
        ),
        (
            "NOT cut: a bulleted list ending the message",
            "Steps:\n-Restart\n-Login\n",
            "Steps:\n-Restart\n-Login",
        ),
        (
            "bottom-posted reply below a french attribution and quote",
            "Le 4 mars 2024 à 09:00, Jean <jean@exemple.fr> a écrit :\n> Ça marche ?\n\nOui, depuis ce matin.\n",
            "Oui, depuis ce matin.",
        ),
        (
            "english original message separator and android signature",
            "Will do.\n\nSent from my Galaxy\n\n-----Original Message-----\nFrom: Ann\nold text\n",
            "Will do.",
        ),
        (
            "NOT cut: From and To lines of an itinerary",
            "Your trip:\nFrom: Paris\nTo: London\nHave a good journey.\n",
            "Your trip:\nFrom: Paris\nTo: London\nHave a good journey.",
        ),
        (
            "NOT cut: On <date> we sent: is not an attribution",
            "On 2024-03-04 we sent:\n- the invoice\n- the receipt\n",
            "On 2024-03-04 we sent:\n- the invoice\n- the receipt",
        ),
        (
            "NOT cut: a sentence that starts with a weekday-like word",
            "So on 2024-03-04 I wrote:\nthe first draft, attached again.\n",
            "So on 2024-03-04 I wrote:\nthe first draft, attached again.",
        ),
        (
            "all quoted: the input comes back trimmed",
            "\n> only a quote\n> nothing new\n",
            "> only a quote\n> nothing new",
        ),
        (
            "CRLF line endings",
            "Yes.\r\n\r\nOn Wed, Mar 6, 2024 at 1:00 PM, Kim <kim@example.com> wrote:\r\n> Ready?\r\n",
            "Yes.",
        ),
    ];

    #[test]
    fn visible_text_cases() {
        let mut failures = Vec::new();
        for (name, input, expected) in CASES {
            let got = visible_text(input);
            if got != *expected {
                failures.push(format!(
                    "{name}:\n  got:      {got:?}\n  expected: {expected:?}"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn never_empty_when_the_input_has_text() {
        for input in [
            "Sent from my iPhone",
            "-- \nBob",
            "-----Original Message-----\nold",
            "x",
        ] {
            assert!(!visible_text(input).is_empty(), "{input:?}");
        }
        assert_eq!(visible_text("  \n "), "");
    }

    #[test]
    fn long_quote_marker_lines_are_fast() {
        let input = format!(
            "Hi\n{}\nasdf\n{}\n{}",
            ">".repeat(50_000),
            "On ".repeat(20_000),
            "___\nx\n".repeat(20_000)
        );
        let started = std::time::Instant::now();
        let _ = visible_text(&input);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
