//! The public request form, pure: what a submission must hold (the queue's custom fields typed
//! and required), whether it may be taken and mailed (rate limits, one mail to an address that
//! never confirmed), and the confirmation mail. Nothing reaches agents before the address is
//! confirmed through that mail's link.

use std::collections::BTreeMap;

use super::address::{check_address, Mailbox};
use super::language::Language;
use super::outgoing::{OutgoingKind, OutgoingMail};
use super::rules::{FieldKind, FieldSpec};
use super::ticket::TicketNumber;

/// Submissions one address may make per hour (confirmed or not).
pub const PER_ADDRESS_PER_HOUR: u32 = 3;
/// Submissions one IP address may make per hour.
pub const PER_IP_PER_HOUR: u32 = 10;
/// How long a confirmation link works.
pub const CONFIRMATION_SECS: i64 = 24 * 3600;
/// An address that never confirmed gets no second confirmation mail for this long.
pub const UNCONFIRMED_QUIET_SECS: i64 = 30 * 86_400;
/// Longest subject and text a form takes, in characters.
pub const MAX_SUBJECT_CHARS: usize = 300;
pub const MAX_TEXT_CHARS: usize = 100_000;

/// The form as the browser sent it (text fields only; files are counted apart).
#[derive(Debug, Clone, Default)]
pub struct FormInput {
    pub name: String,
    pub address: String,
    pub subject: String,
    pub text: String,
    /// Custom field values by field name, as typed or chosen.
    pub fields: BTreeMap<String, String>,
    /// A field people never see: a robot that fills it is turned away without a word.
    pub honeypot: String,
}

/// A submission that may be taken: values trimmed and checked, fields in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRequest {
    pub requester: Mailbox,
    pub subject: String,
    pub text: String,
    pub fields: BTreeMap<String, String>,
}

/// One problem with the form, for the input it is about (`address`, `field:site`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub input: String,
    pub message: String,
}

/// The fields the form of `queue` shows, in config order.
pub fn form_fields<'s>(specs: &'s [FieldSpec], queue: &str) -> Vec<&'s FieldSpec> {
    specs.iter().filter(|s| s.applies_to(queue)).collect()
}

/// A robot filled the field people never see: it is answered as anyone, and nothing is kept.
pub fn is_robot(input: &FormInput) -> bool {
    !input.honeypot.trim().is_empty()
}

/// Checks a submission for `queue`; every problem at once, in the browser's language.
pub fn check(
    specs: &[FieldSpec],
    queue: &str,
    input: &FormInput,
    language: Language,
) -> Result<CheckedRequest, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |input: &str, message: String| {
        problems.push(Problem {
            input: input.to_string(),
            message,
        })
    };
    let words = words(language);
    let address = match check_address(&input.address) {
        Ok(address) => Some(address),
        Err(why) => {
            problem("address", format!("{} ({why})", words.bad_address));
            None
        }
    };
    let subject = one_line(&input.subject);
    if subject.is_empty() {
        problem("subject", words.no_subject.to_string());
    } else if subject.chars().count() > MAX_SUBJECT_CHARS {
        problem(
            "subject",
            format!("{} ({MAX_SUBJECT_CHARS})", words.too_long),
        );
    }
    let text = input.text.replace("\r\n", "\n").trim().to_string();
    if text.is_empty() {
        problem("text", words.no_text.to_string());
    } else if text.chars().count() > MAX_TEXT_CHARS {
        problem("text", format!("{} ({MAX_TEXT_CHARS})", words.too_long));
    }
    let mut fields = BTreeMap::new();
    for spec in form_fields(specs, queue) {
        let given = input.fields.get(&spec.name).map_or("", |v| v.trim());
        if given.is_empty() {
            if spec.required {
                problem(
                    &format!("field:{}", spec.name),
                    format!("{}: {}", label(spec), words.required),
                );
            }
            continue;
        }
        match spec.check(given) {
            Ok(value) => {
                fields.insert(spec.name.clone(), value);
            }
            Err(why) => problem(&format!("field:{}", spec.name), why),
        }
    }
    match (address, problems.is_empty()) {
        (Some(address), true) => Ok(CheckedRequest {
            requester: Mailbox::new(Some(&one_line(&input.name)), &address),
            subject,
            text,
            fields,
        }),
        _ => Err(problems),
    }
}

/// A field's label on the form: its prompt without the placeholder part (`Location: (building)`
/// reads `Location`), else its name.
pub fn label(spec: &FieldSpec) -> String {
    let prompt = spec.prompt.split(':').next().unwrap_or("").trim();
    if prompt.is_empty() {
        spec.name.clone()
    } else {
        prompt.to_string()
    }
}

/// The HTML input a field is typed in.
pub fn input_type(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Number => "number",
        FieldKind::Date => "date",
        FieldKind::Choice(_) => "select",
    }
}

