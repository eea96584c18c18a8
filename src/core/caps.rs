//! Caps on automatic mail, so that a flood of forged, sub-addressed or Reply-To-redirected mail
//! cannot turn the helpdesk into a reflector. Pure: the store counts what went out in the last
//! hour, `apply` decides what of a plan may still go.
//!
//! Every count is keyed by the normalised address (`cap_key`): `X+1@Example.test` and
//! `x+30@example.test` are one person.

use std::collections::BTreeMap;

use super::address::without_subaddress;
use super::outgoing::{OutgoingKind, OutgoingMail};
use super::plan::{EventDraft, EventKind, IntakePlan, TicketChange};

/// Hourly caps on automatic mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Automatic replies (acknowledgements, command replies) to one address.
    pub replies_per_address: u32,
    /// Notices about new tickets that one sender's mail may cause (to triagers, assignees).
    pub notices_per_sender: u32,
    /// Automatic mails about one ticket.
    pub per_ticket: u32,
    /// Automatic mails from the whole helpdesk.
    pub overall: u32,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            replies_per_address: 5,
            notices_per_sender: 10,
            per_ticket: 10,
            overall: 500,
        }
    }
}

/// How an automatic mail counts against the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Mailed back to whoever wrote: counted per recipient.
    Reply,
    /// Tells our side about a new ticket: counted against the sender who caused it.
    NewTicketNotice,
}

impl Counted {
    /// Mail kinds as the store records them, for its counts.
    pub const REPLY_KINDS: [OutgoingKind; 2] =
        [OutgoingKind::Acknowledgement, OutgoingKind::CommandReply];
    pub const NOTICE_KINDS: [OutgoingKind; 2] = [
        OutgoingKind::NewTicketNotice,
        OutgoingKind::AssignmentNotice,
    ];
}

/// Whether a mail counts, and how. An assignment notice counts only when a new ticket caused it
/// (automatic assignment): an agent's `#assign` is not something an outsider can trigger.
pub fn counted_as(kind: OutgoingKind, new_ticket: bool) -> Option<Counted> {
    match kind {
        OutgoingKind::Acknowledgement | OutgoingKind::CommandReply => Some(Counted::Reply),
        OutgoingKind::NewTicketNotice => Some(Counted::NewTicketNotice),
        OutgoingKind::AssignmentNotice if new_ticket => Some(Counted::NewTicketNotice),
        _ => None,
    }
}

/// The address as the caps count it: lowercase, without its `+sub-address`.
pub fn cap_key(address: &str) -> String {
    without_subaddress(&address.trim().to_lowercase())
}

/// The sender a plan's notices are counted against: the requester of a new ticket.
pub fn cause_of(plan: &IntakePlan) -> Option<String> {
    match &plan.change {
        TicketChange::Create(ticket) => Some(cap_key(&ticket.requester.address)),
        TicketChange::Append { .. } => None,
    }
}

/// What the store must count before `apply`: reply recipients and the cause, as cap keys.
pub fn keys_to_count(plan: &IntakePlan) -> (Vec<String>, Option<String>) {
    let new_ticket = matches!(plan.change, TicketChange::Create(_));
    let mut replies: Vec<String> = plan
        .outgoing
        .iter()
        .filter(|mail| counted_as(mail.kind, new_ticket) == Some(Counted::Reply))
        .flat_map(|mail| mail.to.iter().chain(&mail.cc))
        .map(|mailbox| cap_key(&mailbox.address))
        .collect();
    replies.sort();
    replies.dedup();
    (replies, cause_of(plan))
}

/// Automatic mail already sent in the last hour, as the store counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentLastHour {
    /// Automatic replies, per cap key of the recipient.
    pub replies_to: BTreeMap<String, u32>,
    /// New-ticket notices, per cap key of the sender who caused them.
    pub notices_caused_by: BTreeMap<String, u32>,
    /// Automatic mails about the plan's ticket.
    pub on_ticket: u32,
    /// Automatic mails from the whole helpdesk.
    pub overall: u32,
}

