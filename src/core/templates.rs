//! Message templates: a `Subject:` line, a blank line, then the body, with `{placeholders}`.

use std::collections::BTreeMap;

use super::language::Language;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateKind {
    Acknowledgement,
    NewTicketNotice,
    AssignmentNotice,
    TransferNotice,
    EscalationNotice,
    ResolutionNotice,
    MergeNotice,
    CommandReply,
    /// Why a requester's command was not applied: only what they may do.
    RequesterCommandReply,
    Relay,
    SlaWarning,
    DeliveryFailureNotice,
    /// A knowledge-base article's draft or new version, to its editors.
    ArticleDraft,
    /// A `[[report]]` digest by mail.
    Digest,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 14] = [
        TemplateKind::Acknowledgement,
        TemplateKind::NewTicketNotice,
        TemplateKind::AssignmentNotice,
        TemplateKind::TransferNotice,
        TemplateKind::EscalationNotice,
        TemplateKind::ResolutionNotice,
        TemplateKind::MergeNotice,
        TemplateKind::CommandReply,
        TemplateKind::RequesterCommandReply,
        TemplateKind::Relay,
        TemplateKind::SlaWarning,
        TemplateKind::DeliveryFailureNotice,
        TemplateKind::ArticleDraft,
        TemplateKind::Digest,
    ];

    pub fn file_stem(self) -> &'static str {
        match self {
            TemplateKind::Acknowledgement => "acknowledgement",
            TemplateKind::NewTicketNotice => "new_ticket_notice",
            TemplateKind::AssignmentNotice => "assignment_notice",
            TemplateKind::TransferNotice => "transfer_notice",
            TemplateKind::EscalationNotice => "escalation_notice",
            TemplateKind::ResolutionNotice => "resolution_notice",
            TemplateKind::MergeNotice => "merge_notice",
            TemplateKind::CommandReply => "command_reply",
            TemplateKind::RequesterCommandReply => "requester_command_reply",
            TemplateKind::Relay => "relay",
            TemplateKind::SlaWarning => "sla_warning",
            TemplateKind::DeliveryFailureNotice => "delivery_failure_notice",
            TemplateKind::ArticleDraft => "article_draft",
            TemplateKind::Digest => "digest",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    subject: String,
    body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a template starts with a `Subject:` line followed by a blank line")]
pub struct TemplateSyntaxError;

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateSyntaxError> {
        let text = text.replace("\r\n", "\n");
        let (first, rest) = text.split_once('\n').ok_or(TemplateSyntaxError)?;
        let subject = first
            .strip_prefix("Subject:")
            .ok_or(TemplateSyntaxError)?
            .trim()
            .to_string();
        let body = rest.strip_prefix('\n').ok_or(TemplateSyntaxError)?;
        Ok(Template {
            subject,
            body: body.to_string(),
        })
    }

    /// Replaces each `{name}`; unknown placeholders are left as written so a typo shows.
    pub fn render(&self, values: &BTreeMap<&str, String>) -> (String, String) {
        (
            fill(&self.subject, values).trim().to_string(),
            fill(&self.body, values),
        )
    }
}

