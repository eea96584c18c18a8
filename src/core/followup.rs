//! A mail on an existing ticket: who wrote it (an agent, the requester, a participant, a stranger),
//! the commands it carries and whether they may be obeyed, what changes, what is relayed to whom,
//! and which notices go out. Pure: the plan is data for the store and the outbox.

use std::collections::BTreeMap;

use super::address::{without_subaddress, Mailbox};
use super::attachments::{self, carry, fetch_batches, named_note, with_attached_mails};
use super::commands::{parse_commands, Command, CommandLine, ParsedCommands, CHEAT_SHEET};
use super::forward::visible_with_forward;
use super::language::Language;
use super::loops::{AutoReplyVerdict, Suppression};
use super::mail::InboundMail;
use super::outgoing::{FailureContact, OutgoingKind, OutgoingMail};
use super::own_text::SentText;
use super::people::{refusal, sender_is_trusted, Agent, Scope, Standing, Trust};
use super::personal_thread::thread_mail;
use super::plan::{
    EventDraft, EventKind, IntakeInput, IntakePlan, IntakePolicy, Role, TicketChange, TicketUpdate,
    TicketView,
};
use super::sla::{advance, SlaEvent, SlaState};
use super::templates::TemplateKind;
use super::ticket::{Level, Priority, Status, TicketNumber};
use super::visibility::Visibility;
use super::visibility::{by_reader, Reader};

/// Tickets a mail's commands name besides its own (`#merge N`): the store loads them first.
pub fn named_tickets(mail: &InboundMail, policy: &IntakePolicy) -> Vec<TicketNumber> {
    parse_commands(&mail.subject, &mail.text, &policy.vocabulary)
        .commands
        .iter()
        .filter_map(|line| match line.command {
            Command::Merge(number) => Some(number),
            _ => None,
        })
        .collect()
}

/// The ticket as the commands of one mail change it, step by step.
#[derive(Debug, Clone)]
struct State {
    status: Status,
    priority: Priority,
    level: Level,
    queue: String,
    assignee: Option<String>,
    cc: Vec<Mailbox>,
    tags: Vec<String>,
}

/// What one mail does, gathered while its commands are applied.
struct Work<'a> {
    policy: &'a IntakePolicy,
    input: &'a IntakeInput<'a>,
    view: &'a TicketView,
    actor: String,
    updates: Vec<TicketUpdate>,
    events: Vec<EventDraft>,
    outgoing: Vec<OutgoingMail>,
    internal: bool,
    /// Written by someone who is not a participant.
    stranger: bool,
    note: Option<String>,
    help: bool,
    agents_away: Vec<(String, bool)>,
}

pub(crate) fn plan(
    policy: &IntakePolicy,
    input: &IntakeInput<'_>,
    view: &TicketView,
    requester: Mailbox,
    auto_reply: AutoReplyVerdict,
) -> IntakePlan {
    let mail = input.mail;
    let from = mail.from.as_ref().unwrap_or(&requester);
    let agent = policy.directory.agent_by_address(&from.address);
    let automatic = matches!(&auto_reply, AutoReplyVerdict::Suppressed(reason) if !matches!(reason, Suppression::RateLimited { .. }));
    let parsed = parse_commands(&mail.subject, &mail.text, &policy.vocabulary);
    let own = sent_on_ticket(policy, view.number, &view.sent_texts)
        .remove_from(&visible_with_forward(&parsed.text, &mail.subject).text);
    let visible = with_attached_mails(own.text, mail);
    let mut work = Work {
        policy,
        input,
        view,
        actor: from.address.clone(),
        updates: Vec::new(),
        events: Vec::new(),
        outgoing: Vec::new(),
        internal: false,
        stranger: false,
        note: None,
        help: false,
        agents_away: Vec::new(),
    };
    if own.removed_lines > 0 {
        let detail = if visible.is_empty() {
            "nothing new to relay: the text is mail Guichet sent on this ticket".to_string()
        } else {
            format!(
                "{} lines of mail Guichet sent on this ticket left out",
                own.removed_lines
            )
        };
        work.event(EventKind::IntakeCut, detail);
    }
    match agent {
        // An agent's out-of-office or a bounce from their mailbox steers nothing and reaches no one.
        Some(_) if automatic => {
            work.internal = true;
            work.event(
                EventKind::Correspondence,
                "automatic mail from an agent, kept internal".into(),
            );
        }
        Some(agent) => agent_mail(&mut work, agent, &parsed, &visible),
        None => participant_mail(&mut work, &requester, from, &parsed, &visible, automatic),
    }
    let deadlines = sla_after(&work, agent.is_some());
    work.updates.extend(deadlines);
    let visibility = if work.stranger {
        Visibility::Stranger
    } else if work.internal {
        Visibility::Internal
    } else {
        Visibility::Public
    };
    let stored_text = match &work.note {
        Some(note) if !note.is_empty() => note.clone(),
        _ => visible,
    };
    IntakePlan {
        ticket: view.number,
        change: TicketChange::Append {
            updates: work.updates,
        },
        visibility,
        new_participants: Vec::new(),
        events: work.events,
        outgoing: work.outgoing,
        auto_reply,
        stored_text,
        agents_away: work.agents_away,
    }
}

/// What Guichet sent on ticket `number` (`sent_texts`, newest first), and the names its mail
/// goes by, to find in a reply.
pub fn sent_on_ticket(
    policy: &IntakePolicy,
    number: TicketNumber,
    sent_texts: &[String],
) -> SentText {
    let tag = policy.tags.tag(number);
    let identities = [policy.support.address.as_str(), tag.as_str()]
        .into_iter()
        .chain(policy.support.name.as_deref())
        .chain(policy.loops.own_addresses.iter().map(String::as_str));
    SentText::new(sent_texts.iter().map(String::as_str), identities)
}

