use super::*;
use crate::core::knowledge::ArticleId;

fn parse(body: &str) -> ParsedCommands {
    parse_commands("", body, &Vocabulary::builtin())
}

fn one(line: &str) -> Result<Command, String> {
    let parsed = parse(line);
    match (parsed.commands.as_slice(), parsed.errors.as_slice()) {
        ([command], []) => Ok(command.command.clone()),
        ([], [error]) => Err(error.reason.clone()),
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn every_command_and_alias_in_every_spelling() {
    use Command::*;
    let cases: Vec<(&str, Command)> = vec![
        ("#assign bob", Assign(Some("bob".into()))),
        ("#assign me", Assign(None)),
        ("#ASSIGN Me", Assign(None)),
        ("#assigner moi", Assign(None)),
        ("#attribuer alice", Assign(Some("alice".into()))),
        ("#assegna io", Assign(None)),
        ("# assign   bob  ", Assign(Some("bob".into()))),
        ("#unassign", Unassign),
        ("#désassigner", Unassign),
        (
            "#priority high",
            Priority(crate::core::ticket::Priority::High),
        ),
        (
            "#Priority URGENT",
            Priority(crate::core::ticket::Priority::Urgent),
        ),
        (
            "#priorité haute",
            Priority(crate::core::ticket::Priority::High),
        ),
        (
            "#priorite basse",
            Priority(crate::core::ticket::Priority::Low),
        ),
        (
            "#priorità alta",
            Priority(crate::core::ticket::Priority::High),
        ),
        (
            "#PRIORITÀ urgente",
            Priority(crate::core::ticket::Priority::Urgent),
        ),
        (
            "#prio normal",
            Priority(crate::core::ticket::Priority::Normal),
        ),
        (
            "#level 3",
            Level(crate::core::ticket::Level::new(3).unwrap()),
        ),
        (
            "#niveau L2",
            Level(crate::core::ticket::Level::new(2).unwrap()),
        ),
        ("#livello 4", Level(crate::core::ticket::Level::VENDOR)),
        ("#escalate", Escalate(None)),
        (
            "#escalate vendor must patch the firmware",
            Escalate(Some("vendor must patch the firmware".into())),
        ),
        ("#escalader", Escalate(None)),
        ("#scala urgente", Escalate(Some("urgente".into()))),
        ("#deescalate", Deescalate),
        ("#de-escalate", Deescalate),
        ("#queue hardware", Queue("hardware".into())),
        ("#transférer réseau", Queue("réseau".into())),
        ("#coda rete", Queue("rete".into())),
        (
            "#status pending",
            Status(crate::core::ticket::Status::Pending),
        ),
        (
            "#statut en_attente",
            Status(crate::core::ticket::Status::Waiting),
        ),
        (
            "#stato risolto",
            Status(crate::core::ticket::Status::Resolved),
        ),
        ("#resolve", Resolve(None)),
        (
            "#resolve replaced the fuser unit",
            Resolve(Some("replaced the fuser unit".into())),
        ),
        (
            "#résoudre remplacé le toner",
            Resolve(Some("remplacé le toner".into())),
        ),
        ("#risolvi", Resolve(None)),
        ("#close", Close),
        ("#fermer", Close),
        ("#chiudi", Close),
        ("#reopen", Reopen),
        ("#rouvrir", Reopen),
        ("#riapri", Reopen),
        ("#merge 1038", Merge(TicketNumber(1038))),
        ("#merge #1038", Merge(TicketNumber(1038))),
        ("#fusionner 7", Merge(TicketNumber(7))),
        ("#unisci 7", Merge(TicketNumber(7))),
        ("#cc Carol@Example.com", Cc("carol@example.com".into())),
        ("#cc <carol@example.com>", Cc("carol@example.com".into())),
        ("#uncc carol@example.com", Uncc("carol@example.com".into())),
        ("#tag Printer", Tag("printer".into())),
        ("#étiquette imprimante", Tag("imprimante".into())),
        ("#untag printer", Untag("printer".into())),
        (
            "#field location=Building B",
            Field {
                name: "location".into(),
                value: "Building B".into(),
            },
        ),
        (
            "#champ Site = Bâtiment C",
            Field {
                name: "site".into(),
                value: "Bâtiment C".into(),
            },
        ),
        (
            "#campo sede=Milano",
            Field {
                name: "sede".into(),
                value: "Milano".into(),
            },
        ),
        (
            "#note called the user, waiting for a callback",
            Note("called the user, waiting for a callback".into()),
        ),
        ("#note", Note(String::new())),
        ("#commentaire rappelé", Note("rappelé".into())),
        ("#help", Help),
        ("#aide", Help),
        ("#aiuto", Help),
        ("#attachments", Attachments),
        ("#pièces-jointes", Attachments),
        ("#allegati", Attachments),
        ("#token s3cret", Token("s3cret".into())),
        ("#away", Away),
        ("#absent", Away),
        ("#assente", Away),
        ("#back", Back),
        ("#retour", Back),
        ("#rientro", Back),
        ("#release", Release),
        ("#libérer", Release),
        ("#rilascia", Release),
        ("#solved", Solved(None)),
        ("#solved KB-12", Solved(Some(ArticleId(12)))),
        ("#réglé kb12", Solved(Some(ArticleId(12)))),
        ("#sistemato", Solved(None)),
        ("#answer KB-7", Answer(ArticleId(7))),
        ("#réponse #7", Answer(ArticleId(7))),
        ("#risposta 7", Answer(ArticleId(7))),
        ("#reply Password-Reset", Reply("password-reset".into())),
        ("#modèle vpn", Reply("vpn".into())),
        ("#modello vpn", Reply("vpn".into())),
        (
            "#kb",
            Kb {
                internal: false,
                title: None,
            },
        ),
        (
            "#kb Printer jams on page 2",
            Kb {
                internal: false,
                title: Some("Printer jams on page 2".into()),
            },
        ),
        (
            "#kb internal",
            Kb {
                internal: true,
                title: None,
            },
        ),
        (
            "#faq interne Console admin",
            Kb {
                internal: true,
                title: Some("Console admin".into()),
            },
        ),
        ("#publish", Publish(None)),
        ("#publish KB-3", Publish(Some(ArticleId(3)))),
        ("#publier KB-3", Publish(Some(ArticleId(3)))),
        ("#pubblica", Publish(None)),
        ("#retire KB-3", Retire(Some(ArticleId(3)))),
        ("#retirer", Retire(None)),
        ("#ritira KB-3", Retire(Some(ArticleId(3)))),
    ];
    for (line, expected) in cases {
        assert_eq!(one(line), Ok(expected), "{line}");
    }
}

#[test]
fn token_secrets_are_masked_for_display() {
    let vocabulary = Vocabulary::builtin();
    assert_eq!(
        vocabulary.mask_secrets("#token s3cret\r\n#priority high\nmy #jeton is\n#token\n"),
        "#token ****\r\n#priority high\nmy #jeton ****\n#token\n"
    );
    assert_eq!(
        vocabulary.mask_secrets("Re: [#gettone s3cret] [#assign bob] #1042"),
        "Re: [#gettone ****] [#assign bob] #1042"
    );
    assert_eq!(
        vocabulary.mask_secrets("#tokens are fun"),
        "#tokens are fun"
    );
}

#[test]
fn malformed_commands_say_why() {
    let cases = [
        ("#assign", "#assign needs a name"),
        (
            "#assign bob alice",
            "#assign takes only a name, got `bob alice`",
        ),
        ("#priority soonish", "`soonish` is not a priority"),
        ("#priority", "#priority needs a priority"),
        ("#level 5", "`5` is not a support level"),
        ("#level two", "`two` is not a support level"),
        ("#status closed", "`closed` is not a status you can set"),
        ("#merge abc", "`abc` is not a ticket number"),
        ("#merge 0", "`0` is not a ticket number"),
        ("#cc carol", "`carol` is not a mail address: it has no `@`"),
        ("#field location", "#field needs NAME=VALUE, got `location`"),
        ("#field =x", "#field needs NAME=VALUE, got `=x`"),
        ("#close now", "#close takes no argument, got `now`"),
        ("#frobnicate x", "#frobnicate is not a command"),
        ("#token", "#token needs your secret word"),
        ("#answer", "#answer needs an article"),
        (
            "#answer twelve",
            "`twelve` is not an article number (like KB-12)",
        ),
        (
            "#solved KB-0",
            "`KB-0` is not an article number (like KB-12)",
        ),
        (
            "#publish KB-1 KB-2",
            "#publish takes only an article, got `KB-1 KB-2`",
        ),
        ("#reply", "#reply needs the name of a saved reply"),
    ];
    for (line, expected) in cases {
        assert_eq!(one(line), Err(expected.to_string()), "{line}");
    }
}

#[test]
fn commands_stop_at_the_first_text_and_are_cut_from_it() {
    let parsed =
        parse("#assign bob\n\n#priority high\nThanks Bob, please call her.\n#close\n> #reopen");
    let keywords: Vec<&str> = parsed
        .commands
        .iter()
        .map(|c| c.command.keyword())
        .collect();
    assert_eq!(keywords, ["assign", "priority"]);
    assert_eq!(
        parsed.text,
        "Thanks Bob, please call her.\n#close\n> #reopen"
    );
    assert!(parsed.errors.is_empty());

    let quoted = parse("> #assign bob\nok");
    assert!(
        quoted.commands.is_empty(),
        "a quoted command is not a command"
    );
    let number = parse("#1042 is the ticket I mean");
    assert!(
        number.commands.is_empty() && number.errors.is_empty(),
        "#1042 is text"
    );
    assert_eq!(number.text, "#1042 is the ticket I mean");
}

#[test]
fn subject_brackets_carry_commands_for_phones() {
    let parsed = parse_commands(
        "Re: [Helpdesk #12] Printer [#assign alice] [#priority urgent]",
        "ok",
        &Vocabulary::builtin(),
    );
    assert_eq!(
        parsed
            .commands
            .iter()
            .map(|c| c.command.clone())
            .collect::<Vec<_>>(),
        vec![
            Command::Assign(Some("alice".into())),
            Command::Priority(crate::core::ticket::Priority::Urgent)
        ]
    );
    assert_eq!(parsed.text, "ok");
    let tag_only = parse_commands("Re: [Helpdesk #12] Printer", "", &Vocabulary::builtin());
    assert!(
        tag_only.commands.is_empty() && tag_only.errors.is_empty(),
        "our tag is no command"
    );
}

#[test]
fn configured_aliases() {
    let vocabulary = Vocabulary::builtin()
        .with_alias("a", "assign")
        .unwrap()
        .with_alias("#p1", "priority")
        .unwrap();
    let parsed = parse_commands("", "#a bob\n#p1 urgent", &vocabulary);
    assert_eq!(parsed.commands.len(), 2, "{parsed:?}");
    assert_eq!(
        Vocabulary::builtin()
            .with_alias("x", "frob")
            .unwrap_err()
            .reason,
        format!("`frob` is not a command; known: {}", keyword_list())
    );
    assert_eq!(
        Vocabulary::builtin()
            .with_alias("close", "assign")
            .unwrap_err()
            .reason,
        "already means #close"
    );
    assert_eq!(
        Vocabulary::builtin()
            .with_alias("two words", "assign")
            .unwrap_err()
            .reason,
        "must be one word"
    );
}

#[test]
fn every_builtin_word_is_folded_and_names_one_command() {
    let mut seen = std::collections::BTreeMap::new();
    for (command, words) in KEYWORDS {
        for word in *words {
            assert_eq!(fold(word), *word, "looked up folded");
            if let Some(other) = seen.insert(*word, *command) {
                assert_eq!(other, *command, "`{word}` names two commands");
            }
        }
    }
}