/// What the store knows of an address and an IP lately.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recent {
    /// Submissions from this address in the last hour.
    pub by_address: u32,
    /// Submissions from this IP in the last hour.
    pub by_ip: u32,
    /// The address confirmed a submission before (it reads our mail and asked for it).
    pub address_confirmed_before: bool,
    /// A confirmation mail went to this address in the last `UNCONFIRMED_QUIET_SECS` and was not
    /// followed.
    pub unconfirmed_mail_sent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Keep the submission; mail the confirmation link when `mail`.
    Take { mail: bool },
    /// Over a rate limit: keep nothing, say "try later".
    TooMany,
}

/// Whether a checked submission is kept and mailed. A browser never makes us mail an address
/// that did not ask twice: one that never confirmed gets one confirmation mail, then none for
/// `UNCONFIRMED_QUIET_SECS` (later submissions are kept unmailed and expire). Once it confirmed a
/// request, it is mailed each time, within the hourly limits.
pub fn admit(recent: Recent) -> Admission {
    if recent.by_address >= PER_ADDRESS_PER_HOUR || recent.by_ip >= PER_IP_PER_HOUR {
        return Admission::TooMany;
    }
    Admission::Take {
        mail: recent.address_confirmed_before || !recent.unconfirmed_mail_sent,
    }
}

/// The mail that carries a submission's confirmation link.
pub fn confirmation_mail(
    support: &Mailbox,
    request: &CheckedRequest,
    link: &str,
    language: Language,
    seed: &str,
) -> OutgoingMail {
    let hours = CONFIRMATION_SECS / 3600;
    let subject = &request.subject;
    let (title, body) = match language {
        Language::En => (
            format!("Confirm your request: {subject}"),
            format!(
                "Hello,\n\nsomeone (probably you) sent this request to the helpdesk from its web form:\n\n    {subject}\n\n\
                 To send it, open this link within {hours} hours and confirm:\n\n{link}\n\n\
                 If you did not send it, ignore this mail: nothing will be done with it, and we will\n\
                 not write to you again about it.\n"
            ),
        ),
        Language::Fr => (
            format!("Confirmez votre demande : {subject}"),
            format!(
                "Bonjour,\n\nquelqu'un (sans doute vous) a envoyé cette demande au support depuis son formulaire :\n\n    {subject}\n\n\
                 Pour la transmettre, ouvrez ce lien dans les {hours} heures et confirmez :\n\n{link}\n\n\
                 Si vous ne l'avez pas envoyée, ignorez ce mail : elle ne sera pas traitée, et nous ne\n\
                 vous écrirons plus à son sujet.\n"
            ),
        ),
        Language::It => (
            format!("Confermi la sua richiesta: {subject}"),
            format!(
                "Buongiorno,\n\nqualcuno (probabilmente lei) ha inviato questa richiesta all'assistenza dal modulo web:\n\n    {subject}\n\n\
                 Per inoltrarla, apra questo link entro {hours} ore e confermi:\n\n{link}\n\n\
                 Se non l'ha inviata, ignori questa email: non verrà trattata e non le scriveremo più\n\
                 al riguardo.\n"
            ),
        ),
    };
    let mut mail = OutgoingMail::from_support(
        support,
        OutgoingKind::RequestConfirmation,
        TicketNumber(0),
        vec![request.requester.clone()],
        (title, body),
        seed,
        language,
    );
    mail.ticket = None;
    mail.message_id = format!("guichet.confirm.{seed}@{}", support.domain());
    mail
}

/// Browser text as one line: control characters and runs of white space become one space.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

struct Words {
    bad_address: &'static str,
    no_subject: &'static str,
    no_text: &'static str,
    too_long: &'static str,
    required: &'static str,
}

