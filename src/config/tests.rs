use super::*;

const MINIMAL: &str = r#"
[general]
state_dir = "/tmp/guichet"
support_address = "Support@Desk.Example.Test"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/guichet.toml"), text, &|_| None)
}

#[test]
fn minimal_config_takes_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.intake.support.address, "support@desk.example.test");
    assert_eq!(config.intake.tags.prefix(), "Helpdesk");
    assert_eq!(config.first_ticket_number, 1);
    assert_eq!(config.intake.loops.caps, Caps::default());
    assert!(config.smtp.is_none());
    assert_eq!(
        config.database_path(),
        Path::new("/tmp/guichet/guichet.sqlite3")
    );
}

#[test]
fn the_shipped_example_is_valid() {
    let text = include_str!("../../config.example.toml");
    let config = Config::parse(Path::new("config.example.toml"), text, &|_| None).unwrap();
    assert!(config.smtp.is_some());
    // Its commented [[mailbox]] example is valid too once uncommented (with an inline password).
    let mut uncommented = String::new();
    let mut in_example = false;
    for line in text.lines() {
        in_example |= [
            "# [[mailbox]]",
            "# [commands]",
            "# [[agent]]",
            "# [[queue]]",
            "# [[level]]",
            "# [knowledge]",
            "# [[reply]]",
            "# [[report]]",
            "# [retention]",
            "# [web]",
            "# [[oauth2]]",
            "# [metrics]",
            "# [[webhook]]",
        ]
        .contains(&line);
        in_example &= line.starts_with('#');
        match line.strip_prefix("# ").filter(|_| in_example) {
            Some(setting) if setting.starts_with("password_file") => {
                uncommented.push_str("password = \"x\"")
            }
            Some(setting) if setting.starts_with("token_file") => {
                uncommented.push_str("token = \"x\"")
            }
            Some(setting) if setting.starts_with("client_secret_file") => {
                uncommented.push_str("client_secret = \"x\"")
            }
            Some(setting) if setting.starts_with("secret_file") => {
                uncommented.push_str("secret = \"a-webhook-secret-of-24\"")
            }
            Some(setting) => uncommented.push_str(setting),
            None => uncommented.push_str(line),
        }
        uncommented.push('\n');
    }
    let config = Config::parse(
        Path::new("config.example.toml"),
        &uncommented.replace("ca_file = \"/etc/guichet/ca.pem\"", ""),
        &|_| None,
    )
    .unwrap();
    assert_eq!(config.mailboxes[0].name, "support");
    assert_eq!(
        config.mailboxes[0].address.as_deref(),
        Some("support@example.com")
    );
    assert_eq!(config.intake.knowledge.editors, ["bob"]);
    assert_eq!(config.intake.replies[0].name, "password");
    assert_eq!(config.reports[0].name, "morning");
    assert_eq!(config.reports[0].queues, ["general"]);
    assert_eq!(config.retention.raw_after_days, Some(90));
    assert_eq!(config.retention.tickets_after_days, Some(730));
    assert_eq!(config.retention.interval_secs, 24 * 3600);
    assert_eq!(config.webhooks[0].name, "monitoring");
    assert_eq!(config.webhooks[0].events.len(), 4);
    let web = config.web.unwrap();
    assert_eq!(web.base_path, "/helpdesk");
    assert_eq!(web.form_queues, ["general"]);
    assert_eq!(web.requester_link_days, Some(30));
    assert_eq!(web.public_url, "https://desk.example.com/helpdesk");
    assert_eq!(
        config.oauth2[0].token_url,
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    assert_eq!(
        config.metrics.map(|m| m.listen.to_string()).as_deref(),
        Some("127.0.0.1:9464")
    );
}

#[test]
fn retention_is_validated() {
    let parse = |body: &str| {
        Config::parse(
            Path::new("g.toml"),
            &format!("{MINIMAL}[retention]\n{body}"),
            &|_| None,
        )
    };
    let config = parse("raw_mail_days = 30\n").unwrap();
    assert_eq!(config.retention.raw_after_days, Some(30));
    assert_eq!(config.retention.tickets_after_days, None);
    assert_eq!(config.retention.interval_secs, 3600);
    let none = Config::parse(Path::new("g.toml"), MINIMAL, &|_| None).unwrap();
    assert!(!none.retention.is_active());
    for (body, key, reason) in [
        (
            "raw_mail_days = 0\n",
            "retention.raw_mail_days",
            "0 is not a number of days",
        ),
        (
            "tickets_days = -3\n",
            "retention.tickets_days",
            "-3 is not a number of days",
        ),
        (
            "raw_mail_days = 30\ntickets_days = 10\n",
            "retention.tickets_days",
            "less than raw_mail_days (30)",
        ),
        (
            "raw_mail_days = 1\ncheck_interval_hours = 0\n",
            "retention.check_interval_hours",
            "0 is not a number of hours",
        ),
        ("raw_days = 1\n", "line 6", "unknown field `raw_days`"),
    ] {
        let error = parse(body).unwrap_err().to_string();
        assert!(
            error.contains("g.toml") && error.contains(key) && error.contains(reason),
            "{body}: {error}"
        );
    }
}

#[test]
fn oauth2_accounts_fill_presets_and_name_what_is_wrong() {
    let account =
        |body: &str| format!("{MINIMAL}[[oauth2]]\nname = \"o\"\nclient_id = \"c\"\n{body}\n");
    let config = parse(&format!(
        "{}[[mailbox]]\nname = \"shared\"\nhost = \"imap.gmail.com\"\nusername = \"agent@example.com\"\n\
         address = \"support@example.com\"\nauth = \"oauthbearer\"\noauth2 = \"o\"\n\
         [smtp]\nhost = \"smtp.gmail.com\"\nusername = \"agent@example.com\"\nauth = \"oauth2\"\noauth2 = \"o\"\n",
        account("provider = \"google\"")
    ))
    .unwrap();
    let google = &config.oauth2[0];
    assert_eq!(google.token_url, "https://oauth2.googleapis.com/token");
    assert_eq!(google.scopes, ["https://mail.google.com/"]);
    assert_eq!(google.grant, OAuth2Grant::RefreshToken(None));
    assert_eq!(
        google.stored_token,
        Path::new("/tmp/guichet/oauth2/o.refresh-token")
    );
    let mailbox = &config.mailboxes[0];
    assert_eq!(mailbox.imap.username, "agent@example.com");
    assert_eq!(mailbox.address.as_deref(), Some("support@example.com"));
    assert_eq!(
        mailbox.imap.auth,
        ImapAuth::OAuth2 {
            account: "o".into(),
            mechanism: OAuth2Mechanism::OAuthBearer
        }
    );
    assert!(matches!(
        &config.smtp.unwrap().credentials,
        Some(SmtpAuth::OAuth2 { user, mechanism: OAuth2Mechanism::XOAuth2, .. }) if user == "agent@example.com"
    ));
    let microsoft = parse(&account(
        "provider = \"microsoft\"\ntenant = \"t.example\"\ngrant = \"client_credentials\"\nclient_secret = \"s\"",
    ))
    .unwrap();
    assert_eq!(
        microsoft.oauth2[0].scopes,
        ["https://outlook.office365.com/.default"]
    );
    assert!(!format!("{microsoft:?}").contains("\"s\""));

    let cases = [
        (
            "provider = \"microsoft\"",
            "oauth2[0].tenant: provider = \"microsoft\" needs the tenant",
        ),
        (
            "provider = \"google\"\ngrant = \"client_credentials\"\nclient_secret = \"s\"",
            "oauth2[0].grant: Google offers Gmail no client_credentials",
        ),
        (
            "grant = \"client_credentials\"\ntoken_url = \"https://id.example/token\"",
            "oauth2[0].grant: the client_credentials grant needs one of client_secret",
        ),
        (
            "grant = \"password\"",
            "oauth2[0].grant: `password` is not one of",
        ),
        (
            "",
            "oauth2[0].token_url: a generic provider needs token_url",
        ),
        (
            "token_url = \"http://id.example/token\"",
            "oauth2[0].token_url: `http://id.example/token`: plain http",
        ),
        (
            "provider = \"google\"\ntoken_url = \"https://x/token\"",
            "oauth2[0].token_url: provider = \"google\" sets the endpoints",
        ),
        (
            "provider = \"yahoo\"",
            "oauth2[0].provider: `yahoo` is not one of",
        ),
    ];
    for (body, expected) in cases {
        let error = parse(&account(body)).unwrap_err().to_string();
        assert!(error.contains(expected), "{body}: {error}");
    }
    let generic = account("token_url = \"http://127.0.0.1:9/token\"");
    let mailbox = |body: &str| {
        format!("{generic}[[mailbox]]\nname = \"m\"\nhost = \"h\"\nusername = \"u\"\n{body}\n")
    };
    let cases = [
        (
            "auth = \"oauth2\"",
            "mailbox[0].oauth2: auth = \"oauth2\" needs oauth2 =",
        ),
        (
            "auth = \"oauth2\"\noauth2 = \"nope\"",
            "mailbox[0].oauth2: no [[oauth2]] is named `nope`",
        ),
        (
            "auth = \"oauth2\"\noauth2 = \"o\"\npassword = \"p\"",
            "mailbox[0].password: OAuth2 logs in with a token",
        ),
        (
            "oauth2 = \"o\"\npassword = \"p\"",
            "mailbox[0].oauth2: set auth = \"oauth2\"",
        ),
        (
            "auth = \"kerberos\"\npassword = \"p\"",
            "mailbox[0].auth: `kerberos` is not one of: login, plain, oauth2, oauthbearer",
        ),
    ];
    for (body, expected) in cases {
        let error = parse(&mailbox(body)).unwrap_err().to_string();
        assert!(error.contains(expected), "{body}: {error}");
    }
    let smtp = |body: &str| format!("{generic}[smtp]\nhost = \"h\"\n{body}\n");
    let cases = [
        (
            "auth = \"oauth2\"\noauth2 = \"o\"",
            "smtp.username: OAuth2 needs the username",
        ),
        (
            "auth = \"oauth2\"\nusername = \"u\"",
            "smtp.oauth2: auth = \"oauth2\" needs oauth2 =",
        ),
        (
            "auth = \"cram\"",
            "smtp.auth: `cram` is not one of: password, oauth2, oauthbearer",
        ),
    ];
    for (body, expected) in cases {
        let error = parse(&smtp(body)).unwrap_err().to_string();
        assert!(error.contains(expected), "{body}: {error}");
    }
}

#[test]
fn metrics_listen_on_loopback_unless_remote_is_allowed() {
    let with = |table: &str| format!("{MINIMAL}[metrics]\n{table}");
    let config = parse(&with("listen = \"[::1]:9464\"")).unwrap();
    assert_eq!(config.metrics.unwrap().listen.to_string(), "[::1]:9464");
    assert!(parse(MINIMAL).unwrap().metrics.is_none());
    assert!(error_of(&with("listen = \"0.0.0.0:9464\""))
        .starts_with("/etc/guichet.toml: metrics.listen: 0.0.0.0:9464 is not a loopback address"));
    let remote = parse(&with("listen = \"0.0.0.0:9464\"\nallow_remote = true")).unwrap();
    assert_eq!(remote.metrics.unwrap().listen.to_string(), "0.0.0.0:9464");
    assert!(error_of(&with("listen = \"localhost\""))
        .starts_with("/etc/guichet.toml: metrics.listen: `localhost` is not an address and port"));
}

#[test]
fn reports_are_validated() {
    let report = |body: &str| {
        format!("{MINIMAL}[[report]]\nname = \"daily\"\nto = [\"boss@example.test\"]\ntime_zone = \"Europe/Paris\"\nat = \"08:00\"\n{body}")
    };
    let config = parse(&report(
        "schedule = \"weekly\"\nday = \"friday\"\nlanguage = \"fr\"\nby = \"agent\"",
    ))
    .unwrap();
    let digest = &config.reports[0];
    assert_eq!(
        digest.schedule.frequency,
        crate::core::report::digest::Frequency::Weekly(chrono::Weekday::Fri)
    );
    assert_eq!(digest.language, crate::core::language::Language::Fr);
    assert_eq!(digest.to[0].address, "boss@example.test");
    let cases = [
        (
            "schedule = \"hourly\"",
            "report[0].schedule: `hourly` is not a schedule",
        ),
        (
            "schedule = \"weekly\"",
            "report[0].day: a weekly report needs a day",
        ),
        (
            "schedule = \"daily\"\nday = \"monday\"",
            "report[0].day: only a weekly report",
        ),
        (
            "schedule = \"weekly\"\nday = \"mon\"",
            "report[0].day: `mon` is not a day",
        ),
        (
            "schedule = \"daily\"\nqueues = [\"nope\"]",
            "report[0].queues: there is no [[queue]] called `nope`",
        ),
        (
            "schedule = \"daily\"\nlanguage = \"de\"",
            "report[0].language:",
        ),
        (
            "schedule = \"daily\"\nby = \"colour\"",
            "report[0].by: `colour` is not a grouping",
        ),
        ("schedule = \"daily\"\ncolour = 1", "unknown field `colour`"),
    ];
    for (body, expected) in cases {
        let error = error_of(&report(body));
        assert!(
            error.starts_with("/etc/guichet.toml: ") && error.contains(expected),
            "{body}: {error}"
        );
    }
    let error = error_of(&report("schedule = \"daily\"").replace("08:00", "8h"));
    assert!(
        error.contains("report[0].at: `8h` is not a time"),
        "{error}"
    );
    let error = error_of(&report("schedule = \"daily\"").replace("Europe/Paris", "Mars/Olympus"));
    assert!(error.contains("report[0].time_zone:"), "{error}");
    let twice = format!("{}\n[[report]]\nname = \"daily\"\nto = [\"b@example.test\"]\nschedule = \"daily\"\nat = \"09:00\"\ntime_zone = \"UTC\"\n", report("schedule = \"daily\""));
    assert!(error_of(&twice).contains("report[1].name: `daily` is used by another [[report]]"));
}

#[test]
fn saved_replies_come_from_the_config_and_the_templates_directory() {
    let dir = tempfile::tempdir().unwrap();
    let replies = dir.path().join("replies");
    std::fs::create_dir(&replies).unwrap();
    std::fs::write(
        replies.join("vpn.txt"),
        "Install the VPN client, {requester_name}.",
    )
    .unwrap();
    std::fs::write(replies.join("vpn.fr.txt"), "Installez le client VPN.").unwrap();
    std::fs::write(replies.join("password.it.txt"), "Reimposti la password.").unwrap();
    let text = format!(
        "{MINIMAL}templates_dir = {:?}
[knowledge]
address = \"kb@desk.example.test\"
\
         [[reply]]\nname = \"Password\"\ntext = \"Reset it.\"\ntext_fr = \"Réinitialisez-le.\"\n",
        dir.path()
    );
    let config = parse(&text).unwrap();
    let replies = &config.intake.replies;
    let names: Vec<&str> = replies.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["password", "vpn"]);
    assert_eq!(replies[0].text, "Reset it.");
    assert_eq!(
        replies[0].translations.len(),
        2,
        "text_fr and password.it.txt"
    );
    assert_eq!(replies[1].text, "Install the VPN client, {requester_name}.");
    assert!(
        config
            .intake
            .loops
            .own_addresses
            .contains(&"kb@desk.example.test".to_string()),
        "the knowledge address is ours: never a participant"
    );
    let twice = format!(
        "{MINIMAL}[[reply]]\nname = \"a\"\ntext = \"x\"\n[[reply]]\nname = \"A\"\ntext = \"y\"\n"
    );
    assert!(
        error_of(&twice).contains("reply[1].name"),
        "{}",
        error_of(&twice)
    );
    let spaced = format!("{MINIMAL}[[reply]]\nname = \"two words\"\ntext = \"x\"\n");
    assert!(error_of(&spaced).contains("one word"));
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn errors_name_file_key_and_reason() {
    let cases = [
        ("", "/etc/guichet.toml: general: the [general] table is required"),
        (
            "[general]\nstate_dir = \"/x\"\nsupport_address = \"nope\"\n",
            "/etc/guichet.toml: general.support_address: `nope` is not a mail address",
        ),
        (
            &format!("{MINIMAL}colour = \"blue\"\n"),
            "/etc/guichet.toml: line 5: unknown field `colour`",
        ),
        (
            &format!("{MINIMAL}language = \"de\"\n"),
            "/etc/guichet.toml: general.language: `de` is not a shipped language; expected en, fr or it",
        ),
        (
            &format!("{MINIMAL}default_level = 7\n"),
            "/etc/guichet.toml: general.default_level: 7 is not a level 1 to 4",
        ),
        (
            &format!("{MINIMAL}[threading]\nstrangers = \"maybe\"\n"),
            "/etc/guichet.toml: threading.strangers: `maybe` is not one of: note, join",
        ),
        (
            &format!("{MINIMAL}[smtp]\nhost = \"mail.example.com\"\nsecurity = \"plain\"\n"),
            "/etc/guichet.toml: smtp.security: plain SMTP sends passwords and mail in clear: only allowed to a loopback host, not `mail.example.com`",
        ),
        (
            &format!("{MINIMAL}[smtp]\nhost = \"h\"\nusername = \"u\"\n"),
            "/etc/guichet.toml: smtp.username: a username needs one of password, password_file or password_credential",
        ),
        (
            &format!("{MINIMAL}[smtp]\nhost = \"h\"\nusername = \"u\"\npassword_credential = \"smtp\"\n"),
            "/etc/guichet.toml: smtp.password_credential: $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=)",
        ),
    ];
    for (text, expected) in cases {
        assert!(
            error_of(text).starts_with(expected),
            "got: {}\nwanted: {expected}",
            error_of(text)
        );
    }
}

#[test]
fn passwords_come_from_credentials_and_never_print() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp"), "s3cret\n").unwrap();
    let dir_text = dir.path().to_str().unwrap().to_string();
    let text = format!("{MINIMAL}[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nusername = \"u\"\npassword_credential = \"smtp\"\n");
    let config = Config::parse(Path::new("g.toml"), &text, &|name| {
        (name == "CREDENTIALS_DIRECTORY").then(|| dir_text.clone())
    })
    .unwrap();
    let smtp = config.smtp.unwrap();
    assert!(matches!(
        &smtp.credentials,
        Some(SmtpAuth::Password { password, .. }) if password.expose() == "s3cret"
    ));
    assert_eq!(smtp.port, 25);
    assert!(!format!("{smtp:?}").contains("s3cret"));
}