fn fill(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) if values.contains_key(&after[..end]) => {
                out.push_str(&values[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every template in every shipped language, with overrides applied by the config loader.
#[derive(Debug, Clone)]
pub struct TemplateSet {
    overrides: BTreeMap<(TemplateKind, &'static str), Template>,
}

/// The shipped templates, parsed once in a process and only when one is first used: a delivery
/// handed to the daemon never renders one.
fn shipped_templates() -> &'static BTreeMap<(TemplateKind, &'static str), Template> {
    static SHIPPED_PARSED: std::sync::OnceLock<BTreeMap<(TemplateKind, &'static str), Template>> =
        std::sync::OnceLock::new();
    SHIPPED_PARSED.get_or_init(|| {
        SHIPPED
            .iter()
            .map(|(kind, language, text)| {
                (
                    (*kind, language.code()),
                    Template::parse(text).expect("shipped templates are well-formed"),
                )
            })
            .collect()
    })
}

const SHIPPED: [(TemplateKind, Language, &str); 42] = [
    (
        TemplateKind::Acknowledgement,
        Language::En,
        include_str!("templates/acknowledgement.en.txt"),
    ),
    (
        TemplateKind::Acknowledgement,
        Language::Fr,
        include_str!("templates/acknowledgement.fr.txt"),
    ),
    (
        TemplateKind::Acknowledgement,
        Language::It,
        include_str!("templates/acknowledgement.it.txt"),
    ),
    (
        TemplateKind::NewTicketNotice,
        Language::En,
        include_str!("templates/new_ticket_notice.en.txt"),
    ),
    (
        TemplateKind::NewTicketNotice,
        Language::Fr,
        include_str!("templates/new_ticket_notice.fr.txt"),
    ),
    (
        TemplateKind::NewTicketNotice,
        Language::It,
        include_str!("templates/new_ticket_notice.it.txt"),
    ),
    (
        TemplateKind::AssignmentNotice,
        Language::En,
        include_str!("templates/assignment_notice.en.txt"),
    ),
    (
        TemplateKind::AssignmentNotice,
        Language::Fr,
        include_str!("templates/assignment_notice.fr.txt"),
    ),
    (
        TemplateKind::AssignmentNotice,
        Language::It,
        include_str!("templates/assignment_notice.it.txt"),
    ),
    (
        TemplateKind::TransferNotice,
        Language::En,
        include_str!("templates/transfer_notice.en.txt"),
    ),
    (
        TemplateKind::TransferNotice,
        Language::Fr,
        include_str!("templates/transfer_notice.fr.txt"),
    ),
    (
        TemplateKind::TransferNotice,
        Language::It,
        include_str!("templates/transfer_notice.it.txt"),
    ),
    (
        TemplateKind::EscalationNotice,
        Language::En,
        include_str!("templates/escalation_notice.en.txt"),
    ),
    (
        TemplateKind::EscalationNotice,
        Language::Fr,
        include_str!("templates/escalation_notice.fr.txt"),
    ),
    (
        TemplateKind::EscalationNotice,
        Language::It,
        include_str!("templates/escalation_notice.it.txt"),
    ),
    (
        TemplateKind::ResolutionNotice,
        Language::En,
        include_str!("templates/resolution_notice.en.txt"),
    ),
    (
        TemplateKind::ResolutionNotice,
        Language::Fr,
        include_str!("templates/resolution_notice.fr.txt"),
    ),
    (
        TemplateKind::ResolutionNotice,
        Language::It,
        include_str!("templates/resolution_notice.it.txt"),
    ),
    (
        TemplateKind::MergeNotice,
        Language::En,
        include_str!("templates/merge_notice.en.txt"),
    ),
    (
        TemplateKind::MergeNotice,
        Language::Fr,
        include_str!("templates/merge_notice.fr.txt"),
    ),
    (
        TemplateKind::MergeNotice,
        Language::It,
        include_str!("templates/merge_notice.it.txt"),
    ),
    (
        TemplateKind::CommandReply,
        Language::En,
        include_str!("templates/command_reply.en.txt"),
    ),
    (
        TemplateKind::CommandReply,
        Language::Fr,
        include_str!("templates/command_reply.fr.txt"),
    ),
    (
        TemplateKind::CommandReply,
        Language::It,
        include_str!("templates/command_reply.it.txt"),
    ),
    (
        TemplateKind::RequesterCommandReply,
        Language::En,
        include_str!("templates/requester_command_reply.en.txt"),
    ),
    (
        TemplateKind::RequesterCommandReply,
        Language::Fr,
        include_str!("templates/requester_command_reply.fr.txt"),
    ),
    (
        TemplateKind::RequesterCommandReply,
        Language::It,
        include_str!("templates/requester_command_reply.it.txt"),
    ),
    (
        TemplateKind::Relay,
        Language::En,
        include_str!("templates/relay.en.txt"),
    ),
    (
        TemplateKind::Relay,
        Language::Fr,
        include_str!("templates/relay.fr.txt"),
    ),
    (
        TemplateKind::Relay,
        Language::It,
        include_str!("templates/relay.it.txt"),
    ),
    (
        TemplateKind::SlaWarning,
        Language::En,
        include_str!("templates/sla_warning.en.txt"),
    ),
    (
        TemplateKind::SlaWarning,
        Language::Fr,
        include_str!("templates/sla_warning.fr.txt"),
    ),
    (
        TemplateKind::SlaWarning,
        Language::It,
        include_str!("templates/sla_warning.it.txt"),
    ),
    (
        TemplateKind::DeliveryFailureNotice,
        Language::En,
        include_str!("templates/delivery_failure_notice.en.txt"),
    ),
    (
        TemplateKind::DeliveryFailureNotice,
        Language::Fr,
        include_str!("templates/delivery_failure_notice.fr.txt"),
    ),
    (
        TemplateKind::DeliveryFailureNotice,
        Language::It,
        include_str!("templates/delivery_failure_notice.it.txt"),
    ),
    (
        TemplateKind::ArticleDraft,
        Language::En,
        include_str!("templates/article_draft.en.txt"),
    ),
    (
        TemplateKind::ArticleDraft,
        Language::Fr,
        include_str!("templates/article_draft.fr.txt"),
    ),
    (
        TemplateKind::ArticleDraft,
        Language::It,
        include_str!("templates/article_draft.it.txt"),
    ),
    (
        TemplateKind::Digest,
        Language::En,
        include_str!("templates/digest.en.txt"),
    ),
    (
        TemplateKind::Digest,
        Language::Fr,
        include_str!("templates/digest.fr.txt"),
    ),
    (
        TemplateKind::Digest,
        Language::It,
        include_str!("templates/digest.it.txt"),
    ),
];

impl TemplateSet {
    pub fn shipped() -> TemplateSet {
        TemplateSet {
            overrides: BTreeMap::new(),
        }
    }

    pub fn replace(&mut self, kind: TemplateKind, language: Language, template: Template) {
        self.overrides.insert((kind, language.code()), template);
    }

    /// The template in `language`, else in English; an override before the shipped one.
    pub fn get(&self, kind: TemplateKind, language: Language) -> &Template {
        let find = |code| {
            self.overrides
                .get(&(kind, code))
                .or_else(|| shipped_templates().get(&(kind, code)))
        };
        find(language.code())
            .or_else(|| find(Language::En.code()))
            .expect("every kind ships in English")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_template_has_its_placeholders_filled() {
        let set = TemplateSet::shipped();
        let values: BTreeMap<&str, String> = [
            "tag",
            "topic",
            "number",
            "name_suffix",
            "support_name",
            "requester",
            "queue",
            "priority",
            "level",
            "attachments",
            "text",
            "cheat_sheet",
            "actor",
            "history",
            "reason",
            "resolution",
            "from_number",
            "problems",
            "fields_request",
            "failures",
            "suggestions",
            "knowledge",
            "article",
            "article_tag",
            "title",
            "intro",
            "language",
            "visibility",
            "date",
            "from",
            "to",
            "scope",
            "name",
            "figures",
            "groups",
        ]
        .into_iter()
        .map(|key| (key, format!("<{key}>")))
        .collect();
        for kind in TemplateKind::ALL {
            for language in Language::ALL {
                let (subject, body) = set.get(kind, language).render(&values);
                assert!(
                    subject.starts_with("<tag>") || subject.starts_with("<article_tag>"),
                    "{kind:?} {language:?}: {subject}"
                );
                assert!(
                    !subject.contains('{') && !body.contains('{'),
                    "unfilled placeholder in {kind:?} {language:?}: {body}"
                );
            }
        }
    }

    #[test]
    fn unknown_placeholders_stay_visible() {
        let template = Template::parse("Subject: {tag}\n\nHi {nmae} {tag}").unwrap();
        let values = [("tag", "T".to_string())].into_iter().collect();
        assert_eq!(template.render(&values), ("T".into(), "Hi {nmae} T".into()));
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert!(Template::parse("no subject line\n\nbody").is_err());
        assert!(Template::parse("Subject: x\nno blank line").is_err());
    }
}
