//! What becomes of an outgoing mail once the server has answered for each of its recipients:
//! which recipients are final, what the audit trail says, whether the outbox row is done, and
//! whether the agent whose answer it carried is told who it did not reach.

use std::collections::BTreeMap;

use super::outgoing::{FailureContact, OutgoingKind, OutgoingMail};
use super::plan::{EventDraft, EventKind, IntakePolicy};
use super::templates::TemplateKind;
use super::ticket::TicketNumber;

/// The server's answer for one recipient of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server took the mail for this recipient.
    Delivered,
    /// Trying again cannot help (a 5xx, an address the server cannot take): with the reason.
    Refused(String),
    /// Trying again later may help (a 4xx, a network problem, no answer in time): with the reason.
    Deferred(String),
}

/// Where a recipient stands after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    Pending,
    Delivered,
    Refused,
    GivenUp,
}

impl RecipientState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Delivered => "delivered",
            RecipientState::Refused => "refused",
            RecipientState::GivenUp => "given_up",
        }
    }
}

/// One recipient's answer in an attempt, with how many attempts it had before this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    pub address: String,
    pub earlier_attempts: u32,
    pub outcome: Outcome,
}

/// An attempt to deliver one outbox row, as the outbox saw it.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub ticket: Option<TicketNumber>,
    /// The ticket's subject, for the failure notice.
    pub topic: &'a str,
    /// The kind of mail, as stored (`relay`, `acknowledgement`, …), for the audit trail.
    pub kind: &'a str,
    pub report_failures_to: Option<&'a FailureContact>,
    /// Only the recipients this attempt tried: those delivered earlier are not sent again.
    pub results: Vec<RecipientResult>,
    /// Recipients of the row that earlier attempts delivered.
    pub delivered_earlier: usize,
    /// The row has been failing longer than the outbox waits: temporary failures become final.
    pub give_up: bool,
    /// Makes the failure notice's Message-ID unique.
    pub seed: &'a str,
}

