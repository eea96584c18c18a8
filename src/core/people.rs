//! Who is who: agents with their roles, queues and levels, queues' triagers, and who may command.

use super::address::{domain, without_subaddress};
use super::auth_results::{vouches_for, AuthResultsHeader};
use super::commands::Command;
use super::language::Language;
use super::ticket::Level;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    /// Works tickets in their queues and levels.
    Agent,
    /// Also assigns to others, transfers, merges.
    Triager,
    /// Everything, everywhere.
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The name used in `#assign NAME`.
    pub name: String,
    /// Shown as the From display name of what they write to requesters.
    pub display_name: String,
    /// Lowercased; the first is where Guichet writes to them.
    pub addresses: Vec<String>,
    pub role: AgentRole,
    /// Empty: every queue.
    pub queues: Vec<String>,
    /// Empty: every level.
    pub levels: Vec<Level>,
    /// The secret word for `#token`, when trust asks for one.
    pub token: Option<String>,
    pub language: Option<Language>,
    /// Away from the start (config); `#away` / `#back` change it at run time.
    pub away: bool,
    /// Outside the organisation (a vendor): sees only the public history. `None`: external when
    /// every level it works is an external level.
    pub external: Option<bool>,
}

impl Agent {
    pub fn address(&self) -> &str {
        &self.addresses[0]
    }

    pub fn works_in(&self, queue: &str, level: Level) -> bool {
        (self.queues.is_empty() || self.queues.iter().any(|q| q == queue))
            && (self.levels.is_empty() || self.levels.contains(&level))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub name: String,
    /// Addresses that get new-ticket and transfer notices.
    pub triagers: Vec<String>,
    pub assignment: Assignment,
}

/// How a queue's new tickets find an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assignment {
    /// Triagers assign by hand.
    #[default]
    None,
    /// The agent whose last automatic or manual assignment is oldest.
    RoundRobin,
    /// The agent with the fewest open tickets.
    LeastOpen,
}

/// What the store knows of an agent's load, for automatic assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Workload {
    pub name: String,
    /// Set by `#away` / `#back`; `None` keeps the config's `away`.
    pub away: Option<bool>,
    pub open_tickets: u32,
    /// Increases with every assignment: the smallest was served longest ago.
    pub last_assigned: Option<i64>,
}

/// How a command's sender is believed to be who the From says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// An `Authentication-Results` header from one of these authserv-ids says DKIM or SPF passed
    /// for the From domain.
    AuthenticationResults(Vec<String>),
    /// The agent's secret word on a `#token` line.
    Token,
    /// Either of the two.
    Either(Vec<String>),
    /// The From address alone: only when set explicitly.
    None,
}

#[derive(Debug, Clone)]
pub struct Directory {
    pub agents: Vec<Agent>,
    pub queues: Vec<Queue>,
    /// Extra addresses per level (index 0 is level 1), besides the agents working at that level.
    pub level_addresses: [Vec<String>; 4],
    /// Levels worked outside the organisation (index 0 is level 1); see `Directory::new`.
    pub external_levels: [bool; 4],
}

impl Default for Directory {
    fn default() -> Directory {
        Directory {
            agents: Vec::new(),
            queues: Vec::new(),
            level_addresses: Default::default(),
            // Level 4 is the vendor's unless the config says otherwise.
            external_levels: [false, false, false, true],
        }
    }
}

impl Directory {
    pub fn agent_by_address(&self, address: &str) -> Option<&Agent> {
        let address = without_subaddress(address);
        self.agents.iter().find(|agent| {
            agent
                .addresses
                .iter()
                .any(|a| without_subaddress(a) == address)
        })
    }

