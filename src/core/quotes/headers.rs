//! The quoted mail's header block that Outlook (desktop, web, mobile), Samsung Email, Thunderbird
//! and others write above the history ("From: / Sent: / To: / Subject:" in the client's
//! language), the separators they put above it ("-----Original Message-----", "-------- Oprindelig
//! besked --------", a line of underscores or equals signs), and forwarded-message markers.

use std::sync::LazyLock;

use regex::Regex;

use super::attribution::has_address;
use super::is_blank;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    /// "Sent:" and its translations: only mail headers say it.
    Sent,
    /// "Date:" and its translations: forms say it too.
    Date,
    To,
    Cc,
    Subject,
}

/// Header names as the clients write them, per field, in the languages our users write.
const FIELD_KEYS: &[(Field, &str)] = &[
    (
        Field::From,
        "From|De|Da|Von|Van|Fra|Från|Od|От|Від|Từ|Lähettäjä|Feladó|Kimden|Remitente|Afzender|Avsändare|Afsender|Avsender|Absender|Expéditeur|Mittente|Nadawca|Odesílatel|发件人|寄件者|寄件人|差出人|送信者|보낸 사람|보낸사람",
    ),
    (
        Field::Sent,
        "Sent|Envoyé|Envoye|Inviato|Gesendet|Verzonden|Verstuurd|Sendt|Skickat|Enviado|Enviada|Enviado el|Enviada em|Enviado em|Enviat|Enviat el|Wysłano|Wysłane|Отправлено|Gửi|Lähetetty|Odesláno|发送时间|發送時間|送信日時|보낸 날짜",
    ),
    (
        Field::Date,
        "Date|Datum|Data|Дата|Ngày|Fecha|Päivämäärä|Dátum|Dato|Tarih|日期|时间|日付|日時|날짜",
    ),
    (
        Field::To,
        "To|À|A|An|Aan|Til|Till|Para|Per a|Do|Кому|Đến|Vastaanottaja|Címzett|Kime|Komu|Destinataire|Destinatario|Adresat|Empfänger|收件人|收件者|宛先|받는 사람|받는사람",
    ),
    (
        Field::Cc,
        "Cc|CC|Kopie|Copie|Copia|Kopia|Kopi|Копия|Kopio|Másolat|Bilgi|Kopioi|抄送|副本|참조",
    ),
    (
        Field::Subject,
        "Subject|Objet|Oggetto|Betreff|Onderwerp|Emne|Ämne|Asunto|Assunto|Assumpte|Temat|Тема|Chủ đề|Aihe|Tárgy|Konu|Předmět|Sujet|主题|主旨|件名|제목",
    ),
];

/// A second header field further along the same line ("From: a@b.c Date: Thu, 24 Mar 2016").
static INLINE_FIELDS: LazyLock<Vec<(Field, Regex)>> = LazyLock::new(|| {
    FIELD_KEYS
        .iter()
        .filter(|(field, _)| matches!(field, Field::Sent | Field::Date | Field::Subject))
        .map(|(field, keys)| {
            let re = Regex::new(&format!(r"\s[*_]{{0,2}}(?:{keys})[*_]{{0,2}}\s?:\s")).unwrap();
            (*field, re)
        })
        .collect()
});
/// Longest line read as a header field or separator: header lines are short, and the bound
/// keeps the work per line constant.
const MAX_BYTES: usize = 1000;

/// The field a line starts with: "Key:" (also "*Key:*", "Key :", "发件人：").
fn header_field(line: &str) -> Option<Field> {
    let (key, rest) = match line.find([':', '：']) {
        Some(at) if at <= 48 => (&line[..at], &line[at..]),
        _ => return None,
    };
    // After an ASCII colon comes a space or the end ("Time:10" is not a field); a full-width
    // colon needs nothing after it.
    let spaced = rest.strip_prefix(':').is_none_or(|after| {
        after
            .trim_start_matches(['*', '_'])
            .chars()
            .next()
            .is_none_or(char::is_whitespace)
    });
    let key = key.trim().trim_matches(['*', '_']).trim_end();
    if !spaced || key.is_empty() {
        return None;
    }
    FIELD_KEYS
        .iter()
        .find(|(_, keys)| keys.split('|').any(|k| k == key))
        .map(|(field, _)| *field)
}

/// Finds quoted mails' header blocks in a mail's lines. What it learns about a line is kept, so
/// that each line is read once however many blocks are tried over it.
pub(super) struct HeaderScanner<'a> {
    lines: &'a [&'a str],
    facts: Vec<Option<LineFacts>>,
}

#[derive(Clone, Copy)]
struct LineFacts {
    field: Option<Field>,
    /// A mail address: what tells a quoted mail's header from a form or an itinerary.
    address: bool,
}

