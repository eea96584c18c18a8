//! Text to search terms: the same analysis for what is indexed and what is asked, so that
//! "Imprimante bloquée", "imprimantes bloquees" and "l'imprimante se bloque" meet.
//!
//! Words are lower-cased, split at anything not a letter or a digit (so elisions like `l'` and
//! `dell'` fall away), folded to plain letters (accents are often missing in real mail), stripped
//! of the language's stop words and greetings, and stemmed with the Snowball stemmer of the
//! language when it has one.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Longest word kept: longer runs are hashes, tokens or base64, never how people ask.
const MAX_WORD_CHARS: usize = 24;

/// The Snowball stemmer for a language code, if there is one.
fn stemmer(language: &str) -> Option<Stemmer> {
    let algorithm = match language {
        "en" => Algorithm::English,
        "fr" => Algorithm::French,
        "it" => Algorithm::Italian,
        "de" => Algorithm::German,
        "es" => Algorithm::Spanish,
        "pt" => Algorithm::Portuguese,
        "nl" => Algorithm::Dutch,
        "sv" => Algorithm::Swedish,
        "da" => Algorithm::Danish,
        "no" | "nb" => Algorithm::Norwegian,
        "fi" => Algorithm::Finnish,
        "ro" => Algorithm::Romanian,
        "hu" => Algorithm::Hungarian,
        "ru" => Algorithm::Russian,
        "tr" => Algorithm::Turkish,
        _ => return None,
    };
    Some(Stemmer::create(algorithm))
}

/// Whether a language code has a stemmer (config checks the languages it is given).
pub fn has_stemmer(language: &str) -> bool {
    stemmer(language).is_some()
}

/// Words that say nothing about the question, in folded form: function words, greetings and
/// sign-offs, and the generic words of asking for help.
fn is_stop_word(language: &str, word: &str) -> bool {
    COMMON.contains(&word)
        || match language {
            "en" => EN.contains(&word),
            "fr" => FR.contains(&word),
            "it" => IT.contains(&word),
            _ => false,
        }
}

/// Mail words in every language: people mix them in.
const COMMON: &[&str] = &[
    "hello",
    "hi",
    "thanks",
    "thank",
    "regards",
    "cheers",
    "please",
    "bonjour",
    "merci",
    "cordialement",
    "salut",
    "ciao",
    "grazie",
    "saluti",
    "buongiorno",
    "salve",
    "cordiali",
    "distinti",
    "re",
    "fw",
    "fwd",
    "tr",
    "r",
    "i",
    "cc",
    "objet",
    "subject",
    "oggetto",
    "sent",
    "envoye",
    "inviato",
    "from",
    "de",
    "da",
    "to",
    "a",
    "date",
    "data",
    "www",
    "http",
    "https",
    "com",
    "org",
    "net",
    "mailto",
];

const EN: &[&str] = &[
    "the",
    "and",
    "or",
    "of",
    "in",
    "on",
    "at",
    "for",
    "with",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "my",
    "me",
    "we",
    "our",
    "you",
    "your",
    "he",
    "she",
    "they",
    "them",
    "his",
    "her",
    "an",
    "as",
    "by",
    "if",
    "so",
    "but",
    "not",
    "no",
    "do",
    "does",
    "did",
    "have",
    "has",
    "had",
    "can",
    "could",
    "would",
    "should",
    "will",
    "am",
    "there",
    "here",
    "what",
    "which",
    "who",
    "when",
    "how",
    "why",
    "any",
    "some",
    "all",
    "just",
    "also",
    "get",
    "got",
    "still",
    "again",
    "since",
    "now",
    "then",
    "than",
    "too",
    "very",
    "up",
    "out",
    "about",
    "into",
    "from",
    "dear",
    "team",
    "kind",
    "best",
    "morning",
    "afternoon",
    "help",
    "need",
    "issue",
    "problem",
    "anyone",
    "someone",
    "thx",
    "pls",
    "asap",
    "urgent",
    "today",
    "yesterday",
    "hey",
    "ok",
    "im",
    "dont",
    "cant",
    "doesnt",
    "isnt",
    "ive",
    "one",
];