    /// `#assign bob` names an agent by name or by address, in any case.
    pub fn agent_by_name(&self, name: &str) -> Option<&Agent> {
        let name = name.trim().to_lowercase();
        self.agents
            .iter()
            .find(|agent| agent.name.to_lowercase() == name)
            .or_else(|| self.agent_by_address(&name))
    }

    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues
            .iter()
            .find(|queue| queue.name.eq_ignore_ascii_case(name))
    }

    pub fn triagers_of(&self, queue: &str) -> Vec<String> {
        let mut addresses: Vec<String> = self
            .queue(queue)
            .map(|q| q.triagers.clone())
            .unwrap_or_default();
        if addresses.is_empty() {
            // A queue without its own list falls back to the triagers and admins who work it.
            addresses = self
                .agents
                .iter()
                .filter(|a| {
                    matches!(a.role, AgentRole::Triager | AgentRole::Admin)
                        && (a.queues.is_empty() || a.queues.iter().any(|q| q == queue))
                })
                .map(|a| a.address().to_string())
                .collect();
        }
        addresses
    }

    /// Whether this address belongs outside the organisation: an external agent, or an address
    /// of an external level that is no agent of ours.
    pub fn is_external(&self, address: &str) -> bool {
        if let Some(agent) = self.agent_by_address(address) {
            return agent.external.unwrap_or_else(|| {
                !agent.levels.is_empty()
                    && agent
                        .levels
                        .iter()
                        .all(|l| self.external_levels[(l.get() - 1) as usize])
            });
        }
        let address = without_subaddress(address);
        self.level_addresses
            .iter()
            .zip(self.external_levels)
            .any(|(addresses, external)| {
                external && addresses.iter().any(|a| without_subaddress(a) == address)
            })
    }

    /// Whether `agent` owns a ticket in `queue` assigned to `assignee`: its assignee, or one of
    /// the queue's triagers. Owners act on their ticket at every level.
    pub fn owns(&self, agent: &Agent, queue: &str, assignee: Option<&str>) -> bool {
        let assigned = assignee.is_some_and(|name| name.eq_ignore_ascii_case(&agent.name));
        let triagers = self.triagers_of(queue);
        assigned
            || agent.addresses.iter().any(|own| {
                let own = without_subaddress(own);
                triagers.iter().any(|t| without_subaddress(t) == own)
            })
    }

    /// Who hears about an escalation to `level`: its configured addresses and its agents.
    pub fn addresses_of_level(&self, level: Level) -> Vec<String> {
        let mut addresses = self.level_addresses[(level.get() - 1) as usize].clone();
        for agent in &self.agents {
            if agent.levels.contains(&level) && !addresses.iter().any(|a| a == agent.address()) {
                addresses.push(agent.address().to_string());
            }
        }
        addresses
    }
}

/// The agent a new ticket in `queue` at `level` goes to, or `None` when the queue assigns by hand
/// or nobody is available. Ties go to the agent listed first in the config.
pub fn choose_assignee<'a>(
    directory: &'a Directory,
    queue: &str,
    level: Level,
    workloads: &[Workload],
) -> Option<&'a Agent> {
    let strategy = directory
        .queue(queue)
        .map(|q| q.assignment)
        .unwrap_or_default();
    let load = |agent: &Agent| {
        workloads
            .iter()
            .find(|w| w.name == agent.name)
            .cloned()
            .unwrap_or_default()
    };
    let available = directory.agents.iter().enumerate().filter(|(_, agent)| {
        agent.works_in(queue, level) && !load(agent).away.unwrap_or(agent.away)
    });
    match strategy {
        Assignment::None => None,
        Assignment::RoundRobin => available
            .min_by_key(|(index, agent)| (load(agent).last_assigned, *index))
            .map(|(_, agent)| agent),
        Assignment::LeastOpen => available
            .min_by_key(|(index, agent)| {
                let load = load(agent);
                (load.open_tickets, load.last_assigned, *index)
            })
            .map(|(_, agent)| agent),
    }
}

