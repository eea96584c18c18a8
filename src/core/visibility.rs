//! Who may read what. Each stored message is public (the requester's side and the answers they
//! got), internal (agents' notes, mail to the comment address, refused commands) or a stranger's
//! (mail from someone who is not a participant). Each reader of a notice is staff or external (a
//! vendor, or any agent or level marked `external`): external readers see public messages only.

use super::address::Mailbox;
use super::people::Directory;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Internal,
    /// Written by someone who is not a participant: staff read it, nobody else is sent it.
    Stranger,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
            Visibility::Stranger => "stranger",
        }
    }

    /// How a history line marks a message that is not public.
    pub fn label(self) -> &'static str {
        match self {
            Visibility::Public => "",
            Visibility::Internal => " (internal)",
            Visibility::Stranger => " (not a participant, internal)",
        }
    }
}

/// Who a mail carrying the ticket's history is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reader {
    /// The helpdesk's own agents and triagers: everything, non-public lines marked.
    Staff,
    /// Outside the organisation: public messages only.
    External,
}

impl Reader {
    pub fn of(directory: &Directory, address: &str) -> Reader {
        if directory.is_external(address) {
            Reader::External
        } else {
            Reader::Staff
        }
    }

    pub fn may_see(self, visibility: Visibility) -> bool {
        match self {
            Reader::Staff => true,
            Reader::External => visibility == Visibility::Public,
        }
    }
}

/// Recipients grouped by what they may read, staff first, each group in the given order: one
/// mail per group, so that an external reader never shares a mail written for staff.
pub fn by_reader(directory: &Directory, recipients: Vec<Mailbox>) -> Vec<(Reader, Vec<Mailbox>)> {
    let (external, staff): (Vec<Mailbox>, Vec<Mailbox>) = recipients
        .into_iter()
        .partition(|m| Reader::of(directory, &m.address) == Reader::External);
    [(Reader::Staff, staff), (Reader::External, external)]
        .into_iter()
        .filter(|(_, group)| !group.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::people::{Agent, AgentRole};
    use crate::core::ticket::Level;

    fn agent(name: &str, levels: &[u8], external: Option<bool>) -> Agent {
        Agent {
            name: name.into(),
            display_name: name.into(),
            addresses: vec![format!("{name}@corp.example")],
            role: AgentRole::Agent,
            queues: vec![],
            levels: levels.iter().map(|l| Level::new(*l).unwrap()).collect(),
            token: None,
            language: None,
            away: false,
            external,
        }
    }

    fn directory() -> Directory {
        let mut directory = Directory {
            agents: vec![
                agent("bob", &[1, 2], None),
                agent("acme", &[4], None),
                agent("inhouse", &[4], Some(false)),
                agent("partner", &[2], Some(true)),
                agent("everywhere", &[], None),
            ],
            ..Directory::default()
        };
        directory.level_addresses[3] = vec!["tickets@vendor.example".into()];
        directory.level_addresses[2] = vec!["l3@corp.example".into()];
        directory
    }

    #[test]
    fn the_vendor_level_is_external_unless_said_otherwise() {
        let directory = directory();
        let reader = |a: &str| Reader::of(&directory, a);
        assert_eq!(reader("bob@corp.example"), Reader::Staff);
        assert_eq!(reader("acme@corp.example"), Reader::External, "level 4");
        assert_eq!(reader("acme+x@corp.example"), Reader::External);
        assert_eq!(
            reader("inhouse@corp.example"),
            Reader::Staff,
            "external = false"
        );
        assert_eq!(
            reader("partner@corp.example"),
            Reader::External,
            "external = true"
        );
        assert_eq!(reader("everywhere@corp.example"), Reader::Staff);
        assert_eq!(reader("tickets@vendor.example"), Reader::External);
        assert_eq!(reader("l3@corp.example"), Reader::Staff);
        let mut directory = directory.clone();
        directory.external_levels[3] = false;
        assert_eq!(Reader::of(&directory, "acme@corp.example"), Reader::Staff);
        assert_eq!(
            Reader::of(&directory, "tickets@vendor.example"),
            Reader::Staff
        );
    }

    #[test]
    fn external_readers_see_public_messages_only() {
        for visibility in [
            Visibility::Public,
            Visibility::Internal,
            Visibility::Stranger,
        ] {
            assert!(Reader::Staff.may_see(visibility));
            assert_eq!(
                Reader::External.may_see(visibility),
                visibility == Visibility::Public
            );
        }
    }

    #[test]
    fn mixed_recipients_get_one_mail_per_reader() {
        let groups = by_reader(
            &directory(),
            vec![
                Mailbox::new(None, "tickets@vendor.example"),
                Mailbox::new(None, "bob@corp.example"),
                Mailbox::new(None, "acme@corp.example"),
            ],
        );
        let addresses: Vec<(Reader, Vec<&str>)> = groups
            .iter()
            .map(|(r, g)| (*r, g.iter().map(|m| m.address.as_str()).collect()))
            .collect();
        assert_eq!(
            addresses,
            vec![
                (Reader::Staff, vec!["bob@corp.example"]),
                (
                    Reader::External,
                    vec!["tickets@vendor.example", "acme@corp.example"]
                )
            ]
        );
    }
}