/// Removes from the plan's outgoing mail what is past a cap (whole mails, or the recipients past
/// their own cap), with one `auto_reply_suppressed` event per mail held back.
pub fn apply(caps: &Caps, plan: &mut IntakePlan, sent: &SentLastHour) {
    let new_ticket = matches!(plan.change, TicketChange::Create(_));
    let cause = cause_of(plan);
    let (kept, events) = apply_to(
        caps,
        new_ticket,
        cause,
        std::mem::take(&mut plan.outgoing),
        sent,
    );
    plan.outgoing = kept;
    plan.events.extend(events);
}

/// `apply` for mail that no ticket's plan carries (an agent's mail about an article): the mail
/// kept, and the events of what was held back.
pub fn apply_to(
    caps: &Caps,
    new_ticket: bool,
    cause: Option<String>,
    outgoing: Vec<OutgoingMail>,
    sent: &SentLastHour,
) -> (Vec<OutgoingMail>, Vec<EventDraft>) {
    let mut sent = sent.clone();
    let mut kept = Vec::new();
    let mut events = Vec::new();
    for mut mail in outgoing {
        let Some(counted) = counted_as(mail.kind, new_ticket) else {
            kept.push(mail);
            continue;
        };
        if let Some(reason) = shared_cap_reached(caps, &sent) {
            events.push(held_back(&mail, &all_recipients(&mail), &reason));
            continue;
        }
        match counted {
            Counted::NewTicketNotice => {
                if let Some(cause) = &cause {
                    let count = sent.notices_caused_by.entry(cause.clone()).or_default();
                    if *count >= caps.notices_per_sender {
                        let reason = format!(
                            "{count} new-ticket notices caused by {cause} in the last hour (cap {})",
                            caps.notices_per_sender
                        );
                        events.push(held_back(&mail, &all_recipients(&mail), &reason));
                        continue;
                    }
                    *count += 1;
                }
            }
            Counted::Reply => {
                let mut over = Vec::new();
                let mut within = |list: Vec<super::address::Mailbox>| {
                    list.into_iter()
                        .filter(|mailbox| {
                            let key = cap_key(&mailbox.address);
                            let count = sent.replies_to.entry(key.clone()).or_default();
                            if *count >= caps.replies_per_address {
                                over.push((mailbox.address.clone(), key, *count));
                                false
                            } else {
                                *count += 1;
                                true
                            }
                        })
                        .collect::<Vec<_>>()
                };
                mail.to = within(std::mem::take(&mut mail.to));
                mail.cc = within(std::mem::take(&mut mail.cc));
                for (address, key, count) in &over {
                    let reason = format!(
                        "{count} automatic replies to {key} in the last hour (cap {})",
                        caps.replies_per_address
                    );
                    events.push(held_back(&mail, std::slice::from_ref(address), &reason));
                }
                if mail.to.is_empty() {
                    if mail.cc.is_empty() {
                        continue;
                    }
                    mail.to = std::mem::take(&mut mail.cc);
                }
            }
        }
        sent.on_ticket += 1;
        sent.overall += 1;
        kept.push(mail);
    }
    (kept, events)
}

fn shared_cap_reached(caps: &Caps, sent: &SentLastHour) -> Option<String> {
    if sent.overall >= caps.overall {
        return Some(format!(
            "{} automatic mails from the helpdesk in the last hour (cap {})",
            sent.overall, caps.overall
        ));
    }
    if sent.on_ticket >= caps.per_ticket {
        return Some(format!(
            "{} automatic mails about this ticket in the last hour (cap {})",
            sent.on_ticket, caps.per_ticket
        ));
    }
    None
}

fn all_recipients(mail: &OutgoingMail) -> Vec<String> {
    mail.to
        .iter()
        .chain(&mail.cc)
        .map(|mailbox| mailbox.address.clone())
        .collect()
}

