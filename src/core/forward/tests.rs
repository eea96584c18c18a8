//! Inline forwards as each client writes them (written from what Gmail, Outlook, Apple Mail,
//! Thunderbird and mutt produce, in en/fr/it/de/es).

use super::*;
use crate::core::own_text::SentText;

const ALERT: &str = "Toner level low (5%) on tray 2.\nReplace the cartridge before Friday.";

fn forward_of(text: &str, subject: &str) -> (ForwardedText, Forwarded) {
    let result = visible_with_forward(text, subject);
    let forwarded = result.forwarded.clone().expect("a forward");
    (result, forwarded)
}

fn assert_alert(forwarded: &Forwarded, from: &str, subject: &str) {
    assert_eq!(forwarded.from.as_deref(), Some(from));
    assert_eq!(forwarded.subject.as_deref(), Some(subject));
    assert!(forwarded.date.is_some(), "{forwarded:?}");
    assert_eq!(forwarded.text, ALERT);
}

#[test]
fn gmail_in_five_languages() {
    for (marker, sender) in [
        ("---------- Forwarded message ---------", "From"),
        ("---------- Message transféré ---------", "De "),
        ("---------- Messaggio inoltrato ---------", "Da"),
        ("---------- Weitergeleitete Nachricht ---------", "Von"),
        ("---------- Mensaje reenviado ---------", "De"),
    ] {
        let text = format!(
            "Can someone look at this?\n\nCarla\n\n{marker}\n{sender}: Printer Room 3 <printer3@corp.example>\n\
             Date: Mon, Mar 4, 2024 at 9:12 AM\nSubject: Toner low\nTo: <carla@client.example>\n\n\n{ALERT}\n"
        );
        let (result, forwarded) = forward_of(&text, "Fwd: Toner low");
        assert_alert(
            &forwarded,
            "Printer Room 3 <printer3@corp.example>",
            "Toner low",
        );
        assert_eq!(
            result.text,
            format!(
                "Can someone look at this?\n\nCarla\n\n{FORWARD_MARK}\n\
                 From: Printer Room 3 <printer3@corp.example>\n\
                 Date: Mon, Mar 4, 2024 at 9:12 AM\nSubject: Toner low\n\n{ALERT}"
            ),
            "{marker}"
        );
    }
}

#[test]
fn outlook_forwards_are_told_from_replies_by_the_subject() {
    let block = format!(
        "See below, the printer again.\n\n________________________________\n\
         From: Printer Room 3 <printer3@corp.example>\nSent: Monday, March 4, 2024 9:12 AM\n\
         To: Carla <carla@client.example>\nSubject: Toner low\n\n{ALERT}\n"
    );
    let (result, forwarded) = forward_of(&block, "FW: Toner low");
    assert_alert(
        &forwarded,
        "Printer Room 3 <printer3@corp.example>",
        "Toner low",
    );
    assert!(result
        .text
        .starts_with("See below, the printer again.\n\n---------- Forwarded"));
    assert!(!result.text.contains("_____"));
    // The same block under a reply's subject is history.
    let reply = visible_with_forward(&block, "RE: Toner low");
    assert_eq!(reply.text, "See below, the printer again.");
    assert_eq!(reply.forwarded, None);

    // French and German Outlook, with the "Original Message" separator.
    for (subject, block) in [
        (
            "TR : Toner low",
            format!("Voir ci-dessous.\n\n-----Message d'origine-----\nDe : Printer Room 3 <printer3@corp.example>\nEnvoyé : lundi 4 mars 2024 09:12\nÀ : Carla\nObjet : Toner low\n\n{ALERT}"),
        ),
        (
            "WG: Toner low",
            format!("Siehe unten.\n\n-----Ursprüngliche Nachricht-----\nVon: Printer Room 3 <printer3@corp.example>\nGesendet: Montag, 4. März 2024 09:12\nAn: Carla\nBetreff: Toner low\n\n{ALERT}"),
        ),
        (
            "I: Toner low",
            format!("Vedi sotto.\n\n-----Messaggio originale-----\nDa: Printer Room 3 <printer3@corp.example>\nInviato: lunedì 4 marzo 2024 09:12\nA: Carla\nOggetto: Toner low\n\n{ALERT}"),
        ),
        (
            "RV: Toner low",
            format!("Ver abajo.\n\n-----Mensaje original-----\nDe: Printer Room 3 <printer3@corp.example>\nEnviado el: lunes, 4 de marzo de 2024 9:12\nPara: Carla\nAsunto: Toner low\n\n{ALERT}"),
        ),
    ] {
        let (result, forwarded) = forward_of(&block, subject);
        assert_alert(&forwarded, "Printer Room 3 <printer3@corp.example>", "Toner low");
        assert!(!result.text.contains("-----M") && !result.text.contains("-----U"), "{}", result.text);
    }
}

