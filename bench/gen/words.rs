//! Words and chance for generated stores, shared by the benchmarks that build one (kb_scale, and
//! report_scale through `gen/mod.rs`): the vocabulary of `fixtures/kb` per language and a
//! seeded generator, so that every build of a store is the same.

use std::collections::HashMap;
use std::path::Path;

use guichet::core::knowledge::from_markdown;

/// A small deterministic generator (xorshift), so that every build of the store is the same.
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// An index below `n`, small ones far likelier (a word's rank in a Zipf-like law).
    pub fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((n as f64).powf(u) - 1.0) as usize % n
    }
}

/// Each language's words of the fixture articles, most frequent first.
pub fn words_by_language(root: &Path) -> HashMap<String, Vec<String>> {
    let mut words: HashMap<String, Vec<String>> = HashMap::new();
    for entry in std::fs::read_dir(root.join("articles")).expect("fixtures/kb/articles") {
        let path = entry.expect("entry").path();
        let slug = path.file_stem().unwrap().to_string_lossy().to_string();
        let (text, _) = from_markdown(&slug, &std::fs::read_to_string(&path).unwrap()).unwrap();
        let list = words.entry(text.language.clone()).or_default();
        for word in format!("{} {}", text.title, text.body)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() > 2)
        {
            list.push(word.to_lowercase());
        }
    }
    for list in words.values_mut() {
        // By frequency in the fixtures, most frequent first, so that skewed draws favour them.
        let mut counts: HashMap<String, usize> = HashMap::new();
        for w in list.iter() {
            *counts.entry(w.clone()).or_default() += 1;
        }
        let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        *list = ranked.into_iter().map(|(w, _)| w).collect();
    }
    words
}

/// `n` words drawn with the skew of `Random::skewed`.
pub fn sentence(random: &mut Random, words: &[String], n: usize) -> String {
    (0..n)
        .map(|_| words[random.skewed(words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
