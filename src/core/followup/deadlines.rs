//! The SLA deadlines after a mail on a ticket.

use super::*;

/// The deadlines after this mail: an agent's public answer, the requester's words, status,
/// priority or queue changes. `from_agent` tells whose mail it was.
pub(super) fn sla_after(work: &Work<'_>, from_agent: bool) -> Vec<TicketUpdate> {
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
