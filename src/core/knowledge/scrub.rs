//! Personal data out of a ticket's text before it becomes an article others will read: mail
//! addresses, phone numbers and the names of the ticket's participants.

use std::sync::LazyLock;

use regex::Regex;

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)[a-z0-9._%+'-]+@[a-z0-9.-]+\.[a-z]{2,}|[a-z0-9._%+'-]+@\[[0-9a-f.:]+\]")
        .expect("address pattern")
});

/// Seven digits or more, in the groupings people write them: `+33 1 23 45 67 89`,
/// `(555) 010-2030`, `06.12.34.56.78`, `+39 347 123 4567`.
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\+\d|\(\d|\b\d)[\d().\-/ \u{a0}]{5,}\d\b").expect("phone pattern")
});

pub const ADDRESS_MARK: &str = "[address]";
pub const PHONE_MARK: &str = "[phone]";
pub const NAME_MARK: &str = "[name]";

/// `text` with addresses, phone numbers and the given names (each word of a participant's
/// display name of three letters or more, and the name whole) replaced by marks.
pub fn scrub(text: &str, names: &[&str]) -> String {
    let text = ADDRESS.replace_all(text, ADDRESS_MARK);
    let text = PHONE.replace_all(&text, |found: &regex::Captures| {
        let digits = found[0].chars().filter(char::is_ascii_digit).count();
        match digits >= 7 {
            true => PHONE_MARK.to_string(),
            false => found[0].to_string(),
        }
    });
    let mut words: Vec<String> = names
        .iter()
        .flat_map(|name| {
            std::iter::once(name.trim().to_string()).chain(
                name.split(|c: char| !c.is_alphanumeric() && c != '-' && c != '\'')
                    .filter(|w| w.chars().count() >= 3)
                    .map(str::to_string),
            )
        })
        .filter(|w| !w.is_empty())
        .collect();
    // Whole names first, so that "Hélène Marchand" is one mark and not two.
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    words.dedup();
    if words.is_empty() {
        return text.into_owned();
    }
    let pattern = words
        .iter()
        .map(|w| regex::escape(w))
        .collect::<Vec<_>>()
        .join("|");
    match Regex::new(&format!(r"(?iu)\b(?:{pattern})\b")) {
        Ok(names) => names.replace_all(&text, NAME_MARK).into_owned(),
        Err(_) => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_phones_and_names_are_marked() {
        let text = "Bonjour, c'est Hélène Marchand (helene.marchand@example.com), \
                    appelez-moi au +33 1 23 45 67 89 ou 06.12.34.56.78. Merci Hélène.\n\
                    Ticket 1042, imprimante du 2e étage, 3 pages.";
        let scrubbed = scrub(text, &["Hélène Marchand", "bob"]);
        assert_eq!(
            scrubbed,
            "Bonjour, c'est [name] ([address]), appelez-moi au [phone] ou [phone]. Merci [name].\n\
             Ticket 1042, imprimante du 2e étage, 3 pages."
        );
    }

    #[test]
    fn short_numbers_and_unrelated_words_stay() {
        let text = "Error 0x80070005 on build 2024-11 for 12 users; Bobby's laptop";
        assert_eq!(scrub(text, &["Bob"]), text);
        assert_eq!(scrub("ring (555) 010-2030 now", &[]), "ring [phone] now");
        assert_eq!(scrub("x@[127.0.0.1] wrote", &[]), "[address] wrote");
    }

    #[test]
    fn a_name_with_regex_characters_is_taken_literally() {
        assert_eq!(
            scrub("ask A.B. (c) Smith", &["A.B. (c) Smith"]),
            "ask [name]"
        );
    }
}
