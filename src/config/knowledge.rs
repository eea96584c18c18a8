//! Validating the `[knowledge]` table, the queues' knowledge editors and the saved replies
//! (`[[reply]]` tables and the templates directory's `replies/NAME.LANG.txt`).

use std::path::Path;

use super::raw::*;
use super::*;
use crate::core::knowledge::analysis::has_stemmer;
use crate::core::knowledge::matching::Confidence;
use crate::core::knowledge::KnowledgePolicy;
use crate::core::replies::SavedReply;

pub(super) fn validate_knowledge(
    raw: &RawKnowledge,
    queues: &[RawQueue],
    intake: &IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<KnowledgePolicy, ConfigError> {
    let defaults = KnowledgePolicy::default();
    let languages = match &raw.languages {
        Some(languages) => {
            if languages.is_empty() {
                return Err(error(
                    "knowledge.languages",
                    "must name at least one language".into(),
                ));
            }
            for code in languages {
                let two_letters = code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase());
                if !(has_stemmer(code) || two_letters) {
                    return Err(error(
                        "knowledge.languages",
                        format!("`{code}` is not a two-letter language code"),
                    ));
                }
            }
            languages.clone()
        }
        None => defaults.languages,
    };
    let agent_exists = |key: &str, name: &String| match intake.directory.agent_by_name(name) {
        Some(_) => Ok(()),
        None => Err(error(
            key,
            format!("`{name}` is not an agent ([[agent]] name)"),
        )),
    };
    for name in &raw.editors {
        agent_exists("knowledge.editors", name)?;
    }
    let mut queue_editors = Vec::new();
    for (index, queue) in queues.iter().enumerate() {
        for name in &queue.knowledge_editors {
            agent_exists(
                &format!("queue[{index}] ({}).knowledge_editors", queue.name),
                name,
            )?;
        }
        if !queue.knowledge_editors.is_empty() {
            queue_editors.push((queue.name.clone(), queue.knowledge_editors.clone()));
        }
    }
    let address = match &raw.address {
        Some(address) => {
            let parsed = crate::core::address::check_address(address)
                .map_err(|why| error("knowledge.address", format!("`{address}`: {why}")))?;
            if parsed.eq_ignore_ascii_case(&intake.support.address) {
                return Err(error(
                    "knowledge.address",
                    "must differ from the support address, or every request would draft an article"
                        .into(),
                ));
            }
            Some(parsed.to_lowercase())
        }
        None => None,
    };
    if let Some(link) = &raw.link {
        if !(link.starts_with("https://") || link.starts_with("http://"))
            || !(link.contains("{slug}") || link.contains("{id}"))
        {
            return Err(error(
                "knowledge.link",
                format!("`{link}` must be an http(s) address holding {{slug}} or {{id}}"),
            ));
        }
    }
    let mut confidence = Confidence::default();
    if let Some(min) = raw.min_confidence {
        if !(0.0..=1.0).contains(&min) {
            return Err(error(
                "knowledge.min_confidence",
                format!("{min} is not between 0 and 1"),
            ));
        }
        confidence.min_confidence = min;
    }
    Ok(KnowledgePolicy {
        languages,
        address,
        editors: raw.editors.clone(),
        queue_editors,
        suggest: raw.suggest.unwrap_or(true),
        link: raw.link.clone(),
        confidence,
    })
}

/// Saved replies: the config's `[[reply]]` tables, then the templates directory's
/// `replies/NAME.LANG.txt` files (a file's text is the language's; `NAME.txt` the default).
pub(super) fn validate_replies(
    raw: &[RawReply],
    templates_dir: Option<&Path>,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<SavedReply>, ConfigError> {
    let mut replies: Vec<SavedReply> = Vec::new();
    let check_name = |key: &str, name: &str| {
        let fine = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        match fine {
            true => Ok(crate::core::commands::fold(name)),
            false => Err(error(
                key,
                format!("`{name}` must be one word (letters, digits, - and _)"),
            )),
        }
    };
    for (index, reply) in raw.iter().enumerate() {
        let name = check_name(&format!("reply[{index}].name"), &reply.name)?;
        if crate::core::replies::find(&replies, &name).is_some() {
            return Err(error(
                &format!("reply[{index}].name"),
                format!("`{name}` is used by another [[reply]]"),
            ));
        }
        if reply.text.trim().is_empty() {
            return Err(error(&format!("reply[{index}].text"), "is empty".into()));
        }
        let translations = [
            (Language::En, &reply.text_en),
            (Language::Fr, &reply.text_fr),
            (Language::It, &reply.text_it),
        ]
        .into_iter()
        .filter_map(|(language, text)| text.clone().map(|text| (language, text)))
        .collect();
        replies.push(SavedReply {
            name,
            text: reply.text.clone(),
            translations,
        });
    }
    let Some(dir) = templates_dir.map(|dir| dir.join("replies")) else {
        return Ok(replies);
    };
    if !dir.is_dir() {
        return Ok(replies);
    }
    let key = "general.templates_dir";
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| error(key, format!("cannot read {}: {e}", dir.display())))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    for path in files {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (name, language) = match stem.rsplit_once('.') {
            Some((name, code)) => {
                let language = code
                    .parse::<Language>()
                    .map_err(|reason| error(key, format!("{}: {reason}", path.display())))?;
                (name.to_string(), Some(language))
            }
            None => (stem.clone(), None),
        };
        let name = check_name(key, &name)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| error(key, format!("cannot read {}: {e}", path.display())))?;
        let position = replies.iter().position(|r| r.name == name);
        let reply = match position {
            Some(index) => &mut replies[index],
            None => {
                replies.push(SavedReply {
                    name: name.clone(),
                    text: text.clone(),
                    translations: Vec::new(),
                });
                replies.last_mut().expect("just pushed")
            }
        };
        match language {
            Some(language) => {
                reply.translations.retain(|(l, _)| *l != language);
                reply.translations.push((language, text));
            }
            None => reply.text = text,
        }
    }
    Ok(replies)
}
