//! Inline forwards: a mail passed on inside another one's text, as Gmail ("---------- Forwarded
//! message ---------"), Outlook ("Fw:" subject, then a "From: / Sent: / To: / Subject:" block),
//! Apple Mail ("Begin forwarded message:"), Thunderbird ("-------- Forwarded Message --------")
//! and mutt ("----- Forwarded message from … -----" … "----- End forwarded message -----") write
//! it, in the languages we support. The forwarded mail is content: it stays in the visible text,
//! marked as forwarded, with its sender, date, subject and text. A forward that opens a ticket
//! makes the forwarded mail the request (`Forwarded` feeds the notice and the routing rules).

use super::quotes::{forwarded_from, is_forward_marker, visible_parts, visible_text};

/// The line that marks a forwarded mail in the text we store and send.
pub const FORWARD_MARK: &str = "---------- Forwarded message ----------";

/// Header lines read after a forward's marker (a wrapped To: list makes a few more).
const MAX_HEADER_LINES: usize = 16;

/// A mail forwarded inline, as its forwarder's client wrote it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Its sender as written ("Printer Room 3 <printer3@corp.example>").
    pub from: Option<String>,
    pub date: Option<String>,
    pub subject: Option<String>,
    pub text: String,
}

impl Forwarded {
    /// The forwarded mail's sender address: the one in angle brackets, else the whole value when
    /// it is one.
    pub fn address(&self) -> Option<String> {
        let from = self.from.as_deref()?.trim();
        let address = match (from.rfind('<'), from.rfind('>')) {
            (Some(open), Some(close)) if open < close => &from[open + 1..close],
            _ => from,
        };
        let address = address.trim().trim_start_matches("mailto:");
        (address.contains('@') && !address.contains(char::is_whitespace))
            .then(|| address.to_lowercase())
    }
}

/// A mail's visible text with the forward it carries read apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedText {
    /// What the forwarder wrote, then the forwarded mail marked as such (`FORWARD_MARK`, its
    /// headers, its text), then what the forwarder wrote below it.
    pub text: String,
    pub forwarded: Option<Forwarded>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Date,
    Subject,
    Other,
}

/// Header names of a forwarded block in en/fr/it/de/es, lowercased ("Sent" and its translations
/// are the date).
const FIELDS: &[(Field, &[&str])] = &[
    (
        Field::From,
        &[
            "from",
            "de",
            "da",
            "von",
            "expéditeur",
            "mittente",
            "absender",
            "remitente",
        ],
    ),
    (
        Field::Date,
        &[
            "date",
            "sent",
            "datum",
            "data",
            "fecha",
            "envoyé",
            "envoyé le",
            "inviato",
            "gesendet",
            "enviado",
            "enviado el",
        ],
    ),
    (
        Field::Subject,
        &["subject", "objet", "sujet", "oggetto", "betreff", "asunto"],
    ),
];

/// Forward prefixes of subjects (Outlook writes its forwards like its replies; only the subject
/// tells them apart): en, fr, de, es, it, and the common "Fwd".
const FORWARD_PREFIXES: &[&str] = &["fw", "fwd", "tr", "wg", "rv", "i", "enc", "inoltro"];

/// Whether `subject` starts with a forward prefix ("Fw:", "TR :", "WG:", "RV:", "I:").
pub fn is_forward_subject(subject: &str) -> bool {
    let subject = subject.trim_start();
    let Some(colon) = subject.find([':', '：']) else {
        return false;
    };
    let prefix = subject[..colon].trim().to_lowercase();
    FORWARD_PREFIXES.contains(&prefix.as_str())
}

/// The visible text of a mail with subject `subject`: quoted history and signatures cut from
/// the forwarder's words (`quotes::visible_text`), the forwarded mail kept and marked.
pub fn visible_with_forward(text: &str, subject: &str) -> ForwardedText {
    let parts = visible_parts(text, is_forward_subject(subject));
    let Some(tail) = parts.forwarded else {
        return ForwardedText {
            text: parts.own,
            forwarded: None,
        };
    };
    let (forwarded, below) = read_forward(&tail);
    let mut sections = vec![parts.own, render(&forwarded)];
    sections.push(visible_text(&below));
    ForwardedText {
        text: sections
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n"),
        forwarded: Some(forwarded),
    }
}

