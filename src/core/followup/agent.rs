//! A mail from an agent: commands checked (trust, role, meaning) and applied all or none,
//! notices, `#release` of held spam, `#attachments`, and the answer relayed to the requester.

use super::participant::UNAUTHENTICATED_REFUSAL;
use super::*;

/// `#release`: the ticket becomes `new`, and what its first mail would have caused happens now
/// (the acknowledgement, unless the address is a machine's or ours, and the new-ticket notice).
pub(super) fn release(work: &mut Work<'_>, state: &mut State) {
    set_status(work, state, Status::New);
    let view = work.view;
    match work.policy.loops.address_suppression(&view.requester) {
        Some(reason) => work.event(
            EventKind::AutoReplySuppressed,
            format!("no acknowledgement: {reason}"),
        ),
        None if work.policy.acknowledge_new_tickets => {
            let mut values = work.values(state);
            values.insert("fields_request", String::new());
            work.send(
                OutgoingKind::Acknowledgement,
                TemplateKind::Acknowledgement,
                view.language,
                vec![view.requester.clone()],
                Vec::new(),
                None,
                values,
            );
            let detail = format!("acknowledgement to {}", view.requester.address);
            work.event(EventKind::AcknowledgementQueued, detail);
        }
        None => {}
    }
    let to: Vec<Mailbox> = work
        .policy
        .directory
        .triagers_of(&state.queue)
        .into_iter()
        .filter(|address| *address != view.requester.address)
        .map(
            |address| match work.policy.directory.agent_by_address(&address) {
                Some(agent) => work.agent_mailbox(agent),
                None => Mailbox::new(None, &address),
            },
        )
        .collect();
    if to.is_empty() {
        return;
    }
    let mut values = work.values(state);
    let first = view
        .history
        .first()
        .map_or(String::new(), |entry| entry.text.clone());
    values.insert("text", first);
    values.insert(
        "attachments",
        view.fields
            .iter()
            .map(|(name, value)| format!("{name}: {value}\n"))
            .collect(),
    );
    let detail = format!(
        "new-ticket notice to {}",
        to.iter()
            .map(|m| m.address.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    work.send(
        OutgoingKind::NewTicketNotice,
        TemplateKind::NewTicketNotice,
        work.policy.language,
        to,
        Vec::new(),
        None,
        values,
    );
    work.event(EventKind::NoticeQueued, detail);
}

pub(super) fn agent_mail(
    work: &mut Work<'_>,
    agent: &Agent,
    parsed: &ParsedCommands,
    visible: &str,
) {
    let token = parsed.commands.iter().find_map(|line| match &line.command {
        Command::Token(word) => Some(word.as_str()),
        _ => None,
    });
    let acting: Vec<&CommandLine> = parsed
        .commands
        .iter()
        .filter(|l| !matches!(l.command, Command::Token(_)))
        .collect();
    let language = work.agent_language(Some(agent));
    work.internal = work.is_to_comment_address();
    let mut refused: Vec<(String, String, String)> = parsed
        .errors
        .iter()
        .map(|e| (e.line.clone(), e.reason.clone(), e.hint.clone()))
        .collect();
    let authenticated = work.trusted(Some(agent), token);
    if !authenticated {
        let why = match &work.policy.trust {
            Trust::Token => "your mail carries no valid #token line".to_string(),
            _ => format!(
                "your mail could not be authenticated: no passing DKIM or SPF for {} from a trusted server",
                crate::core::address::domain(&work.actor)
            ),
        };
        let lines: Vec<String> = if acting.is_empty() {
            vec![visible.lines().next().unwrap_or("(your reply)").to_string()]
        } else {
            acting.iter().map(|l| l.line.clone()).collect()
        };
        refused.extend(
            lines
                .into_iter()
                .map(|line| (line, why.clone(), String::new())),
        );
    }
    let state = work.state();
    let mut simulated = state.clone();
    if refused.is_empty() {
        for line in &acting {
            let scope = Scope {
                queue: &simulated.queue,
                level: simulated.level,
                owned: work.policy.directory.owns(
                    agent,
                    &simulated.queue,
                    simulated.assignee.as_deref(),
                ),
            };
            if let Some(reason) = refusal(Standing::Agent(agent), &line.command, scope) {
                refused.push((line.line.clone(), reason, String::new()));
                continue;
            }
            if let Err((reason, hint)) = check(work, &line.command, &mut simulated)
                .and_then(|()| super::knowledge::check(work, agent, &line.command, &simulated))
            {
                refused.push((line.line.clone(), reason, hint));
            }
        }
    }
    if !refused.is_empty() {
        work.internal = true;
        for (line, reason, _) in &refused {
            work.event(EventKind::CommandRefused, format!("{line}: {reason}"));
        }
        // A forged From must not make us mail its text to the address it names.
        if authenticated {
            let problems = describe_refusals(&refused, true);
            work.command_reply(work.agent_mailbox(agent), language, problems);
        } else {
            work.event(
                EventKind::AutoReplySuppressed,
                UNAUTHENTICATED_REFUSAL.into(),
            );
        }
        return;
    }
    let mut state = state;
    for line in &acting {
        apply(work, agent, &line.command, &mut state);
        work.event(EventKind::CommandApplied, line.line.clone());
    }
    if work.help {
        let problems = "Here is how to steer a ticket by mail.".to_string();
        work.command_reply(work.agent_mailbox(agent), language, problems);
    }
    if work.note.is_some() {
        work.internal = true;
    }
    // Articles and saved replies go below the agent's own words, as one answer.
    let answer = match work.answers.is_empty() {
        true => visible.to_string(),
        false => [visible.trim()]
            .into_iter()
            .chain(work.answers.iter().map(|a| a.trim()))
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n"),
    };
    let visible = answer.as_str();
    if work.internal || visible.trim().is_empty() {
        if !visible.trim().is_empty() {
            work.event(
                EventKind::Note,
                format!("internal note from {}", agent.name),
            );
        }
        return;
    }
    // A public answer: to the requester, copying the ticket's participants, from the support
    // address under the agent's name.
    // An answer opens a new ticket; on a done ticket it reopens it unless it is what closed it.
    let closing = acting
        .iter()
        .any(|l| matches!(l.command, Command::Resolve(_) | Command::Close));
    if state.status == Status::New || (state.status.is_done() && !closing) {
        work.updates.push(TicketUpdate::Status(Status::Open));
    }
    let mut values = work.values(&state);
    values.insert("text", visible.to_string());
    let from_name = format!(
        "{} ({})",
        agent.display_name,
        work.policy
            .support
            .name
            .clone()
            .unwrap_or_else(|| work.policy.support.address.clone())
    );
    let cc = state
        .cc
        .iter()
        .filter(|m| m.address != work.actor)
        .cloned()
        .collect();
    // The agent hears about any recipient the answer cannot reach: the outbox knows who failed,
    // only this plan knows whose words they were.
    let (limits, mail) = (work.policy.attachment_limits, work.input.mail);
    let contact = FailureContact {
        agent: work.agent_mailbox(agent),
        language: work.agent_language(Some(agent)),
    };
    let queued = work
        .send(
            OutgoingKind::Relay,
            TemplateKind::Relay,
            work.view.language,
            vec![work.view.requester.clone()],
            cc,
            Some(from_name),
            values,
        )
        .map(|relay| {
            relay.report_failures_to = Some(contact);
            // The agent's own files go to the requester with the answer.
            carry(
                relay,
                &mail.attachments,
                &limits,
                attachments::Reader::Outsider,
            );
        })
        .is_some();
    // The outbox records what became of it (delivered, refused) once the server has answered.
    let detail = if queued {
        format!("answer from {} queued for the requester", agent.name)
    } else {
        format!(
            "answer from {} not queued: the requester is the helpdesk itself",
            agent.name
        )
    };
    work.event(EventKind::Correspondence, detail);
}

/// Checks a command against the ticket as the earlier commands of the mail left it.
pub(super) fn check(
    work: &Work<'_>,
    command: &Command,
    state: &mut State,
) -> Result<(), (String, String)> {
    let directory = &work.policy.directory;
    match command {
        Command::Assign(Some(name)) if directory.agent_by_name(name).is_none() => {
            let names: Vec<&str> = directory.agents.iter().map(|a| a.name.as_str()).collect();
            return Err((
                format!("no agent is called {name}"),
                format!("agents: {}", names.join(", ")),
            ));
        }
        Command::Queue(queue) => {
            let known = directory.queue(queue).is_some()
                || queue.eq_ignore_ascii_case(&work.policy.default_queue);
            if !known {
                let mut names: Vec<&str> =
                    directory.queues.iter().map(|q| q.name.as_str()).collect();
                names.push(&work.policy.default_queue);
                return Err((
                    format!("there is no queue {queue}"),
                    format!("queues: {}", names.join(", ")),
                ));
            }
            state.queue = queue.clone();
        }
        Command::Escalate(_) => {
            state.level = Level::new(state.level.get() + 1).ok_or_else(|| {
                (
                    "the ticket is already at level 4, the last".to_string(),
                    "#deescalate goes back".to_string(),
                )
            })?;
        }
        Command::Deescalate => {
            state.level = Level::new(state.level.get() - 1).ok_or_else(|| {
                (
                    "the ticket is already at level 1".to_string(),
                    String::new(),
                )
            })?;
        }
        Command::Level(level) => state.level = *level,
        Command::Merge(into) => {
            if work.view.merged_into.is_some() {
                return Err(("this ticket is already merged".into(), String::new()));
            }
            match work
                .input
                .others
                .iter()
                .find(|t| t.number == *into || t.requested_as == Some(*into))
            {
                None => return Err((format!("there is no ticket #{into}"), String::new())),
                Some(target) if target.number == work.view.number => {
                    return Err((
                        format!("#{into} is this ticket"),
                        "name the ticket to merge into".into(),
                    ))
                }
                Some(_) => {}
            }
        }
        Command::Uncc(address) => {
            if !state.cc.iter().any(|m| &m.address == address) {
                return Err((
                    format!("{address} is not copied on this ticket"),
                    String::new(),
                ));
            }
            state.cc.retain(|m| &m.address != address);
        }
        Command::Field { name, value } => {
            if let Some(spec) = work.policy.fields.iter().find(|f| &f.name == name) {
                spec.check(value).map_err(|reason| {
                    (
                        reason,
                        format!("e.g. #field {}", spec.prompt.replace(": ", "=")),
                    )
                })?;
            }
        }
        Command::Release if state.status != Status::Spam => {
            return Err((
                format!("this ticket is {}, not held as spam", state.status),
                String::new(),
            ));
        }
        Command::Release => state.status = Status::New,
        Command::Resolve(text) => {
            state.status = Status::Resolved;
            if let Some(text) = text {
                state.resolution = Some(text.clone());
            }
        }
        Command::Close => state.status = Status::Closed,
        Command::Reopen => state.status = Status::Open,
        Command::Status(status) => state.status = *status,
        Command::Cc(address) if work.is_own(address) => {
            return Err((format!("{address} is the helpdesk itself"), String::new()));
        }
        _ => {}
    }
    Ok(())
}

pub(super) fn apply(work: &mut Work<'_>, agent: &Agent, command: &Command, state: &mut State) {
    let directory = &work.policy.directory;
    match command {
        Command::Assign(who) => {
            let assignee = match who {
                None => agent.clone(),
                Some(name) => directory.agent_by_name(name).expect("checked").clone(),
            };
            state.assignee = Some(assignee.name.clone());
            work.updates
                .push(TicketUpdate::Assignee(Some(assignee.name.clone())));
            if state.status == Status::New {
                state.status = Status::Open;
                work.updates.push(TicketUpdate::Status(Status::Open));
            }
            if assignee.name != agent.name {
                let language = work.agent_language(Some(&assignee));
                let values = work.values(state);
                let to = vec![work.agent_mailbox(&assignee)];
                work.send_notice(
                    OutgoingKind::AssignmentNotice,
                    TemplateKind::AssignmentNotice,
                    language,
                    to,
                    values,
                );
            }
        }
        Command::Unassign => {
            state.assignee = None;
            work.updates.push(TicketUpdate::Assignee(None));
        }
        Command::Priority(priority) => {
            state.priority = *priority;
            work.updates.push(TicketUpdate::Priority(*priority));
        }
        Command::Level(level) => {
            state.level = *level;
            work.updates.push(TicketUpdate::Level(*level));
        }
        Command::Escalate(reason) => {
            let level = Level::new(state.level.get() + 1).expect("checked");
            state.level = level;
            work.updates.push(TicketUpdate::Level(level));
            let language = work.policy.language;
            let mut values = work.values(state);
            values.insert(
                "reason",
                reason.clone().unwrap_or_else(|| "(none given)".into()),
            );
            let to: Vec<Mailbox> = directory
                .addresses_of_level(level)
                .into_iter()
                .map(|address| match directory.agent_by_address(&address) {
                    Some(agent) => Mailbox::new(Some(&agent.display_name), &address),
                    None => Mailbox::new(None, &address),
                })
                .collect();
            work.send_notice(
                OutgoingKind::EscalationNotice,
                TemplateKind::EscalationNotice,
                language,
                to,
                values,
            );
        }
        Command::Deescalate => {
            let level = Level::new(state.level.get() - 1).expect("checked");
            state.level = level;
            work.updates.push(TicketUpdate::Level(level));
        }
        Command::Queue(queue) => {
            let queue = directory
                .queue(queue)
                .map_or(queue.clone(), |q| q.name.clone());
            state.queue = queue.clone();
            work.updates.push(TicketUpdate::Queue(queue.clone()));
            let language = work.policy.language;
            let values = work.values(state);
            let to = directory
                .triagers_of(&queue)
                .iter()
                .map(|a| Mailbox::new(None, a))
                .collect();
            work.send_notice(
                OutgoingKind::TransferNotice,
                TemplateKind::TransferNotice,
                language,
                to,
                values,
            );
        }
        Command::Status(status) => {
            state.status = *status;
            work.updates.push(TicketUpdate::Status(*status));
        }
        Command::Resolve(resolution) => {
            state.status = Status::Resolved;
            work.updates.push(TicketUpdate::Status(Status::Resolved));
            if let Some(text) = resolution {
                state.resolution = Some(text.clone());
                work.updates.push(TicketUpdate::Resolution(text.clone()));
            }
            let language = work.view.language;
            let mut values = work.values(state);
            values.insert("resolution", resolution.clone().unwrap_or_default());
            let to = vec![work.view.requester.clone()];
            let cc = state.cc.clone();
            work.send(
                OutgoingKind::ResolutionNotice,
                TemplateKind::ResolutionNotice,
                language,
                to,
                cc,
                None,
                values,
            );
        }
        Command::Close => set_status(work, state, Status::Closed),
        Command::Reopen => set_status(work, state, Status::Open),
        Command::Merge(into) => {
            let target = work
                .input
                .others
                .iter()
                .find(|t| t.number == *into || t.requested_as == Some(*into))
                .expect("checked")
                .clone();
            work.updates.push(TicketUpdate::MergeInto(target.number));
            // Both requesters learn the number that now holds the conversation, each on the
            // thread they know and under their own topic: neither is shown the other's words.
            let language = target.language;
            let directory = &work.policy.directory;
            let mut values = work.values(state);
            values.insert("tag", work.policy.tags.tag(target.number));
            values.insert("number", target.number.to_string());
            values.insert("from_number", work.view.number.to_string());
            let mut told = vec![(work.view.requester.clone(), work.view.clone())];
            if target.requester.address != work.view.requester.address {
                told.push((target.requester.clone(), target.clone()));
            }
            for (requester, known) in told {
                let mut values = values.clone();
                values.insert("topic", known.subject.clone());
                values.insert(
                    "name_suffix",
                    requester
                        .name
                        .as_ref()
                        .map_or(String::new(), |n| format!(" {n}")),
                );
                if let Some(notice) = work.send(
                    OutgoingKind::MergeNotice,
                    TemplateKind::MergeNotice,
                    language,
                    vec![requester],
                    Vec::new(),
                    None,
                    values,
                ) {
                    thread_mail(notice, &known.thread, directory);
                }
            }
        }
        Command::Cc(address) => {
            let mailbox = Mailbox::new(None, address);
            if !state.cc.iter().any(|m| m.address == mailbox.address) {
                state.cc.push(mailbox.clone());
                work.updates
                    .push(TicketUpdate::AddParticipant(mailbox, Role::Cc));
            }
        }
        Command::Uncc(address) => {
            state.cc.retain(|m| &m.address != address);
            work.updates
                .push(TicketUpdate::RemoveParticipant(address.clone()));
        }
        Command::Tag(tag) => {
            if !state.tags.contains(tag) {
                state.tags.push(tag.clone());
                work.updates.push(TicketUpdate::AddTag(tag.clone()));
            }
        }
        Command::Untag(tag) => {
            state.tags.retain(|t| t != tag);
            work.updates.push(TicketUpdate::RemoveTag(tag.clone()));
        }
        Command::Field { name, value } => work
            .updates
            .push(TicketUpdate::Field(name.clone(), value.clone())),
        Command::Note(text) => work.note = Some(text.clone()),
        Command::Help => work.help = true,
        Command::Attachments => send_attachments(work, agent, state),
        Command::Token(_) => {}
        Command::Away => work.agents_away.push((agent.name.clone(), true)),
        Command::Back => work.agents_away.push((agent.name.clone(), false)),
        Command::Release => release(work, state),
        Command::Answer(_)
        | Command::Reply(_)
        | Command::Kb { .. }
        | Command::Publish(_)
        | Command::Retire(_) => super::knowledge::apply(work, agent, command, state),
        // A requester's command: `refusal` keeps it from agents.
        Command::Solved(_) => {}
    }
}

/// `#attachments`: every file of the ticket to the agent who asked, in as many mails as the
/// per-mail limit needs; an agent who only works the vendor level gets those of public mail.
fn send_attachments(work: &mut Work<'_>, agent: &Agent, state: &State) {
    let outside = agent.levels.iter().all(|level| *level == Level::VENDOR);
    let files = work.view.attachments(outside);
    let (batches, too_large) = fetch_batches(&files, &work.policy.attachment_limits);
    let language = work.agent_language(Some(agent));
    let count = batches.len();
    let too_large_note = named_note(&too_large, language, attachments::Reader::Outsider);
    if count == 0 {
        let problems = match too_large_note.is_empty() {
            true => "This ticket has no attachments.".to_string(),
            false => too_large_note,
        };
        work.command_reply(work.agent_mailbox(agent), language, problems);
        return;
    }
    for (index, batch) in batches.into_iter().enumerate() {
        let mut values = work.values(state);
        let list: String = batch
            .iter()
            .map(|a| {
                format!(
                    "  - {} ({})\n",
                    a.filename,
                    super::attachments::human_size(a.size)
                )
            })
            .collect();
        let mut problems = format!(
            "Attachments of this ticket, mail {} of {count}:\n{list}",
            index + 1
        );
        if index == 0 && !too_large_note.is_empty() {
            problems.push('\n');
            problems.push_str(&too_large_note);
        }
        values.insert("problems", problems);
        let to = vec![work.agent_mailbox(agent)];
        if let Some(mail) = work.send(
            OutgoingKind::AttachmentDelivery,
            TemplateKind::CommandReply,
            language,
            to,
            Vec::new(),
            None,
            values,
        ) {
            mail.attachments = batch;
        }
    }
    work.event(
        EventKind::NoticeQueued,
        format!(
            "attachments of the ticket in {count} mail(s) to {}",
            agent.name
        ),
    );
}
