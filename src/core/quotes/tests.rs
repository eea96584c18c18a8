//! Unit tests of `visible_text` as a whole; each concern's own tests sit beside it.

use super::visible_text;

/// (what it shows, input, expected visible text)
const CASES: &[(&str, &str, &str)] = &[
    (
        "english attribution and quote",
        "Sounds good, see you then.\n\nOn Mon, Mar 4, 2024 at 9:12 AM, Ada Lovelace <ada@example.org> wrote:\n> Shall we meet on Friday?\n> Ada\n",
        "Sounds good, see you then.",
    ),
    (
        "english attribution over two lines",
        "Done.\n\nOn Tue, Jan 9, 2024 at 10:00 PM Grace Hopper <grace@example.net>\nwrote:\n\n> Please close the ticket.\n",
        "Done.",
    ),
    (
        "french attribution, unquoted history",
        "Merci, c'est réglé.\n\nLe jeu. 7 mars 2024 à 14:05, Jean Dupont <jean@exemple.fr> a écrit :\n\nBonjour, l'imprimante est en panne.\n",
        "Merci, c'est réglé.",
    ),
    (
        "italian attribution with il giorno",
        "Grazie mille!\n\nIl giorno mar 12 mar 2024 alle ore 10:00 Mario Rossi <mario@esempio.it> ha scritto:\n> Il server non risponde.\n",
        "Grazie mille!",
    ),
    (
        "italian attribution starting with the date",
        "Va bene.\n\n12/03/2024 10:00, Mario Rossi ha scritto:\nIl server non risponde.\n",
        "Va bene.",
    ),
    (
        "german attribution with the name after the verb",
        "Danke, funktioniert wieder.\n\nAm 05.02.2024 um 08:30 schrieb Hans Müller <hans@beispiel.de>:\n> Der Drucker ist kaputt.\n",
        "Danke, funktioniert wieder.",
    ),
    (
        "spanish attribution",
        "Listo.\n\nEl 3 abr 2024, a las 9:15, Ana Ruiz <ana@ejemplo.es> escribió:\n\n> ¿Puedes revisar?\n",
        "Listo.",
    ),
    (
        "dutch attribution",
        "Prima.\n\nOp 14-02-2024 11:02 schreef Piet Jansen <piet@voorbeeld.nl>:\n\nKunnen jullie helpen?\n",
        "Prima.",
    ),
    (
        "portuguese attribution",
        "Obrigado.\n\nEm 2 de mai. de 2024, às 16:40, João Silva <joao@exemplo.pt> escreveu:\n\n> Olá\n",
        "Obrigado.",
    ),
    (
        "outlook english header block under underscores",
        "Please find the logs attached.\n\n________________________________\nFrom: Support Desk <desk@example.com>\nSent: Friday, March 8, 2024 4:12 PM\nTo: Bob Stone\nSubject: RE: VPN down\n\nHi Bob, could you send the logs?\n",
        "Please find the logs attached.",
    ),
    (
        "outlook french header block",
        "Voici la facture.\n\nDe : Service Client <client@exemple.fr>\nEnvoyé : lundi 4 mars 2024 09:00\nÀ : Marie Curie\nObjet : Facture\n\nBonjour Marie,\n",
        "Voici la facture.",
    ),
    (
        "outlook italian header block with bold keys",
        "Fatto.\n\n*Da:* Ufficio IT [mailto:it@esempio.it]\n*Inviato:* lunedì 4 marzo 2024 09:00\n*A:* Luca\n*Oggetto:* Password\n\nCiao Luca,\n",
        "Fatto.",
    ),
    (
        "outlook german header block with Date instead of Sent",
        "Erledigt.\n\nVon: IT-Support <it@beispiel.de>\nDatum: Montag, 4. März 2024 09:00\nAn: Jonas\nBetreff: Passwort\n\nHallo Jonas,\n",
        "Erledigt.",
    ),
    (
        "original message separators",
        "See below.\n\n-----Messaggio originale-----\nIl server è giù.\n",
        "See below.",
    ),
    (
        "message d'origine separator",
        "Vu.\n\n-----Message d'origine-----\nTexte ancien\n",
        "Vu.",
    ),
    (
        "ursprüngliche nachricht separator",
        "Ok.\n\n-----Ursprüngliche Nachricht-----\nAlter Text\n",
        "Ok.",
    ),
    (
        "forwarded message is kept",
        "FYI, from a customer.\n\n---------- Forwarded message ---------\nFrom: Carol <carol@example.com>\nDate: Mon, Mar 4, 2024 at 8:00 AM\nSubject: Broken login\nTo: sales@example.com\n\nI cannot log in.\n",
        "FYI, from a customer.\n\n---------- Forwarded message ---------\nFrom: Carol <carol@example.com>\nDate: Mon, Mar 4, 2024 at 8:00 AM\nSubject: Broken login\nTo: sales@example.com\n\nI cannot log in.",
    ),
    (
        "italian forwarded message is kept, mobile signature above it goes",
        "Guarda qui.\n\nInviato da iPhone\n\n-------- Messaggio inoltrato --------\nOggetto: Errore\nData: 4 marzo 2024\n\nErrore 500\n",
        "Guarda qui.\n\n-------- Messaggio inoltrato --------\nOggetto: Errore\nData: 4 marzo 2024\n\nErrore 500",
    ),
    (
        "interleaved answers keep the new lines",
        "On 2024-03-01 10:00, Dan <dan@example.com> wrote:\n> Which version?\n\n2.4.1\n\n> Which OS?\n\nDebian 12\n",
        "2.4.1\n\nDebian 12",
    ),
    (
        "dash-dash-space signature",
        "The fix is deployed.\n\n-- \nEve Adams\nIT team, ext. 4242\n",
        "The fix is deployed.",
    ),
    (
        "mobile signatures in several languages",
        "Je regarde demain.\n\nEnvoyé de mon iPhone\n",
        "Je regarde demain.",
    ),
    (
        "german mobile signature",
        "Passt.\n\nVon meinem iPhone gesendet\n",
        "Passt.",
    ),
    (
        "outlook mobile signature with its link",
        "On it.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n",
        "On it.",
    ),
    (
        "NOT cut: From: in the middle of a normal message",
        "The package arrived.\nFrom: the warehouse in Lyon, as usual.\nThanks for checking.\n",
        "The package arrived.\nFrom: the warehouse in Lyon, as usual.\nThanks for checking.",
    ),
    (
        "NOT cut: a > used as greater-than",
        "Impact of the outage:\n\n> 5 users affected\n\nPlease hurry.\n",
        "Impact of the outage:\n\n> 5 users affected\n\nPlease hurry.",
    ),
    (
        "NOT cut: a > line glued to text",
        "Click below:\n>> https://status.example.com <<\nto see the status.\n",
        "Click below:\n>> https://status.example.com <<\nto see the status.",
    ),
    (
        "NOT cut: a sentence starting with On and no verb",
        "On Monday the office is closed.\nCall 555-0100 on 2024-03-04 if urgent.\n",
        "On Monday the office is closed.\nCall 555-0100 on 2024-03-04 if urgent.",
    ),
    (
        "NOT cut: One is not On",
        "One more thing: the VPN wrote errors at 10:00:\nsee the log.\n",
        "One more thing: the VPN wrote errors at 10:00:\nsee the log.",
    ),
    (
        "NOT cut: Sent from my desk in a sentence",
        "Printed.\n\nSent from my desk, since my phone is dead.\n",
        "Printed.\n\nSent from my desk, since my phone is dead.",
    ),
    (
        "NOT cut: dash-dash inside a line",
        "Rebooted -- it works now.\nThanks\n",
        "Rebooted -- it works now.\nThanks",
    ),
    (
        "NOT cut: date, time and address lines without a header block",
        "Your appointment:\n\nDate: Tuesday 5 March 2024\nTime: 10:00\nPlace: Room 4\n",
        "Your appointment:\n\nDate: Tuesday 5 March 2024\nTime: 10:00\nPlace: Room 4",
    ),
    (
        "NOT cut: a bulleted list ending the message",
        "Steps:\n-Restart\n-Login\n",
        "Steps:\n-Restart\n-Login",
    ),
    (
        "bottom-posted reply below a french attribution and quote",
        "Le 4 mars 2024 à 09:00, Jean <jean@exemple.fr> a écrit :\n> Ça marche ?\n\nOui, depuis ce matin.\n",
        "Oui, depuis ce matin.",
    ),
    (
        "english original message separator and android signature",
        "Will do.\n\nSent from my Galaxy\n\n-----Original Message-----\nFrom: Ann\nold text\n",
        "Will do.",
    ),
    (
        "NOT cut: From and To lines of an itinerary",
        "Your trip:\nFrom: Paris\nTo: London\nHave a good journey.\n",
        "Your trip:\nFrom: Paris\nTo: London\nHave a good journey.",
    ),
    (
        "NOT cut: On <date> we sent: is not an attribution",
        "On 2024-03-04 we sent:\n- the invoice\n- the receipt\n",
        "On 2024-03-04 we sent:\n- the invoice\n- the receipt",
    ),
    (
        "NOT cut: a sentence that starts with a weekday-like word",
        "So on 2024-03-04 I wrote:\nthe first draft, attached again.\n",
        "So on 2024-03-04 I wrote:\nthe first draft, attached again.",
    ),
    (
        "all quoted: nothing new, nothing visible",
        "\n> only a quote\n> nothing new\n",
        "",
    ),
    (
        "CRLF line endings",
        "Yes.\r\n\r\nOn Wed, Mar 6, 2024 at 1:00 PM, Kim <kim@example.com> wrote:\r\n> Ready?\r\n",
        "Yes.",
    ),
];

