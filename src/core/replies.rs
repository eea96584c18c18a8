//! Saved replies: canned answers an agent sends with `#reply NAME`, from the config's
//! `[[reply]]` tables or the templates directory's `replies/NAME.LANG.txt` files.

use std::collections::BTreeMap;

use super::language::Language;

/// One saved reply: its name and its text per language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedReply {
    /// What `#reply NAME` names, lower case.
    pub name: String,
    /// The text when none is written in the ticket's language.
    pub text: String,
    pub translations: Vec<(Language, String)>,
}

/// What a saved reply's `{placeholders}` are filled with.
#[derive(Debug, Clone, Copy)]
pub struct ReplyContext<'a> {
    pub requester_name: &'a str,
    /// The ticket's tag as our subjects carry it, e.g. `[Helpdesk #1042]`.
    pub ticket: &'a str,
    pub number: &'a str,
    pub topic: &'a str,
    pub agent_name: &'a str,
}

impl SavedReply {
    /// The text in `language` (else the default text), placeholders filled. Unknown placeholders
    /// stay as written, so a typo shows in the mail rather than vanishing.
    pub fn render(&self, language: Language, context: &ReplyContext<'_>) -> String {
        let text = self
            .translations
            .iter()
            .find(|(l, _)| *l == language)
            .map_or(self.text.as_str(), |(_, text)| text.as_str());
        let values: BTreeMap<&str, String> = [
            ("requester_name", context.requester_name.to_string()),
            ("ticket", context.ticket.to_string()),
            ("number", context.number.to_string()),
            ("topic", context.topic.to_string()),
            ("agent_name", context.agent_name.to_string()),
        ]
        .into_iter()
        .collect();
        let template = super::templates::Template::parse(&format!("Subject: -\n\n{text}"))
            .expect("a subject line and a blank line make a template");
        template.render(&values).1.trim().to_string()
    }
}

/// The saved reply called `name`, in any case and with or without accents.
pub fn find<'a>(replies: &'a [SavedReply], name: &str) -> Option<&'a SavedReply> {
    let name = super::commands::fold(name);
    replies
        .iter()
        .find(|r| super::commands::fold(&r.name) == name)
}

/// The names, for an agent who named none of them.
pub fn names(replies: &[SavedReply]) -> String {
    match replies.is_empty() {
        true => "none is configured ([[reply]] in the config, or replies/NAME.LANG.txt in the templates directory)".into(),
        false => replies
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> SavedReply {
        SavedReply {
            name: "password".into(),
            text: "Hello {requester_name}, reset it at https://id.example.com ({ticket}). {agent_name}"
                .into(),
            translations: vec![(
                Language::Fr,
                "Bonjour {requester_name}, voir https://id.example.com. {agent_name}".into(),
            )],
        }
    }

    fn context() -> ReplyContext<'static> {
        ReplyContext {
            requester_name: "Carla",
            ticket: "[Helpdesk #7]",
            number: "7",
            topic: "Password",
            agent_name: "Bob Martin",
        }
    }

    #[test]
    fn placeholders_are_filled_in_the_tickets_language_or_the_default() {
        assert_eq!(
            reply().render(Language::En, &context()),
            "Hello Carla, reset it at https://id.example.com ([Helpdesk #7]). Bob Martin"
        );
        assert_eq!(
            reply().render(Language::Fr, &context()),
            "Bonjour Carla, voir https://id.example.com. Bob Martin"
        );
        assert!(reply()
            .render(Language::It, &context())
            .starts_with("Hello"));
    }

    #[test]
    fn names_are_found_in_any_case_and_listed() {
        let replies = [reply()];
        assert!(find(&replies, "PASSWORD").is_some());
        assert!(find(&replies, "vpn").is_none());
        assert_eq!(names(&replies), "password");
        assert!(names(&[]).contains("[[reply]]"));
    }
}
