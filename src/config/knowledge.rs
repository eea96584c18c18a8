//! Validating the `[knowledge]` table and the queues' knowledge editors.

use super::raw::*;
use super::*;
use crate::core::knowledge::analysis::has_stemmer;
use crate::core::knowledge::matching::Confidence;
use crate::core::knowledge::KnowledgePolicy;

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
