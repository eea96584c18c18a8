//! Validating custom fields and routing rules.

use super::raw::*;
use super::*;

pub(super) fn validate_fields(
    raw: &[RawField],
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<FieldSpec>, ConfigError> {
    let mut fields: Vec<FieldSpec> = Vec::new();
    for (index, field) in raw.iter().enumerate() {
        let key = |name: &str| format!("field[{index}].{name}");
        let name = field.name.trim().to_lowercase();
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('=') {
            return Err(error(
                &key("name"),
                "must be one word (it is what #field NAME=VALUE takes)".into(),
            ));
        }
        if fields.iter().any(|f| f.name == name) {
            return Err(error(&key("name"), format!("`{name}` is declared twice")));
        }
        let kind = match field.kind.as_deref().unwrap_or("text") {
            "text" => FieldKind::Text,
            "number" => FieldKind::Number,
            "date" => FieldKind::Date,
            "choice" if field.choices.is_empty() => {
                return Err(error(
                    &key("choices"),
                    "a choice field needs its choices".into(),
                ))
            }
            "choice" => FieldKind::Choice(field.choices.clone()),
            other => {
                return Err(error(
                    &key("type"),
                    format!("`{other}` is not one of: text, number, choice, date"),
                ))
            }
        };
        let extract = field
            .extract
            .as_deref()
            .map(|pattern| {
                regex::Regex::new(pattern)
                    .map_err(|e| error(&key("extract"), format!("not a valid regex: {e}")))
            })
            .transpose()?;
        fields.push(FieldSpec {
            prompt: field
                .prompt
                .clone()
                .unwrap_or_else(|| format!("{}: …", field.name.trim())),
            name,
            kind,
            extract,
            required: field.required,
            queues: field.queues.clone(),
        });
    }
    Ok(fields)
}

pub(super) fn validate_rules(
    raw: &[RawRule],
    intake: &IntakePolicy,
    error: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Vec<Rule>, ConfigError> {
    let known_queue =
        |queue: &str| intake.directory.queue(queue).is_some() || queue == intake.default_queue;
    let mut rules = Vec::new();
    for (index, rule) in raw.iter().enumerate() {
        let key = |name: &str| format!("rule[{index}] ({}).{name}", rule.name);
        let all = match rule.combine.as_deref().unwrap_or("all") {
            "all" => true,
            "any" => false,
            other => {
                return Err(error(
                    &key("match"),
                    format!("`{other}` is not one of: all, any"),
                ))
            }
        };
        if rule.conditions.is_empty() {
            return Err(error(
                &key("conditions"),
                "a rule needs at least one condition".into(),
            ));
        }
        let mut conditions = Vec::new();
        for (c, raw) in rule.conditions.iter().enumerate() {
            let ckey = |name: &str| key(&format!("conditions[{c}].{name}"));
            let lowered = raw.field.trim().to_lowercase();
            let subject = match lowered.as_str() {
                "from" => RuleSubject::From,
                "to" => RuleSubject::To,
                "cc" => RuleSubject::Cc,
                "subject" => RuleSubject::Subject,
                "body" => RuleSubject::Body,
                "attachments" => RuleSubject::Attachments,
                other => match (other.strip_prefix("header:"), other.strip_prefix("field:")) {
                    (Some(header), _) if !header.is_empty() => RuleSubject::Header(header.to_string()),
                    (_, Some(name)) if intake.fields.iter().any(|f| f.name == name) => RuleSubject::Field(name.to_string()),
                    (_, Some(name)) => return Err(error(&ckey("field"), format!("no [[field]] is called `{name}`"))),
                    _ => {
                        return Err(error(
                            &ckey("field"),
                            format!("`{}` is not one of: from, to, cc, subject, body, attachments, header:NAME, field:NAME", raw.field),
                        ))
                    }
                },
            };
            let given = [
                raw.contains.is_some(),
                raw.equals.is_some(),
                raw.regex.is_some(),
                raw.domain.is_some(),
                raw.present.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(error(
                    &ckey("field"),
                    "give exactly one of contains, equals, regex, domain, present".into(),
                ));
            }
            let test = if let Some(text) = &raw.contains {
                RuleTest::Contains(text.clone())
            } else if let Some(text) = &raw.equals {
                RuleTest::Equals(text.clone())
            } else if let Some(pattern) = &raw.regex {
                RuleTest::Regex(
                    regex::Regex::new(pattern)
                        .map_err(|e| error(&ckey("regex"), format!("not a valid regex: {e}")))?,
                )
            } else if let Some(domain) = &raw.domain {
                if !matches!(
                    subject,
                    RuleSubject::From | RuleSubject::To | RuleSubject::Cc
                ) {
                    return Err(error(
                        &ckey("domain"),
                        "domain applies to from, to or cc".into(),
                    ));
                }
                RuleTest::Domain(domain.trim().to_lowercase())
            } else {
                RuleTest::Present(raw.present.unwrap_or(true))
            };
            conditions.push(RuleCondition { subject, test });
        }
        let raw_actions = &rule.actions;
        if let Some(queue) = &raw_actions.queue {
            if !known_queue(queue) {
                return Err(error(
                    &key("actions.queue"),
                    format!("there is no [[queue]] called `{queue}`"),
                ));
            }
        }
        let level = raw_actions
            .level
            .map(|l| {
                Level::new(l).ok_or_else(|| {
                    error(&key("actions.level"), format!("{l} is not a level 1 to 4"))
                })
            })
            .transpose()?;
        let priority = raw_actions
            .priority
            .as_deref()
            .map(|p| {
                p.parse::<Priority>()
                    .map_err(|e| error(&key("actions.priority"), e.to_string()))
            })
            .transpose()?;
        if let Some(name) = &raw_actions.assign {
            if intake.directory.agent_by_name(name).is_none() {
                return Err(error(
                    &key("actions.assign"),
                    format!("no [[agent]] is called `{name}`"),
                ));
            }
        }
        let mut fields = std::collections::BTreeMap::new();
        for (name, value) in &raw_actions.fields {
            let spec = intake
                .fields
                .iter()
                .find(|f| f.name == name.to_lowercase())
                .ok_or_else(|| {
                    error(
                        &key(&format!("actions.fields.{name}")),
                        format!("no [[field]] is called `{name}`"),
                    )
                })?;
            let value = spec
                .check(value)
                .map_err(|e| error(&key(&format!("actions.fields.{name}")), e))?;
            fields.insert(spec.name.clone(), value);
        }
        rules.push(Rule {
            name: rule.name.clone(),
            all,
            conditions,
            actions: RuleActions {
                queue: raw_actions.queue.clone(),
                level,
                priority,
                tags: raw_actions
                    .tags
                    .iter()
                    .map(|t| t.trim().to_lowercase())
                    .collect(),
                fields,
                assignee: raw_actions.assign.clone(),
                notify: address_list(&key("actions.notify"), &raw_actions.notify, error)?,
                no_acknowledgement: raw_actions.acknowledge == Some(false),
                stop: raw_actions.stop,
            },
        });
    }
    Ok(rules)
}
