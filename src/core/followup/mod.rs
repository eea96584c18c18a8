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

/// Articles a mail's commands name (`#answer KB-12`, `#publish KB-12`, `#solved KB-12`): the
/// store loads them first.
pub fn named_articles(
    mail: &InboundMail,
    policy: &IntakePolicy,
) -> Vec<crate::core::knowledge::ArticleId> {
    parse_commands(&mail.subject, &mail.text, &policy.vocabulary)
        .commands
        .iter()
        .filter_map(|line| match line.command {
            Command::Answer(id) => Some(id),
            Command::Publish(id) | Command::Retire(id) | Command::Solved(id) => id,
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
    /// The resolution text, as the ticket has it or an earlier `#resolve TEXT` wrote it.
    resolution: Option<String>,
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
    /// Articles and saved replies (`#answer`, `#reply`) sent below the agent's own text.
    answers: Vec<String>,
    knowledge: Vec<crate::core::knowledge::mail::KnowledgeAction>,
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
        answers: Vec::new(),
        knowledge: Vec::new(),
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
        knowledge: work.knowledge,
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
            resolution: self.view.resolution.clone(),
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
        self.input.mail.vouched_sender
            || sender_is_trusted(
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
            // What only a first mail's acknowledgement and notice carry.
            ("suggestions", String::new()),
            ("knowledge", String::new()),
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

fn set_status(work: &mut Work<'_>, state: &mut State, status: Status) {
    state.status = status;
    work.updates.push(TicketUpdate::Status(status));
}

mod agent;
mod deadlines;
mod knowledge;
mod participant;

use agent::agent_mail;
use deadlines::sla_after;
use participant::participant_mail;

#[cfg(test)]
mod knowledge_tests;
#[cfg(test)]
mod tests;