impl Work<'_> {
    fn event(&mut self, kind: EventKind, detail: String) {
        self.events.push(EventDraft {
            kind,
            actor: self.actor.clone(),
            detail,
        });
    }

    fn state(&self) -> State {
        State {
            status: self.view.status,
            priority: self.view.priority,
            level: self.view.level,
            queue: self.view.queue.clone(),
            assignee: self.view.assignee.clone(),
            cc: self.view.cc.clone(),
            tags: self.view.tags.clone(),
        }
    }

    fn is_to_comment_address(&self) -> bool {
        let Some(comment) = &self.policy.comment_address else {
            return false;
        };
        let comment = without_subaddress(comment);
        self.input
            .mail
            .to
            .iter()
            .chain(&self.input.mail.cc)
            .any(|m| without_subaddress(&m.address) == comment)
    }

    fn trusted(&self, agent: Option<&Agent>, token: Option<&str>) -> bool {
        sender_is_trusted(
            &self.policy.trust,
            &self.actor,
            &self.input.mail.auth_results,
            token,
            agent,
        )
    }

    fn values(&self, state: &State) -> BTreeMap<&'static str, String> {
        let requester = &self.view.requester;
        [
            ("tag", self.policy.tags.tag(self.view.number)),
            ("number", self.view.number.to_string()),
            ("topic", self.view.subject.clone()),
            ("requester", requester.to_string()),
            ("queue", state.queue.clone()),
            ("priority", state.priority.to_string()),
            ("level", state.level.get().to_string()),
            ("actor", self.actor.clone()),
            // The safe default; `send_notice` gives each reader the history they may read.
            ("history", self.view.history_text(Reader::External)),
            ("cheat_sheet", CHEAT_SHEET.to_string()),
            (
                "support_name",
                self.policy
                    .support
                    .name
                    .clone()
                    .unwrap_or_else(|| self.policy.support.address.clone()),
            ),
            (
                "name_suffix",
                requester
                    .name
                    .as_ref()
                    .map_or(String::new(), |n| format!(" {n}")),
            ),
        ]
        .into_iter()
        .collect()
    }

    /// The ticket so far, for notices that hand it to someone new.
    /// A templated mail from the support address, tagged and threaded on the ticket.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        kind: OutgoingKind,
        template: TemplateKind,
        language: Language,
        to: Vec<Mailbox>,
        cc: Vec<Mailbox>,
        from_name: Option<String>,
        values: BTreeMap<&'static str, String>,
    ) -> Option<&mut OutgoingMail> {
        let to: Vec<Mailbox> = to
            .into_iter()
            .filter(|m| !self.is_own(&m.address))
            .collect();
        if to.is_empty() {
            return None;
        }
        let rendered = self
            .policy
            .templates
            .get(template, language)
            .render(&values);
        let seed = format!("{}.{}", self.input.id_seed, self.outgoing.len());
        let mut mail = OutgoingMail::from_support(
            &self.policy.support,
            kind,
            self.view.number,
            to,
            rendered,
            &seed,
            language,
        );
        if let Some(name) = from_name {
            mail.from.name = Some(name);
        }
        mail.cc = cc
            .into_iter()
            .filter(|m| !self.is_own(&m.address))
            .collect();
        thread_mail(&mut mail, &self.view.thread, &self.policy.directory);
        self.outgoing.push(mail);
        self.outgoing.last_mut()
    }

    /// A notice carrying the ticket's history: one mail per kind of reader, each with only the
    /// history that reader may see (a vendor never gets notes or strangers' mail).
    fn send_notice(
        &mut self,
        kind: OutgoingKind,
        template: TemplateKind,
        language: Language,
        to: Vec<Mailbox>,
        mut values: BTreeMap<&'static str, String>,
    ) {
        let limits = self.policy.attachment_limits;
        for (reader, group) in by_reader(&self.policy.directory, to) {
            values.insert("history", self.view.history_text(reader));
            // Outside the house, only the files of public mail travel.
            let (files, carried_for) = match reader {
                Reader::Staff => (self.view.attachments(false), attachments::Reader::Agent),
                Reader::External => (self.view.attachments(true), attachments::Reader::Outsider),
            };
            if let Some(notice) = self.send(
                kind,
                template,
                language,
                group,
                Vec::new(),
                None,
                values.clone(),
            ) {
                carry(notice, &files, &limits, carried_for);
            }
        }
    }

    fn is_own(&self, address: &str) -> bool {
        let address = without_subaddress(address);
        self.policy
            .loops
            .own_addresses
            .iter()
            .any(|own| without_subaddress(own) == address)
    }

    fn agent_mailbox(&self, agent: &Agent) -> Mailbox {
        Mailbox::new(Some(&agent.display_name), agent.address())
    }

    fn agent_language(&self, agent: Option<&Agent>) -> Language {
        agent
            .and_then(|a| a.language)
            .unwrap_or(self.policy.language)
    }

    /// Tells the sender of commands what went wrong (or the help they asked for).
    fn command_reply(&mut self, to: Mailbox, language: Language, problems: String) {
        let mut values = self.values(&self.state());
        values.insert("problems", problems);
        let mail = self.input.mail;
        if let Some(reply) = self.send(
            OutgoingKind::CommandReply,
            TemplateKind::CommandReply,
            language,
            vec![to],
            Vec::new(),
            None,
            values,
        ) {
            reply.answer_to(mail);
        }
    }
}

/// The deadlines after this mail: an agent's public answer, the requester's words, status,
/// priority or queue changes. `from_agent` tells whose mail it was.
fn sla_after(work: &Work<'_>, from_agent: bool) -> Vec<TicketUpdate> {
    let view = work.view;
    let now = work.input.now;
    let (mut status, mut priority, mut queue) = (view.status, view.priority, view.queue.clone());
    let mut statuses = Vec::new();
    for update in &work.updates {
        match update {
            TicketUpdate::Status(to) => {
                statuses.push((status, *to));
                status = *to;
            }
            TicketUpdate::Priority(p) => priority = *p,
            TicketUpdate::Queue(q) => queue = q.clone(),
            _ => {}
        }
    }
    // Held spam runs no clock, whatever is written on it.
    if status == Status::Spam {
        return Vec::new();
    }
    let plan = work.policy.sla.plan_for(&queue, priority);
    let mut state = view.sla;
    // A new plan (priority or queue changed) re-arms the running deadlines from their start.
    let old_plan = work.policy.sla.plan_for(&view.queue, view.priority);
    if priority != view.priority || queue != view.queue {
        let fresh = advance(
            SlaState::default(),
            plan,
            SlaEvent::Created {
                at: view.created_at,
            },
        );
        state = SlaState {
            first_response_due: state.first_response_due.and(fresh.first_response_due),
            resolution_due: state.resolution_due.and(fresh.resolution_due),
            next_response_due: match (state.next_response_due, plan, view.awaiting_since) {
                (Some(_), Some(plan), Some(since)) => {
                    plan.next_response.map(|t| plan.clock.add(since, t))
                }
                _ => None,
            },
            ..state
        };
    } else if old_plan.is_none() && plan.is_none() {
        return Vec::new();
    }
    let public = !work.internal;
    let answered =
        from_agent && public && work.outgoing.iter().any(|m| m.kind == OutgoingKind::Relay);
    let requester_wrote = !from_agent
        && public
        && work
            .events
            .iter()
            .any(|e| e.kind == EventKind::Correspondence);
    // Status first (a resume shifts the deadlines already running), then what this mail starts.
    for (from, to) in statuses {
        if from != to {
            state = advance(state, plan, SlaEvent::StatusChanged { at: now, from, to });
        }
    }
    let mut awaiting = view.awaiting_since;
    if answered {
        state = advance(state, plan, SlaEvent::AgentAnswered { at: now });
        awaiting = None;
    }
    if requester_wrote {
        state = advance(state, plan, SlaEvent::RequesterWrote { at: now });
        awaiting = awaiting.or(Some(now));
    }
    let mut updates = Vec::new();
    if state != view.sla {
        updates.push(TicketUpdate::Sla(state));
    }
    if awaiting != view.awaiting_since {
        updates.push(TicketUpdate::AwaitingSince(awaiting));
    }
    updates
}

const UNAUTHENTICATED_REFUSAL: &str =
    "no command reply: the From could not be authenticated, so the refusal goes to no one";

/// A requester whose command is refused learns, in their language, what they may do by mail; the
/// agents' command list and the refused line (which may be a spammer's text) are not sent. Nobody
/// else is answered, nor a From that `commands.trust` cannot authenticate.
fn tell_requester_what_they_may_do(work: &mut Work<'_>, is_requester: bool, from: &Mailbox) {
    if !is_requester {
        work.event(
            EventKind::AutoReplySuppressed,
            "no command reply: only the requester and agents may give commands".into(),
        );
        return;
    }
    if !work.trusted(None, None) {
        work.event(
            EventKind::AutoReplySuppressed,
            UNAUTHENTICATED_REFUSAL.into(),
        );
        return;
    }
    let mut values = work.values(&work.state());
    values.insert(
        "name_suffix",
        from.name
            .as_ref()
            .map_or(String::new(), |name| format!(" {name}")),
    );
    work.send(
        OutgoingKind::CommandReply,
        TemplateKind::RequesterCommandReply,
        work.view.language,
        vec![from.clone()],
        Vec::new(),
        None,
        values,
    );
}

