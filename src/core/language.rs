//! Languages Guichet writes in, and a cheap guess of the language a requester wrote in.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Fr,
    It,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::En, Language::Fr, Language::It];

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
            Language::It => "it",
        }
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Language, String> {
        Language::ALL
            .into_iter()
            .find(|language| language.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("`{s}` is not a shipped language; expected en, fr or it"))
    }
}

/// Frequent short words that tell the three languages apart. Words shared by two languages
/// (`a`, `de`/`di`, `per`) are left out.
const STOP_WORDS: [(Language, &[&str]); 3] = [
    (
        Language::En,
        &[
            "the",
            "and",
            "is",
            "are",
            "you",
            "my",
            "with",
            "this",
            "that",
            "have",
            "please",
            "not",
            "for",
            "thanks",
            "hello",
            "it",
            "can",
            "we",
            "i'm",
            "does",
            "to",
            "of",
            "was",
            "be",
            "your",
            "our",
            "from",
            "but",
            "what",
            "when",
            "how",
            "there",
            "any",
            "just",
            "since",
            "still",
            "again",
            "hi",
            "regards",
            "thank",
            "can't",
            "don't",
            "it's",
            "i've",
            "doesn't",
            "won't",
            "would",
            "could",
            "should",
            "been",
            "has",
            "had",
            "they",
            "them",
            "after",
            "before",
            "now",
            "yesterday",
            "today",
            "morning",
        ],
    ),
    (
        Language::Fr,
        &[
            "le",
            "les",
            "des",
            "est",
            "une",
            "je",
            "vous",
            "nous",
            "pas",
            "avec",
            "pour",
            "merci",
            "bonjour",
            "mon",
            "mes",
            "sur",
            "dans",
            "qui",
            "ne",
            "au",
            "aux",
            "cordialement",
            "du",
            "et",
            "j'ai",
            "c'est",
            "ça",
            "aussi",
            "depuis",
            "toujours",
            "encore",
            "plus",
            "très",
            "tres",
            "quand",
            "comment",
            "pourquoi",
            "rien",
            "fait",
            "peux",
            "peut",
            "pouvez",
            "svp",
            "bonsoir",
            "salut",
            "mais",
            "où",
            "avez",
            "suis",
            "été",
            "hier",
            "aujourd'hui",
            "cette",
            "votre",
            "notre",
            "leur",
            "moi",
        ],
    ),
    (
        Language::It,
        &[
            "il",
            "gli",
            "della",
            "sono",
            "è",
            "non",
            "che",
            "una",
            "grazie",
            "buongiorno",
            "mio",
            "mia",
            "questo",
            "funziona",
            "con",
            "nel",
            "alla",
            "saluti",
            "ho",
            "ciao",
            "del",
            "dei",
            "degli",
            "delle",
            "nella",
            "sulla",
            "dal",
            "dalla",
            "sul",
            "ancora",
            "anche",
            "perché",
            "perche",
            "però",
            "già",
            "più",
            "devo",
            "posso",
            "vorrei",
            "riesco",
            "tutti",
            "sempre",
            "quando",
            "dopo",
            "oggi",
            "ieri",
            "domani",
            "buonasera",
            "salve",
            "cordiali",
            "gentili",
            "distinti",
            "questa",
            "quello",
            "quella",
            "sto",
            "stato",
            "stata",
            "fatto",
            "molto",
            "niente",
            "nulla",
            "qualcuno",
            "mi",
            "ci",
            "hanno",
            "abbiamo",
            "essere",
            "l'ho",
            "c'è",
            "uno",
        ],
    ),
];

/// The words a guess reads: the text's first 400, in lower case.
fn guessed_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|word| !word.is_empty())
        .take(400)
        .map(str::to_lowercase)
}