#[test]
fn apple_mail_in_five_languages() {
    for (marker, from, subject, date, to) in [
        ("Begin forwarded message:", "From", "Subject", "Date", "To"),
        ("Début du message réexpédié :", "De", "Objet", "Date", "À"),
        ("Inizio messaggio inoltrato:", "Da", "Oggetto", "Data", "A"),
        (
            "Anfang der weitergeleiteten Nachricht:",
            "Von",
            "Betreff",
            "Datum",
            "An",
        ),
        (
            "Inicio del mensaje reenviado:",
            "De",
            "Asunto",
            "Fecha",
            "Para",
        ),
    ] {
        let text = format!(
            "FYI\n\nSent from my iPhone\n\n{marker}\n\n{from}: Printer Room 3 <printer3@corp.example>\n\
             {subject}: Toner low\n{date}: 4 March 2024 at 09:12:00 CET\n{to}: carla@client.example\n\n{ALERT}\n"
        );
        let (result, forwarded) = forward_of(&text, "Fwd: Toner low");
        assert_alert(
            &forwarded,
            "Printer Room 3 <printer3@corp.example>",
            "Toner low",
        );
        assert!(
            result.text.starts_with("FYI\n\n"),
            "{marker}: {}",
            result.text
        );
    }
}

#[test]
fn thunderbird_with_tabs() {
    for (marker, subject, date, from, to) in [
        (
            "-------- Forwarded Message --------",
            "Subject",
            "Date",
            "From",
            "To",
        ),
        (
            "-------- Message transféré --------",
            "Sujet",
            "Date",
            "De",
            "Pour",
        ),
        (
            "-------- Messaggio inoltrato --------",
            "Oggetto",
            "Data",
            "Mittente",
            "A",
        ),
        (
            "-------- Weitergeleitete Nachricht --------",
            "Betreff",
            "Datum",
            "Von",
            "An",
        ),
        (
            "-------- Mensaje reenviado --------",
            "Asunto",
            "Fecha",
            "De",
            "Para",
        ),
    ] {
        let text = format!(
            "\n\n\n{marker}\n{subject}: \tToner low\n{date}: \tMon, 4 Mar 2024 09:12:00 +0100\n\
             {from}: \tPrinter Room 3 <printer3@corp.example>\n{to}: \tcarla@client.example\n\n\n\n{ALERT}\n"
        );
        let (result, forwarded) = forward_of(&text, "Fwd: Toner low");
        assert_alert(
            &forwarded,
            "Printer Room 3 <printer3@corp.example>",
            "Toner low",
        );
        assert!(result.text.starts_with(FORWARD_MARK), "{marker}");
    }
}

#[test]
fn mutt_with_its_end_marker_and_words_below() {
    let text = format!(
        "The printer mailed me this twice today.\n\n\
         ----- Forwarded message from Printer Room 3 <printer3@corp.example> -----\n\n\
         Date: Mon, 4 Mar 2024 09:12:00 +0100\nFrom: Printer Room 3 <printer3@corp.example>\n\
         To: Carla Rossi <carla@client.example>,\n  Dan <dan@client.example>\nSubject: Toner low\n\n\
         {ALERT}\n\n----- End forwarded message -----\n\nAnd it stopped at noon.\n\n-- \nCarla Rossi\nAccounts\n"
    );
    let (result, forwarded) = forward_of(&text, "Fwd: Toner low");
    assert_alert(
        &forwarded,
        "Printer Room 3 <printer3@corp.example>",
        "Toner low",
    );
    assert_eq!(
        result.text,
        format!(
            "The printer mailed me this twice today.\n\n{FORWARD_MARK}\n\
             From: Printer Room 3 <printer3@corp.example>\nDate: Mon, 4 Mar 2024 09:12:00 +0100\n\
             Subject: Toner low\n\n{ALERT}\n\nAnd it stopped at noon."
        )
    );
}

#[test]
fn mutt_in_other_languages_names_the_sender_in_the_marker() {
    for marker in [
        "----- Message transféré de Printer Room 3 <printer3@corp.example> -----",
        "----- Messaggio inoltrato da Printer Room 3 <printer3@corp.example> -----",
        "----- Weitergeleitete Nachricht von Printer Room 3 <printer3@corp.example> -----",
        "----- Mensaje reenviado de Printer Room 3 <printer3@corp.example> -----",
    ] {
        // No header block: the sender comes from the marker alone.
        let text = format!("Voilà.\n\n{marker}\n\n{ALERT}\n");
        let (_, forwarded) = forward_of(&text, "Fwd: Toner low");
        assert_eq!(
            forwarded.from.as_deref(),
            Some("Printer Room 3 <printer3@corp.example>"),
            "{marker}"
        );
        assert_eq!(forwarded.text, ALERT);
    }
}

#[test]
fn a_quoted_forward_in_a_reply_is_history() {
    let text =
        "Done, thanks.\n\nOn Mon, 4 Mar 2024 at 10:00, Carla <carla@client.example> wrote:\n\
        > ---------- Forwarded message ---------\n> From: Printer <p@corp.example>\n> Toner low\n";
    let result = visible_with_forward(text, "Re: Fwd: Toner low");
    assert_eq!(result.text, "Done, thanks.");
    assert_eq!(result.forwarded, None);
}

