//! `guichet rules test`: the fields and rules a mail would meet.

use super::*;

#[derive(Debug, serde::Serialize)]
struct RulesReport {
    fields: std::collections::BTreeMap<String, String>,
    matched: Vec<String>,
    queue: String,
    level: u8,
    priority: String,
    tags: Vec<String>,
    assignee: Option<String>,
    notify: Vec<String>,
    acknowledge: bool,
    missing_fields: Vec<String>,
}

pub(super) fn rules_test(config: &Config, file: &Path, json: bool) -> Result<(), CliError> {
    let raw =
        std::fs::read(file).map_err(|e| CliError::NoInput(format!("{}: {e}", file.display())))?;
    let mail = parse_mail(&raw)
        .map_err(|e| CliError::Failure(format!("{}: would be quarantined: {e}", file.display())))?
        .mail;
    let workloads = match config.database_path().exists() {
        true => Store::open_read_only(&config.database_path())?
            .read()
            .workloads()?,
        false => Vec::new(),
    };
    let thread = crate::core::threading::ThreadDecision::New {
        reason: crate::core::threading::NewTicketReason::NoThreadClues,
    };
    let input = crate::core::plan::IntakeInput {
        mail: &mail,
        thread: &thread,
        ticket: None,
        next_number: TicketNumber(0),
        auto_replies_last_hour: 0,
        now: system_now(),
        id_seed: "rules-test",
        queue: None,
        others: &[],
        workloads: &workloads,
        knowledge: &crate::core::knowledge::mail::NO_KNOWLEDGE,
    };
    let text = crate::core::quotes::visible_text(&mail.text);
    let routing = crate::core::intake::route_new_ticket(&config.intake, &input, &text);
    let report = RulesReport {
        fields: routing.fields.clone(),
        matched: routing.matched.clone(),
        queue: routing.queue.clone(),
        level: routing.level.get(),
        priority: routing.priority.to_string(),
        tags: routing.tags.clone(),
        assignee: routing.assignee.map(|a| a.name.clone()),
        notify: routing.notify.clone(),
        acknowledge: !routing.no_acknowledgement,
        missing_fields: routing.missing.clone(),
    };
    if json {
        return print_json(&report);
    }
    println!(
        "Rules matched: {}",
        if report.matched.is_empty() {
            "none".into()
        } else {
            report.matched.join(", ")
        }
    );
    println!(
        "Queue:         {}  (level L{}, priority {})",
        report.queue, report.level, report.priority
    );
    println!(
        "Assignee:      {}",
        report.assignee.as_deref().unwrap_or("-")
    );
    if !report.tags.is_empty() {
        println!("Tags:          {}", report.tags.join(", "));
    }
    for (name, value) in &report.fields {
        println!("Field:         {name} = {value}");
    }
    for prompt in &report.missing_fields {
        println!("Missing:       {prompt} (the acknowledgement asks for it)");
    }
    if !report.notify.is_empty() {
        println!("Notify:        {}", report.notify.join(", "));
    }
    println!(
        "Acknowledge:   {}",
        if report.acknowledge {
            "yes (if loop rules allow)"
        } else {
            "no (a rule says so)"
        }
    );
    Ok(())
}
