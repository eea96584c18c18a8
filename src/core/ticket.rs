//! Ticket vocabulary: numbers, status, priority, support level.

use std::fmt;
use std::str::FromStr;

/// The number people see in `[Helpdesk #1042]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct TicketNumber(pub u64);

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a word could not be read as one of our enumerations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a {what}; expected one of: {expected}")]
pub struct UnknownWord {
    pub what: &'static str,
    pub given: String,
    pub expected: &'static str,
}

macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                let lowered = s.trim().to_lowercase();
                $(if lowered == $word { return Ok($name::$variant); })+
                Err(UnknownWord {
                    what: $what,
                    given: s.to_string(),
                    expected: concat!($($word, " "),+).trim_ascii_end(),
                })
            }
        }
    };
}

word_enum!(
    /// Where a ticket stands. `New` until someone works on it; `Waiting` means waiting on the requester;
    /// `Spam` holds a ticket from mail the MTA's spam filter marked, until an agent releases it.
    Status, "status", {
        New => "new",
        Open => "open",
        Pending => "pending",
        Waiting => "waiting",
        Resolved => "resolved",
        Closed => "closed",
        Spam => "spam",
    }
);

impl Status {
    /// Resolved and closed tickets are done; a reply may bring them back.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed)
    }
}

word_enum!(
    Priority, "priority", {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

/// Support level: 1 FAQ / knowledge base, 2 technicians, 3 specialists, 4 external vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Level(u8);

impl Level {
    pub const FIRST: Level = Level(1);
    pub const VENDOR: Level = Level(4);

    pub fn new(value: u8) -> Option<Level> {
        (1..=4).contains(&value).then_some(Level(value))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_ignore_case() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>().unwrap(), *status);
            assert_eq!(
                status.as_str().to_uppercase().parse::<Status>().unwrap(),
                *status
            );
        }
        for priority in Priority::ALL {
            assert_eq!(priority.as_str().parse::<Priority>().unwrap(), *priority);
        }
    }

    #[test]
    fn unknown_word_names_the_choices() {
        let error = "soonish".parse::<Priority>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "`soonish` is not a priority; expected one of: low normal high urgent"
        );
    }

    #[test]
    fn levels_are_one_to_four() {
        assert_eq!(Level::new(0), None);
        assert_eq!(Level::new(1), Some(Level::FIRST));
        assert_eq!(Level::new(4), Some(Level::VENDOR));
        assert_eq!(Level::new(5), None);
    }

    #[test]
    fn done_statuses() {
        assert!(Status::Resolved.is_done());
        assert!(Status::Closed.is_done());
        assert!(!Status::Waiting.is_done());
    }
}
