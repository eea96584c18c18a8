//! What goes at the end of the new text: separator lines, a "-- " signature (at most ten lines),
//! a footer under a line of underscores, a mobile client's line ("Sent from my iPhone",
//! "Envoyé de mon iPhone", "Von meinem iPhone gesendet", "iPhoneから送信", "Get Outlook for
//! Android", ...) and a "-Name" sign-off.
//!
//! A mobile line is recognised by its shape: a short line without sentence punctuation that
//! names a phone or a mail app and starts or ends with a word of sending in some language.

use super::is_blank;

/// Removes, from the end: separator lines, a "-- " signature of at most ten lines, a footer
/// under a line of underscores, a mobile signature, a "-Name" sign-off; again until none is left.
pub(super) fn strip_signature(lines: &mut Vec<super::Line<'_>>) {
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
        if is_dash_name(last) {
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

/// The line without a link glued to its end: "Get Outlook for iOS<https://aka.ms/o0ukef>".
/// The link is a bracket (`<`, `(` or `[`), `http://`, `https://` or `mailto:`, no blank, and a
/// closing bracket last. (By hand: the regex took 5% of a one-mail delivery to compile.)
fn without_trailing_link(line: &str) -> &str {
    let line = line.trim_end();
    let Some(inside) = line.strip_suffix(['>', ')', ']']) else {
        return line;
    };
    let link_start = inside
        .rfind(|c: char| c.is_whitespace() || matches!(c, '>' | ')' | ']'))
        .map_or(0, |at| {
            at + inside[at..].chars().next().map_or(1, char::len_utf8)
        });
    let tail = &inside[link_start..];
    tail.char_indices()
        .find(|&(at, c)| {
            let link = &tail[at + c.len_utf8()..];
            matches!(c, '<' | '(' | '[')
                && ["http://", "https://", "mailto:"]
                    .iter()
                    .any(|scheme| link.starts_with(scheme))
        })
        .map_or(line, |(at, _)| &line[..link_start + at])
}

/// Phones, tablets and mail apps as "sent from" lines name them, lowercased; matched at the
/// start of a word, so that "iPhone'a" and "iPhonesta" count.
const DEVICES: &[&str] = &[
    "iphone",
    "ipad",
    "ipod",
    "android",
    "blackberry",
    "galaxy",
    "samsung",
    "huawei",
    "xiaomi",
    "nokia",
    "motorola",
    "xperia",
    "outlook",
    "gmail",
    "yahoo",
    "proton",
    "aol",
    "spark",
    "sparrow",
    "airmail",
    "bluemail",
    "edison",
    "k-9",
    "fairemail",
    "thunderbird",
    "mail",
    "e-mail",
    "windows",
    "mobile",
    "mobil",
    "phone",
    "smartphone",
    "handy",
    "tablet",
    "telefono",
    "cellulare",
    "móvil",
    "movil",
    "celular",
    "teléfono",
    "téléphone",
    "telefon",
    "telefoon",
    "puhelin",
    "puhelimesta",
    "komórk",
    "телефон",
    "смартфон",
    "手机",
    "手機",
    "携帯",
    "휴대폰",
    "스마트폰",
    "갤럭시",
];
/// Words of sending that open such a line ("Sent from", "Envoyé de", "Wysłane z").
const OPENING_WORDS: &[&str] = &[
    "sent",
    "envoyé",
    "envoye",
    "inviato",
    "gesendet",
    "enviado",
    "enviada",
    "enviat",
    "verzonden",
    "verstuurd",
    "skickat",
    "skickad",
    "sendt",
    "lähetetty",
    "wysłane",
    "wysłano",
    "wysłana",
    "odesláno",
    "odoslané",
    "отправлено",
    "послано",
];
/// Words that open an app's advertisement ("Get Outlook for iOS"); only with the app's name.
const OFFER_WORDS: &[&str] = &[
    "get",
    "obtenir",
    "télécharger",
    "scarica",
    "descargar",
    "descarga",
    "baixe",
    "baixar",
    "download",
    "holen",
    "hent",
    "skaffa",
    "pobierz",
    "lataa",
];
/// Prepositions and possessives between the word of sending and the device.
const LINKS: &[&str] = &[
    "from",
    "with",
    "via",
    "using",
    "on",
    "de",
    "depuis",
    "da",
    "dal",
    "dal mio",
    "dall'app",
    "von",
    "mit",
    "desde",
    "do",
    "des",
    "del",
    "vanaf",
    "van",
    "met",
    "från",
    "fra",
    "med",
    "z",
    "ze",
    "с",
    "со",
    "из",
    "my",
    "mon",
    "ma",
    "il",
    "mio",
    "meinem",
    "mi",
    "meu",
    "mijn",
    "min",
    "mitt",
    "mój",
    "mojego",
    "мой",
    "моего",
];
/// Words of sending that close such a line ("Von meinem iPhone gesendet").
const CLOSING_WORDS: &[&str] = &[
    "gesendet",
    "verzonden",
    "verstuurd",
    "herunterladen",
    "beziehen",
];
/// The same in scripts without spaces: "iPhoneから送信", "从我的iPhone发送", "나의 iPhone에서 보냄".
const GLUED_OPENINGS: &[&str] = &["从我的", "來自我的", "发自我的", "發自我的"];
const GLUED_CLOSINGS: &[&str] = &["送信", "发送", "發送", "보냄", "보냈습니다"];

pub(super) fn is_mobile_signature(line: &str) -> bool {
    let line = without_trailing_link(line.trim());
    let line = line.trim().trim_end_matches('.');
    if line.is_empty()
        || line.chars().count() > 60
        || line.contains([',', ';', ':', '?', '!', '(', '，', '。'])
    {
        return false;
    }
    let lower = line.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    if words.len() > 8 {
        return false;
    }
    let is_device = |word: &str| {
        DEVICES
            .iter()
            .any(|device| word.starts_with(device) || (!word.is_ascii() && word.contains(device)))
    };
    if !words.iter().any(|w| is_device(w)) {
        return false;
    }
    if lower.starts_with("sent from my ") && words.len() <= 6 {
        return true;
    }
    let first = words[0];
    let second = words.get(1).copied().unwrap_or("");
    let last = words[words.len() - 1];
    let opens = OPENING_WORDS.contains(&first) && (LINKS.contains(&second) || is_device(second));
    let offers = OFFER_WORDS.contains(&first) && lower.contains("outlook");
    let closes = CLOSING_WORDS.contains(&last) && LINKS.contains(&first);
    let glued = GLUED_OPENINGS.iter().any(|w| first.starts_with(w))
        || GLUED_CLOSINGS.iter().any(|w| last.ends_with(w));
    opens || offers || closes || glued || lower.starts_with("outlook für")
}

/// A "-Name" sign-off: "-Abhishek Kona", "--Jo".
fn is_dash_name(line: &str) -> bool {
    let Some(name) = line.strip_prefix('-') else {
        return false;
    };
    let name = name.strip_prefix('-').unwrap_or(name);
    let words: Vec<&str> = name.split_whitespace().collect();
    !name.starts_with(char::is_whitespace)
        && (1..=3).contains(&words.len())
        && words.iter().all(|word| {
            word.starts_with(char::is_uppercase)
                && !word.contains([',', ';', ':', '!', '?', '(', ')', '[', ']', '<', '>', '/'])
        })
}

#[cfg(test)]
mod tests {
    /// The hand-written matcher against the regex it replaced.
    #[test]
    fn trailing_links_go_as_the_regex_took_them() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let regex =
            regex::Regex::new(r"\s*[<(\[](?:https?://|mailto:)[^\s>)\]]*[>)\]]\s*$").unwrap();
        let piece = prop::sample::select(vec![
            "Get Outlook for iOS",
            " ",
            "\t",
            "<",
            "(",
            "[",
            ">",
            ")",
            "]",
            "https://",
            "http://",
            "mailto:",
            "aka.ms/x",
            "é",
            "http:/",
            "<https://a.b>",
        ]);
        let line = prop::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat());
        TestRunner::new(Config::with_cases(4000))
            .run(&line, |line| {
                let line = line.trim();
                let expected = regex.replace(line, "");
                prop_assert_eq!(super::without_trailing_link(line).trim(), expected.trim());
                Ok(())
            })
            .unwrap();
        assert_eq!(
            super::without_trailing_link("Get Outlook for iOS<https://aka.ms/o0ukef>"),
            "Get Outlook for iOS"
        );
        assert_eq!(
            super::without_trailing_link("Envoyé de mon iPhone (mailto:a@b.c)"),
            "Envoyé de mon iPhone "
        );
        assert_eq!(super::without_trailing_link("see [this]"), "see [this]");
    }

    use super::is_mobile_signature;

    #[test]
    fn mobile_lines_in_many_languages() {
        for line in [
            "Sent from my iPhone",
            "Sent from my Verizon Wireless BlackBerry",
            "Sent from Outlook for Android",
            "Get Outlook for iOS<https://aka.ms/o0ukef>",
            "Envoyé de mon iPhone",
            "Inviato da iPhone",
            "Von meinem iPhone gesendet",
            "Enviado desde mi iPhone",
            "Enviado do meu iPhone",
            "Enviat des del meu iPhone",
            "Verstuurd vanaf mijn iPhone",
            "Skickat från min iPhone",
            "Sendt fra min iPhone",
            "Lähetetty iPhonesta",
            "Wysłane z iPhone'a",
            "Отправлено с iPhone",
            "从我的iPhone发送",
            "iPhoneから送信",
            "나의 iPhone에서 보냄",
            "Outlook für Android herunterladen",
            "Sent from Yahoo Mail on Android",
        ] {
            assert!(is_mobile_signature(line), "{line}");
        }
        for line in [
            "Sent from my desk, since my phone is dead.",
            "I sent the file from my phone",
            "Please send it to my iPhone",
            "Thanks",
            "Get well soon",
            "Get the mail from Bob",
            "Sent the invoice by mail",
            "Ich habe es mit dem Handy gesendet",
        ] {
            assert!(!is_mobile_signature(line), "{line}");
        }
    }
}