impl<'a> HeaderScanner<'a> {
    pub(super) fn new(lines: &'a [&'a str]) -> Self {
        HeaderScanner {
            lines,
            facts: vec![None; lines.len()],
        }
    }

    fn facts(&mut self, i: usize) -> LineFacts {
        if let Some(facts) = self.facts[i] {
            return facts;
        }
        let line = self.lines[i];
        let field = header_field(line);
        let address = line.len() <= MAX_BYTES && has_address(line);
        let facts = LineFacts { field, address };
        self.facts[i] = Some(facts);
        facts
    }

    /// A quoted mail's header block starting at line `i`: different fields (From, Sent/Date,
    /// To, Cc, Subject, in many languages) on consecutive lines, one of them From or both a
    /// date and To. Two fields need an address among them; three or more need an address or a
    /// field only mail has (Subject, Sent), so that a form ("From: Paris / To: London / Date:
    /// 4 March") stays. One line
    /// that is not a field may sit among them (a wrapped To: list).
    pub(super) fn block_at(&mut self, i: usize) -> bool {
        let first = self.facts(i);
        let Some(field) = first.field else {
            return false;
        };
        let mut fields = vec![field];
        for (inline, re) in INLINE_FIELDS.iter() {
            if field == Field::From && re.is_match(self.lines[i]) && !fields.contains(inline) {
                fields.push(*inline);
            }
        }
        let mut address = first.address;
        let mut gap = 0;
        let last = (i + 12).min(self.lines.len() - 1);
        for j in i + 1..=last {
            if is_blank(self.lines[j]) {
                break;
            }
            let facts = self.facts(j);
            address |= facts.address;
            match facts.field {
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
        }
        let dated = fields.contains(&Field::Sent) || fields.contains(&Field::Date);
        let anchored = fields.contains(&Field::From) || (dated && fields.contains(&Field::To));
        let mail_only = fields.contains(&Field::Subject) || fields.contains(&Field::Sent);
        anchored
            && match fields.len() {
                0 | 1 => false,
                2 => address,
                _ => address || mail_only,
            }
    }
}

/// Words of the line a client puts above the quoted original ("-----Original Message-----").
const ORIGINAL_WORDS: &[&str] = &[
    "original message",
    "reply message",
    "ursprüngliche nachricht",
    "ursprungliche nachricht",
    "antwort nachricht",
    "oprindelig meddelelse",
    "oprindelig besked",
    "opprinnelig melding",
    "opprinnelig e-post",
    "ursprungligt meddelande",
    "originalmeddelande",
    "alkuperäinen viesti",
    "message d'origine",
    "message d’origine",
    "message original",
    "messaggio originale",
    "mensaje original",
    "mensagem original",
    "missatge original",
    "oorspronkelijk bericht",
    "origineel bericht",
    "oryginalna wiadomość",
    "wiadomość oryginalna",
    "původní zpráva",
    "pôvodná správa",
    "исходное сообщение",
    "оригинальное сообщение",
    "原始邮件",
    "原始郵件",
    "元のメッセージ",
    "원본 메시지",
    "eredeti üzenet",
    "orijinal ileti",
];
/// Words of a forwarded-message marker: what follows it is passed on on purpose and stays.
const FORWARD_WORDS: &[&str] = &[
    "forwarded message",
    "begin forwarded message",
    "weitergeleitete nachricht",
    "anfang der weitergeleiteten nachricht",
    "message transféré",
    "message transfere",
    "début du message réexpédié",
    "début du message transféré",
    "messaggio inoltrato",
    "inizio messaggio inoltrato",
    "mensaje reenviado",
    "inicio del mensaje reenviado",
    "comienzo del mensaje reenviado",
    "mensagem encaminhada",
    "início da mensagem reencaminhada",
    "mensagem reencaminhada",
    "missatge reenviat",
    "doorgestuurd bericht",
    "begin doorgestuurd bericht",
    "videresendt meddelelse",
    "videresendt besked",
    "videresendt melding",
    "vidarebefordrat meddelande",
    "välitetty viesti",
    "przekazana wiadomość",
    "wiadomość przekazana",
    "přeposlaná zpráva",
    "пересылаемое сообщение",
    "пересланное сообщение",
    "转发的邮件",
    "已转发邮件",
    "転送されたメッセージ",
    "전달된 메시지",
];

/// The words of a line framed by dashes, equals signs or underscores ("-----Original
/// Message-----", "---------- Forwarded message ---------", "Begin forwarded message:"),
/// lowercased; `None` when the line is not such a marker.
fn marker_words(line: &str) -> Option<String> {
    if line.len() > 160 {
        return None;
    }
    let frame = |c: char| matches!(c, '-' | '_' | '=' | '*') || c.is_whitespace();
    let words = line
        .trim_matches(frame)
        .trim_end_matches([':', '：'])
        .trim_matches(frame);
    (!words.is_empty() && words.split_whitespace().count() <= 5).then(|| words.to_lowercase())
}

