//! Commands that look at tickets: `tickets list|show`, `queue`, `quarantine list`.

use super::*;

pub(super) fn tickets(config: &Config, command: TicketsCommand) -> Result<(), CliError> {
    if let TicketsCommand::RevokeLinks { number } = command {
        return revoke_links(config, TicketNumber(number));
    }
    let store = open_read_only(config)?;
    match command {
        TicketsCommand::List { status, json } => {
            let status = status
                .map(|s| s.parse::<Status>())
                .transpose()
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let rows = store.read().list_tickets(status)?;
            if json {
                print_json(&rows)
            } else {
                print_ticket_table(&rows);
                Ok(())
            }
        }
        TicketsCommand::Show { number, json } => {
            let detail = store
                .read()
                .ticket(TicketNumber(number))?
                .ok_or_else(|| CliError::Failure(format!("no ticket #{number}")))?;
            if json {
                print_json(&detail)
            } else {
                print_ticket(&detail);
                Ok(())
            }
        }
        TicketsCommand::RevokeLinks { .. } => unreachable!("handled above"),
    }
}

fn revoke_links(config: &Config, number: TicketNumber) -> Result<(), CliError> {
    crate::adapters::state_dir::prepare(&config.state_dir)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let mut store = crate::adapters::store::Store::open(&config.database_path())?;
    let tx = store.write()?;
    if tx.read().ticket(number)?.is_none() {
        return Err(CliError::Failure(format!("no ticket #{number}")));
    }
    let actor = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "command line".into());
    tx.revoke_requester_links(number, &actor, crate::pipeline::system_now())?;
    tx.commit()?;
    println!("#{number}: the links mailed so far no longer open the requester's page");
    Ok(())
}

pub(super) fn quarantine_list(config: &Config, json: bool) -> Result<(), CliError> {
    let rows = open_read_only(config)?.read().list_quarantine()?;
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("quarantine is empty");
    }
    for row in rows {
        println!(
            "{:>5}  {}  {:>9} bytes  {}  {}\n       {}",
            row.id,
            time(row.received_at),
            row.size,
            row.source,
            row.reason,
            row.path
        );
    }
    Ok(())
}

pub(super) fn work_list(
    config: &Config,
    queue: Option<&str>,
    level: Option<u8>,
    json: bool,
) -> Result<(), CliError> {
    if level.is_some_and(|l| !(1..=4).contains(&l)) {
        return Err(CliError::Usage("--level is 1 to 4".into()));
    }
    let store = open_read_only(config)?;
    let now = system_now();
    let rows = store
        .read()
        .ranked_work_list(queue, level, &config.intake.sla, now)?;
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("nothing open");
        return Ok(());
    }
    println!(
        "{:>7}  {:>7}  {:<8}  {:<7}  {:<3}  {:<10}  {:<10}  {:<22}  subject",
        "score", "number", "status", "prio", "lvl", "queue", "assignee", "next deadline"
    );
    for row in rows {
        let deadline = match (row.sla.next_due(), row.sla.paused_at) {
            (_, Some(_)) => "paused (waiting)".to_string(),
            (Some((_, due)), None) if due <= now => format!("LATE {}", time(due)),
            (Some((_, due)), None) => time(due),
            (None, None) => "-".to_string(),
        };
        println!(
            "{:>7}  {:>7}  {:<8}  {:<7}  L{:<2}  {:<10}  {:<10}  {:<22}  {}",
            row.urgency,
            format!("#{}", row.number),
            row.status,
            row.priority,
            row.level,
            row.queue,
            row.assignee.as_deref().unwrap_or("-"),
            deadline,
            row.subject
        );
    }
    Ok(())
}

fn print_ticket_table(rows: &[TicketRow]) {
    if rows.is_empty() {
        println!("no tickets");
        return;
    }
    println!(
        "{:>7}  {:<8}  {:<7}  {:<3}  {:<10}  {:<28}  subject",
        "number", "status", "prio", "lvl", "queue", "requester"
    );
    for row in rows {
        println!(
            "{:>7}  {:<8}  {:<7}  L{:<2}  {:<10}  {:<28}  {}",
            format!("#{}", row.number),
            row.status,
            row.priority,
            row.level,
            row.queue,
            row.requester,
            row.subject
        );
    }
}

fn print_ticket(detail: &TicketDetail) {
    let t = &detail.ticket;
    println!("Ticket #{}: {}", t.number, t.subject);
    println!(
        "  status {}  priority {}  level L{}  queue {}  assignee {}",
        t.status,
        t.priority,
        t.level,
        t.queue,
        t.assignee.as_deref().unwrap_or("-")
    );
    println!(
        "  requester {}  language {}  opened {}  updated {}",
        t.requester,
        t.language,
        time(t.created_at),
        time(t.updated_at)
    );
    if let Some(into) = t.merged_into {
        println!("  merged into #{into}");
    }
    if !detail.tags.is_empty() {
        println!("  tags {}", detail.tags.join(", "));
    }
    for (name, value) in &detail.fields {
        println!("  {name}: {value}");
    }
    println!("Participants:");
    for p in &detail.participants {
        println!("  {:<10} {}", p.role, p.address);
    }
    println!("Messages:");
    for m in &detail.messages {
        let arrow = if m.direction == "in" { "←" } else { "→" };
        println!(
            "  [{}] {arrow} {} {} {}{}",
            m.id,
            time(m.created_at),
            if m.direction == "in" {
                m.from.clone().unwrap_or_default()
            } else {
                m.to.join(", ")
            },
            m.kind,
            match (&m.visibility[..], &m.delivery) {
                ("internal", _) => " (internal)".to_string(),
                ("stranger", _) => " (stranger, internal)".to_string(),
                (_, Some(delivery)) => format!(" ({delivery})"),
                _ => String::new(),
            }
        );
        println!("      Subject: {}", m.subject);
        for a in &m.attachments {
            println!(
                "      Attachment: {} ({}, {} bytes)",
                a.filename, a.content_type, a.size
            );
        }
        for line in m.text.lines().take(20) {
            println!("      | {line}");
        }
    }
    println!("Events:");
    for e in &detail.events {
        println!(
            "  {} {:<22} {:<28} {}",
            time(e.at),
            e.kind,
            e.actor,
            e.detail
        );
    }
}
