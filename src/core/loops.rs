//! Loop and storm protection: whether a mail may be answered automatically at all.

use super::address::{local_part, without_subaddress, Mailbox};
use super::caps::Caps;
use super::mail::InboundMail;
use super::spam::SpamMarkers;

/// Why no automatic mail goes back to a sender.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Suppression {
    NoSender,
    AutoSubmitted(String),
    Precedence(String),
    MailingList(String),
    NullReturnPath,
    DeliveryReport,
    RoleSender(String),
    OwnAddress(String),
    VendorAutoHeader(String),
    /// The MTA's spam filter marked it (the header that says so).
    Spam(String),
    RateLimited {
        sent_last_hour: u32,
        cap: u32,
    },
}

impl std::fmt::Display for Suppression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Suppression::NoSender => write!(f, "no sender address"),
            Suppression::AutoSubmitted(value) => write!(f, "Auto-Submitted: {value}"),
            Suppression::Precedence(value) => write!(f, "Precedence: {value}"),
            Suppression::MailingList(id) => write!(f, "mailing list (List-Id: {id})"),
            Suppression::NullReturnPath => write!(f, "null return path <> (a bounce)"),
            Suppression::DeliveryReport => write!(f, "delivery status report (a bounce)"),
            Suppression::RoleSender(local) => write!(f, "automated sender address `{local}@…`"),
            Suppression::OwnAddress(address) => write!(f, "our own address {address}"),
            Suppression::VendorAutoHeader(header) => write!(f, "auto-reply header {header}"),
            Suppression::Spam(header) => write!(f, "marked as spam ({header})"),
            Suppression::RateLimited {
                sent_last_hour,
                cap,
            } => write!(
                f,
                "{sent_last_hour} automatic replies sent to this address in the last hour (cap {cap})"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum AutoReplyVerdict {
    Allowed,
    Suppressed(Suppression),
}

/// `allowed`, or `suppressed: ` and why: the form logs show.
impl std::fmt::Display for AutoReplyVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AutoReplyVerdict::Allowed => f.write_str("allowed"),
            AutoReplyVerdict::Suppressed(why) => write!(f, "suppressed: {why}"),
        }
    }
}

impl AutoReplyVerdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, AutoReplyVerdict::Allowed)
    }
}

/// The addresses that are us, and the sender local parts that are machines.
#[derive(Debug, Clone)]
pub struct LoopPolicy {
    pub own_addresses: Vec<String>,
    /// Local parts (exact, after removing `+tag`) or prefixes ending in `*`, in lower case (the
    /// config lowercases them once, not at every mail).
    pub role_senders: Vec<String>,
    pub caps: Caps,
    /// Headers by which the MTA's spam filter marks spam.
    pub spam: SpamMarkers,
}

pub const DEFAULT_ROLE_SENDERS: &[&str] = &[
    "mailer-daemon",
    "postmaster",
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "nepasrepondre",
    "ne-pas-repondre",
    "nerepondezpas",
    "noreply-*",
    "no-reply-*",
    "bounce*",
    "bounces*",
    "listserv",
    "majordomo",
    "owner-*",
    "*-request",
    "*-bounces",
    "*-owner",
];

impl LoopPolicy {
    fn is_own(&self, address: &str) -> bool {
        let address = without_subaddress(address);
        self.own_addresses
            .iter()
            .any(|own| without_subaddress(own) == address)
    }

    fn role_sender(&self, mailbox: &Mailbox) -> Option<String> {
        let local = without_subaddress(&mailbox.address);
        let local = local_part(&local);
        self.role_senders
            .iter()
            .any(|pattern| matches_role(pattern, local))
            .then(|| local.to_string())
    }

    /// Whether an address alone is one we never answer (ours, or a machine's): for automatic mail
    /// sent later than the mail it answers (a released spam ticket's acknowledgement).
    pub fn address_suppression(&self, mailbox: &Mailbox) -> Option<Suppression> {
        if self.is_own(&mailbox.address) {
            return Some(Suppression::OwnAddress(mailbox.address.clone()));
        }
        self.role_sender(mailbox).map(Suppression::RoleSender)
    }

    /// The verdict from the mail alone; `sent_last_hour` is how many automatic replies already went
    /// to the reply address (as `caps::cap_key` normalises it) in the last hour.
    pub fn verdict(&self, mail: &InboundMail, sent_last_hour: u32) -> AutoReplyVerdict {
        match self.suppression(mail, sent_last_hour) {
            Some(reason) => AutoReplyVerdict::Suppressed(reason),
            None => AutoReplyVerdict::Allowed,
        }
    }