fn words(language: Language) -> Words {
    match language {
        Language::En => Words {
            bad_address: "Enter an e-mail address we can write to",
            no_subject: "Give your request a subject",
            no_text: "Describe your request",
            too_long: "Too long: at most this many characters",
            required: "required",
        },
        Language::Fr => Words {
            bad_address: "Saisissez une adresse e-mail à laquelle vous écrire",
            no_subject: "Donnez un objet à votre demande",
            no_text: "Décrivez votre demande",
            too_long: "Trop long : au plus ce nombre de caractères",
            required: "obligatoire",
        },
        Language::It => Words {
            bad_address: "Inserisca un indirizzo email a cui scriverle",
            no_subject: "Dia un oggetto alla sua richiesta",
            no_text: "Descriva la sua richiesta",
            too_long: "Troppo lungo: al massimo questo numero di caratteri",
            required: "obbligatorio",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: FieldKind, required: bool, queues: &[&str]) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            kind,
            extract: None,
            required,
            queues: queues.iter().map(|q| q.to_string()).collect(),
            prompt: format!("{}: (please)", name.to_uppercase()),
        }
    }

    fn specs() -> Vec<FieldSpec> {
        vec![
            spec(
                "site",
                FieldKind::Choice(vec!["Milano".into(), "Lyon".into()]),
                true,
                &["hardware"],
            ),
            spec("asset", FieldKind::Number, false, &[]),
            spec("since", FieldKind::Date, false, &["software"]),
        ]
    }

    fn input() -> FormInput {
        FormInput {
            name: " Carla \r\n Rossi ".into(),
            address: " Carla@Example.TEST ".into(),
            subject: "Printer\tjammed\n".into(),
            text: "It jams.\r\nAgain.\r\n".into(),
            fields: [("site".to_string(), "milano".to_string())].into(),
            honeypot: String::new(),
        }
    }

    #[test]
    fn a_good_submission_is_cleaned_and_its_fields_made_canonical() {
        let checked = check(&specs(), "hardware", &input(), Language::En).unwrap();
        assert_eq!(checked.requester.address, "carla@example.test");
        assert_eq!(checked.requester.name.as_deref(), Some("Carla Rossi"));
        assert_eq!(checked.subject, "Printer jammed");
        assert_eq!(checked.text, "It jams.\nAgain.");
        assert_eq!(
            checked.fields.get("site").map(String::as_str),
            Some("Milano")
        );
        assert_eq!(checked.fields.len(), 1);
    }

    #[test]
    fn every_problem_is_told_at_once_in_the_browsers_language() {
        let mut bad = input();
        bad.address = "carla at example".into();
        bad.subject = " ".into();
        bad.fields = [
            ("site".to_string(), String::new()),
            ("asset".to_string(), "twelve".to_string()),
        ]
        .into();
        let problems = check(&specs(), "hardware", &bad, Language::Fr).unwrap_err();
        let inputs: Vec<&str> = problems.iter().map(|p| p.input.as_str()).collect();
        assert_eq!(inputs, ["address", "subject", "field:site", "field:asset"]);
        assert!(problems[0].message.starts_with("Saisissez"), "{problems:?}");
        assert_eq!(problems[2].message, "SITE: obligatoire");
        assert!(problems[3].message.contains("number"), "{problems:?}");
    }

    #[test]
    fn only_the_queues_fields_are_asked_and_read() {
        let specs = specs();
        let fields = form_fields(&specs, "software");
        let names: Vec<&str> = fields.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["asset", "since"]);
        let mut other = input();
        other.fields.insert("since".into(), "2026-11-30".into());
        let checked = check(&specs, "software", &other, Language::En).unwrap();
        assert_eq!(
            checked.fields.get("since").map(String::as_str),
            Some("2026-11-30")
        );
        assert!(
            !checked.fields.contains_key("site"),
            "not a field of this queue"
        );
        assert_eq!(input_type(&FieldKind::Date), "date");
        assert_eq!(label(&specs[0]), "SITE");
    }

    #[test]
    fn an_address_that_never_confirmed_is_mailed_once() {
        let fresh = Recent::default();
        assert_eq!(admit(fresh), Admission::Take { mail: true });
        let waiting = Recent {
            unconfirmed_mail_sent: true,
            ..fresh
        };
        assert_eq!(admit(waiting), Admission::Take { mail: false });
        let known = Recent {
            address_confirmed_before: true,
            ..waiting
        };
        assert_eq!(admit(known), Admission::Take { mail: true });
    }

    #[test]
    fn rate_limits_per_address_and_per_ip() {
        let at = |by_address, by_ip| Recent {
            by_address,
            by_ip,
            ..Recent::default()
        };
        assert_eq!(
            admit(at(PER_ADDRESS_PER_HOUR - 1, 0)),
            Admission::Take { mail: true }
        );
        assert_eq!(admit(at(PER_ADDRESS_PER_HOUR, 0)), Admission::TooMany);
        assert_eq!(admit(at(0, PER_IP_PER_HOUR)), Admission::TooMany);
    }

    #[test]
    fn the_confirmation_mail_names_the_request_and_carries_the_link() {
        let support = Mailbox::new(Some("Helpdesk"), "help@example.test");
        let checked = check(&specs(), "hardware", &input(), Language::It).unwrap();
        let mail = confirmation_mail(
            &support,
            &checked,
            "https://x/new/confirm/abc",
            Language::It,
            "s1",
        );
        assert_eq!(mail.kind, OutgoingKind::RequestConfirmation);
        assert_eq!(mail.to, vec![checked.requester.clone()]);
        assert!(mail.subject.contains("Printer jammed"));
        assert!(mail.body.contains("https://x/new/confirm/abc"));
        assert_eq!(mail.ticket, None);
        assert_eq!(mail.auto_submitted, Some("auto-generated"));
    }
}