/// `#release`: the ticket becomes `new`, and what its first mail would have caused happens now
/// (the acknowledgement, unless the address is a machine's or ours, and the new-ticket notice).
fn release(work: &mut Work<'_>, state: &mut State) {
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

fn describe_refusals(refused: &[(String, String, String)], nothing_sent: bool) -> String {
    let mut text = String::from("Nothing in your mail was applied");
    text.push_str(if nothing_sent {
        " and nothing was sent to the requester:\n\n"
    } else {
        ":\n\n"
    });
    for (line, reason, hint) in refused {
        text.push_str(&format!("  > {line}\n    {reason}"));
        if !hint.is_empty() {
            text.push_str(&format!("; {hint}"));
        }
        text.push('\n');
    }
    text.push_str("\nCorrect it and send the whole mail again.");
    text
}

fn agent_mail(work: &mut Work<'_>, agent: &Agent, parsed: &ParsedCommands, visible: &str) {
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
                super::address::domain(&work.actor)
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
            if let Err((reason, hint)) = check(work, &line.command, &mut simulated) {
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
fn check(work: &Work<'_>, command: &Command, state: &mut State) -> Result<(), (String, String)> {
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
        Command::Cc(address) if work.is_own(address) => {
            return Err((format!("{address} is the helpdesk itself"), String::new()));
        }
        _ => {}
    }
    Ok(())
}

fn apply(work: &mut Work<'_>, agent: &Agent, command: &Command, state: &mut State) {
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

fn set_status(work: &mut Work<'_>, state: &mut State, status: Status) {
    state.status = status;
    work.updates.push(TicketUpdate::Status(status));
}

/// A mail from the requester, a copied participant, or someone the ticket does not know.
fn participant_mail(
    work: &mut Work<'_>,
    requester: &Mailbox,
    from: &Mailbox,
    parsed: &ParsedCommands,
    visible: &str,
    automatic: bool,
) {
    let view = work.view;
    // Who someone is comes from From alone: a Reply-To naming the requester makes nobody the
    // requester.
    let is_requester = from.address == view.requester.address;
    let is_participant = is_requester || view.participants.contains(&from.address);
    if !is_participant {
        match work.policy.strangers {
            super::plan::StrangerPolicy::InternalNote => {
                work.internal = true;
                work.stranger = true;
                work.event(
                    EventKind::StrangerNote,
                    format!(
                        "{} is not a participant of #{}: kept as an internal note, not copied on correspondence",
                        work.actor, view.number
                    ),
                );
                return;
            }
            super::plan::StrangerPolicy::Join => {
                work.updates
                    .push(TicketUpdate::AddParticipant(requester.clone(), Role::Cc));
            }
        }
    }
    work.event(
        EventKind::Correspondence,
        format!("public mail from {}", work.actor),
    );
    // Only real command words count for people outside the helpdesk: "#1 is broken" is text.
    let standing = if is_requester {
        Standing::Requester
    } else {
        Standing::Other
    };
    let mut state = work.state();
    if !parsed.commands.is_empty() && !automatic {
        // Requesters have no #token: under token trust their From is taken as it is (they may
        // only close or reopen their own ticket); otherwise the same check as for agents.
        let trusted = matches!(work.policy.trust, Trust::Token) || work.trusted(None, None);
        let refused: Vec<(String, String, String)> = parsed
            .commands
            .iter()
            .filter_map(|line| {
                let scope = Scope {
                    queue: &state.queue,
                    level: state.level,
                    owned: false,
                };
                refusal(standing, &line.command, scope)
                    .or_else(|| {
                        (!trusted).then(|| "your mail could not be authenticated".to_string())
                    })
                    .map(|reason| (line.line.clone(), reason, String::new()))
            })
            .collect();
        if refused.is_empty() {
            for line in &parsed.commands {
                match line.command {
                    Command::Close => set_status(work, &mut state, Status::Closed),
                    Command::Reopen => set_status(work, &mut state, Status::Open),
                    _ => {}
                }
                work.event(EventKind::CommandApplied, line.line.clone());
            }
        } else {
            for (line, reason, _) in &refused {
                work.event(EventKind::CommandRefused, format!("{line}: {reason}"));
            }
            tell_requester_what_they_may_do(work, is_requester, from);
        }
    }
    let commanded = work
        .updates
        .iter()
        .any(|u| matches!(u, TicketUpdate::Status(_)));
    if !commanded && view.status.is_done() && work.policy.reopen_on_reply && !automatic {
        work.updates.push(TicketUpdate::Status(Status::Open));
        state.status = Status::Open;
        work.event(
            EventKind::Reopened,
            format!("reply on a {} ticket reopens it", view.status),
        );
    }
    if view.status == Status::Waiting && !commanded && !automatic {
        work.updates.push(TicketUpdate::Status(Status::Open));
    }
    // The requester's answer may carry the fields the acknowledgement asked for.
    if is_requester && !automatic {
        let found = super::rules::extract_fields(&work.policy.fields, &state.queue, visible);
        for (name, value) in found {
            if !view.fields.contains_key(&name) {
                work.event(EventKind::FieldSet, format!("{name} = {value}"));
                work.updates.push(TicketUpdate::Field(name, value));
            }
        }
    }
    // Held spam reaches nobody until an agent releases it.
    if automatic || visible.trim().is_empty() || view.status == Status::Spam {
        return;
    }
    // Sent on to whoever works the ticket: the assignee, or the queue's triagers.
    let directory = &work.policy.directory;
    let (to, language): (Vec<Mailbox>, Language) = match view
        .assignee
        .as_deref()
        .and_then(|name| directory.agent_by_name(name))
    {
        Some(agent) => (
            vec![work.agent_mailbox(agent)],
            work.agent_language(Some(agent)),
        ),
        None => (
            directory
                .triagers_of(&state.queue)
                .iter()
                .map(|a| Mailbox::new(None, a))
                .collect(),
            work.policy.language,
        ),
    };
    let mut values = work.values(&state);
    values.insert("text", visible.to_string());
    let who = from.name.clone().unwrap_or_else(|| from.address.clone());
    let from_name = format!(
        "{who} via {}",
        work.policy
            .support
            .name
            .clone()
            .unwrap_or_else(|| work.policy.support.address.clone())
    );
    let (limits, mail) = (work.policy.attachment_limits, work.input.mail);
    if let Some(relay) = work.send(
        OutgoingKind::RelayToAgents,
        TemplateKind::Relay,
        language,
        to,
        Vec::new(),
        Some(from_name),
        values,
    ) {
        carry(
            relay,
            &mail.attachments,
            &limits,
            attachments::Reader::Agent,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::auth_results::{parse_header, AuthResultsHeader};
    use crate::core::intake::decide_intake;
    use crate::core::people::{AgentRole, Directory, Queue};
    use crate::core::personal_thread::ThreadMessage;
    use crate::core::plan::IntakeInput;
    use crate::core::threading::{ThreadDecision, ThreadVia};

    fn public_mail(id: &str, from: &str, to: &str) -> ThreadMessage {
        ThreadMessage {
            message_id: id.into(),
            from: from.into(),
            recipients: vec![to.into()],
            visibility: Visibility::Public,
        }
    }

    fn agent(name: &str, role: AgentRole, levels: &[u8]) -> Agent {
        Agent {
            name: name.into(),
            display_name: format!("{name} Martin"),
            addresses: vec![format!("{name}@corp.example")],
            role,
            queues: vec![],
            levels: levels.iter().map(|l| Level::new(*l).unwrap()).collect(),
            token: None,
            language: None,
            away: false,
            external: None,
        }
    }

    fn policy() -> IntakePolicy {
        let mut policy = crate::core::intake::tests::policy_for("support@corp.example");
        policy.guess_language = false;
        policy.support.name = Some("Helpdesk".into());
        policy.directory = Directory {
            agents: vec![
                agent("alice", AgentRole::Triager, &[1, 2]),
                agent("bob", AgentRole::Agent, &[1, 2]),
                agent("acme", AgentRole::Agent, &[4]),
            ],
            queues: vec![Queue {
                name: "hardware".into(),
                triagers: vec!["hw-lead@corp.example".into()],
                assignment: Default::default(),
            }],
            ..Directory::default()
        };
        policy.trust = Trust::AuthenticationResults(vec!["mx.corp.example".into()]);
        policy.comment_address = Some("support-comment@corp.example".into());
        policy
    }

    fn passing_for(domain: &str) -> Vec<AuthResultsHeader> {
        vec![parse_header(&format!("mx.corp.example; dkim=pass header.d={domain}")).unwrap()]
    }

    fn passing() -> Vec<AuthResultsHeader> {
        passing_for("corp.example")
    }

    fn mail_from(from: &str, body: &str, auth: Vec<AuthResultsHeader>) -> InboundMail {
        InboundMail {
            from: Some(Mailbox::new(None, from)),
            to: vec![Mailbox::new(None, "support@corp.example")],
            subject: "Re: [Helpdesk #7] Printer".into(),
            text: body.into(),
            auth_results: auth,
            ..InboundMail::default()
        }
    }

    fn ticket() -> TicketView {
        let mut view = TicketView::new(
            TicketNumber(7),
            Mailbox::new(Some("Carla"), "carla@client.example"),
        );
        view.subject = "Printer".into();
        view.cc = vec![Mailbox::new(None, "dan@client.example")];
        view.participants.push("dan@client.example".into());
        view
    }

    fn decide(mail: &InboundMail, view: &TicketView, others: &[TicketView]) -> IntakePlan {
        decide_at(&policy(), mail, view, others, 1_700_000_000)
    }

    fn decide_at(
        policy: &IntakePolicy,
        mail: &InboundMail,
        view: &TicketView,
        others: &[TicketView],
        now: i64,
    ) -> IntakePlan {
        let thread = ThreadDecision::Existing {
            ticket: view.number,
            via: ThreadVia::SubjectTag {
                tagged: view.number,
            },
        };
        let input = IntakeInput {
            mail,
            thread: &thread,
            ticket: Some(view),
            next_number: TicketNumber(99),
            auto_replies_last_hour: 0,
            now,
            id_seed: "seed",
            queue: None,
            others,
            workloads: &[],
        };
        decide_intake(policy, &input).unwrap()
    }

    fn updates(plan: &IntakePlan) -> Vec<TicketUpdate> {
        match &plan.change {
            TicketChange::Append { updates } => updates.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn kinds(plan: &IntakePlan) -> Vec<OutgoingKind> {
        plan.outgoing.iter().map(|m| m.kind).collect()
    }

    #[test]
    fn a_triager_assigns_and_prioritises_and_the_requester_sees_none_of_it() {
        let plan = decide(
            &mail_from(
                "alice@corp.example",
                "#assign bob\n#priority high\n",
                passing(),
            ),
            &ticket(),
            &[],
        );
        assert_eq!(
            updates(&plan),
            vec![
                TicketUpdate::Assignee(Some("bob".into())),
                TicketUpdate::Status(Status::Open),
                TicketUpdate::Priority(Priority::High)
            ]
        );
        assert_eq!(
            kinds(&plan),
            vec![OutgoingKind::AssignmentNotice],
            "no relay: the mail had no text"
        );
        assert_eq!(plan.outgoing[0].to[0].address, "bob@corp.example");
        assert!(plan.outgoing[0]
            .subject
            .starts_with("[Helpdesk #7] Assigned to you"));
        assert_eq!(
            plan.events
                .iter()
                .filter(|e| e.kind == EventKind::CommandApplied)
                .count(),
            2
        );
        assert!(plan.events.iter().all(|e| e.actor == "alice@corp.example"));
    }

    /// Issue 9: command lines above the quoted notice, and nothing else, relay nothing: not
    /// the notice, not its cheat-sheet.
    #[test]
    fn commands_above_a_quoted_notice_relay_nothing() {
        for quoted in [
            "On Mon, Mar 4, 2024 at 9:12 AM Helpdesk <support@corp.example> wrote:\n\n> [Helpdesk #7] New ticket from carla@client.example\n> Commands: #assign NAME, #priority LEVEL\n",
            "________________________________\nFrom: Helpdesk <support@corp.example>\nSent: Monday, March 4, 2024 9:12 AM\nTo: alice <alice@corp.example>\nSubject: [Helpdesk #7] New ticket\n\nCommands: #assign NAME, #priority LEVEL\n",
            "Am 04.03.2024 um 09:12 schrieb Helpdesk:\nCommands: #assign NAME, #priority LEVEL\n",
        ] {
            let body = format!("#assign bob\n#priority high\n\n{quoted}");
            let plan = decide(&mail_from("alice@corp.example", &body, passing()), &ticket(), &[]);
            assert_eq!(kinds(&plan), vec![OutgoingKind::AssignmentNotice], "{quoted}");
            assert_eq!(plan.stored_text, "", "{quoted}");
            assert!(plan.outgoing.iter().all(|m| !m.body.contains("Commands: #assign")));
        }
    }

    #[test]
    fn an_agents_answer_goes_to_the_requester_without_the_command_lines_or_quotes() {
        let body = "#status pending\nHello Carla, please restart it.\n\nOn Mon, Carla wrote:\n> it is broken";
        let plan = decide(
            &mail_from("bob@corp.example", body, passing()),
            &ticket(),
            &[],
        );
        let relay = plan
            .outgoing
            .iter()
            .find(|m| m.kind == OutgoingKind::Relay)
            .unwrap();
        assert_eq!(relay.to[0].address, "carla@client.example");
        assert_eq!(relay.cc[0].address, "dan@client.example");
        assert_eq!(relay.from.address, "support@corp.example");
        assert_eq!(relay.from.name.as_deref(), Some("bob Martin (Helpdesk)"));
        assert!(
            relay.body.starts_with("Hello Carla, please restart it."),
            "{}",
            relay.body
        );
        assert!(!relay.body.contains("#status") && !relay.body.contains("it is broken"));
        assert_eq!(relay.auto_submitted, None);
        assert_eq!(plan.stored_text, "Hello Carla, please restart it.");
        assert_eq!(plan.visibility, Visibility::Public);
    }

    #[test]
    fn notes_and_the_comment_address_stay_internal() {
        let plan = decide(
            &mail_from("bob@corp.example", "#note called her back", passing()),
            &ticket(),
            &[],
        );
        assert_eq!(plan.visibility, Visibility::Internal);
        assert!(kinds(&plan).is_empty());
        assert_eq!(plan.stored_text, "called her back");
        let mut mail = mail_from("bob@corp.example", "Looks like a fuser problem.", passing());
        mail.to = vec![Mailbox::new(None, "support-comment@corp.example")];
        let plan = decide(&mail, &ticket(), &[]);
        assert_eq!(plan.visibility, Visibility::Internal);
        assert!(kinds(&plan).is_empty());
    }

    #[test]
    fn one_bad_command_applies_none_and_the_agent_is_told_why() {
        let plan = decide(
            &mail_from(
                "alice@corp.example",
                "#priority high\n#assign nobody\nDone.",
                passing(),
            ),
            &ticket(),
            &[],
        );
        assert!(updates(&plan).is_empty());
        assert_eq!(
            kinds(&plan),
            vec![OutgoingKind::CommandReply],
            "nothing relayed, only the explanation"
        );
        let reply = &plan.outgoing[0];
        assert_eq!(reply.to[0].address, "alice@corp.example");
        assert!(reply.body.contains("> #assign nobody"), "{}", reply.body);
        assert!(
            reply
                .body
                .contains("no agent is called nobody; agents: alice, bob, acme"),
            "{}",
            reply.body
        );
        assert!(
            reply.body.contains("#assign NAME|me"),
            "the cheat-sheet: {}",
            reply.body
        );
        assert_eq!(
            plan.events
                .iter()
                .filter(|e| e.kind == EventKind::CommandRefused)
                .count(),
            1
        );
        assert_eq!(plan.visibility, Visibility::Internal);
    }

    #[test]
    fn a_forged_agent_is_refused_and_audited() {
        let plan = decide(
            &mail_from("alice@corp.example", "#close\nClosing.", vec![]),
            &ticket(),
            &[],
        );
        assert!(updates(&plan).is_empty());
        assert!(
            kinds(&plan).is_empty(),
            "a forged From gets no mail: {:?}",
            plan.outgoing
        );
        assert!(plan
            .events
            .iter()
            .any(|e| e.kind == EventKind::CommandRefused
                && e.detail.contains("could not be authenticated")));
        assert!(plan
            .events
            .iter()
            .any(|e| e.kind == EventKind::AutoReplySuppressed
                && e.detail.contains("refusal goes to no one")));
        // Even without commands, an unauthenticated "agent" answer never reaches the requester.
        let plan = decide(
            &mail_from("bob@corp.example", "Please send me your password.", vec![]),
            &ticket(),
            &[],
        );
        assert!(!kinds(&plan).contains(&OutgoingKind::Relay));
    }

    #[test]
    fn escalation_to_the_vendor_and_back() {
        let mut view = ticket();
        view.level = Level::new(3).unwrap();
        let plan = decide(
            &mail_from("alice@corp.example", "#escalate firmware bug", passing()),
            &view,
            &[],
        );
        assert_eq!(updates(&plan), vec![TicketUpdate::Level(Level::VENDOR)]);
        let notice = &plan.outgoing[0];
        assert_eq!(notice.kind, OutgoingKind::EscalationNotice);
        assert_eq!(notice.to[0].address, "acme@corp.example");
        assert!(notice.body.contains("Reason: firmware bug"));
        view.level = Level::VENDOR;
        let plan = decide(
            &mail_from("alice@corp.example", "#escalate", passing()),
            &view,
            &[],
        );
        assert!(plan.outgoing[0].body.contains("already at level 4"));
    }

    fn with_files(mut view: TicketView) -> TicketView {
        let file = |name: &str, size: u64| crate::core::mail::AttachmentMeta {
            filename: name.into(),
            content_type: "application/octet-stream".into(),
            size,
            sha256: format!("{name}-hash"),
        };
        let entry = |internal: bool, files| crate::core::plan::HistoryEntry {
            at: 0,
            from: "x".into(),
            visibility: if internal {
                Visibility::Internal
            } else {
                Visibility::Public
            },
            text: "t".into(),
            attachments: files,
        };
        view.history = vec![
            entry(false, vec![file("shot.png", 1000)]),
            entry(true, vec![file("internal-notes.txt", 10)]),
            entry(false, vec![file("dump.bin", 30 * 1024 * 1024)]),
        ];
        view
    }

    fn names(mail: &OutgoingMail) -> Vec<&str> {
        mail.attachments
            .iter()
            .map(|a| a.filename.as_str())
            .collect()
    }

    #[test]
    fn the_vendor_gets_public_files_only_and_agents_all_that_fit() {
        let mut view = with_files(ticket());
        view.level = Level::new(3).unwrap();
        let plan = decide(
            &mail_from("alice@corp.example", "#escalate", passing()),
            &view,
            &[],
        );
        assert_eq!(names(&plan.outgoing[0]), vec!["shot.png"]);
        assert!(plan.outgoing[0].body.contains("dump.bin (30.0 MB)"));
        assert!(!plan.outgoing[0].body.contains("internal-notes"));
        let plan = decide(
            &mail_from("alice@corp.example", "#assign bob", passing()),
            &view,
            &[],
        );
        assert_eq!(
            names(&plan.outgoing[0]),
            vec!["shot.png", "internal-notes.txt"]
        );
        assert!(plan.outgoing[0].body.contains("#attachments"));
    }

    #[test]
    fn hash_attachments_mails_every_file_within_the_per_mail_limit() {
        let view = with_files(ticket());
        let mut policy = policy();
        policy.attachment_limits.max_mail_bytes = 40 * 1024 * 1024;
        let plan = decide_at(
            &policy,
            &mail_from("alice@corp.example", "#attachments", passing()),
            &view,
            &[],
            1_700_000_000,
        );
        assert_eq!(plan.outgoing.len(), 1);
        assert_eq!(plan.outgoing[0].kind, OutgoingKind::AttachmentDelivery);
        assert_eq!(plan.outgoing[0].to[0].address, "alice@corp.example");
        assert_eq!(
            names(&plan.outgoing[0]),
            vec!["shot.png", "internal-notes.txt", "dump.bin"]
        );
        assert!(
            !kinds(&plan).contains(&OutgoingKind::Relay),
            "nothing reaches the requester"
        );
        // Under the default 20 MB per mail the dump cannot go and is named.
        let plan = decide(
            &mail_from("alice@corp.example", "#attachments", passing()),
            &view,
            &[],
        );
        assert_eq!(
            names(&plan.outgoing[0]),
            vec!["shot.png", "internal-notes.txt"]
        );
        assert!(plan.outgoing[0].body.contains("dump.bin (30.0 MB)"));
    }

    #[test]
    fn resolving_tells_the_requester_and_merging_tells_both() {
        let plan = decide(
            &mail_from("bob@corp.example", "#resolve replaced the fuser", passing()),
            &ticket(),
            &[],
        );
        assert_eq!(
            updates(&plan),
            vec![
                TicketUpdate::Status(Status::Resolved),
                TicketUpdate::Resolution("replaced the fuser".into())
            ]
        );
        let notice = &plan.outgoing[0];
        assert_eq!(notice.kind, OutgoingKind::ResolutionNotice);
        assert!(notice.body.contains("replaced the fuser") && notice.body.contains("reopened"));

        let mut target =
            TicketView::new(TicketNumber(3), Mailbox::new(None, "erin@client.example"));
        target.subject = "Printers down".into();
        let plan = decide(
            &mail_from("alice@corp.example", "#merge 3", passing()),
            &ticket(),
            &[target],
        );
        assert_eq!(
            updates(&plan),
            vec![TicketUpdate::MergeInto(TicketNumber(3))]
        );
        let told: Vec<&str> = plan
            .outgoing
            .iter()
            .map(|m| m.to[0].address.as_str())
            .collect();
        assert_eq!(told, ["carla@client.example", "erin@client.example"]);
        assert!(plan.outgoing[0].subject.starts_with("[Helpdesk #3]"));
        let plan = decide(
            &mail_from("bob@corp.example", "#merge 3", passing()),
            &ticket(),
            &[],
        );
        assert!(plan.outgoing[0]
            .body
            .contains("only triagers merge tickets"));
    }

    #[test]
    fn a_requesters_reply_goes_to_the_assignee_and_their_commands_are_limited() {
        let mut view = ticket();
        view.assignee = Some("bob".into());
        let plan = decide(
            &mail_from("carla@client.example", "Still broken.\n\n> old", passing()),
            &view,
            &[],
        );
        let relay = &plan.outgoing[0];
        assert_eq!(relay.kind, OutgoingKind::RelayToAgents);
        assert_eq!(relay.to[0].address, "bob@corp.example");
        assert_eq!(relay.body.lines().next(), Some("Still broken."));

        let client_pass = passing_for("client.example");
        let plan = decide(
            &mail_from(
                "carla@client.example",
                "#close\nThanks, fixed.",
                client_pass.clone(),
            ),
            &view,
            &[],
        );
        assert_eq!(updates(&plan), vec![TicketUpdate::Status(Status::Closed)]);
        let forged = decide(
            &mail_from("carla@client.example", "#close\nThanks, fixed.", vec![]),
            &view,
            &[],
        );
        assert!(
            updates(&forged).is_empty(),
            "a forged requester cannot close"
        );
        // A stranger authenticated for his own domain, naming the requester in Reply-To, is still
        // a stranger: nothing closes, and his words are a stranger's note, not the requester's.
        let mut spoof = mail_from(
            "mallory@evil.example",
            "#close\nThanks, fixed.",
            passing_for("evil.example"),
        );
        spoof.reply_to = Some(Mailbox::new(Some("Carla"), "carla@client.example"));
        let plan = decide(&spoof, &view, &[]);
        assert!(updates(&plan).is_empty(), "{:?}", plan.change);
        assert_eq!(plan.visibility, Visibility::Stranger);
        assert!(
            plan.events
                .iter()
                .any(|e| e.kind == EventKind::StrangerNote),
            "{:?}",
            plan.events
        );
        let plan = decide(
            &mail_from(
                "carla@client.example",
                "#priority urgent\nPlease hurry",
                client_pass.clone(),
            ),
            &view,
            &[],
        );
        assert!(updates(&plan).is_empty());
        assert!(kinds(&plan).contains(&OutgoingKind::CommandReply));
        assert!(
            kinds(&plan).contains(&OutgoingKind::RelayToAgents),
            "their words still reach the agent"
        );
    }

    /// Carla's new ticket as intake decides it: the mail Guichet sent (acknowledgement, notice).
    fn new_ticket_mail() -> Vec<OutgoingMail> {
        let mut mail = mail_from(
            "carla@client.example",
            "The printer on floor 3 eats every sheet of paper since this morning.\n\
             It shows error 13.2 and the tray light blinks orange.",
            passing_for("client.example"),
        );
        mail.subject = "Printer".into();
        let thread = ThreadDecision::New {
            reason: crate::core::threading::NewTicketReason::NoThreadClues,
        };
        let input = IntakeInput {
            mail: &mail,
            thread: &thread,
            ticket: None,
            next_number: TicketNumber(7),
            auto_replies_last_hour: 0,
            now: 1_700_000_000,
            id_seed: "new",
            queue: None,
            others: &[],
            workloads: &[],
        };
        let outgoing = decide_intake(&policy(), &input).unwrap().outgoing;
        assert_eq!(
            outgoing.iter().map(|m| m.kind).collect::<Vec<_>>(),
            [OutgoingKind::Acknowledgement, OutgoingKind::NewTicketNotice]
        );
        outgoing
    }

    fn ticket_with_sent_mail() -> (TicketView, String, String) {
        let sent = new_ticket_mail();
        let mut view = ticket();
        view.sent_texts = sent.iter().rev().map(|m| m.body.clone()).collect();
        (view, sent[0].body.clone(), sent[1].body.clone())
    }

    #[test]
    fn commands_above_our_own_quoted_notice_relay_nothing() {
        let (view, _, notice) = ticket_with_sent_mail();
        let quoted: String = notice.lines().map(|l| format!("> {l}\n")).collect();
        let body = format!(
            "#status pending\n\nOn Tue, 14 Nov 2023 at 23:14, Helpdesk <support@corp.example> wrote:\n{quoted}"
        );
        let plan = decide(&mail_from("bob@corp.example", &body, passing()), &view, &[]);
        assert_eq!(updates(&plan)[0], TicketUpdate::Status(Status::Pending));
        assert!(kinds(&plan).is_empty(), "{:?}", plan.outgoing);
        // The quote stripper already finds nothing new above the attribution.
        assert_eq!(plan.stored_text, "");
    }

    #[test]
    fn a_pasted_acknowledgement_relays_only_the_requesters_new_lines() {
        let (mut view, acknowledgement, _) = ticket_with_sent_mail();
        view.assignee = Some("bob".into());
        let body =
            format!("I forgot: it is the HP 4200 next to the kitchen.\n\n{acknowledgement}\n");
        let plan = decide(
            &mail_from("carla@client.example", &body, vec![]),
            &view,
            &[],
        );
        let relay = &plan.outgoing[0];
        assert_eq!(relay.kind, OutgoingKind::RelayToAgents);
        assert!(
            relay
                .body
                .starts_with("I forgot: it is the HP 4200 next to the kitchen.\n\n-- "),
            "{}",
            relay.body
        );
        assert!(!relay.body.contains("We have received"), "{}", relay.body);
        assert_eq!(
            plan.stored_text,
            "I forgot: it is the HP 4200 next to the kitchen."
        );
    }

    #[test]
    fn an_agents_own_text_mentioning_a_line_of_the_notice_is_relayed_whole() {
        let (view, _, _) = ticket_with_sent_mail();
        let body = "Hello Carla,\n\
            You wrote \"It shows error 13.2 and the tray light blinks orange.\" and that means\n\
            the fuser is worn. I will bring a new one tomorrow.\n\
            It shows error 13.2 and the tray light blinks orange.\n";
        let plan = decide(&mail_from("bob@corp.example", body, passing()), &view, &[]);
        assert_eq!(kinds(&plan), [OutgoingKind::Relay]);
        assert_eq!(plan.stored_text, body.trim());
        assert!(plan.outgoing[0].body.starts_with(body.trim()));
        assert!(plan.events.iter().all(|e| e.kind != EventKind::IntakeCut));
    }

    #[test]
    fn a_vendors_answer_above_a_pasted_escalation_notice_reaches_the_requester_alone() {
        let mut view = ticket();
        view.level = Level::new(3).unwrap();
        view.sent_texts = new_ticket_mail().into_iter().map(|m| m.body).collect();
        let escalation = decide(
            &mail_from("alice@corp.example", "#escalate firmware bug", passing()),
            &view,
            &[],
        );
        view.sent_texts
            .insert(0, escalation.outgoing[0].body.clone());
        view.level = Level::VENDOR;
        // The notice pasted under the answer without `>` nor attribution: no quote marker tells
        // it apart from the vendor's words.
        let body = format!(
            "Please install firmware 4.2.1 and restart the printer twice.\n\n{}",
            escalation.outgoing[0].body
        );
        let plan = decide(
            &mail_from("acme@corp.example", &body, passing()),
            &view,
            &[],
        );
        let relay = &plan.outgoing[0];
        assert_eq!(relay.kind, OutgoingKind::Relay);
        assert_eq!(relay.to[0].address, "carla@client.example");
        assert_eq!(
            plan.stored_text,
            "Please install firmware 4.2.1 and restart the printer twice."
        );
        assert!(
            relay.body.starts_with(&plan.stored_text) && !relay.body.contains("firmware bug"),
            "{}",
            relay.body
        );
    }

    #[test]
    fn a_requester_learns_only_what_they_may_do_in_their_language() {
        let client_pass = passing_for("client.example");
        for (language, greeting, may) in [
            (Language::En, "Hello Carla,", ["#close", "#reopen"]),
            (Language::Fr, "Bonjour Carla,", ["#fermer", "#rouvrir"]),
            (Language::It, "Buongiorno Carla,", ["#chiudi", "#riapri"]),
        ] {
            let mut view = ticket();
            view.language = language;
            let mut mail = mail_from(
                "carla@client.example",
                "#escalate BUY PILLS http://pills.example\nHello",
                client_pass.clone(),
            );
            mail.from = Some(Mailbox::new(Some("Carla"), "carla@client.example"));
            let plan = decide(&mail, &view, &[]);
            let reply = plan
                .outgoing
                .iter()
                .find(|m| m.kind == OutgoingKind::CommandReply)
                .expect("the requester is answered");
            assert_eq!(reply.to[0].address, "carla@client.example");
            assert!(reply.body.starts_with(greeting), "{}", reply.body);
            for word in may {
                assert!(reply.body.contains(word), "{language:?}: {}", reply.body);
            }
            for unwanted in ["#assign", "#priority", "PILLS", "whole mail", "Commands ("] {
                assert!(
                    !reply.body.contains(unwanted) && !reply.subject.contains(unwanted),
                    "{language:?} {unwanted}: {}",
                    reply.body
                );
            }
        }
    }

    #[test]
    fn forged_requesters_and_other_participants_get_no_refusal() {
        for (from, auth) in [
            // The requester's From without the MTA's word for it.
            ("carla@client.example", vec![]),
            // A copied participant may give no command at all: nothing to tell them.
            ("dan@client.example", passing_for("client.example")),
        ] {
            let plan = decide(
                &mail_from(from, "#escalate BUY PILLS http://pills.example", auth),
                &ticket(),
                &[],
            );
            assert!(
                !kinds(&plan).contains(&OutgoingKind::CommandReply),
                "{from}: {:?}",
                plan.outgoing
            );
            assert!(plan
                .events
                .iter()
                .any(|e| e.kind == EventKind::CommandRefused));
        }
    }

    #[test]
    fn release_makes_held_spam_a_new_ticket_acknowledged_and_announced() {
        let mut view = ticket();
        view.status = Status::Spam;
        view.thread = vec![public_mail(
            "spam-1@client.example",
            "carla@client.example",
            "support@corp.example",
        )];
        view.history = vec![crate::core::plan::HistoryEntry {
            at: 0,
            from: "carla@client.example".into(),
            visibility: crate::core::visibility::Visibility::Public,
            text: "Is this spam? No, a real question.".into(),
            attachments: Vec::new(),
        }];
        let mut policy = policy();
        policy.directory.queues.push(Queue {
            name: "general".into(),
            triagers: vec!["alice@corp.example".into()],
            assignment: Default::default(),
        });
        let plan = decide_at(
            &policy,
            &mail_from("alice@corp.example", "#release", passing()),
            &view,
            &[],
            1_700_000_000,
        );
        assert_eq!(updates(&plan)[0], TicketUpdate::Status(Status::New));
        assert_eq!(
            kinds(&plan),
            vec![OutgoingKind::Acknowledgement, OutgoingKind::NewTicketNotice]
        );
        assert_eq!(plan.outgoing[0].to[0].address, "carla@client.example");
        assert_eq!(plan.outgoing[0].envelope_from, None);
        assert_eq!(
            plan.outgoing[0].in_reply_to.as_deref(),
            Some("spam-1@client.example")
        );
        assert_eq!(plan.outgoing[1].to[0].address, "alice@corp.example");
        assert_eq!(plan.outgoing[1].in_reply_to, None, "Alice never saw it");
        assert!(plan.outgoing[1].references.is_empty());
        assert!(plan.outgoing[1]
            .body
            .contains("Is this spam? No, a real question."));

        // Only a held ticket can be released; and a requester cannot release.
        let plan = decide(
            &mail_from("alice@corp.example", "#release", passing()),
            &ticket(),
            &[],
        );
        assert!(updates(&plan).is_empty());
        assert!(plan.outgoing[0].body.contains("not held as spam"));
        let plan = decide(
            &mail_from(
                "carla@client.example",
                "#release",
                passing_for("client.example"),
            ),
            &view,
            &[],
        );
        assert!(updates(&plan).is_empty());
    }

    #[test]
    fn held_spam_is_relayed_to_nobody() {
        let mut view = ticket();
        view.status = Status::Spam;
        let plan = decide(
            &mail_from("carla@client.example", "More pills, cheap.", vec![]),
            &view,
            &[],
        );
        assert!(plan.outgoing.is_empty(), "{:?}", plan.outgoing);
        assert!(!updates(&plan)
            .iter()
            .any(|u| matches!(u, TicketUpdate::Sla(_) | TicketUpdate::Status(_))));
    }

    #[test]
    fn deadlines_move_with_the_conversation() {
        use crate::core::calendar::SlaClock;
        use crate::core::sla::{SlaPlan, SlaState};
        let mut policy = policy();
        policy.sla.plans = vec![SlaPlan {
            queue: None,
            priority: None,
            first_response: Some(3600),
            next_response: Some(7200),
            resolution: Some(86_400),
            clock: SlaClock::WallClock,
        }];
        let decide_with = |policy: &IntakePolicy, mail: &InboundMail, view: &TicketView| {
            decide_at(policy, mail, view, &[], 10_000)
        };
        let sla_of = |plan: &IntakePlan| {
            updates(plan).into_iter().find_map(|u| match u {
                TicketUpdate::Sla(state) => Some(state),
                _ => None,
            })
        };
        let mut view = ticket();
        view.created_at = 0;
        view.sla = SlaState {
            first_response_due: Some(3600),
            resolution_due: Some(86_400),
            ..SlaState::default()
        };
        // Bob answers: the first-response deadline is met.
        let plan = decide_with(
            &policy,
            &mail_from("bob@corp.example", "Try this.", passing()),
            &view,
        );
        assert_eq!(sla_of(&plan).unwrap().first_response_due, None);
        // Waiting on Carla pauses the clock; her answer resumes it with the time left.
        view.sla.first_response_due = None;
        let plan = decide_with(
            &policy,
            &mail_from(
                "bob@corp.example",
                "#status waiting\nWhich model?",
                passing(),
            ),
            &view,
        );
        assert_eq!(sla_of(&plan).unwrap().paused_at, Some(10_000));
        view.status = Status::Waiting;
        view.sla.paused_at = Some(4_000);
        let plan = decide_with(
            &policy,
            &mail_from("carla@client.example", "An HP 4200.", passing()),
            &view,
        );
        let resumed = sla_of(&plan).unwrap();
        assert_eq!(resumed.paused_at, None);
        assert_eq!(
            resumed.resolution_due,
            Some(86_400 + 6_000),
            "shifted by the 6,000 s it stood still"
        );
        assert_eq!(
            resumed.next_response_due,
            Some(10_000 + 7_200),
            "her mail awaits an answer"
        );
        assert!(updates(&plan).contains(&TicketUpdate::AwaitingSince(Some(10_000))));
    }

    fn history(view: &mut TicketView) {
        use crate::core::plan::HistoryEntry;
        let entry = |from: &str, visibility, text: &str| HistoryEntry {
            at: 1_700_000_000,
            from: from.into(),
            visibility,
            text: text.into(),
            attachments: Vec::new(),
        };
        view.history = vec![
            entry(
                "carla@client.example",
                Visibility::Public,
                "The printer jams.",
            ),
            entry(
                "bob@corp.example",
                Visibility::Internal,
                "SECRET-NOTE customer owes us",
            ),
            entry(
                "mallory@evil.example",
                Visibility::Stranger,
                "STRANGER-TEXT buy pills",
            ),
        ];
    }

    #[test]
    fn the_vendor_gets_the_public_history_and_the_reason_only() {
        let mut view = ticket();
        view.level = Level::new(3).unwrap();
        history(&mut view);
        let plan = decide(
            &mail_from("alice@corp.example", "#escalate firmware bug", passing()),
            &view,
            &[],
        );
        let notice = &plan.outgoing[0];
        assert_eq!(notice.to[0].address, "acme@corp.example");
        assert!(
            notice.body.contains("Reason: firmware bug"),
            "{}",
            notice.body
        );
        assert!(notice.body.contains("The printer jams."), "{}", notice.body);
        assert!(
            !notice.body.contains("SECRET-NOTE")
                && !notice.body.contains("STRANGER-TEXT")
                && !notice.body.contains("(internal)"),
            "{}",
            notice.body
        );
        // Staff at the same level still read everything, in a mail of their own.
        let mut policy = policy();
        policy.directory.level_addresses[3] = vec!["l4-lead@corp.example".into()];
        policy.directory.external_levels[3] = false;
        policy.directory.agents[2].external = Some(true);
        let plan = decide_at(
            &policy,
            &mail_from("alice@corp.example", "#escalate firmware bug", passing()),
            &view,
            &[],
            1_700_000_000,
        );
        assert_eq!(plan.outgoing.len(), 2);
        let staff = &plan.outgoing[0];
        assert_eq!(staff.to.len(), 1);
        assert_eq!(staff.to[0].address, "l4-lead@corp.example");
        assert!(staff.body.contains("SECRET-NOTE") && staff.body.contains("STRANGER-TEXT"));
        let vendor = &plan.outgoing[1];
        assert_eq!(vendor.to[0].address, "acme@corp.example");
        assert!(!vendor.body.contains("SECRET-NOTE") && !vendor.body.contains("STRANGER-TEXT"));
        assert_ne!(staff.message_id, vendor.message_id);
        // Assigning the ticket to the vendor follows the same rule.
        let plan = decide(
            &mail_from("alice@corp.example", "#assign acme", passing()),
            &view,
            &[],
        );
        assert_eq!(plan.outgoing[0].kind, OutgoingKind::AssignmentNotice);
        assert!(!plan.outgoing[0].body.contains("SECRET-NOTE"));
        let plan = decide(
            &mail_from("alice@corp.example", "#assign bob", passing()),
            &view,
            &[],
        );
        assert!(plan.outgoing[0].body.contains("SECRET-NOTE"));
    }

    #[test]
    fn a_strangers_mail_is_stored_as_a_strangers() {
        let plan = decide(
            &mail_from("mallory@evil.example", "Buy pills", vec![]),
            &ticket(),
            &[],
        );
        assert_eq!(plan.visibility, Visibility::Stranger);
        assert!(kinds(&plan).is_empty());
    }

    #[test]
    fn the_assignee_acts_on_their_ticket_at_any_level() {
        let mut view = ticket();
        view.level = Level::VENDOR;
        view.assignee = Some("bob".into());
        let plan = decide(
            &mail_from(
                "bob@corp.example",
                "#resolve vendor patch applied",
                passing(),
            ),
            &view,
            &[],
        );
        assert!(
            updates(&plan).contains(&TicketUpdate::Status(Status::Resolved)),
            "{:?}",
            plan.outgoing.first().map(|m| &m.body)
        );
        let plan = decide(
            &mail_from("bob@corp.example", "#level 1", passing()),
            &view,
            &[],
        );
        assert_eq!(updates(&plan), vec![TicketUpdate::Level(Level::FIRST)]);
        // A queue's triager who is a plain agent owns its tickets too.
        let mut policy = policy();
        policy.directory.queues[0].triagers = vec!["bob@corp.example".into()];
        let mut hardware = ticket();
        hardware.level = Level::VENDOR;
        hardware.queue = "hardware".into();
        let plan = decide_at(
            &policy,
            &mail_from("bob@corp.example", "#close", passing()),
            &hardware,
            &[],
            1_700_000_000,
        );
        assert_eq!(updates(&plan), vec![TicketUpdate::Status(Status::Closed)]);
        // Others keep their restrictions.
        view.assignee = None;
        let plan = decide(
            &mail_from("bob@corp.example", "#resolve done", passing()),
            &view,
            &[],
        );
        assert!(updates(&plan).is_empty());
        assert!(plan.outgoing[0]
            .body
            .contains("you do not work queue general at level L4"));
        view.assignee = Some("bob".into());
        let plan = decide(
            &mail_from("bob@corp.example", "#assign alice", passing()),
            &view,
            &[],
        );
        assert!(updates(&plan).is_empty(), "the assignee is no triager");
    }

    #[test]
    fn the_command_reply_answers_the_command_mail() {
        let mut view = ticket();
        view.thread = vec![
            public_mail(
                "old@corp.example",
                "alice@corp.example",
                "support@corp.example",
            ),
            public_mail(
                "last-stored@corp.example",
                "alice@corp.example",
                "support@corp.example",
            ),
        ];
        let mut mail = mail_from("alice@corp.example", "#assign nobody", passing());
        mail.message_id = Some("cmd@corp.example".into());
        mail.in_reply_to = vec!["notice@corp.example".into()];
        mail.references = vec!["first@client.example".into(), "notice@corp.example".into()];
        let plan = decide(&mail, &view, &[]);
        let reply = &plan.outgoing[0];
        assert_eq!(reply.kind, OutgoingKind::CommandReply);
        assert_eq!(reply.in_reply_to.as_deref(), Some("cmd@corp.example"));
        assert_eq!(
            reply.references,
            [
                "first@client.example",
                "notice@corp.example",
                "cmd@corp.example"
            ]
        );
    }

    #[test]
    fn a_merge_tells_each_requester_on_their_own_thread_and_topic() {
        let mut source = ticket();
        source.thread = vec![
            public_mail(
                "carla-1@client.example",
                "carla@client.example",
                "support@corp.example",
            ),
            public_mail(
                "notice-1@corp.example",
                "support@corp.example",
                "alice@corp.example",
            ),
        ];
        let mut target =
            TicketView::new(TicketNumber(3), Mailbox::new(None, "erin@client.example"));
        target.subject = "Erin's private payroll question".into();
        target.thread = vec![
            public_mail(
                "erin-1@client.example",
                "erin@client.example",
                "support@corp.example",
            ),
            public_mail(
                "ack-3@corp.example",
                "support@corp.example",
                "erin@client.example",
            ),
        ];
        let plan = decide(
            &mail_from("alice@corp.example", "#merge 3", passing()),
            &source,
            &[target],
        );
        let carla = &plan.outgoing[0];
        let erin = &plan.outgoing[1];
        assert_eq!(carla.to[0].address, "carla@client.example");
        assert_eq!(carla.in_reply_to.as_deref(), Some("carla-1@client.example"));
        assert_eq!(carla.references, ["carla-1@client.example"]);
        assert!(!carla.subject.contains("payroll") && !carla.body.contains("payroll"));
        assert!(carla.subject.starts_with("[Helpdesk #3] Printer"));
        assert_eq!(erin.to[0].address, "erin@client.example");
        assert_eq!(erin.in_reply_to.as_deref(), Some("ack-3@corp.example"));
        assert!(!erin.subject.contains("Printer") && !erin.body.contains("Printer"));
        assert!(
            erin.cc.is_empty() && carla.cc.is_empty(),
            "nobody else is copied"
        );
    }
}