    fn suppression(&self, mail: &InboundMail, sent_last_hour: u32) -> Option<Suppression> {
        let signals = &mail.loop_signals;
        let Some(recipient) = mail.reply_address() else {
            return Some(Suppression::NoSender);
        };
        // First, so that a follow-up marked as spam is treated like machine mail and a new ticket
        // from it is held whatever else the mail says.
        if let Some(header) = self.spam.marked_by(&mail.headers) {
            return Some(Suppression::Spam(header));
        }
        if let Some(value) = &signals.auto_submitted {
            if !value.trim().eq_ignore_ascii_case("no") {
                return Some(Suppression::AutoSubmitted(value.trim().to_string()));
            }
        }
        if let Some(value) = &signals.precedence {
            let value = value.trim().to_lowercase();
            if matches!(value.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
                return Some(Suppression::Precedence(value));
            }
        }
        if let Some(id) = &signals.list_id {
            return Some(Suppression::MailingList(id.trim().to_string()));
        }
        if signals
            .return_path
            .as_deref()
            .is_some_and(is_null_return_path)
        {
            return Some(Suppression::NullReturnPath);
        }
        if signals.is_delivery_report {
            return Some(Suppression::DeliveryReport);
        }
        if let Some((name, value)) = signals
            .vendor_auto_headers
            .iter()
            .find(|(name, value)| is_auto_vendor_header(name, value))
        {
            return Some(Suppression::VendorAutoHeader(format!("{name}: {value}")));
        }
        for mailbox in [Some(recipient), mail.from.as_ref(), mail.sender.as_ref()]
            .into_iter()
            .flatten()
        {
            if self.is_own(&mailbox.address) {
                return Some(Suppression::OwnAddress(mailbox.address.clone()));
            }
            if let Some(local) = self.role_sender(mailbox) {
                return Some(Suppression::RoleSender(local));
            }
        }
        if let Some(path) = &signals.return_path {
            let path = crate::core::address::normalize_address(path);
            if let Some(local) = self.role_sender(&Mailbox::new(None, &path)) {
                return Some(Suppression::RoleSender(local));
            }
        }
        if sent_last_hour >= self.caps.replies_per_address {
            return Some(Suppression::RateLimited {
                sent_last_hour,
                cap: self.caps.replies_per_address,
            });
        }
        None
    }
}

/// `<>`, or `<MAILER-DAEMON>` without a domain, which is how Postfix writes the null sender.
fn is_null_return_path(path: &str) -> bool {
    let path = path
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    path.is_empty() || path.eq_ignore_ascii_case("mailer-daemon")
}

fn matches_role(pattern: &str, local: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(suffix), _) => local.ends_with(suffix) && local.len() > suffix.len(),
        (_, Some(prefix)) => local.starts_with(prefix),
        _ => local == pattern,
    }
}

