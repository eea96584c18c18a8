//! What the clock does to a ticket: a warning when a deadline nears, an escalation to the next
//! level when it passes. Pure: the scheduler passes the time and carries out the plan.

use std::collections::BTreeMap;

use super::address::Mailbox;
use super::attachments::{carry, Reader};
use super::commands::CHEAT_SHEET;
use super::outgoing::{OutgoingKind, OutgoingMail};
use super::plan::{format_time, EventDraft, EventKind, IntakePolicy, TicketUpdate, TicketView};
use super::sla::{acknowledge, check, raised, Alarm};
use super::templates::TemplateKind;
use super::ticket::Level;
use super::visibility::by_reader;

/// Changes, audit lines and mail for one ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClockPlan {
    pub updates: Vec<TicketUpdate>,
    pub events: Vec<EventDraft>,
    pub outgoing: Vec<OutgoingMail>,
}

/// `None` when the ticket's deadlines need nothing now.
pub fn on_clock(
    policy: &IntakePolicy,
    view: &TicketView,
    now: i64,
    seed: &str,
) -> Option<ClockPlan> {
    let plan = policy.sla.plan_for(&view.queue, view.priority)?;
    let alarm = check(&view.sla, plan, policy.sla.warn_at, now)?;
    let mut out = ClockPlan {
        updates: vec![TicketUpdate::Sla(acknowledge(view.sla, plan, alarm))],
        ..ClockPlan::default()
    };
    let directory = &policy.directory;
    let mailbox_of = |address: &str| match directory.agent_by_address(address) {
        Some(agent) => Mailbox::new(Some(&agent.display_name), address),
        None => Mailbox::new(None, address),
    };
    let (level, priority, kind, template, to, reason) = match alarm {
        Alarm::Warning { target, due } => {
            let to: Vec<Mailbox> = match view
                .assignee
                .as_deref()
                .and_then(|name| directory.agent_by_name(name))
            {
                Some(agent) => vec![Mailbox::new(Some(&agent.display_name), agent.address())],
                None => directory
                    .triagers_of(&view.queue)
                    .iter()
                    .map(|a| mailbox_of(a))
                    .collect(),
            };
            out.events.push(EventDraft {
                kind: EventKind::SlaWarning,
                actor: "guichet".into(),
                detail: format!("{} due {}", target.describe(), format_time(due)),
            });
            (
                view.level,
                view.priority,
                OutgoingKind::SlaWarning,
                TemplateKind::SlaWarning,
                to,
                (target.describe().to_string(), format_time(due)),
            )
        }
        Alarm::Breach { target, due, .. } => {
            let level = Level::new(view.level.get() + 1).unwrap_or(view.level);
            let priority = if policy.sla.raise_priority {
                raised(view.priority)
            } else {
                view.priority
            };
            if level != view.level {
                out.updates.push(TicketUpdate::Level(level));
            }
            if priority != view.priority {
                out.updates.push(TicketUpdate::Priority(priority));
            }
            let to = directory
                .addresses_of_level(level)
                .iter()
                .map(|a| mailbox_of(a))
                .collect();
            out.events.push(EventDraft {
                kind: EventKind::SlaBreach,
                actor: "guichet".into(),
                detail: format!(
                    "{} target missed (due {}): escalated to level {level}, priority {priority}",
                    target.describe(),
                    format_time(due)
                ),
            });
            let reason = format!(
                "the {} target was missed (due {})",
                target.describe(),
                format_time(due)
            );
            (
                level,
                priority,
                OutgoingKind::EscalationNotice,
                TemplateKind::EscalationNotice,
                to,
                (reason, format_time(due)),
            )
        }
    };
    let to: Vec<Mailbox> = to
        .into_iter()
        .filter(|m| !policy.loops.own_addresses.contains(&m.address))
        .collect();
    // Each kind of reader gets its own mail: a vendor's carries only the public history.
    for (index, (reader, to)) in by_reader(directory, to).into_iter().enumerate() {
        let values: BTreeMap<&str, String> = [
            ("tag", policy.tags.tag(view.number)),
            ("number", view.number.to_string()),
            ("topic", view.subject.clone()),
            ("requester", view.requester.to_string()),
            ("queue", view.queue.clone()),
            ("priority", priority.to_string()),
            ("level", level.get().to_string()),
            ("actor", "The SLA clock".to_string()),
            ("reason", reason.0.clone()),
            ("resolution", reason.1.clone()),
            ("history", view.history_text(reader)),
            ("cheat_sheet", CHEAT_SHEET.to_string()),
        ]
        .into_iter()
        .collect();
        let rendered = policy
            .templates
            .get(template, policy.language)
            .render(&values);
        let seed = if index == 0 {
            seed.to_string()
        } else {
            format!("{seed}.{index}")
        };
        let mut mail = OutgoingMail::from_support(
            &policy.support,
            kind,
            view.number,
            to,
            rendered,
            &seed,
            policy.language,
        );
        super::personal_thread::thread_mail(&mut mail, &view.thread, &policy.directory);
        // An escalation hands the ticket over with its files; the vendor gets public ones only.
        let outside = kind == OutgoingKind::EscalationNotice && level == Level::VENDOR;
        let reader = if outside {
            Reader::Outsider
        } else {
            Reader::Agent
        };
        carry(
            &mut mail,
            &view.attachments(outside),
            &policy.attachment_limits,
            reader,
        );
        out.outgoing.push(mail);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::calendar::SlaClock;
    use crate::core::people::{Agent, AgentRole, Directory};
    use crate::core::sla::{SlaPlan, SlaState};
    use crate::core::ticket::{Priority, TicketNumber};

    fn policy() -> IntakePolicy {
        let mut policy = crate::core::intake::tests::policy_for("support@corp.example");
        policy.sla.plans = vec![SlaPlan {
            queue: None,
            priority: None,
            first_response: Some(1000),
            next_response: None,
            resolution: None,
            clock: SlaClock::WallClock,
        }];
        policy.sla.warn_at = 0.8;
        let agent = |name: &str, level: u8| Agent {
            name: name.into(),
            display_name: name.into(),
            addresses: vec![format!("{name}@corp.example")],
            role: AgentRole::Agent,
            queues: vec![],
            levels: vec![Level::new(level).unwrap()],
            token: None,
            language: None,
            away: false,
            external: None,
        };
        policy.directory = Directory {
            agents: vec![agent("bob", 1), agent("tech", 2), agent("acme", 4)],
            ..Directory::default()
        };
        policy
    }

    fn view() -> TicketView {
        let mut view = TicketView::new(TicketNumber(7), Mailbox::new(None, "carla@client.example"));
        view.subject = "Printer".into();
        view.assignee = Some("bob".into());
        view.sla = SlaState {
            first_response_due: Some(1000),
            ..SlaState::default()
        };
        view
    }

    #[test]
    fn a_warning_goes_to_the_assignee_once() {
        let policy = policy();
        assert_eq!(
            on_clock(&policy, &view(), 700, "s"),
            None,
            "70 % of the target"
        );
        let plan = on_clock(&policy, &view(), 850, "s").unwrap();
        assert_eq!(plan.outgoing[0].kind, OutgoingKind::SlaWarning);
        assert_eq!(plan.outgoing[0].to[0].address, "bob@corp.example");
        assert_eq!(plan.events[0].kind, EventKind::SlaWarning);
        let mut warned = view();
        let TicketUpdate::Sla(state) = plan.updates[0] else {
            panic!()
        };
        warned.sla = state;
        assert_eq!(on_clock(&policy, &warned, 900, "s"), None, "not twice");
    }

    #[test]
    fn a_breach_escalates_one_level_and_raises_the_priority() {
        let policy = policy();
        let plan = on_clock(&policy, &view(), 1000, "s").unwrap();
        assert!(plan
            .updates
            .contains(&TicketUpdate::Level(Level::new(2).unwrap())));
        assert!(plan
            .updates
            .contains(&TicketUpdate::Priority(Priority::High)));
        assert_eq!(plan.outgoing[0].kind, OutgoingKind::EscalationNotice);
        assert_eq!(plan.outgoing[0].to[0].address, "tech@corp.example");
        assert!(
            plan.outgoing[0]
                .body
                .contains("first response target was missed"),
            "{}",
            plan.outgoing[0].body
        );
        let mut at_three = view();
        at_three.level = Level::new(3).unwrap();
        let plan = on_clock(&policy, &at_three, 5000, "s").unwrap();
        assert_eq!(
            plan.outgoing[0].to[0].address, "acme@corp.example",
            "level 4 is the vendor"
        );
        let mut paused = view();
        paused.sla.paused_at = Some(10);
        assert_eq!(
            on_clock(&policy, &paused, 5000, "s"),
            None,
            "waiting on the requester"
        );
    }
}