#[test]
fn a_forwarded_mail_guichet_sent_is_still_cut() {
    let ack = "Hello Carla,\n\nWe received your request and gave it the number 7. Please keep \
        [Helpdesk #7] in the subject of your replies so that they reach the right ticket.\n\n\
        An agent will answer you soon.";
    let text = format!(
        "Dan, see what the helpdesk says.\n\n---------- Forwarded message ---------\n\
         From: Example Helpdesk <support@corp.example>\nDate: Mon, Mar 4, 2024 at 9:12 AM\n\
         Subject: [Helpdesk #7] Toner low\nTo: <carla@client.example>\n\n{ack}\n"
    );
    let visible = visible_with_forward(&text, "Fwd: [Helpdesk #7] Toner low");
    let sent = SentText::new(
        [ack],
        ["support@corp.example", "Example Helpdesk", "[Helpdesk #7]"],
    );
    assert_eq!(
        sent.remove_from(&visible.text).text,
        "Dan, see what the helpdesk says."
    );
}

#[test]
fn forward_subjects() {
    for subject in [
        "Fwd: x", "FW: x", "TR : x", "WG: x", "RV: x", "I: x", "Fw：x",
    ] {
        assert!(is_forward_subject(subject), "{subject}");
    }
    for subject in ["Re: x", "AW: x", "Invoice: x", "x"] {
        assert!(!is_forward_subject(subject), "{subject}");
    }
}

mod opening_a_ticket {
    use crate::core::address::Mailbox;
    use crate::core::intake::decide_intake;
    use crate::core::mail::InboundMail;
    use crate::core::outgoing::OutgoingKind;
    use crate::core::people::Queue;
    use crate::core::plan::{IntakeInput, TicketChange};
    use crate::core::rules::{Actions, Condition, Rule, Subject, Test};
    use crate::core::threading::{NewTicketReason, ThreadDecision};
    use crate::core::ticket::TicketNumber;

    #[test]
    fn the_forwarded_mail_is_the_request_and_the_forwarder_the_requester() {
        let mut policy = crate::core::intake::tests::policy_for("support@corp.example");
        for (queue, triager) in [
            ("general", "alice@corp.example"),
            ("hardware", "hugo@corp.example"),
        ] {
            policy.directory.queues.push(Queue {
                name: queue.into(),
                triagers: vec![triager.into()],
                assignment: Default::default(),
            });
        }
        policy.rules.push(Rule {
            name: "printers".into(),
            all: true,
            conditions: vec![Condition {
                subject: Subject::From,
                test: Test::Domain("printers.example".into()),
            }],
            actions: Actions {
                queue: Some("hardware".into()),
                ..Actions::default()
            },
        });
        let mail = InboundMail {
            from: Some(Mailbox::new(Some("Carla"), "carla@client.example")),
            to: vec![Mailbox::new(None, "support@corp.example")],
            subject: "Fwd: Toner low on P3".into(),
            message_id: Some("carla-1@client.example".into()),
            text: format!(
                "FYI, it keeps mailing me.\n\n\
                 ----- Forwarded message from P3 <p3@printers.example> -----\n\n\
                 Date: Mon, 4 Mar 2024 09:12:00 +0100\nFrom: P3 <p3@printers.example>\n\
                 To: carla@client.example\nSubject: Toner low on P3\n\n{}\n\n\
                 ----- End forwarded message -----\n",
                super::ALERT
            ),
            ..InboundMail::default()
        };
        let thread = ThreadDecision::New {
            reason: NewTicketReason::NoThreadClues,
        };
        let input = IntakeInput {
            mail: &mail,
            thread: &thread,
            ticket: None,
            next_number: TicketNumber(7),
            auto_replies_last_hour: 0,
            now: 1_700_000_000,
            id_seed: "seed",
            queue: None,
            others: &[],
            workloads: &[],
            knowledge: &crate::core::knowledge::mail::NO_KNOWLEDGE,
        };
        let plan = decide_intake(&policy, &input).unwrap();
        let TicketChange::Create(ticket) = &plan.change else {
            panic!("a new ticket: {plan:?}")
        };
        assert_eq!(ticket.requester.address, "carla@client.example");
        assert_eq!(
            ticket.queue, "hardware",
            "the rule read the forwarded sender"
        );
        assert_eq!(ticket.subject, "Toner low on P3");
        let notice = plan
            .outgoing
            .iter()
            .find(|m| m.kind == OutgoingKind::NewTicketNotice)
            .expect("a new-ticket notice");
        assert_eq!(notice.to[0].address, "hugo@corp.example");
        for shown in [
            "FYI, it keeps mailing me.",
            super::super::FORWARD_MARK,
            "From: P3 <p3@printers.example>",
            "Subject: Toner low on P3",
            super::ALERT,
        ] {
            assert!(notice.body.contains(shown), "{shown} in {}", notice.body);
        }
        assert!(!notice.body.contains("End forwarded message"));
    }
}