#[test]
fn template_overrides_replace_shipped_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("acknowledgement.fr.txt"),
        "Subject: Reçu {tag}\n\nMerci, ticket {number}.\n",
    )
    .unwrap();
    let text = format!("{MINIMAL}templates_dir = {:?}\n", dir.path());
    let config = parse(&text).unwrap();
    let values = [("tag", "T".to_string()), ("number", "9".to_string())]
        .into_iter()
        .collect();
    let (subject, body) = config
        .intake
        .templates
        .get(TemplateKind::Acknowledgement, Language::Fr)
        .render(&values);
    assert_eq!(
        (subject.as_str(), body.as_str()),
        ("Reçu T", "Merci, ticket 9.\n")
    );
}

#[test]
fn mailboxes_are_validated() {
    let mailbox = |body: &str| {
        format!(
            "{MINIMAL}[[mailbox]]\nname = \"support\"\nusername = \"u\"\npassword = \"p\"\n{body}"
        )
    };
    let config = parse(&mailbox(
        "host = \"imap.example.com\"\nqueue = \"hardware\"\n",
    ))
    .unwrap();
    let support = &config.mailboxes[0];
    assert_eq!(
        (support.imap.port, support.imap.security),
        (993, ImapSecurity::Tls)
    );
    assert_eq!(support.folder, "INBOX");
    assert_eq!(support.queue.as_deref(), Some("hardware"));
    assert!(!format!("{support:?}").contains("\"p\""), "password hidden");
    let cases = [
        ("host = \"imap.example.com\"\nsecurity = \"insecure\"\n", "mailbox[0].security: insecure IMAP sends the password in clear"),
        ("host = \"h\"\nsecurity = \"ssl\"\n", "mailbox[0].security: `ssl` is not one of: tls, starttls, insecure"),
        ("host = \"h\"\nauth = \"cram\"\n", "mailbox[0].auth: `cram` is not one of: login, plain"),
        ("host = \"h\"\nprocessed_folder = \"INBOX\"\n", "mailbox[0].processed_folder: processed and quarantine folders must differ"),
        ("host = \"h\"\n[[mailbox]]\nname = \"support\"\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\n", "mailbox[1].name: `support` is used by another [[mailbox]]"),
    ];
    for (body, expected) in cases {
        let message = parse(&mailbox(body)).unwrap_err().to_string();
        assert!(
            message.contains(expected),
            "got {message}\nwanted {expected}"
        );
    }
    let no_password =
        format!("{MINIMAL}[[mailbox]]\nname = \"a\"\nhost = \"h\"\nusername = \"u\"\n");
    assert!(parse(&no_password)
        .unwrap_err()
        .to_string()
        .contains("mailbox[0].password: one of password"));
    let loopback = parse(&mailbox("host = \"127.0.0.1\"\nsecurity = \"insecure\"\n")).unwrap();
    assert_eq!(loopback.mailboxes[0].imap.port, 143);
}

#[test]
fn loopback_hosts() {
    assert!(is_loopback("127.0.0.1"));
    assert!(is_loopback("localhost"));
    assert!(is_loopback("[::1]"));
    assert!(!is_loopback("10.0.0.1"));
    assert!(!is_loopback("mail.example.com"));
}