#[test]
fn visible_text_cases() {
    let mut failures = Vec::new();
    for (name, input, expected) in CASES {
        let got = visible_text(input);
        if got != *expected {
            failures.push(format!(
                "{name}:\n  got:      {got:?}\n  expected: {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 9: an agent answers a notice with command lines only; once the caller has taken the
/// command lines out, what is left is the quoted notice, and none of it may be relayed.
#[test]
fn a_reply_with_nothing_new_has_an_empty_visible_text() {
    for input in [
        // Gmail: attribution and `>` lines.
        "On Mon, Mar 4, 2024 at 9:12 AM Helpdesk <support@desk.example.test> wrote:\n\n> Ticket #1042 was assigned to you.\n> Commands: #assign NAME, #priority LEVEL\n",
        // Outlook: a header block and the unquoted notice.
        "________________________________\nFrom: Helpdesk <support@desk.example.test>\nSent: Monday, March 4, 2024 9:12 AM\nTo: Bob\nSubject: [Helpdesk #1042] New ticket\n\nTicket #1042 was opened.\n",
        // Thunderbird in French, unquoted history under the attribution.
        "Le 04/03/2024 à 09:12, Helpdesk a écrit :\nLe ticket #1042 vous est attribué.\n",
        // Only a mobile signature above the quote.
        "\nEnvoyé de mon iPhone\n\n> Le 4 mars 2024 à 09:12, Helpdesk <support@desk.example.test> a écrit :\n>\n> Ticket #1042\n",
        "-----Original Message-----\nold",
        "Sent from my iPhone",
        "  \n ",
    ] {
        assert_eq!(visible_text(input), "", "{input:?}");
    }
    for input in ["-- \nBob", "x"] {
        assert!(
            !visible_text(input).is_empty() || input.starts_with("--"),
            "{input:?}"
        );
    }
}

/// Issue 8: the work is linear in the size of the mail. No timing is asserted here (see
/// `cargo test --release -- --ignored quote_stripping_scales` for the figures); this runs the
/// shapes that made quadratic work before on a million lines and a 100k-character line.
#[test]
fn a_million_lines_and_a_very_long_line_are_handled() {
    // Half a million lines of new text that look a little like everything (none of it goes),
    // then an attribution and half a million lines of quoted history (all of it goes).
    let mut new_text = String::new();
    for i in 0..500_000 {
        new_text.push_str(match i % 4 {
            0 => "On 2024-03-04 at 09:12 the disk was full.\n",
            1 => "From: the warehouse, 2024\n",
            2 => "Sent from my desk, as usual\n",
            _ => "Here is what I tried at 10:00:\n",
        });
    }
    let mut input = format!("{new_text}\nOn 2024-03-04 09:12 Ada <ada@example.org> wrote:\n");
    for i in 0..500_000 {
        input.push_str(match i % 4 {
            0 => "> On 2024-03-04 09:12 Ada <ada@example.org> wrote:\n",
            1 => "> On 2024 On 2024 On\n",
            2 => "> From: x@example.org Date: 2024\n",
            _ => ">\n",
        });
    }
    assert_eq!(visible_text(&input), new_text.trim());

    let long_line = format!(
        "Top.\n{}\n{}:\n> q\n",
        "On 2024 at 9:12 wrote ".repeat(5_000),
        ">".repeat(100_000)
    );
    assert!(visible_text(&long_line).starts_with("Top."));
}

/// Prints how long one and two million lines take, to check by hand that the work is linear.
#[test]
#[ignore = "prints figures; run in release mode"]
fn quote_stripping_scales() {
    for lines in [1_000_000usize, 2_000_000] {
        let mut input = String::from("New text on top.\n");
        for i in 0..lines {
            input.push_str(match i % 5 {
                0 => "On Mon, Mar 4, 2024 at 9:12 AM Ada <ada@example.org>\n",
                1 => "> Le 4 mars 2024 à 09:12, Ada a écrit :\n",
                2 => "Von: Ada <ada@example.org>\n",
                3 => "Sent from my iPhone\n",
                _ => "some ordinary words of a line, 2024-03-04 10:00\n",
            });
        }
        let started = std::time::Instant::now();
        let out = visible_text(&input);
        println!(
            "{lines} lines: {:?} ({} bytes out)",
            started.elapsed(),
            out.len()
        );
    }
    let line = "word 2024 9:12 On ".repeat(100_000 / 18);
    let started = std::time::Instant::now();
    let _ = visible_text(&line);
    println!("one {}-byte line: {:?}", line.len(), started.elapsed());
}