/// Vendor headers that mark automatic mail (Microsoft, Google groups, RT and others). Outlook's
/// `X-Auto-Response-Suppress` asks *us* not to auto-reply, so any value but `None` counts.
fn is_auto_vendor_header(name: &str, value: &str) -> bool {
    let value = value.trim().to_lowercase();
    match name {
        "x-autoreply" | "x-autorespond" | "x-autogenerated" | "x-auto-reply" => {
            !matches!(value.as_str(), "no" | "false" | "0")
        }
        "x-auto-response-suppress" => value.split(',').any(|v| {
            matches!(
                v.trim(),
                "all" | "autoreply" | "oof" | "dr" | "ndr" | "rn" | "nrn"
            )
        }),
        "x-precedence" => matches!(value.as_str(), "bulk" | "junk" | "list" | "auto_reply"),
        "x-loop" | "x-rt-loop-prevention" | "x-guichet-loop" => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mail::LoopSignals;

    fn policy() -> LoopPolicy {
        LoopPolicy {
            own_addresses: vec!["support@desk.example.test".into()],
            role_senders: DEFAULT_ROLE_SENDERS.iter().map(|s| s.to_string()).collect(),
            caps: Caps {
                replies_per_address: 3,
                ..Caps::default()
            },
            spam: SpamMarkers::default(),
        }
    }

    fn mail_from(address: &str, signals: LoopSignals) -> InboundMail {
        InboundMail {
            from: Some(Mailbox::new(None, address)),
            loop_signals: signals,
            ..InboundMail::default()
        }
    }

    fn suppressed(address: &str, signals: LoopSignals) -> Option<Suppression> {
        match policy().verdict(&mail_from(address, signals), 0) {
            AutoReplyVerdict::Allowed => None,
            AutoReplyVerdict::Suppressed(reason) => Some(reason),
        }
    }

    #[test]
    fn a_person_gets_an_answer() {
        assert_eq!(
            suppressed("alice@example.test", LoopSignals::default()),
            None
        );
        let explicit_no = LoopSignals {
            auto_submitted: Some("No".into()),
            precedence: Some("first-class".into()),
            ..LoopSignals::default()
        };
        assert_eq!(suppressed("alice@example.test", explicit_no), None);
    }

    #[test]
    fn automatic_mail_is_never_answered() {
        let cases: Vec<(&str, LoopSignals, Suppression)> = vec![
            (
                "alice@example.test",
                LoopSignals {
                    auto_submitted: Some("auto-replied".into()),
                    ..Default::default()
                },
                Suppression::AutoSubmitted("auto-replied".into()),
            ),
            (
                "alice@example.test",
                LoopSignals {
                    auto_submitted: Some("auto-generated".into()),
                    ..Default::default()
                },
                Suppression::AutoSubmitted("auto-generated".into()),
            ),
            (
                "news@example.test",
                LoopSignals {
                    precedence: Some("Bulk".into()),
                    ..Default::default()
                },
                Suppression::Precedence("bulk".into()),
            ),
            (
                "news@example.test",
                LoopSignals {
                    precedence: Some("junk".into()),
                    ..Default::default()
                },
                Suppression::Precedence("junk".into()),
            ),
            (
                "member@example.test",
                LoopSignals {
                    list_id: Some("<users.lists.example.test>".into()),
                    ..Default::default()
                },
                Suppression::MailingList("<users.lists.example.test>".into()),
            ),
            (
                "alice@example.test",
                LoopSignals {
                    return_path: Some("".into()),
                    ..Default::default()
                },
                Suppression::NullReturnPath,
            ),
            (
                "alice@example.test",
                LoopSignals {
                    is_delivery_report: true,
                    ..Default::default()
                },
                Suppression::DeliveryReport,
            ),
            (
                "alice@example.test",
                LoopSignals {
                    vendor_auto_headers: vec![("x-autoreply".into(), "yes".into())],
                    ..Default::default()
                },
                Suppression::VendorAutoHeader("x-autoreply: yes".into()),
            ),
            (
                "alice@example.test",
                LoopSignals {
                    vendor_auto_headers: vec![(
                        "x-auto-response-suppress".into(),
                        "DR, OOF".into(),
                    )],
                    ..Default::default()
                },
                Suppression::VendorAutoHeader("x-auto-response-suppress: DR, OOF".into()),
            ),
            (
                "MAILER-DAEMON@example.test",
                LoopSignals::default(),
                Suppression::RoleSender("mailer-daemon".into()),
            ),
            (
                "postmaster@example.test",
                LoopSignals::default(),
                Suppression::RoleSender("postmaster".into()),
            ),
            (
                "no-reply@shop.example.org",
                LoopSignals::default(),
                Suppression::RoleSender("no-reply".into()),
            ),
            (
                "noreply+abc@shop.example.org",
                LoopSignals::default(),
                Suppression::RoleSender("noreply".into()),
            ),
            (
                "bounces-123@lists.example.org",
                LoopSignals::default(),
                Suppression::RoleSender("bounces-123".into()),
            ),
            (
                "users-request@lists.example.org",
                LoopSignals::default(),
                Suppression::RoleSender("users-request".into()),
            ),
            (
                "ne-pas-repondre@impots.example.org",
                LoopSignals::default(),
                Suppression::RoleSender("ne-pas-repondre".into()),
            ),
            (
                "support@desk.example.test",
                LoopSignals::default(),
                Suppression::OwnAddress("support@desk.example.test".into()),
            ),
            (
                "support+1042@desk.example.test",
                LoopSignals::default(),
                Suppression::OwnAddress("support+1042@desk.example.test".into()),
            ),
            (
                "alice@example.test",
                LoopSignals {
                    return_path: Some("<MAILER-DAEMON@mx.example.test>".into()),
                    ..Default::default()
                },
                Suppression::RoleSender("mailer-daemon".into()),
            ),
        ];
        for (address, signals, expected) in cases {
            assert_eq!(
                suppressed(address, signals.clone()),
                Some(expected),
                "{address} {signals:?}"
            );
        }
    }

    #[test]
    fn role_patterns_do_not_catch_people() {
        for person in [
            "noreen@example.test",
            "request@example.test",
            "owner@example.test",
            "replyguy@example.test",
        ] {
            assert_eq!(suppressed(person, LoopSignals::default()), None, "{person}");
        }
    }

    #[test]
    fn a_mail_without_sender_is_not_answered() {
        assert_eq!(
            policy().verdict(&InboundMail::default(), 0),
            AutoReplyVerdict::Suppressed(Suppression::NoSender)
        );
    }

    #[test]
    fn the_hourly_cap_stops_a_storm() {
        let mail = mail_from("alice@example.test", LoopSignals::default());
        assert!(policy().verdict(&mail, 2).is_allowed());
        assert_eq!(
            policy().verdict(&mail, 3),
            AutoReplyVerdict::Suppressed(Suppression::RateLimited {
                sent_last_hour: 3,
                cap: 3
            })
        );
    }

    #[test]
    fn spam_gets_no_answer_even_from_a_person() {
        let mail = InboundMail {
            headers: vec![("x-spam-flag".into(), "YES".into())],
            ..mail_from("alice@example.test", LoopSignals::default())
        };
        assert_eq!(
            policy().verdict(&mail, 0),
            AutoReplyVerdict::Suppressed(Suppression::Spam("x-spam-flag: YES".into()))
        );
    }

    #[test]
    fn reply_to_pointing_at_us_is_suppressed() {
        let mail = InboundMail {
            from: Some(Mailbox::new(None, "alice@example.test")),
            reply_to: Some(Mailbox::new(None, "Support@Desk.Example.Test")),
            ..InboundMail::default()
        };
        assert!(!policy().verdict(&mail, 0).is_allowed());
    }
}