/// Whether the mail's From can be believed for commands.
pub fn sender_is_trusted(
    trust: &Trust,
    from: &str,
    results: &[AuthResultsHeader],
    token: Option<&str>,
    agent: Option<&Agent>,
) -> bool {
    let by_results = |ids: &[String]| vouches_for(ids, domain(from), results);
    let by_token = || match (token, agent.and_then(|a| a.token.as_deref())) {
        (Some(given), Some(expected)) => {
            super::constant_time_eq(given.as_bytes(), expected.as_bytes())
        }
        _ => false,
    };
    match trust {
        Trust::AuthenticationResults(ids) => by_results(ids),
        Trust::Token => by_token(),
        Trust::Either(ids) => by_results(ids) || by_token(),
        Trust::None => true,
    }
}

/// Who sent a mail on a ticket, as far as commands are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing<'a> {
    Agent(&'a Agent),
    Requester,
    Other,
}

/// The ticket a command acts on, as far as permissions go.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub queue: &'a str,
    pub level: Level,
    /// The assignee's name or the queue's triager: `Directory::owns`.
    pub owned: bool,
}

/// Why a role may not give a command on this ticket, or `None` when it may.
pub fn refusal(standing: Standing<'_>, command: &Command, scope: Scope<'_>) -> Option<String> {
    let Scope {
        queue,
        level,
        owned,
    } = scope;
    match standing {
        Standing::Agent(_) if matches!(command, Command::Solved(_)) => Some(
            "#solved is the requester's word; #resolve TEXT resolves a ticket, #answer KB-n sends an article".into(),
        ),
        Standing::Agent(agent) => match agent.role {
            AgentRole::Admin => None,
            AgentRole::Triager => None,
            AgentRole::Agent => {
                // The vendor's answer comes back at level 4: whoever owns the ticket still
                // closes or moves it.
                if !owned
                    && !agent.works_in(queue, level)
                    && !matches!(
                        command,
                        Command::Help
                            | Command::Token(_)
                            | Command::Note(_)
                            | Command::Away
                            | Command::Back
                            // About an article, not this ticket: editors decide (`edit_refusal`).
                            | Command::Publish(_)
                            | Command::Retire(_)
                    )
                {
                    return Some(format!("you do not work queue {queue} at level {level}"));
                }
                match command {
                    Command::Assign(Some(name)) if !name.eq_ignore_ascii_case(&agent.name) => {
                        Some("only triagers assign to someone else; #assign me works".into())
                    }
                    Command::Merge(_) => Some("only triagers merge tickets".into()),
                    _ => None,
                }
            }
        },
        Standing::Requester => match command {
            Command::Close
            | Command::Reopen
            | Command::Solved(_)
            | Command::Help
            | Command::Token(_) => None,
            _ => Some(
                "requesters may only #close, #reopen or say #solved on their own ticket".into(),
            ),
        },
        Standing::Other => {
            Some("only the ticket's requester and the helpdesk's agents may give commands".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str, role: AgentRole) -> Agent {
        Agent {
            name: name.into(),
            display_name: name.into(),
            addresses: vec![format!("{name}@example.com")],
            role,
            queues: vec!["general".into()],
            levels: vec![Level::FIRST, Level::new(2).unwrap()],
            token: Some("s3cret".into()),
            language: None,
            away: false,
            external: None,
        }
    }

    fn result(id: &str, method: &str, result: &str, domain: &str) -> AuthResultsHeader {
        crate::core::auth_results::parse_header(&format!(
            "{id}; {method}={result} header.d={domain} smtp.mailfrom={domain}"
        ))
        .unwrap()
    }

    #[test]
    fn authentication_results_must_be_trusted_passing_and_aligned() {
        let trust = Trust::AuthenticationResults(vec!["mx.example.com".into()]);
        let ok = |results: &[AuthResultsHeader]| {
            sender_is_trusted(&trust, "bob@example.com", results, None, None)
        };
        assert!(ok(&[result(
            "mx.example.com",
            "dkim",
            "pass",
            "example.com"
        )]));
        assert!(ok(&[result(
            "MX.example.com",
            "spf",
            "pass",
            "example.com"
        )]));
        assert!(!ok(&[]), "no header");
        assert!(
            !ok(&[result("evil.example", "dkim", "pass", "example.com")]),
            "untrusted server"
        );
        assert!(
            !ok(&[result("mx.example.com", "dkim", "fail", "example.com")]),
            "failed"
        );
        assert!(
            !ok(&[result("mx.example.com", "dkim", "pass", "evil.example")]),
            "not aligned"
        );
        assert!(
            !ok(&[result("mx.example.com", "dmarc", "pass", "example.com")]),
            "method"
        );
        let sub = sender_is_trusted(
            &trust,
            "bob@eu.example.com",
            &[result("mx.example.com", "dkim", "pass", "example.com")],
            None,
            None,
        );
        assert!(sub, "a parent domain signature is aligned (relaxed)");
    }

    #[test]
    fn tokens_and_explicit_none() {
        let bob = agent("bob", AgentRole::Agent);
        assert!(sender_is_trusted(
            &Trust::Token,
            "bob@example.com",
            &[],
            Some("s3cret"),
            Some(&bob)
        ));
        assert!(!sender_is_trusted(
            &Trust::Token,
            "bob@example.com",
            &[],
            Some("guess"),
            Some(&bob)
        ));
        assert!(!sender_is_trusted(
            &Trust::Token,
            "bob@example.com",
            &[],
            None,
            Some(&bob)
        ));
        assert!(sender_is_trusted(
            &Trust::Either(vec![]),
            "bob@example.com",
            &[],
            Some("s3cret"),
            Some(&bob)
        ));
        assert!(sender_is_trusted(
            &Trust::None,
            "bob@example.com",
            &[],
            None,
            None
        ));
    }

    #[test]
    fn roles_decide_what_may_be_commanded() {
        let bob = agent("bob", AgentRole::Agent);
        let alice = agent("alice", AgentRole::Triager);
        let scope = |queue, level| Scope {
            queue,
            level,
            owned: false,
        };
        let general = |standing, command: Command| {
            refusal(standing, &command, scope("general", Level::FIRST))
        };
        assert_eq!(general(Standing::Agent(&bob), Command::Assign(None)), None);
        assert_eq!(
            general(Standing::Agent(&bob), Command::Assign(Some("BOB".into()))),
            None
        );
        assert!(general(Standing::Agent(&bob), Command::Assign(Some("carol".into()))).is_some());
        assert!(general(
            Standing::Agent(&bob),
            Command::Merge(super::super::ticket::TicketNumber(3))
        )
        .is_some());
        assert_eq!(
            general(
                Standing::Agent(&alice),
                Command::Merge(super::super::ticket::TicketNumber(3))
            ),
            None
        );
        assert!(
            refusal(
                Standing::Agent(&bob),
                &Command::Close,
                scope("hardware", Level::FIRST)
            )
            .is_some(),
            "other queue"
        );
        assert!(
            refusal(
                Standing::Agent(&bob),
                &Command::Close,
                scope("general", Level::VENDOR)
            )
            .is_some(),
            "other level"
        );
        let owned = Scope {
            owned: true,
            ..scope("general", Level::VENDOR)
        };
        assert_eq!(
            refusal(Standing::Agent(&bob), &Command::Close, owned),
            None,
            "the assignee closes their ticket at any level"
        );
        assert!(
            refusal(
                Standing::Agent(&bob),
                &Command::Merge(super::super::ticket::TicketNumber(3)),
                owned
            )
            .is_some(),
            "owning a ticket does not make a triager"
        );
        assert_eq!(general(Standing::Requester, Command::Close), None);
        assert_eq!(general(Standing::Requester, Command::Reopen), None);
        assert!(general(
            Standing::Requester,
            Command::Priority(super::super::ticket::Priority::Urgent)
        )
        .is_some());
        assert!(general(Standing::Other, Command::Close).is_some());
    }

    #[test]
    fn automatic_assignment_spreads_work() {
        let mut carol = agent("carol", AgentRole::Agent);
        carol.away = true;
        let directory = |assignment| Directory {
            agents: vec![
                agent("bob", AgentRole::Agent),
                agent("alice", AgentRole::Agent),
                carol.clone(),
            ],
            queues: vec![Queue {
                name: "general".into(),
                triagers: vec![],
                assignment,
            }],
            ..Directory::default()
        };
        let load = |name: &str, open, last| Workload {
            name: name.into(),
            away: None,
            open_tickets: open,
            last_assigned: last,
        };
        let pick = |assignment, loads: &[Workload]| {
            choose_assignee(&directory(assignment), "general", Level::FIRST, loads)
                .map(|a| a.name.clone())
        };
        assert_eq!(pick(Assignment::None, &[]), None);
        assert_eq!(
            pick(Assignment::RoundRobin, &[]),
            Some("bob".into()),
            "never assigned: config order"
        );
        assert_eq!(
            pick(Assignment::RoundRobin, &[load("bob", 0, Some(5))]),
            Some("alice".into())
        );
        assert_eq!(
            pick(
                Assignment::RoundRobin,
                &[load("bob", 0, Some(5)), load("alice", 0, Some(9))]
            ),
            Some("bob".into())
        );
        assert_eq!(
            pick(
                Assignment::LeastOpen,
                &[load("bob", 4, Some(1)), load("alice", 2, Some(9))]
            ),
            Some("alice".into())
        );
        // carol is away in the config; #back (away = Some(false)) brings her in.
        let back = [
            load("bob", 3, Some(1)),
            load("alice", 3, Some(2)),
            Workload {
                away: Some(false),
                ..load("carol", 0, None)
            },
        ];
        assert_eq!(pick(Assignment::LeastOpen, &back), Some("carol".into()));
        let everyone_away: Vec<Workload> = ["bob", "alice"]
            .iter()
            .map(|n| Workload {
                away: Some(true),
                ..load(n, 0, None)
            })
            .collect();
        assert_eq!(pick(Assignment::RoundRobin, &everyone_away), None);
        assert_eq!(
            choose_assignee(
                &directory(Assignment::RoundRobin),
                "general",
                Level::VENDOR,
                &[]
            ),
            None,
            "nobody at L4"
        );
    }

    #[test]
    fn directory_lookups() {
        let mut vendor = agent("acme", AgentRole::Agent);
        vendor.levels = vec![Level::VENDOR];
        vendor.addresses = vec!["support@vendor.example".into()];
        let directory = Directory {
            agents: vec![
                agent("bob", AgentRole::Agent),
                agent("alice", AgentRole::Triager),
                vendor,
            ],
            queues: vec![Queue {
                name: "hardware".into(),
                triagers: vec!["hw-lead@example.com".into()],
                assignment: Assignment::None,
            }],
            level_addresses: [vec![], vec!["l2-list@example.com".into()], vec![], vec![]],
            ..Directory::default()
        };
        assert_eq!(
            directory
                .agent_by_address("Bob+x@example.com".to_lowercase().as_str())
                .unwrap()
                .name,
            "bob"
        );
        assert_eq!(directory.agent_by_name("ALICE").unwrap().name, "alice");
        assert_eq!(
            directory.agent_by_name("alice@example.com").unwrap().name,
            "alice"
        );
        assert_eq!(
            directory.triagers_of("hardware"),
            vec!["hw-lead@example.com".to_string()]
        );
        assert_eq!(
            directory.triagers_of("general"),
            vec!["alice@example.com".to_string()]
        );
        assert_eq!(
            directory.addresses_of_level(Level::new(2).unwrap()),
            vec![
                "l2-list@example.com".to_string(),
                "bob@example.com".into(),
                "alice@example.com".into()
            ]
        );
        assert_eq!(
            directory.addresses_of_level(Level::VENDOR),
            vec!["support@vendor.example".to_string()]
        );
    }
}