/// What the row as a whole becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Some recipients wait for another attempt.
    Retry,
    /// Every recipient is final and at least one got it.
    Sent,
    /// Every recipient is final and none got it.
    Dead,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientUpdate {
    pub address: String,
    pub state: RecipientState,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPlan {
    pub recipients: Vec<RecipientUpdate>,
    pub events: Vec<EventDraft>,
    pub row: RowState,
    /// What went wrong in this attempt, for the log: `None` when everyone tried got it.
    pub summary: Option<String>,
    pub notice: Option<OutgoingMail>,
}

const DAEMON: &str = "guichet";

pub fn after_attempt(policy: &IntakePolicy, attempt: &Attempt<'_>) -> DeliveryPlan {
    let kind = attempt.kind;
    let mut recipients = Vec::with_capacity(attempt.results.len());
    let mut events = Vec::new();
    let mut delivered = Vec::new();
    let mut problems = Vec::new();
    // Recipients who became unreachable in this attempt, each told once.
    let mut failures = Vec::new();
    for result in &attempt.results {
        let address = &result.address;
        let (state, reason) = match &result.outcome {
            Outcome::Delivered => {
                delivered.push(address.as_str());
                (RecipientState::Delivered, None)
            }
            Outcome::Refused(reason) => {
                events.push(event(
                    EventKind::DeliveryRefused,
                    format!("{kind} to {address} refused: {reason}"),
                ));
                problems.push(unreached(address, RecipientState::Refused, reason));
                failures.push(format!("  {address}: {reason}"));
                (RecipientState::Refused, Some(reason.clone()))
            }
            Outcome::Deferred(reason) if attempt.give_up => {
                let attempts = result.earlier_attempts + 1;
                events.push(event(
                    EventKind::DeliveryGivenUp,
                    format!("{kind} to {address} given up after {attempts} attempts: {reason}"),
                ));
                problems.push(unreached(address, RecipientState::GivenUp, reason));
                failures.push(format!(
                    "  {address}: not reachable after {attempts} attempts (last: {reason})"
                ));
                (RecipientState::GivenUp, Some(reason.clone()))
            }
            Outcome::Deferred(reason) => {
                // Once per recipient: a mail retried for days would otherwise bury the trail.
                if result.earlier_attempts == 0 {
                    events.push(event(
                        EventKind::DeliveryDeferred,
                        format!("{kind} to {address} not delivered yet, retrying: {reason}"),
                    ));
                }
                problems.push(unreached(address, RecipientState::Pending, reason));
                (RecipientState::Pending, Some(reason.clone()))
            }
        };
        recipients.push(RecipientUpdate {
            address: address.clone(),
            state,
            reason,
        });
    }
    if !delivered.is_empty() {
        events.insert(
            0,
            event(
                EventKind::Delivered,
                format!("{kind} delivered to {}", delivered.join(", ")),
            ),
        );
    }
    let row = if recipients
        .iter()
        .any(|r| r.state == RecipientState::Pending)
    {
        RowState::Retry
    } else if attempt.delivered_earlier + delivered.len() > 0 {
        RowState::Sent
    } else {
        RowState::Dead
    };
    let notice = match (attempt.report_failures_to, attempt.ticket) {
        (Some(contact), Some(ticket)) if !failures.is_empty() => Some(failure_notice(
            policy,
            contact,
            ticket,
            attempt.topic,
            &failures.join("\n"),
            attempt.seed,
        )),
        _ => None,
    };
    if let Some(notice) = &notice {
        events.push(event(
            EventKind::NoticeQueued,
            format!(
                "delivery failure notice queued for {}",
                notice.to[0].address
            ),
        ));
    }
    DeliveryPlan {
        recipients,
        events,
        row,
        summary: (!problems.is_empty()).then(|| problems.join("; ")),
        notice,
    }
}

/// One recipient not reached, as the outbox row's `last_error` lists it.
pub fn unreached(address: &str, state: RecipientState, reason: &str) -> String {
    match state {
        RecipientState::Refused => format!("{address} refused: {reason}"),
        RecipientState::GivenUp => format!("{address} given up: {reason}"),
        RecipientState::Pending | RecipientState::Delivered => format!("{address}: {reason}"),
    }
}

fn event(kind: EventKind, detail: String) -> EventDraft {
    EventDraft {
        kind,
        actor: DAEMON.into(),
        detail,
    }
}

/// The short notice to the agent: which recipients their answer did not reach, and why.
fn failure_notice(
    policy: &IntakePolicy,
    contact: &FailureContact,
    ticket: TicketNumber,
    topic: &str,
    failures: &str,
    seed: &str,
) -> OutgoingMail {
    let values: BTreeMap<&str, String> = [
        ("tag", policy.tags.tag(ticket)),
        ("number", ticket.to_string()),
        ("topic", topic.to_string()),
        ("failures", failures.to_string()),
    ]
    .into_iter()
    .collect();
    let rendered = policy
        .templates
        .get(TemplateKind::DeliveryFailureNotice, contact.language)
        .render(&values);
    OutgoingMail::from_support(
        &policy.support,
        OutgoingKind::DeliveryFailureNotice,
        ticket,
        vec![contact.agent.clone()],
        rendered,
        seed,
        contact.language,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::address::Mailbox;
    use crate::core::language::Language;

    fn policy() -> IntakePolicy {
        crate::core::intake::tests::policy_for("support@desk.example.test")
    }

    fn result(address: &str, earlier_attempts: u32, outcome: Outcome) -> RecipientResult {
        RecipientResult {
            address: address.into(),
            earlier_attempts,
            outcome,
        }
    }

    fn bob() -> FailureContact {
        FailureContact {
            agent: Mailbox::new(Some("Bob Martin"), "bob@example.test"),
            language: Language::Fr,
        }
    }

    fn attempt<'a>(
        results: Vec<RecipientResult>,
        contact: Option<&'a FailureContact>,
    ) -> Attempt<'a> {
        Attempt {
            ticket: Some(TicketNumber(7)),
            topic: "Printer jammed",
            kind: "relay",
            report_failures_to: contact,
            results,
            delivered_earlier: 0,
            give_up: false,
            seed: "o1a1",
        }
    }

    fn kinds(plan: &DeliveryPlan) -> Vec<&'static str> {
        plan.events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn one_refused_recipient_leaves_the_others_delivered_and_tells_the_agent() {
        let contact = bob();
        let plan = after_attempt(
            &policy(),
            &attempt(
                vec![
                    result("carla@example.test", 0, Outcome::Delivered),
                    result(
                        "x@nowhere.invalid",
                        0,
                        Outcome::Refused("554 5.7.1 Relay access denied".into()),
                    ),
                    result("dan@example.test", 0, Outcome::Delivered),
                ],
                Some(&contact),
            ),
        );
        assert_eq!(plan.row, RowState::Sent);
        let states: Vec<_> = plan.recipients.iter().map(|r| r.state).collect();
        use RecipientState::*;
        assert_eq!(states, vec![Delivered, Refused, Delivered]);
        assert_eq!(
            kinds(&plan),
            vec!["delivered", "delivery_refused", "notice_queued"]
        );
        assert_eq!(
            plan.events[0].detail,
            "relay delivered to carla@example.test, dan@example.test"
        );
        assert!(plan.events[1]
            .detail
            .contains("x@nowhere.invalid refused: 554 5.7.1 Relay access denied"));
        let notice = plan.notice.expect("the agent is told");
        assert_eq!(notice.kind, OutgoingKind::DeliveryFailureNotice);
        assert_eq!(notice.to, vec![contact.agent.clone()]);
        assert_eq!(
            notice.report_failures_to, None,
            "a notice never causes another"
        );
        assert_eq!(notice.auto_submitted, Some("auto-generated"));
        assert!(notice.subject.contains("#7"), "{}", notice.subject);
        assert!(
            notice.subject.contains("Non distribué"),
            "in the agent's language"
        );
        assert!(notice
            .body
            .contains("x@nowhere.invalid: 554 5.7.1 Relay access denied"));
        assert!(!notice.body.contains("carla@"), "only who failed");
        assert_eq!(
            plan.summary.as_deref(),
            Some("x@nowhere.invalid refused: 554 5.7.1 Relay access denied")
        );
    }

    #[test]
    fn a_temporary_failure_retries_only_that_recipient_and_is_logged_once() {
        let first = after_attempt(
            &policy(),
            &attempt(
                vec![
                    result("carla@example.test", 0, Outcome::Delivered),
                    result(
                        "dan@example.test",
                        0,
                        Outcome::Deferred("451 try later".into()),
                    ),
                ],
                None,
            ),
        );
        assert_eq!(first.row, RowState::Retry);
        assert_eq!(kinds(&first), vec!["delivered", "delivery_deferred"]);
        assert_eq!(first.recipients[1].state, RecipientState::Pending);

        let mut again = attempt(
            vec![result(
                "dan@example.test",
                1,
                Outcome::Deferred("451 try later".into()),
            )],
            None,
        );
        again.delivered_earlier = 1;
        let second = after_attempt(&policy(), &again);
        assert_eq!(second.row, RowState::Retry);
        assert!(second.events.is_empty(), "{:?}", second.events);

        again.results[0].outcome = Outcome::Delivered;
        let third = after_attempt(&policy(), &again);
        assert_eq!(third.row, RowState::Sent);
        assert_eq!(third.summary, None);
    }

    #[test]
    fn giving_up_is_final_recorded_and_told() {
        let contact = bob();
        let mut late = attempt(
            vec![result(
                "dan@example.test",
                12,
                Outcome::Deferred("connection refused".into()),
            )],
            Some(&contact),
        );
        late.give_up = true;
        let plan = after_attempt(&policy(), &late);
        assert_eq!(plan.row, RowState::Dead);
        assert_eq!(plan.recipients[0].state, RecipientState::GivenUp);
        assert_eq!(kinds(&plan), vec!["delivery_given_up", "notice_queued"]);
        assert!(plan.events[0].detail.contains("after 13 attempts"));
        assert!(plan.notice.is_some());
    }

    #[test]
    fn mail_that_carries_no_agent_words_tells_no_one() {
        let mut ack = attempt(
            vec![result(
                "carla@example.test",
                0,
                Outcome::Refused("550 no such user".into()),
            )],
            None,
        );
        ack.kind = "acknowledgement";
        let plan = after_attempt(&policy(), &ack);
        assert_eq!(plan.row, RowState::Dead);
        assert_eq!(plan.notice, None);
        assert_eq!(kinds(&plan), vec!["delivery_refused"]);
    }
}