const FR: &[&str] = &[
    "le",
    "la",
    "les",
    "un",
    "une",
    "des",
    "du",
    "au",
    "aux",
    "et",
    "ou",
    "en",
    "dans",
    "sur",
    "pour",
    "par",
    "avec",
    "sans",
    "sous",
    "est",
    "sont",
    "etre",
    "ai",
    "as",
    "avons",
    "avez",
    "ont",
    "avoir",
    "je",
    "tu",
    "il",
    "elle",
    "nous",
    "vous",
    "ils",
    "elles",
    "on",
    "me",
    "te",
    "se",
    "mon",
    "ma",
    "mes",
    "ton",
    "ta",
    "tes",
    "son",
    "sa",
    "ses",
    "notre",
    "votre",
    "nos",
    "vos",
    "leur",
    "leurs",
    "ce",
    "cet",
    "cette",
    "ces",
    "ca",
    "cela",
    "qui",
    "que",
    "quoi",
    "dont",
    "ne",
    "pas",
    "plus",
    "moins",
    "tres",
    "bien",
    "mais",
    "donc",
    "car",
    "si",
    "comme",
    "quand",
    "comment",
    "pourquoi",
    "aussi",
    "encore",
    "deja",
    "toujours",
    "tout",
    "tous",
    "toute",
    "toutes",
    "fait",
    "faire",
    "peux",
    "peut",
    "pouvez",
    "pourriez",
    "voudrais",
    "suis",
    "etes",
    "madame",
    "monsieur",
    "mme",
    "mr",
    "svp",
    "stp",
    "aide",
    "aider",
    "besoin",
    "probleme",
    "urgent",
    "bonne",
    "journee",
    "bonsoir",
    "equipe",
    "remercie",
    "avance",
    "salutations",
    "bien",
    "qu",
    "l",
    "d",
    "j",
    "n",
    "s",
    "c",
    "y",
    "lui",
    "moi",
    "toi",
    "avait",
    "etait",
    "ete",
    "soit",
    "sera",
    "depuis",
    "apres",
    "avant",
    "entre",
    "chez",
];

const IT: &[&str] = &[
    "il", "lo", "la", "i", "gli", "le", "un", "uno", "una", "di", "del", "dello", "della", "dei",
    "degli", "delle", "al", "allo", "alla", "ai", "agli", "alle", "dal", "dalla", "nel", "nello",
    "nella", "nei", "nelle", "sul", "sulla", "con", "per", "tra", "fra", "su", "e", "ed", "o",
    "ma", "che", "chi", "cui", "non", "si", "mi", "ti", "ci", "vi", "ne", "sono", "sei", "siamo",
    "siete", "ho", "hai", "ha", "abbiamo", "avete", "hanno", "essere", "avere", "mio", "mia",
    "miei", "mie", "tuo", "tua", "suo", "sua", "nostro", "nostra", "vostro", "vostra", "questo",
    "questa", "questi", "queste", "quello", "quella", "come", "quando", "perche", "anche",
    "ancora", "gia", "sempre", "tutto", "tutti", "molto", "piu", "poi", "se", "io", "tu", "lui",
    "lei", "noi", "voi", "loro", "posso", "puo", "potete", "potreste", "vorrei", "aiuto",
    "aiutare", "bisogno", "problema", "urgente", "gentili", "gentile", "egregio", "dell", "dall",
    "nell", "sull", "all", "l", "un", "c", "e", "era", "stato", "stata", "fatto", "fare", "dopo",
    "prima", "oggi", "ieri", "ok", "qualcuno",
];

/// Lower case, accents and ligatures folded to plain letters.
pub fn fold(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for c in word.nfd().filter(|c| !is_combining_mark(*c)) {
        match c {
            'œ' | 'Œ' => folded.push_str("oe"),
            'æ' | 'Æ' => folded.push_str("ae"),
            'ß' => folded.push_str("ss"),
            _ => folded.extend(c.to_lowercase()),
        }
    }
    folded
}

/// Abbreviations and loanwords of support mail, with the words the articles of a language use for
/// them: a requester writes `mdp`, `pwd` or `password` where the article says `mot de passe`.
/// Both the index and the request are expanded, the word itself kept.
const SAME_AS: &[(&str, &str, &str)] = &[
    ("*", "pwd", "password"),
    ("*", "passwd", "password"),
    ("*", "2fa", "mfa"),
    ("*", "otp", "mfa"),
    ("*", "wlan", "wifi"),
    ("en", "mfa", "multi factor authentication"),
    ("en", "ooo", "out of office"),
    ("en", "pc", "computer"),
    ("en", "creds", "credentials"),
    ("fr", "mdp", "mot de passe"),
    ("fr", "password", "mot de passe"),
    ("fr", "mfa", "double authentification"),
    ("fr", "printer", "imprimante"),
    ("fr", "laptop", "ordinateur portable"),
    ("fr", "ordi", "ordinateur"),
    ("fr", "pc", "ordinateur poste"),
    ("fr", "email", "mail messagerie"),
    ("fr", "courriel", "mail messagerie"),
    ("fr", "login", "identifiant"),
    ("it", "mfa", "autenticazione due fattori"),
    ("it", "printer", "stampante"),
    ("it", "laptop", "portatile"),
    ("it", "notebook", "portatile"),
    ("it", "pc", "computer"),
    ("it", "email", "posta mail"),
    ("it", "login", "credenziali accesso"),
];