/// Every stop word with its list's place in `STOP_WORDS`, sorted: a binary search per word of
/// the text instead of a pass over every list (a quarter of a mail's parsing).
fn stop_word_index() -> &'static [(&'static str, usize)] {
    static INDEX: std::sync::OnceLock<Vec<(&'static str, usize)>> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index: Vec<(&'static str, usize)> = STOP_WORDS
            .iter()
            .enumerate()
            .flat_map(|(language, (_, words))| words.iter().map(move |word| (*word, language)))
            .collect();
        index.sort_unstable();
        index
    })
}

/// The language with the most stop words, when it clearly leads; `None` when the text is too short
/// or too mixed to say.
pub fn guess_language(text: &str) -> Option<Language> {
    let index = stop_word_index();
    let mut scores = [0usize; 3];
    for word in guessed_words(text) {
        let first = index.partition_point(|(stop, _)| *stop < word.as_str());
        for (_, language) in index[first..].iter().take_while(|(stop, _)| *stop == word) {
            scores[*language] += 1;
        }
    }
    let (best, best_score) = scores
        .iter()
        .enumerate()
        .max_by_key(|(_, score)| **score)
        .expect("three scores");
    let runner_up = scores
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != best)
        .map(|(_, score)| *score)
        .max()
        .unwrap_or(0);
    (*best_score >= 2 && *best_score >= runner_up * 2 && *best_score > runner_up)
        .then_some(STOP_WORDS[best].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses() {
        let cases = [
            (
                "Hello, my printer is not working and the queue is stuck. Thanks",
                Some(Language::En),
            ),
            (
                "Bonjour, je ne peux pas imprimer avec mon poste. Merci, cordialement",
                Some(Language::Fr),
            ),
            (
                "Buongiorno, la stampante non funziona e il mio PC è lento. Grazie",
                Some(Language::It),
            ),
            ("OK", None),
            ("", None),
            ("VPN 443 ERR_CONNECTION_RESET 10.0.0.1", None),
        ];
        for (text, expected) in cases {
            assert_eq!(guess_language(text), expected, "{text}");
        }
    }

    /// The scores of the pass over every list that the sorted index replaced.
    fn scores_by_scanning(text: &str) -> [usize; 3] {
        let mut scores = [0usize; 3];
        for word in guessed_words(text) {
            for (index, (_, words)) in STOP_WORDS.iter().enumerate() {
                if words.contains(&word.as_str()) {
                    scores[index] += 1;
                }
            }
        }
        scores
    }

    fn guess_by_scanning(text: &str) -> Option<Language> {
        let scores = scores_by_scanning(text);
        let best = (0..3).max_by_key(|i| scores[*i]).unwrap();
        let runner_up = (0..3)
            .filter(|i| *i != best)
            .map(|i| scores[i])
            .max()
            .unwrap();
        (scores[best] >= 2 && scores[best] >= runner_up * 2 && scores[best] > runner_up)
            .then_some(STOP_WORDS[best].0)
    }

    use proptest::prelude::*;

    proptest! {
        /// Texts of stop words of every list (in any case), other words and punctuation get
        /// the guess the scan over every list gave.
        #[test]
        fn the_index_guesses_as_the_scan_did(
            words in proptest::collection::vec(
                prop_oneof![
                    (0..3usize, 0..200usize, any::<bool>()).prop_map(|(list, at, upper)| {
                        let words = STOP_WORDS[list].1;
                        let word = words[at % words.len()];
                        if upper { word.to_uppercase() } else { word.to_string() }
                    }),
                    "[A-Za-zÀ-ÿ']{1,9}",
                    "[A-Z]{1,4}",
                ],
                0..60,
            ),
            separators in proptest::collection::vec("[ ,.\n!?-]{1,2}", 60),
        ) {
            let text: String = words
                .iter()
                .zip(&separators)
                .map(|(word, separator)| format!("{word}{separator}"))
                .collect();
            prop_assert_eq!(guess_language(&text), guess_by_scanning(&text), "{}", text);
        }
    }

    #[test]
    fn codes_parse() {
        assert_eq!("FR".parse::<Language>(), Ok(Language::Fr));
        assert!("de".parse::<Language>().is_err());
    }
}
