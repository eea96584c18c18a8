//! `[retention]`: how long a done ticket keeps its raw mail and files, and itself, decided per
//! ticket from its state and the time given.
//!
//! **Invariant:** only done tickets (resolved or closed) lose anything, and a ticket's clock is
//! its last update: a reply that reopens it, or any change, starts its time again.

use crate::core::ticket::{Status, TicketNumber};

pub const DAY_SECS: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Raw mail and attachments of a ticket done this many days go; text and metadata stay.
    pub raw_after_days: Option<u32>,
    /// A ticket done this many days loses all its content; its number and audit trail stay.
    pub tickets_after_days: Option<u32>,
    /// How often `guichet run` applies the policy.
    pub interval_secs: u64,
}

impl RetentionPolicy {
    pub fn is_active(&self) -> bool {
        self.raw_after_days.is_some() || self.tickets_after_days.is_some()
    }
}

/// What the store knows of a ticket that retention may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedTicket {
    pub number: TicketNumber,
    pub status: Status,
    /// The last change to the ticket (for a done ticket: since when it is done).
    pub updated_at: i64,
    /// Some raw mail or attachment of it is still held.
    pub holds_raw: bool,
    /// Already purged whole.
    pub purged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purge {
    /// Raw mail and attachments go.
    Raw,
    /// Everything a person wrote or that names someone goes; the number and events stay.
    Whole,
}

impl Purge {
    pub fn as_str(self) -> &'static str {
        match self {
            Purge::Raw => "raw mail and attachments",
            Purge::Whole => "whole ticket",
        }
    }
}

/// What retention does to `ticket` at `now`, if anything. The whole purge wins over the raw one.
pub fn decide(policy: &RetentionPolicy, ticket: &RetainedTicket, now: i64) -> Option<Purge> {
    if !ticket.status.is_done() || ticket.purged {
        return None;
    }
    let done_for = now - ticket.updated_at;
    let past = |days: Option<u32>| days.is_some_and(|days| done_for >= i64::from(days) * DAY_SECS);
    if past(policy.tickets_after_days) {
        return Some(Purge::Whole);
    }
    if ticket.holds_raw && past(policy.raw_after_days) {
        return Some(Purge::Raw);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn policy(raw: Option<u32>, tickets: Option<u32>) -> RetentionPolicy {
        RetentionPolicy {
            raw_after_days: raw,
            tickets_after_days: tickets,
            interval_secs: 3600,
        }
    }

    fn ticket(status: Status, done_days_ago: i64, holds_raw: bool, purged: bool) -> RetainedTicket {
        RetainedTicket {
            number: TicketNumber(1),
            status,
            updated_at: NOW - done_days_ago * DAY_SECS,
            holds_raw,
            purged,
        }
    }

    #[test]
    fn decisions_by_state_age_and_policy() {
        use Status::*;
        let both = policy(Some(30), Some(365));
        let cases = [
            // (policy, status, days done, holds raw, purged) -> decision
            (&both, Closed, 29, true, false, None),
            (&both, Closed, 30, true, false, Some(Purge::Raw)),
            (&both, Resolved, 31, true, false, Some(Purge::Raw)),
            (&both, Closed, 31, false, false, None),
            (&both, Closed, 365, false, false, Some(Purge::Whole)),
            (&both, Closed, 400, true, false, Some(Purge::Whole)),
            (&both, Closed, 400, false, true, None),
            (&both, Open, 400, true, false, None),
            (&both, Pending, 400, true, false, None),
            (&both, Waiting, 400, true, false, None),
            (&both, New, 400, true, false, None),
            (&both, Spam, 400, true, false, None),
            (&policy(None, Some(10)), Closed, 9, true, false, None),
            (
                &policy(None, Some(10)),
                Closed,
                10,
                true,
                false,
                Some(Purge::Whole),
            ),
            (
                &policy(Some(10), None),
                Closed,
                5000,
                true,
                false,
                Some(Purge::Raw),
            ),
            (&policy(None, None), Closed, 5000, true, false, None),
        ];
        for (policy, status, days, holds_raw, purged, expected) in cases {
            let ticket = ticket(status, days, holds_raw, purged);
            assert_eq!(
                decide(policy, &ticket, NOW),
                expected,
                "{policy:?} {ticket:?}"
            );
        }
    }

    #[test]
    fn the_boundary_is_to_the_second() {
        let policy = policy(Some(1), None);
        let mut ticket = ticket(Status::Closed, 0, true, false);
        ticket.updated_at = NOW - DAY_SECS + 1;
        assert_eq!(decide(&policy, &ticket, NOW), None);
        assert_eq!(decide(&policy, &ticket, NOW + 1), Some(Purge::Raw));
    }

    #[test]
    fn activity_only_with_a_limit() {
        assert!(!policy(None, None).is_active());
        assert!(policy(Some(1), None).is_active());
        assert!(policy(None, Some(1)).is_active());
    }
}
