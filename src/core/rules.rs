//! Smart intake: custom fields read from a new mail, and routing rules evaluated in order on every
//! new ticket. Pure: the config builds the rules, the intake applies the actions.

use std::collections::BTreeMap;

use regex::Regex;

use super::address::domain;
use super::mail::InboundMail;
use super::ticket::{Level, Priority};

/// What a custom field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Number,
    Choice(Vec<String>),
    /// `YYYY-MM-DD`.
    Date,
}

#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub name: String,
    pub kind: FieldKind,
    /// One capture group, applied to each line of the mail's text.
    pub extract: Option<Regex>,
    pub required: bool,
    /// Empty: every queue.
    pub queues: Vec<String>,
    /// How the acknowledgement asks for it, e.g. `Location: <building>`.
    pub prompt: String,
}

impl FieldSpec {
    pub fn applies_to(&self, queue: &str) -> bool {
        self.queues.is_empty() || self.queues.iter().any(|q| q == queue)
    }

    /// The value in its canonical form, or why it is not one.
    pub fn check(&self, value: &str) -> Result<String, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("{} is empty", self.name));
        }
        match &self.kind {
            FieldKind::Text => Ok(value.to_string()),
            FieldKind::Number => value
                .replace(',', ".")
                .parse::<f64>()
                .map(|_| value.to_string())
                .map_err(|_| format!("{} wants a number, not `{value}`", self.name)),
            FieldKind::Choice(choices) => choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(value))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "{} is one of {}, not `{value}`",
                        self.name,
                        choices.join(", ")
                    )
                }),
            FieldKind::Date => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .map(|d| d.to_string())
                .map_err(|_| format!("{} wants a date like 2026-11-24, not `{value}`", self.name)),
        }
    }
}

/// Values found for the declared fields of `queue` in `text`: first match per field wins.
pub fn extract_fields(specs: &[FieldSpec], queue: &str, text: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for spec in specs.iter().filter(|s| s.applies_to(queue)) {
        let Some(pattern) = &spec.extract else {
            continue;
        };
        let value = text.lines().find_map(|line| {
            let captures = pattern.captures(line.trim())?;
            let value = captures.get(1).or_else(|| captures.get(0))?.as_str();
            spec.check(value).ok()
        });
        if let Some(value) = value {
            found.insert(spec.name.clone(), value);
        }
    }
    found
}

/// Required fields of `queue` still without a value.
pub fn missing_fields<'a>(
    specs: &'a [FieldSpec],
    queue: &str,
    values: &BTreeMap<String, String>,
) -> Vec<&'a FieldSpec> {
    specs
        .iter()
        .filter(|s| s.required && s.applies_to(queue) && !values.contains_key(&s.name))
        .collect()
}

/// Where a condition looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    From,
    To,
    Cc,
    Subject,
    Body,
    Header(String),
    Attachments,
    Field(String),
}

#[derive(Debug, Clone)]
pub enum Test {
    /// Case-insensitive substring.
    Contains(String),
    Equals(String),
    Regex(Regex),
    /// An address whose domain is this one or below it.
    Domain(String),
    /// Something there (an attachment, a header, a field) or not.
    Present(bool),
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub subject: Subject,
    pub test: Test,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    pub queue: Option<String>,
    pub level: Option<Level>,
    pub priority: Option<Priority>,
    pub tags: Vec<String>,
    pub fields: BTreeMap<String, String>,
    /// An agent's name.
    pub assignee: Option<String>,
    pub notify: Vec<String>,
    /// No acknowledgement for these tickets.
    pub no_acknowledgement: bool,
    /// Later rules are not evaluated.
    pub stop: bool,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// All conditions must hold (`true`) or any one (`false`).
    pub all: bool,
    pub conditions: Vec<Condition>,
    pub actions: Actions,
}

/// What the rules look at: the mail, its visible text and the fields found in it.
pub struct RuleInput<'a> {
    pub mail: &'a InboundMail,
    pub text: &'a str,
    pub fields: &'a BTreeMap<String, String>,
    /// The mail forwarded inline, when the mail is a forward: its sender and subject are tested
    /// with the forwarder's (the forwarded mail is the request).
    pub forwarded: Option<&'a super::forward::Forwarded>,
}

