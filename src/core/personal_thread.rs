//! Each person's thread: the mails of a ticket a person sent or received, and the threading
//! headers of our mail to them built from those alone. Their client then files every mail under
//! what they already have, and the Message-IDs of mail they never saw (notices to agents, notes)
//! never reach them.

use super::address::{without_subaddress, Mailbox};
use super::outgoing::OutgoingMail;
use super::people::Directory;
use super::visibility::Visibility;

/// Most Message-IDs put in References: enough for any client to find the thread.
const MAX_REFERENCES: usize = 10;

/// One stored mail of a ticket, as threading needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMessage {
    /// Without angle brackets.
    pub message_id: String,
    /// The sender's address (ours for our mail).
    pub from: String,
    /// Its To and Cc addresses.
    pub recipients: Vec<String>,
    pub visibility: Visibility,
}

/// Someone our mail goes to, and whether they may see the ticket's internal mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person<'a> {
    pub address: &'a str,
    pub staff: bool,
}

/// In-Reply-To and References for one mail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalThread {
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

fn same_person(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || without_subaddress(&a.to_lowercase()) == without_subaddress(&b.to_lowercase())
}

impl ThreadMessage {
    /// Whether `person` sent or received this mail, and may see it. Internal mail counts for
    /// staff only, even when someone outside was copied on it.
    fn known_to(&self, person: &Person<'_>) -> bool {
        (person.staff || self.visibility == Visibility::Public)
            && (same_person(&self.from, person.address)
                || self
                    .recipients
                    .iter()
                    .any(|r| same_person(r, person.address)))
    }
}

/// The thread every one of `people` knows: References are the mails (the last ten) each of them
/// sent or received, In-Reply-To the latest of them. When they share none, the first person's
/// own thread (the mail is theirs; the others are copied). Empty for someone who has seen nothing
/// of the ticket yet.
pub fn thread_for(messages: &[ThreadMessage], people: &[Person<'_>]) -> PersonalThread {
    let Some(first) = people.first() else {
        return PersonalThread::default();
    };
    let known_by = |who: &[Person<'_>]| -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for message in messages {
            if who.iter().all(|p| message.known_to(p)) && !ids.contains(&message.message_id) {
                ids.push(message.message_id.clone());
            }
        }
        ids
    };
    let mut ids = known_by(people);
    if ids.is_empty() && people.len() > 1 {
        ids = known_by(std::slice::from_ref(first));
    }
    let skip = ids.len().saturating_sub(MAX_REFERENCES);
    let references = ids.split_off(skip);
    PersonalThread {
        in_reply_to: references.last().cloned(),
        references,
    }
}

/// Threads `mail` on what its recipients (To first, then Cc) know of the ticket. Staff are the
/// helpdesk's own agents; requesters, participants and external agents (the vendor) see public
/// mail only.
pub fn thread_mail(mail: &mut OutgoingMail, messages: &[ThreadMessage], directory: &Directory) {
    let recipients: Vec<&Mailbox> = mail.to.iter().chain(&mail.cc).collect();
    let people: Vec<Person<'_>> = recipients
        .iter()
        .map(|m| Person {
            address: &m.address,
            staff: directory.agent_by_address(&m.address).is_some()
                && !directory.is_external(&m.address),
        })
        .collect();
    let thread = thread_for(messages, &people);
    mail.in_reply_to = thread.in_reply_to;
    mail.references = thread.references;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, from: &str, to: &[&str], visibility: Visibility) -> ThreadMessage {
        ThreadMessage {
            message_id: id.into(),
            from: from.into(),
            recipients: to.iter().map(|s| s.to_string()).collect(),
            visibility,
        }
    }

    const SUPPORT: &str = "support@corp.example";
    const CARLA: &str = "carla@client.example";
    const ALICE: &str = "alice@corp.example";

    /// Carla writes, is acknowledged; Alice is told, writes a note and an answer; Carla gets the
    /// relay.
    fn ticket() -> Vec<ThreadMessage> {
        use Visibility::*;
        vec![
            message("carla-1@client", CARLA, &[SUPPORT], Public),
            message("ack-1@corp", SUPPORT, &[CARLA], Public),
            message("notice-1@corp", SUPPORT, &[ALICE], Public),
            message("note-1@corp", ALICE, &[SUPPORT], Internal),
            message("answer-1@corp", ALICE, &[SUPPORT], Public),
            message("relay-1@corp", SUPPORT, &[CARLA], Public),
            message(
                "stranger-1@else",
                "eve@else.example",
                &[SUPPORT, CARLA],
                Stranger,
            ),
        ]
    }

    fn carla() -> Person<'static> {
        Person {
            address: CARLA,
            staff: false,
        }
    }

    fn alice() -> Person<'static> {
        Person {
            address: ALICE,
            staff: true,
        }
    }

    #[test]
    fn the_requester_is_threaded_on_her_own_mail_only() {
        let thread = thread_for(&ticket(), &[carla()]);
        assert_eq!(
            thread.references,
            ["carla-1@client", "ack-1@corp", "relay-1@corp"]
        );
        assert_eq!(thread.in_reply_to.as_deref(), Some("relay-1@corp"));
    }

    #[test]
    fn an_agent_is_threaded_on_the_notices_and_notes_they_know() {
        let thread = thread_for(&ticket(), &[alice()]);
        assert_eq!(
            thread.references,
            ["notice-1@corp", "note-1@corp", "answer-1@corp"]
        );
        assert_eq!(thread.in_reply_to.as_deref(), Some("answer-1@corp"));
    }

    #[test]
    fn someone_who_saw_nothing_gets_no_thread() {
        let bob = Person {
            address: "bob@corp.example",
            staff: true,
        };
        assert_eq!(thread_for(&ticket(), &[bob]), PersonalThread::default());
    }

    #[test]
    fn copies_share_what_all_of_them_know_else_the_first_persons_thread() {
        let mut messages = ticket();
        messages.push(message(
            "carla-2@client",
            CARLA,
            &[SUPPORT, "dan@client.example"],
            Visibility::Public,
        ));
        let dan = Person {
            address: "Dan+work@Client.Example",
            staff: false,
        };
        let both = thread_for(&messages, &[carla(), dan]);
        assert_eq!(both.references, ["carla-2@client"]);
        let carla_alone = thread_for(&messages[..7], &[carla(), dan]);
        assert_eq!(carla_alone.in_reply_to.as_deref(), Some("relay-1@corp"));
    }

    #[test]
    fn references_keep_the_latest_ten() {
        let messages: Vec<ThreadMessage> = (0..25)
            .map(|i| message(&format!("m{i}@x"), CARLA, &[SUPPORT], Visibility::Public))
            .collect();
        let thread = thread_for(&messages, &[carla()]);
        assert_eq!(thread.references.len(), 10);
        assert_eq!(thread.references[0], "m15@x");
        assert_eq!(thread.in_reply_to.as_deref(), Some("m24@x"));
    }
}
