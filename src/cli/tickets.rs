//! Commands that look at tickets: `tickets list|show`, `queue`, `quarantine list`.

use super::*;

pub(super) fn tickets(config: &Config, command: TicketsCommand) -> Result<(), CliError> {
    if let TicketsCommand::RevokeLinks { number } = command {
        return revoke_links(config, TicketNumber(number));
    }
    let store = open_read_only(config)?;
    match command {
        TicketsCommand::List {
            status,
            limit,
            after,
            json,
        } => {
            let status = status
                .map(|s| s.parse::<Status>())
                .transpose()
                .map_err(|e| CliError::Usage(e.to_string()))?;
            list_tickets(&store, status, limit, after, json)
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

/// `guichet queue`'s arguments.
pub struct WorkListArgs<'a> {
    pub queue: Option<&'a str>,
    pub level: Option<u8>,
    pub limit: Option<usize>,
    pub after: Option<u64>,
    pub json: bool,
}

pub(super) fn work_list(config: &Config, args: WorkListArgs<'_>) -> Result<(), CliError> {
    let WorkListArgs {
        queue,
        level,
        limit,
        after,
        json,
    } = args;
    if level.is_some_and(|l| !(1..=4).contains(&l)) {
        return Err(CliError::Usage("--level is 1 to 4".into()));
    }
    let store = open_read_only(config)?;
    let now = system_now();
    let reader = store.read();
    let mut ranks = reader.work_ranking(queue, level, &config.intake.sla, now)?;
    if let Some(after) = after {
        let Some(position) = ranks.iter().position(|rank| rank.number == after) else {
            return Err(CliError::Usage(format!(
                "#{after} is not in this work list (resolved since, or another queue)"
            )));
        };
        ranks.drain(..=position);
    }
    if let Some(limit) = limit {
        ranks.truncate(limit);
    }
    let rows = reader.work_rows(ranks)?;
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

/// Tickets read from the store a page at a time and written as they come: a million tickets
/// never sit in memory at once (a JSON array is written element by element).
fn list_tickets(
    store: &crate::adapters::store::Store,
    status: Option<Status>,
    limit: Option<usize>,
    mut after: u64,
    json: bool,
) -> Result<(), CliError> {
    const PAGE: usize = 1000;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut left = limit.unwrap_or(usize::MAX);
    let mut written = 0usize;
    let write_error = |e: std::io::Error| CliError::Software(e.into());
    if json {
        write!(out, "[").map_err(write_error)?;
    }
    while left > 0 {
        let page = store
            .read()
            .ticket_page(&crate::adapters::store::TicketQuery {
                status: status.map(Status::as_str),
                after,
                limit: left.min(PAGE),
                ..Default::default()
            })?;
        for row in &page {
            if json {
                let separator = if written == 0 { "\n  " } else { ",\n  " };
                write!(out, "{separator}").map_err(write_error)?;
                serde_json::to_writer(&mut out, row).map_err(|e| CliError::Software(e.into()))?;
            } else {
                if written == 0 {
                    writeln!(
                        out,
                        "{:>7}  {:<8}  {:<7}  {:<3}  {:<10}  {:<28}  subject",
                        "number", "status", "prio", "lvl", "queue", "requester"
                    )
                    .map_err(write_error)?;
                }
                writeln!(
                    out,
                    "{:>7}  {:<8}  {:<7}  L{:<2}  {:<10}  {:<28}  {}",
                    format!("#{}", row.number),
                    row.status,
                    row.priority,
                    row.level,
                    row.queue,
                    row.requester,
                    row.subject
                )
                .map_err(write_error)?;
            }
            written += 1;
        }
        left -= page.len();
        match page.last() {
            Some(last) if page.len() == PAGE.min(left + page.len()) => after = last.number,
            _ => break,
        }
    }
    if json {
        writeln!(out, "{}]", if written == 0 { "" } else { "\n" }).map_err(write_error)?;
    } else if written == 0 {
        writeln!(out, "no tickets").map_err(write_error)?;
    }
    out.flush().map_err(write_error)
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