/// `word` and the words `SAME_AS` gives it in `language`, and theirs (`pwd`, `password`,
/// `mot de passe`).
fn with_same(language: &str, word: String) -> Vec<String> {
    let mut words = vec![word];
    let mut next = 0;
    while next < words.len() {
        for (lang, short, long) in SAME_AS {
            if (*lang == "*" || *lang == language) && *short == words[next] {
                for added in long.split(' ') {
                    if !words.iter().any(|w| w == added) {
                        words.push(added.to_string());
                    }
                }
            }
        }
        next += 1;
    }
    words
}

/// The search terms of `text` in `language` (a language code), in order, repeats kept.
pub fn terms(text: &str, language: &str) -> Vec<String> {
    let stemmer = stemmer(language);
    // Addresses and links name people and places, not the problem.
    text.split_whitespace()
        .filter(|word| !word.contains('@') && !word.contains("://") && !word.starts_with("www."))
        .flat_map(|word| word.split(|c: char| !c.is_alphanumeric()))
        .filter(|word| !word.is_empty() && word.chars().count() <= MAX_WORD_CHARS)
        .map(fold)
        .flat_map(|word| with_same(language, word))
        .filter(|word| word.chars().count() >= 2 && !is_stop_word(language, word))
        // A bare number of more than four digits is a phone, a date or an order number.
        .filter(|word| !(word.len() > 4 && word.bytes().all(|b| b.is_ascii_digit())))
        .map(|word| match &stemmer {
            Some(stemmer) => stemmer.stem(&word).into_owned(),
            None => word,
        })
        .collect()
}

/// The distinct terms of `text`, in first-seen order.
pub fn distinct_terms(text: &str, language: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    terms(text, language)
        .into_iter()
        .filter(|term| seen.insert(term.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_and_inflections_meet() {
        assert_eq!(
            terms("Imprimante bloquée", "fr"),
            terms("imprimantes bloquees", "fr")
        );
        assert_eq!(terms("l'imprimante", "fr"), terms("imprimante", "fr"));
        assert_eq!(
            terms("la stampante è bloccata", "it"),
            terms("stampanti bloccate", "it")
        );
        assert_eq!(terms("Printers printing", "en"), ["printer", "print"]);
    }

    #[test]
    fn greetings_function_words_and_numbers_are_not_terms() {
        assert!(terms("Bonjour, merci d'avance, cordialement", "fr").is_empty());
        assert!(terms("Hello, thanks and regards", "en").is_empty());
        assert!(terms("Buongiorno, grazie mille e saluti", "it")
            .iter()
            .all(|t| t == "mill"));
        assert!(terms("call 0123456789 or 2024", "en").contains(&"2024".to_string()));
        assert!(!terms("call 0123456789", "en")
            .iter()
            .any(|t| t.starts_with("0123")));
    }

    #[test]
    fn abbreviations_and_loanwords_meet_the_articles_words() {
        let password = terms("mot de passe", "fr");
        for written in ["mdp", "MDP", "password", "pwd"] {
            let found = terms(written, "fr");
            assert!(
                password.iter().all(|t| found.contains(t)),
                "{written}: {found:?}"
            );
        }
        assert!(terms("printer", "it").contains(&terms("stampante", "it")[0]));
        // Only in the language that uses the longer words.
        assert_eq!(terms("printer", "en"), ["printer"]);
    }

    #[test]
    fn folding_handles_ligatures_and_case() {
        assert_eq!(fold("Œuvre Straße ÉTÉ"), "oeuvre strasse ete");
    }

    #[test]
    fn a_language_without_stemmer_still_folds() {
        assert!(!has_stemmer("xx"));
        assert_eq!(terms("Drucker kaputt", "xx"), ["drucker", "kaputt"]);
        assert!(has_stemmer("de"));
    }

    #[test]
    fn distinct_terms_keep_first_order() {
        assert_eq!(
            distinct_terms("vpn VPN certificate vpn", "en"),
            ["vpn", "certif"]
        );
    }
}