/// A line that opens a forwarded mail: "---------- Forwarded message ---------", "Begin
/// forwarded message:", mutt's "----- Forwarded message from Ada <ada@x> -----", in the
/// languages we know.
pub fn is_forward_marker(line: &str) -> bool {
    marker_words(line).is_some_and(|words| FORWARD_WORDS.contains(&words.as_str()))
        || forwarded_from(line).is_some()
}

/// Words of mutt's marker ("----- Forwarded message from Ada <ada@x> -----") before the sender,
/// lowercased, in the languages of its translations.
const FORWARDED_FROM_WORDS: &[&str] = &[
    "forwarded message from ",
    "message transféré de la part de ",
    "message transféré de ",
    "messaggio inoltrato da ",
    "weitergeleitete nachricht von ",
    "mensaje reenviado de ",
];

/// The sender named by mutt's forward marker: a line framed by dashes on both sides.
pub(crate) fn forwarded_from(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.len() > 400 || !line.starts_with("---") || !line.ends_with("---") {
        return None;
    }
    let inner = line.trim_matches('-').trim();
    let lower = inner.to_lowercase();
    let words = FORWARDED_FROM_WORDS
        .iter()
        .find(|w| lower.starts_with(*w))?;
    // Lowercasing keeps these prefixes' byte lengths, so the offset holds in `inner`.
    inner
        .get(words.len()..)
        .map(str::trim)
        .filter(|from| !from.is_empty())
}

/// "-----Original Message-----" in the languages we know.
pub(super) fn is_original_separator(line: &str) -> bool {
    let framed = line.trim_start().starts_with(['-', '=', '_', '*']);
    framed && marker_words(line).is_some_and(|words| ORIGINAL_WORDS.contains(&words.as_str()))
}

/// A separator line a client puts above a header block: a rule of dashes, underscores or
/// equals signs, or words framed by them in a language we may not know ("-------- Оригинал
/// --------").
pub(super) fn is_separator(line: &str) -> bool {
    let line = line.trim();
    if line.chars().count() >= 3
        && line
            .chars()
            .all(|c| matches!(c, '-' | '_' | '=' | '*' | '~'))
    {
        return true;
    }
    let framed = |c: char| matches!(c, '-' | '=' | '_');
    line.starts_with("--")
        && line.ends_with("--")
        && line.trim_matches(framed).len() + 4 <= line.len()
        && marker_words(line).is_some()
        || is_original_separator(line)
}

#[cfg(test)]
mod tests {
    use super::{is_forward_marker, is_original_separator, is_separator, HeaderScanner};

    #[test]
    fn header_blocks_in_many_languages() {
        for block in [
            "From: Ada <ada@example.org>\nSent: Monday, March 4, 2024 9:12 AM\nTo: Bob\nSubject: VPN",
            "Fra: Ada <ada@example.org>\nSendt: 4. marts 2024 09:12\nTil: Bob\nEmne: VPN",
            "Lähettäjä: Ada <ada@example.org>\nLähetetty: maanantai 4. maaliskuuta 2024 9.12\nVastaanottaja: Bob\nAihe: VPN",
            "От: Ada <ada@example.org>\nОтправлено: 4 марта 2024 г. 9:12\nКому: Bob\nТема: VPN",
            "发件人: Ada <ada@example.org>\n发送时间: 2024年3月4日 9:12\n收件人: Bob\n主题: VPN",
            "差出人: Ada <ada@example.org>\n送信日時: 2024年3月4日 9:12\n宛先: Bob\n件名: VPN",
            "보낸 사람: Ada <ada@example.org>\n보낸 날짜: 2024년 3월 4일 월요일 오전 9:12\n받는 사람: Bob\n제목: VPN",
            "发件人：Ada <ada@example.org>\n发送时间：2024年3月4日 9:12\n收件人：Bob\n主题：VPN",
        ] {
            let lines: Vec<&str> = block.lines().collect();
            assert!(HeaderScanner::new(&lines).block_at(0), "{block}");
        }
    }

    #[test]
    fn separators_and_markers() {
        assert!(is_original_separator("-----Original Message-----"));
        assert!(is_original_separator("-------- Oprindelig besked --------"));
        assert!(is_separator("-------- Оригинал --------"));
        assert!(is_separator("====="));
        assert!(is_separator("________________________________"));
        assert!(!is_separator("-- "));
        assert!(!is_separator("-Ada"));
        assert!(is_forward_marker("---------- Forwarded message ---------"));
        assert!(is_forward_marker("Begin forwarded message:"));
        assert!(!is_forward_marker("I forwarded message 3 to Bob:"));
        assert!(is_forward_marker(
            "----- Forwarded message from Printer Room 3 <printer3@corp.example> -----"
        ));
        assert!(is_forward_marker(
            "----- Messaggio inoltrato da Ada <ada@x.example> -----"
        ));
        assert!(!is_forward_marker("----- End forwarded message -----"));
        assert!(!is_forward_marker("Forwarded message from Ada below"));
    }
}