fn held_back(mail: &OutgoingMail, recipients: &[String], reason: &str) -> EventDraft {
    EventDraft {
        kind: EventKind::AutoReplySuppressed,
        actor: "guichet".into(),
        detail: format!(
            "no {} to {}: {reason}",
            mail.kind.as_str().replace('_', " "),
            recipients.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Mailbox;
    use crate::core::language::Language;
    use crate::core::loops::AutoReplyVerdict;
    use crate::core::plan::NewTicket;
    use crate::core::ticket::{Level, Priority, Status, TicketNumber};
    use crate::core::visibility::Visibility;

    fn caps() -> Caps {
        Caps {
            replies_per_address: 3,
            notices_per_sender: 2,
            per_ticket: 4,
            overall: 20,
        }
    }

    fn mail(kind: OutgoingKind, to: &[&str]) -> OutgoingMail {
        OutgoingMail::from_support(
            &Mailbox::new(None, "support@desk.example.test"),
            kind,
            TicketNumber(1),
            to.iter().map(|a| Mailbox::new(None, a)).collect(),
            ("subject".into(), "body".into()),
            "seed",
            Language::En,
        )
    }

    fn new_ticket_plan(requester: &str, outgoing: Vec<OutgoingMail>) -> IntakePlan {
        IntakePlan {
            knowledge: Vec::new(),
            ticket: TicketNumber(1),
            change: TicketChange::Create(Box::new(NewTicket {
                number: TicketNumber(1),
                subject: "s".into(),
                requester: Mailbox::new(None, requester),
                queue: "general".into(),
                priority: Priority::Normal,
                level: Level::FIRST,
                status: Status::New,
                language: Language::En,
                assignee: None,
                tags: Vec::new(),
                fields: Default::default(),
                sla: Default::default(),
            })),
            visibility: Visibility::Public,
            new_participants: Vec::new(),
            events: Vec::new(),
            outgoing,
            auto_reply: AutoReplyVerdict::Allowed,
            stored_text: String::new(),
            agents_away: Vec::new(),
        }
    }

    fn follow_up_plan(outgoing: Vec<OutgoingMail>) -> IntakePlan {
        IntakePlan {
            change: TicketChange::Append {
                updates: Vec::new(),
            },
            ..new_ticket_plan("x@example.test", outgoing)
        }
    }

    fn kinds(plan: &IntakePlan) -> Vec<OutgoingKind> {
        plan.outgoing.iter().map(|m| m.kind).collect()
    }

    #[test]
    fn sub_addresses_and_case_are_one_person() {
        assert_eq!(cap_key("X+1@Example.TEST"), "x@example.test");
        assert_eq!(cap_key("x+30@example.test"), "x@example.test");
        assert_eq!(cap_key("x@example.test"), "x@example.test");
    }

    #[test]
    fn the_reply_cap_counts_the_normalised_address_mailed() {
        let mut sent = SentLastHour::default();
        sent.replies_to.insert("victim@example.test".into(), 2);
        let mut plan = new_ticket_plan(
            "victim+7@example.test",
            vec![mail(
                OutgoingKind::Acknowledgement,
                &["Victim+7@example.test"],
            )],
        );
        apply(&caps(), &mut plan, &sent);
        assert_eq!(kinds(&plan), vec![OutgoingKind::Acknowledgement]);

        sent.replies_to.insert("victim@example.test".into(), 3);
        let mut plan = new_ticket_plan(
            "victim+8@example.test",
            vec![mail(
                OutgoingKind::Acknowledgement,
                &["victim+8@example.test"],
            )],
        );
        apply(&caps(), &mut plan, &sent);
        assert!(plan.outgoing.is_empty());
        assert_eq!(plan.events.len(), 1);
        assert_eq!(plan.events[0].kind, EventKind::AutoReplySuppressed);
        assert!(
            plan.events[0]
                .detail
                .contains("3 automatic replies to victim@example.test in the last hour (cap 3)"),
            "{:?}",
            plan.events
        );
    }

    #[test]
    fn two_sub_addresses_in_one_mail_count_twice() {
        let mut sent = SentLastHour::default();
        sent.replies_to.insert("x@example.test".into(), 2);
        let mut plan = follow_up_plan(vec![mail(
            OutgoingKind::CommandReply,
            &["x+1@example.test", "x+2@example.test", "y@example.test"],
        )]);
        apply(&caps(), &mut plan, &sent);
        let to: Vec<&str> = plan.outgoing[0]
            .to
            .iter()
            .map(|m| m.address.as_str())
            .collect();
        assert_eq!(to, vec!["x+1@example.test", "y@example.test"]);
        assert_eq!(plan.events.len(), 1, "{:?}", plan.events);
    }

    #[test]
    fn new_ticket_notices_are_capped_per_sender() {
        let mut sent = SentLastHour::default();
        sent.notices_caused_by.insert("x@example.test".into(), 1);
        let outgoing = vec![
            mail(OutgoingKind::NewTicketNotice, &["triage@corp.example"]),
            mail(OutgoingKind::AssignmentNotice, &["bob@corp.example"]),
        ];
        let mut plan = new_ticket_plan("X+9@example.test", outgoing.clone());
        apply(&caps(), &mut plan, &sent);
        assert_eq!(kinds(&plan), vec![OutgoingKind::NewTicketNotice]);
        assert_eq!(plan.events.len(), 1);
        assert!(plan.events[0]
            .detail
            .starts_with("no assignment notice to bob@corp.example: 2 new-ticket notices caused by x@example.test"));

        // An agent's #assign on an existing ticket is no outsider's doing: not counted.
        let mut plan = follow_up_plan(vec![mail(
            OutgoingKind::AssignmentNotice,
            &["bob@corp.example"],
        )]);
        sent.on_ticket = 100;
        apply(&caps(), &mut plan, &sent);
        assert_eq!(kinds(&plan), vec![OutgoingKind::AssignmentNotice]);
    }

    #[test]
    fn the_ticket_cap_and_the_global_cap_hold_everything_back() {
        let sent = SentLastHour {
            on_ticket: 3,
            ..SentLastHour::default()
        };
        let mut plan = follow_up_plan(vec![
            mail(OutgoingKind::CommandReply, &["a@example.test"]),
            mail(OutgoingKind::CommandReply, &["b@example.test"]),
            mail(OutgoingKind::Relay, &["c@example.test"]),
        ]);
        apply(&caps(), &mut plan, &sent);
        assert_eq!(
            kinds(&plan),
            vec![OutgoingKind::CommandReply, OutgoingKind::Relay],
            "the second reply is past the ticket's cap; a relay is a person's words"
        );
        assert!(plan.events[0]
            .detail
            .contains("4 automatic mails about this ticket in the last hour (cap 4)"));

        let sent = SentLastHour {
            overall: 20,
            ..SentLastHour::default()
        };
        let mut plan = new_ticket_plan(
            "fresh@example.test",
            vec![
                mail(OutgoingKind::Acknowledgement, &["fresh@example.test"]),
                mail(OutgoingKind::NewTicketNotice, &["triage@corp.example"]),
            ],
        );
        apply(&caps(), &mut plan, &sent);
        assert!(plan.outgoing.is_empty());
        assert_eq!(plan.events.len(), 2);
        assert!(plan.events[1]
            .detail
            .contains("20 automatic mails from the helpdesk in the last hour (cap 20)"));
    }

    #[test]
    fn the_keys_to_count_are_normalised() {
        let plan = new_ticket_plan(
            "X+1@Example.test",
            vec![
                mail(OutgoingKind::Acknowledgement, &["X+1@Example.test"]),
                mail(OutgoingKind::NewTicketNotice, &["triage@corp.example"]),
            ],
        );
        assert_eq!(
            keys_to_count(&plan),
            (
                vec!["x@example.test".to_string()],
                Some("x@example.test".to_string())
            )
        );
    }
}