impl Condition {
    fn holds(&self, input: &RuleInput<'_>) -> bool {
        let mail = input.mail;
        let values: Vec<String> = match &self.subject {
            Subject::From => mail
                .from
                .iter()
                .map(|m| m.address.clone())
                .chain(input.forwarded.and_then(|f| f.address()))
                .collect(),
            Subject::To => mail.to.iter().map(|m| m.address.clone()).collect(),
            Subject::Cc => mail.cc.iter().map(|m| m.address.clone()).collect(),
            Subject::Subject => std::iter::once(mail.subject.clone())
                .chain(input.forwarded.and_then(|f| f.subject.clone()))
                .collect(),
            Subject::Body => vec![input.text.to_string()],
            Subject::Header(name) => mail
                .headers
                .iter()
                .filter(|(header, _)| header == name)
                .map(|(_, value)| value.clone())
                .collect(),
            Subject::Attachments => mail
                .attachments
                .iter()
                .map(|a| a.filename.clone())
                .collect(),
            Subject::Field(name) => input.fields.get(name).cloned().into_iter().collect(),
        };
        match &self.test {
            Test::Present(wanted) => values.is_empty() != *wanted,
            Test::Contains(needle) => {
                let needle = needle.to_lowercase();
                values.iter().any(|v| v.to_lowercase().contains(&needle))
            }
            Test::Equals(expected) => values
                .iter()
                .any(|v| v.trim().eq_ignore_ascii_case(expected.trim())),
            Test::Regex(pattern) => values.iter().any(|v| pattern.is_match(v)),
            Test::Domain(wanted) => values.iter().any(|address| {
                let domain = domain(address);
                domain == wanted || domain.ends_with(&format!(".{wanted}"))
            }),
        }
    }
}

impl Rule {
    pub fn matches(&self, input: &RuleInput<'_>) -> bool {
        if self.all {
            self.conditions.iter().all(|c| c.holds(input))
        } else {
            self.conditions.iter().any(|c| c.holds(input))
        }
    }
}

