//! A mail from the requester, a copied participant or a stranger: joined or kept internal,
//! relayed to the agents, and what a requester may command.

use super::*;

pub(super) const UNAUTHENTICATED_REFUSAL: &str =
    "no command reply: the From could not be authenticated, so the refusal goes to no one";

/// A requester whose command is refused learns, in their language, what they may do by mail; the
/// agents' command list and the refused line (which may be a spammer's text) are not sent. Nobody
/// else is answered, nor a From that `commands.trust` cannot authenticate.
pub(super) fn tell_requester_what_they_may_do(
    work: &mut Work<'_>,
    is_requester: bool,
    from: &Mailbox,
) {
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

/// A mail from the requester, a copied participant, or someone the ticket does not know.
pub(super) fn participant_mail(
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
            crate::core::plan::StrangerPolicy::InternalNote => {
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
            crate::core::plan::StrangerPolicy::Join => {
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
                    .or_else(|| match line.command {
                        Command::Solved(named) => {
                            super::knowledge::solved_article(work, named).err()
                        }
                        _ => None,
                    })
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
                    Command::Solved(named) => {
                        let id = super::knowledge::solved_article(work, named).expect("checked");
                        super::knowledge::solved(work, &mut state, id);
                    }
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
        let found = crate::core::rules::extract_fields(&work.policy.fields, &state.queue, visible);
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
