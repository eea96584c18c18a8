//! Which ticket a mail belongs to, and why: the decision `guichet inspect` explains.

use super::ticket::TicketNumber;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ThreadDecision {
    Existing {
        ticket: TicketNumber,
        via: ThreadVia,
    },
    New {
        reason: NewTicketReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum ThreadVia {
    /// Our tag in the subject named `tagged`; `tagged` may differ from the ticket after a merge.
    SubjectTag { tagged: TicketNumber },
    /// In-Reply-To or References named a mail of the ticket.
    Header { message_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NewTicketReason {
    /// No tag of ours and no In-Reply-To/References.
    NoThreadClues,
    /// The tag named a number that is no ticket here, and no header matched.
    UnknownTag { tagged: TicketNumber },
    /// The headers named mails, none of them ours.
    UnknownMessageIds { count: usize },
}

/// What the store found for the clues of a mail.
#[derive(Debug, Clone, Default)]
pub struct ThreadClues {
    /// Our tag from the subject, and the ticket it leads to (after merges) if it exists.
    pub tag: Option<(TicketNumber, Option<TicketNumber>)>,
    /// How many Message-IDs the mail answers.
    pub answered_ids: usize,
    /// The first answered Message-ID that belongs to a ticket, and that ticket.
    pub header_match: Option<(String, TicketNumber)>,
}

/// The tag wins over headers: a person who pastes a tag into a subject means that ticket, while
/// headers can point at an older thread the mail was forwarded from.
pub fn decide_thread(clues: &ThreadClues) -> ThreadDecision {
    if let Some((tagged, Some(ticket))) = clues.tag {
        return ThreadDecision::Existing {
            ticket,
            via: ThreadVia::SubjectTag { tagged },
        };
    }
    if let Some((message_id, ticket)) = &clues.header_match {
        return ThreadDecision::Existing {
            ticket: *ticket,
            via: ThreadVia::Header {
                message_id: message_id.clone(),
            },
        };
    }
    let reason = match (clues.tag, clues.answered_ids) {
        (Some((tagged, None)), _) => NewTicketReason::UnknownTag { tagged },
        (_, 0) => NewTicketReason::NoThreadClues,
        (_, count) => NewTicketReason::UnknownMessageIds { count },
    };
    ThreadDecision::New { reason }
}

impl std::fmt::Display for ThreadDecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThreadDecision::Existing {
                ticket,
                via: ThreadVia::SubjectTag { tagged },
            } if tagged == ticket => write!(f, "ticket #{ticket} (subject tag)"),
            ThreadDecision::Existing {
                ticket,
                via: ThreadVia::SubjectTag { tagged },
            } => write!(
                f,
                "ticket #{ticket} (subject tag #{tagged}, merged into #{ticket})"
            ),
            ThreadDecision::Existing {
                ticket,
                via: ThreadVia::Header { message_id },
            } => write!(
                f,
                "ticket #{ticket} (In-Reply-To/References <{message_id}>)"
            ),
            ThreadDecision::New { reason } => match reason {
                NewTicketReason::NoThreadClues => {
                    write!(f, "new ticket (no tag of ours, no In-Reply-To/References)")
                }
                NewTicketReason::UnknownTag { tagged } => {
                    write!(
                        f,
                        "new ticket (tag #{tagged} names no ticket here, no known Message-ID)"
                    )
                }
                NewTicketReason::UnknownMessageIds { count } => write!(
                    f,
                    "new ticket (none of the {count} Message-IDs in In-Reply-To/References is ours)"
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(n: u64) -> TicketNumber {
        TicketNumber(n)
    }

    #[test]
    fn decisions() {
        let cases = [
            (
                ThreadClues::default(),
                "new ticket (no tag of ours, no In-Reply-To/References)",
            ),
            (
                ThreadClues {
                    tag: Some((number(5), Some(number(5)))),
                    ..Default::default()
                },
                "ticket #5 (subject tag)",
            ),
            (
                ThreadClues {
                    tag: Some((number(5), Some(number(9)))),
                    ..Default::default()
                },
                "ticket #9 (subject tag #5, merged into #9)",
            ),
            (
                ThreadClues {
                    tag: Some((number(5), Some(number(5)))),
                    answered_ids: 1,
                    header_match: Some(("a@x".into(), number(7))),
                },
                "ticket #5 (subject tag)",
            ),
            (
                ThreadClues {
                    tag: Some((number(5), None)),
                    answered_ids: 1,
                    header_match: Some(("a@x".into(), number(7))),
                },
                "ticket #7 (In-Reply-To/References <a@x>)",
            ),
            (
                ThreadClues {
                    tag: Some((number(5), None)),
                    ..Default::default()
                },
                "new ticket (tag #5 names no ticket here, no known Message-ID)",
            ),
            (
                ThreadClues {
                    answered_ids: 3,
                    ..Default::default()
                },
                "new ticket (none of the 3 Message-IDs in In-Reply-To/References is ours)",
            ),
        ];
        for (clues, expected) in cases {
            assert_eq!(decide_thread(&clues).to_string(), expected, "{clues:?}");
        }
    }
}