/// The rules that match, in order, up to and including the first matching rule that stops, and
/// their actions merged: later rules override single values and add to lists.
pub fn route<'r>(rules: &'r [Rule], input: &RuleInput<'_>) -> (Vec<&'r Rule>, Actions) {
    let mut matched = Vec::new();
    let mut merged = Actions::default();
    for rule in rules {
        if !rule.matches(input) {
            continue;
        }
        matched.push(rule);
        let actions = &rule.actions;
        merged.queue = actions.queue.clone().or(merged.queue);
        merged.level = actions.level.or(merged.level);
        merged.priority = actions.priority.or(merged.priority);
        merged.assignee = actions.assignee.clone().or(merged.assignee);
        for tag in &actions.tags {
            if !merged.tags.contains(tag) {
                merged.tags.push(tag.clone());
            }
        }
        merged.fields.extend(actions.fields.clone());
        merged.notify.extend(actions.notify.iter().cloned());
        merged.no_acknowledgement |= actions.no_acknowledgement;
        if actions.stop {
            merged.stop = true;
            break;
        }
    }
    (matched, merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Mailbox;
    use crate::core::mail::AttachmentMeta;

    fn mail() -> InboundMail {
        InboundMail {
            from: Some(Mailbox::new(None, "marc@plant.acme.example")),
            to: vec![Mailbox::new(None, "support@corp.example")],
            subject: "Imprimante bloquée au 2e".into(),
            text: "Bonjour,\nSite : Lyon\nOrder: 12345\nDue: 2026-12-01\nMerci".into(),
            headers: vec![("x-priority".into(), "1 (Highest)".into())],
            attachments: vec![AttachmentMeta {
                filename: "photo.jpg".into(),
                content_type: "image/jpeg".into(),
                size: 10,
                sha256: "x".into(),
            }],
            ..InboundMail::default()
        }
    }

    fn field(name: &str, kind: FieldKind, extract: &str, required: bool) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            kind,
            extract: Some(Regex::new(extract).unwrap()),
            required,
            queues: vec![],
            prompt: format!("{name}: …"),
        }
    }

    fn specs() -> Vec<FieldSpec> {
        vec![
            field(
                "site",
                FieldKind::Choice(vec!["Lyon".into(), "Milano".into()]),
                r"(?i)^(?:Location|Site|Sede)\s*:\s*(.+)$",
                true,
            ),
            field("order", FieldKind::Number, r"(?i)^Order\s*:\s*(.+)$", false),
            field("due", FieldKind::Date, r"(?i)^Due\s*:\s*(.+)$", false),
            field(
                "building",
                FieldKind::Text,
                r"(?i)^Building\s*:\s*(.+)$",
                true,
            ),
        ]
    }

    #[test]
    fn fields_are_read_checked_and_missing_ones_named() {
        let values = extract_fields(&specs(), "general", &mail().text);
        assert_eq!(
            values,
            [("site", "Lyon"), ("order", "12345"), ("due", "2026-12-01")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        );
        let specs = specs();
        let missing: Vec<&str> = missing_fields(&specs, "general", &values)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(missing, ["building"]);
        let wrong = extract_fields(
            &specs,
            "general",
            "Site: Paris\nOrder: twelve\nDue: tomorrow",
        );
        assert!(
            wrong.is_empty(),
            "values of the wrong type are not taken: {wrong:?}"
        );
        assert_eq!(
            specs[0].check("milano"),
            Ok("Milano".into()),
            "choices keep their spelling"
        );
        assert_eq!(
            specs[2].check("1/12/2026"),
            Err("due wants a date like 2026-11-24, not `1/12/2026`".to_string())
        );
    }

    fn rule(name: &str, all: bool, conditions: Vec<(Subject, Test)>, actions: Actions) -> Rule {
        Rule {
            name: name.into(),
            all,
            conditions: conditions
                .into_iter()
                .map(|(subject, test)| Condition { subject, test })
                .collect(),
            actions,
        }
    }

    #[test]
    fn every_kind_of_condition() {
        let mail = mail();
        let fields = extract_fields(&specs(), "general", &mail.text);
        let input = RuleInput {
            mail: &mail,
            text: &mail.text,
            fields: &fields,
            forwarded: None,
        };
        let cases: Vec<(Subject, Test, bool)> = vec![
            (Subject::From, Test::Domain("acme.example".into()), true),
            (Subject::From, Test::Domain("cme.example".into()), false),
            (Subject::From, Test::Contains("MARC@".into()), true),
            (
                Subject::To,
                Test::Equals("support@corp.example".into()),
                true,
            ),
            (Subject::Cc, Test::Present(false), true),
            (Subject::Subject, Test::Contains("imprimante".into()), true),
            (
                Subject::Subject,
                Test::Regex(Regex::new(r"(?i)printer|imprimante|stampante").unwrap()),
                true,
            ),
            (Subject::Body, Test::Contains("merci".into()), true),
            (Subject::Body, Test::Contains("grazie".into()), false),
            (
                Subject::Header("x-priority".into()),
                Test::Regex(Regex::new(r"^1\b").unwrap()),
                true,
            ),
            (
                Subject::Header("x-mailer".into()),
                Test::Present(true),
                false,
            ),
            (Subject::Attachments, Test::Present(true), true),
            (
                Subject::Attachments,
                Test::Regex(Regex::new(r"\.jpe?g$").unwrap()),
                true,
            ),
            (
                Subject::Field("site".into()),
                Test::Equals("lyon".into()),
                true,
            ),
            (
                Subject::Field("building".into()),
                Test::Present(false),
                true,
            ),
        ];
        for (subject, test, expected) in cases {
            let condition = Condition {
                subject: subject.clone(),
                test: test.clone(),
            };
            assert_eq!(condition.holds(&input), expected, "{subject:?} {test:?}");
        }
    }

    #[test]
    fn rules_apply_in_order_and_stop() {
        let mail = mail();
        let fields = BTreeMap::new();
        let input = RuleInput {
            mail: &mail,
            text: &mail.text,
            fields: &fields,
            forwarded: None,
        };
        let printers = rule(
            "printers",
            false,
            vec![
                (Subject::Subject, Test::Contains("imprimante".into())),
                (Subject::Subject, Test::Contains("printer".into())),
            ],
            Actions {
                queue: Some("hardware".into()),
                tags: vec!["printer".into()],
                ..Actions::default()
            },
        );
        let vip = rule(
            "vip",
            true,
            vec![
                (Subject::From, Test::Domain("acme.example".into())),
                (Subject::Attachments, Test::Present(true)),
            ],
            Actions {
                priority: Some(Priority::High),
                level: Level::new(2),
                stop: true,
                tags: vec!["vip".into()],
                ..Actions::default()
            },
        );
        let never = rule(
            "after-stop",
            true,
            vec![(Subject::Body, Test::Contains("merci".into()))],
            Actions {
                queue: Some("general".into()),
                ..Actions::default()
            },
        );
        let all = [printers.clone(), vip, never.clone()];
        let (matched, actions) = route(&all, &input);
        assert_eq!(
            matched.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["printers", "vip"]
        );
        assert_eq!(actions.queue.as_deref(), Some("hardware"));
        assert_eq!(actions.priority, Some(Priority::High));
        assert_eq!(actions.level, Level::new(2));
        assert_eq!(actions.tags, ["printer", "vip"]);
        assert!(actions.stop);
        let reordered = [never, printers];
        let (matched, actions) = route(&reordered, &input);
        assert_eq!(matched.len(), 2);
        assert_eq!(
            actions.queue.as_deref(),
            Some("hardware"),
            "a later rule overrides the queue"
        );
    }
}