/// The forwarded mail as we show it: the mark, the headers we read, its text.
fn render(forwarded: &Forwarded) -> String {
    let mut out = String::from(FORWARD_MARK);
    for (name, value) in [
        ("From", &forwarded.from),
        ("Date", &forwarded.date),
        ("Subject", &forwarded.subject),
    ] {
        if let Some(value) = value {
            out.push_str(&format!("\n{name}: {value}"));
        }
    }
    out.push_str("\n\n");
    out.push_str(&forwarded.text);
    out.trim_end().to_string()
}

/// `tail` starts at a forward's marker (or, for Outlook, its header block): the forwarded mail,
/// and what follows mutt's end marker.
fn read_forward(tail: &str) -> (Forwarded, String) {
    let lines: Vec<&str> = tail.lines().collect();
    let mut forwarded = Forwarded::default();
    let mut i = 0;
    if let Some(first) = lines.first() {
        if let Some(from) = forwarded_from(first) {
            forwarded.from = Some(from.to_string());
        }
        if is_forward_marker(first) || is_frame(first) {
            i = 1;
        }
    }
    while i < lines.len() && (lines[i].trim().is_empty() || is_frame(lines[i])) {
        i += 1;
    }
    let header_start = i;
    let mut last_field = None;
    while i < lines.len() && i - header_start < MAX_HEADER_LINES {
        let line = lines[i];
        if line.trim().is_empty() {
            break;
        }
        match field(line) {
            Some((field, value)) => {
                let mut other = None;
                let slot = match field {
                    Field::From => &mut forwarded.from,
                    Field::Date => &mut forwarded.date,
                    Field::Subject => &mut forwarded.subject,
                    Field::Other => &mut other,
                };
                if field == Field::From || slot.is_none() {
                    *slot = (!value.is_empty()).then(|| value.to_string());
                }
                last_field = Some(field);
            }
            // A wrapped header line ("To: a, b,\n    c"): the block goes on.
            None if last_field.is_some() && line.starts_with([' ', '\t']) => {}
            None => break,
        }
        i += 1;
    }
    if last_field.is_none() {
        // No header block: the forwarded text starts right after the marker.
        i = header_start;
    }
    let end = lines[i..]
        .iter()
        .position(|l| is_end_marker(l))
        .map_or(lines.len(), |at| i + at);
    forwarded.text = lines[i..end].join("\n").trim().to_string();
    let below = lines.get(end + 1..).unwrap_or_default().join("\n");
    (forwarded, below)
}

/// "Key: value" of a header line, with the Markdown-like stars HTML conversion leaves
/// ("*From:* Ada").
fn field(line: &str) -> Option<(Field, &str)> {
    let line = line.trim_start_matches(['*', '_']);
    let colon = line.find([':', '：'])?;
    let key = line[..colon].trim().trim_end_matches(['*', '_']).trim();
    let value = line[colon..]
        .trim_start_matches([':', '：'])
        .trim_start_matches(['*', '_'])
        .trim();
    if key.is_empty()
        || key.split_whitespace().count() > 3
        || !key
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-')
    {
        return None;
    }
    let key = key.to_lowercase();
    let field = FIELDS
        .iter()
        .find(|(_, names)| names.contains(&key.as_str()))
        .map_or(Field::Other, |(field, _)| *field);
    Some((field, value))
}

/// A rule of dashes or underscores, or "-----Original Message-----"-like framed words.
fn is_frame(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 3 && (line.starts_with("---") || line.starts_with("___")) && !line.contains(':')
}

/// mutt's "----- End forwarded message -----" and its translations.
fn is_end_marker(line: &str) -> bool {
    let line = line.trim();
    if !line.starts_with("---") || line.len() > 120 {
        return false;
    }
    let words = line.trim_matches('-').trim().to_lowercase();
    [
        "end forwarded message",
        "fin du message transféré",
        "fine del messaggio inoltrato",
        "ende der weitergeleiteten nachricht",
        "fin del mensaje reenviado",
    ]
    .contains(&words.as_str())
}

#[cfg(test)]
mod tests;
