//! The real binary in a temporary directory: exit codes an MTA and systemd rely on, and what
//! ops see from the commands that only look.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::TempDesk;

fn guichet(config: &Path, args: &[&str], stdin: &[u8]) -> Output {
    common::run_guichet(config, args, stdin)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/mail")
        .join(name)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_config_stops_with_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[general]\nstate_dir = \"/tmp/x\"\nsupport_address = \"not an address\"\n",
    )
    .unwrap();
    let output = guichet(&config, &["check-config"], b"");
    assert_eq!(output.status.code(), Some(78), "EX_CONFIG");
    let message = stderr(&output);
    assert!(message.contains(&config.display().to_string()), "{message}");
    assert!(message.contains("general.support_address"), "{message}");
    assert!(message.contains("is not a mail address"), "{message}");

    let missing = guichet(&dir.path().join("absent.toml"), &["run"], b"");
    assert_eq!(missing.status.code(), Some(78));
    assert!(
        stderr(&missing).contains("cannot read"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn usage_errors_exit_64() {
    let desk = TempDesk::new("");
    assert_eq!(desk.run(&["frobnicate"], b"").status.code(), Some(64));
    assert_eq!(
        desk.run(&["tickets", "show", "abc"], b"").status.code(),
        Some(64)
    );
    let help = desk.run(&["--help"], b"");
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("ingest"));
}

#[test]
fn a_mail_that_cannot_be_stored_now_exits_75_so_the_mta_retries() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let config = dir.path().join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\nstate_dir = {:?}\nsupport_address = \"s@x.test\"\n",
            blocker.join("state")
        ),
    )
    .unwrap();
    let raw = std::fs::read(fixture("plain-en.eml")).unwrap();
    let output = guichet(&config, &["ingest"], &raw);
    assert_eq!(
        output.status.code(),
        Some(75),
        "EX_TEMPFAIL; stderr: {}",
        stderr(&output)
    );
}

#[test]
fn ingest_then_look() {
    let desk = TempDesk::new("");
    let request = std::fs::read(fixture("multipart-alternative.eml")).unwrap();
    let output = desk.run(&["ingest"], &request);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let broken = fixture("broken.eml");
    let output = desk.run(&["ingest", broken.to_str().unwrap()], b"");
    assert_eq!(
        output.status.code(),
        Some(0),
        "a quarantined mail is kept, not an error"
    );
    assert!(
        stdout(&output).contains("1 quarantined"),
        "{}",
        stdout(&output)
    );

    let list = desk.run(&["tickets", "list", "--json"], b"");
    let tickets: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(tickets.as_array().unwrap().len(), 1);
    assert_eq!(tickets[0]["number"], 1);
    assert_eq!(tickets[0]["status"], "new");
    assert_eq!(tickets[0]["requester"], "camille.besson@example.test");

    let show = desk.run(&["tickets", "show", "1"], b"");
    let text = stdout(&show);
    assert!(
        text.contains("Ticket #1: Accès impossible à la messagerie depuis le téléphone"),
        "{text}"
    );
    assert!(text.contains("acknowledgement (pending)"), "{text}");
    assert_eq!(
        desk.run(&["tickets", "show", "9"], b"").status.code(),
        Some(1)
    );

    let quarantine = desk.run(&["quarantine", "list"], b"");
    assert!(
        stdout(&quarantine).contains("no RFC 5322 header could be read"),
        "{}",
        stdout(&quarantine)
    );

    // inspect changes nothing and explains the threading decision.
    let reply = fixture("reply-tag-only.eml");
    let inspect = desk.run(&["inspect", reply.to_str().unwrap()], b"");
    let text = stdout(&inspect);
    assert!(text.contains("Tag:          #1042"), "{text}");
    assert!(
        text.contains("new ticket (tag #1042 names no ticket here"),
        "{text}"
    );
    let again = desk.run(
        &[
            "inspect",
            fixture("multipart-alternative.eml").to_str().unwrap(),
            "--json",
        ],
        b"",
    );
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["already_stored"], 1);
    assert_eq!(report["auto_reply"], "allowed");
    let list = desk.run(&["tickets", "list", "--json"], b"");
    let tickets: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(
        tickets.as_array().unwrap().len(),
        1,
        "inspect stored nothing"
    );
}

/// `guichet ingest` with the log at info, so it says which way the mail went.
/// A new request from `adaN@example.org`, subject `printer N`.
fn mail(n: u32) -> Vec<u8> {
    common::request(
        &format!("ada{n}@example.org"),
        "support@desk.example.test",
        &format!("printer {n}"),
        &format!("p{n}@example.org"),
        "It jams.",
    )
}

/// `guichet run` on the desk, once its hand-over socket is there.
fn daemon_taking_hand_overs(desk: &TempDesk) -> (common::Daemon, PathBuf) {
    let socket = desk.state().join("intake.sock");
    let daemon = common::Daemon::start(&desk.config);
    common::wait_until(Duration::from_secs(20), "the hand-over socket", || {
        socket.exists().then_some(())
    });
    (daemon, socket)
}

/// Each ticket's number and subject, with the source of its first mail.
fn tickets_and_sources(desk: &TempDesk) -> Vec<(i64, String, String)> {
    desk.db()
        .prepare(
            "SELECT t.number, t.subject, m.source FROM tickets t \
             JOIN messages m ON m.ticket = t.number AND m.direction = 'in' ORDER BY t.number",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn ingest_saying_how(desk: &TempDesk, raw: &[u8]) -> String {
    let output = common::run_guichet_logging(&desk.config, &["ingest"], raw, "info");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    stderr(&output)
}

#[test]
fn with_the_daemon_running_a_piped_mail_is_handed_to_it_and_committed() {
    let desk = TempDesk::new("");
    let (daemon, socket) = daemon_taking_hand_overs(&desk);
    let status = stdout(&desk.run(&["status"], b""));
    assert!(
        status.contains("pipe:       handed to the daemon"),
        "{status}"
    );
    let said = ingest_saying_how(&desk, &mail(1));
    assert!(said.contains("mail handed to the daemon"), "{said}");
    assert!(said.contains(r#"\"ticket\":1"#), "{said}");

    // The config file changed under the running daemon: the process applies the file it read.
    let mut text = std::fs::read_to_string(&desk.config).unwrap();
    text.push_str("# edited, not reloaded\n");
    std::fs::write(&desk.config, text).unwrap();
    let said = ingest_saying_how(&desk, &mail(2));
    assert!(!said.contains("handed to the daemon"), "{said}");

    assert!(daemon.stop());
    assert!(!socket.exists(), "the socket goes with the daemon");
    let status = stdout(&desk.run(&["status"], b""));
    assert!(
        status.contains("pipe:       each delivery stores its mail itself"),
        "{status}"
    );
    let said = ingest_saying_how(&desk, &mail(3));
    assert!(!said.contains("handed to the daemon"), "{said}");

    let expected: Vec<(i64, String, String)> = (1..=3)
        .map(|n| (n, format!("printer {n}"), "pipe".to_string()))
        .collect();
    assert_eq!(tickets_and_sources(&desk), expected);
}

/// The delivery exited 75 (the MTA keeps the mail and tries again), saying `why`.
fn kept_at_the_mta(output: &Output, why: &str) {
    assert_eq!(output.status.code(), Some(75), "{}", stderr(output));
    assert!(stderr(output).contains(why), "{}", stderr(output));
}

/// `guichet-deliver` (the pipe's documented command) with `args`, `raw` on its stdin.
fn deliver(program: &Path, config: &Path, args: &[&str], raw: &[u8]) -> Output {
    common::run_program(program, config, args, raw, "warn")
}

#[test]
fn guichet_deliver_hands_its_mail_over_or_runs_guichet_ingest_beside_it() {
    let desk = TempDesk::new("");
    let installed = PathBuf::from(env!("CARGO_BIN_EXE_guichet-deliver"));
    // A copy with no `guichet` beside it can only hand its mail over.
    let elsewhere = tempfile::tempdir().unwrap();
    let lonely = elsewhere.path().join("guichet-deliver");
    std::fs::copy(&installed, &lonely).unwrap();

    // No daemon: the lonely copy keeps the mail at the MTA, saying why.
    kept_at_the_mta(&deliver(&lonely, &desk.config, &[], &mail(1)), "cannot run");
    // Installed beside `guichet`, it runs `guichet ingest`, which stores the mail.
    let output = deliver(&installed, &desk.config, &[], &mail(1));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let (daemon, _socket) = daemon_taking_hand_overs(&desk);
    let output = deliver(&lonely, &desk.config, &["--source", "mx"], &mail(2));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Committed before the answer: the row is there as soon as the process is gone.
    let rows = || tickets_and_sources(&desk);
    assert_eq!(
        rows(),
        [
            (1, "printer 1".into(), "pipe".into()),
            (2, "printer 2".into(), "mx".into())
        ]
    );
    // A config file edited under the daemon is the file `guichet ingest` applies.
    let mut text = std::fs::read_to_string(&desk.config).unwrap();
    text.push_str("# edited, not reloaded\n");
    std::fs::write(&desk.config, &text).unwrap();
    let output = deliver(&lonely, &desk.config, &[], &mail(3));
    assert_eq!(
        output.status.code(),
        Some(75),
        "not handed over: {}",
        stderr(&output)
    );
    let output = deliver(&installed, &desk.config, &[], &mail(3));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(rows().len(), 3);
    assert!(daemon.stop());

    // A config at fault: `guichet ingest` names the file and the key, and the MTA keeps the mail.
    std::fs::write(
        &desk.config,
        text.replace("support_address", "support_adress"),
    )
    .unwrap();
    kept_at_the_mta(
        &deliver(&installed, &desk.config, &[], &mail(4)),
        "support_adress",
    );
    let output = deliver(&installed, &desk.config, &["ingest"], &mail(4));
    assert_eq!(output.status.code(), Some(64), "a usage error");
    assert_eq!(rows().len(), 3);
}

#[test]
fn pipe_mode_keeps_the_mail_when_the_config_is_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let raw = std::fs::read(fixture("plain-en.eml")).unwrap();
    let missing = dir.path().join("absent.toml");
    let output = guichet(&missing, &["ingest"], &raw);
    assert_eq!(output.status.code(), Some(75), "{}", stderr(&output));
    assert!(stderr(&output).contains(&missing.display().to_string()));

    let typo = dir.path().join("typo.toml");
    std::fs::write(
        &typo,
        "[general]\nstate_dir = \"/tmp/x\"\nsupport_adress = \"s@x.test\"\n",
    )
    .unwrap();
    let output = guichet(&typo, &["ingest"], &raw);
    assert_eq!(output.status.code(), Some(75), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&typo.display().to_string()) && message.contains("support_adress"),
        "{message}"
    );
    // Elsewhere a config error is still a config error.
    assert_eq!(
        guichet(&typo, &["check-config"], b"").status.code(),
        Some(78)
    );
}

#[test]
fn state_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let desk = TempDesk::new("");
    let raw = std::fs::read(fixture("attachment.eml")).unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec {:?} --config {:?} ingest",
            env!("CARGO_BIN_EXE_guichet"),
            desk.config
        ))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&raw).unwrap();
    assert!(child.wait().unwrap().success());
    let state = desk.state();
    let mut seen = 0;
    let mut stack = vec![state.clone()];
    while let Some(path) = stack.pop() {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        if path.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 5, "state dir, database, attachments: {seen}");
}

#[test]
fn a_writer_run_as_another_user_is_refused_before_it_writes() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return; // Only root can hand the directory to another user; CI runs as root.
    }
    let desk = TempDesk::new("");
    let state = desk.state();
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(65534), Some(65534)).unwrap();
    let raw = std::fs::read(fixture("plain-en.eml")).unwrap();
    let output = desk.run(&["ingest"], &raw);
    assert_eq!(output.status.code(), Some(75), "{}", stderr(&output));
    assert!(stderr(&output).contains("sudo -u"), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn output_commands_stop_quietly_when_the_reader_goes_away() {
    let desk = TempDesk::new("");
    let raw = std::fs::read(fixture("plain-en.eml")).unwrap();
    assert!(desk.run(&["ingest"], &raw).status.success());
    for args in [["tickets", "show", "1"], ["status", "", ""]] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let output = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "{:?} --config {:?} {} | head -c 1 >/dev/null; echo \"${{PIPESTATUS[0]}}\" >&2",
                env!("CARGO_BIN_EXE_guichet"),
                desk.config,
                args.join(" ")
            ))
            .output()
            .unwrap();
        let message = stderr(&output);
        assert!(
            !message.contains("panicked") && !message.contains("Broken pipe"),
            "{message}"
        );
    }
}

#[test]
fn an_answer_that_cannot_be_written_is_an_error_status_shows() {
    let desk = TempDesk::new(
        "[commands]\ntrust = \"none\"\n\
         [[agent]]\nname = \"bob\"\naddresses = [\"bob@corp.example\"]\nrole = \"triager\"\n",
    );
    let raw = std::fs::read(fixture("plain-en.eml")).unwrap();
    assert!(desk.run(&["ingest"], &raw).status.success());
    // A row written by an older version, before intake checked addresses.
    let conn = desk.db();
    conn.execute_batch(
        "UPDATE tickets SET requester = 'x..y@example.test';
         UPDATE participants SET address = 'x..y@example.test' WHERE role = 'requester';",
    )
    .unwrap();
    drop(conn);
    let answer = b"From: Bob <bob@corp.example>\r\nTo: support@desk.example.test\r\nSubject: Re: [Helpdesk #1] x\r\nMessage-ID: <a1@corp.example>\r\n\r\nPlease restart it.\r\n";
    let output = desk.run(&["ingest"], answer);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let show = stdout(&desk.run(&["tickets", "show", "1"], b""));
    assert!(
        show.contains("mail_not_rendered") && show.contains("x..y@example.test"),
        "{show}"
    );
    let status = stdout(&desk.run(&["status"], b""));
    assert!(
        status.contains("unsendable: 1 outgoing mails could not be written"),
        "{status}"
    );
}

#[test]
fn inspect_masks_token_secrets_and_spam_is_listed_apart() {
    let desk = TempDesk::new("");
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("token.eml");
    std::fs::write(
        &mail,
        "From: bob@example.test\r\nTo: support@desk.example.test\r\n\
         Subject: Re: [Helpdesk #1] Printer [#jeton hunter2]\r\nMessage-ID: <t1@example.test>\r\n\r\n\
         #token hunter2\r\n#priority high\r\nDone.\r\n",
    )
    .unwrap();
    for args in [vec!["inspect"], vec!["inspect", "--json"]] {
        let mut args = args.clone();
        args.insert(1, mail.to_str().unwrap());
        let output = desk.run(&args, b"");
        let text = stdout(&output);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("#token ****"), "{text}");
    }

    // Mail the MTA's spam filter marked: a ticket held as spam, no acknowledgement.
    let spam = b"From: pills@spam.example\r\nTo: support@desk.example.test\r\n\
        Subject: Cheap pills\r\nMessage-ID: <s1@spam.example>\r\nX-Spam-Flag: YES\r\n\r\nBuy now.\r\n";
    let clean = b"From: carol@example.test\r\nTo: support@desk.example.test\r\n\
        Subject: Printer\r\nMessage-ID: <c1@example.test>\r\n\r\nIt is jammed.\r\n";
    for raw in [&spam[..], &clean[..]] {
        let ingest = desk.run(&["ingest"], raw);
        assert!(ingest.status.success(), "{}", stderr(&ingest));
    }
    let list = desk.run(&["tickets", "list", "--status", "spam", "--json"], b"");
    let tickets: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let subjects: Vec<&str> = tickets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Cheap pills"]);
    let show = stdout(&desk.run(&["tickets", "show", "1"], b""));
    assert!(show.contains("held_as_spam"), "{show}");
    assert!(!show.contains("acknowledgement (pending)"), "{show}");
    let show = stdout(&desk.run(&["tickets", "show", "2"], b""));
    assert!(show.contains("acknowledgement (pending)"), "{show}");
}

#[test]
fn inspect_reads_an_outlook_forward_as_content_like_intake() {
    let desk = TempDesk::new("");
    let dir = desk.dir.path();
    let eml = dir.join("forward.eml");
    std::fs::write(
        &eml,
        "From: Paul <paul@example.test>\r\nTo: support@desk.example.test\r\nSubject: FW: Toner low\r\n\
         Message-ID: <fw1@example.test>\r\n\r\nSee below.\r\n\r\n\
         ________________________________\r\nFrom: Printer <printer@example.test>\r\n\
         Sent: Monday, March 4, 2024 9:12 AM\r\nTo: Paul <paul@example.test>\r\nSubject: Toner low\r\n\r\n\
         TONER-ALERT cartridge at 3 percent on floor 2.\r\n",
    )
    .unwrap();
    let output = desk.run(&["inspect", eml.to_str().unwrap()], b"");
    let text = stdout(&output);
    assert!(text.contains("See below."), "{text}");
    assert!(
        text.contains("TONER-ALERT cartridge at 3 percent"),
        "the forwarded alert is content, not quoted history:\n{text}"
    );
}

#[test]
fn a_folder_of_articles_imports_searches_and_exports_the_same() {
    let desk = TempDesk::new("");
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kb/articles");
    let count = std::fs::read_dir(&articles).unwrap().count();
    let import = desk.run(&["kb", "import", articles.to_str().unwrap()], b"");
    assert!(import.status.success(), "{}", stderr(&import));
    assert!(
        stdout(&import).contains(&format!("{count} new, 0 changed, 0 unchanged, 0 refused")),
        "{}",
        stdout(&import)
    );
    // Importing again changes nothing: the file name is the article.
    let again = desk.run(&["kb", "import", articles.to_str().unwrap()], b"");
    assert!(stdout(&again).contains(&format!("0 new, 0 changed, {count} unchanged")));

    let list = desk.run(&["kb", "list", "--json"], b"");
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), count);

    // A request in other words than the article's finds it, with the evidence shown.
    let search = desk.run(
        &[
            "kb",
            "search",
            "l'imprimante du 2e bloque, une feuille coincee dedans",
            "--json",
        ],
        b"",
    );
    assert!(search.status.success(), "{}", stderr(&search));
    let found: serde_json::Value = serde_json::from_slice(&search.stdout).unwrap();
    assert_eq!(found["language"], "fr");
    let first = &found["articles"][0];
    assert!(
        first["title"].as_str().unwrap().contains("bourrage"),
        "{found:#}"
    );
    assert!(first["confidence"].as_f64().unwrap() > 0.0);

    // Export writes what import reads: importing the export changes nothing.
    let out = tempfile::tempdir().unwrap();
    let export = desk.run(&["kb", "export", out.path().to_str().unwrap()], b"");
    assert!(export.status.success(), "{}", stderr(&export));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), count);
    let back = desk.run(&["kb", "import", out.path().to_str().unwrap()], b"");
    assert!(stdout(&back).contains(&format!("0 new, 0 changed, {count} unchanged")));
}

#[test]
fn a_bad_article_file_is_named_with_its_reason_and_the_others_imported() {
    let desk = TempDesk::new("");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vpn-en.md"),
        "+++\ntitle = \"VPN certificate expired\"\nlanguage = \"en\"\n+++\nRenew it in the portal.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad-de.md"),
        "+++\ntitle = \"Drucker\"\nlanguage = \"de\"\n+++\nText.\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("nofront.md"), "Just text\n").unwrap();
    let import = desk.run(&["kb", "import", dir.path().to_str().unwrap()], b"");
    assert_eq!(import.status.code(), Some(1), "{}", stdout(&import));
    let errors = stderr(&import);
    assert!(
        errors.contains("bad-de.md") && errors.contains("`de`"),
        "{errors}"
    );
    assert!(
        errors.contains("nofront.md") && errors.contains("front matter"),
        "{errors}"
    );
    assert!(stdout(&import).contains("1 new, 0 changed, 0 unchanged, 2 refused"));
    let show = desk.run(&["kb", "show", "KB-1"], b"");
    assert!(
        stdout(&show).contains("VPN certificate expired"),
        "{}",
        stdout(&show)
    );
}

/// `guichet status` for a monitoring check: 2 while no daemon runs, 0 when it runs and every
/// mailbox works, 1 when it runs and a mailbox is failing, 2 again once it stopped. Its output
/// still goes to stdout; the reason for a non-zero code goes to stderr.
#[test]
fn status_exit_codes_tell_monitoring_what_is_wrong() {
    let desk = TempDesk::new("");
    let status = |config: &Path| {
        let output = guichet(config, &["status"], b"");
        (output.status.code(), stdout(&output), stderr(&output))
    };
    // Never started: the store does not even exist yet.
    assert!(desk
        .run(
            &["ingest"],
            &std::fs::read(fixture("plain-en.eml")).unwrap()
        )
        .status
        .success());
    let (code, out, err) = status(&desk.config);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.contains("daemon:     never ran"), "{out}");
    assert!(err.contains("the daemon is not running"), "{err}");

    let mut daemon = Daemon::start(&desk.config);
    common::wait_until(
        Duration::from_secs(20),
        "status 0 with the daemon up",
        || (status(&desk.config).0 == Some(0)).then_some(()),
    );
    let json = desk.run(&["status", "--json"], b"");
    assert_eq!(json.status.code(), Some(0), "--json exits as the text does");
    assert!(stdout(&json).contains("\"daemon_running\": true"));
    daemon.stop();
    let (code, out, _) = status(&desk.config);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("daemon:     stopped at"), "{out}");

    // A mailbox whose server is not there: the daemon runs, the mailbox fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut text = std::fs::read_to_string(&desk.config).unwrap();
    text.push_str(&format!(
        "[[mailbox]]\nname = \"nowhere\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"insecure\"\n\
         username = \"u\"\npassword = \"p\"\n"
    ));
    std::fs::write(&desk.config, text).unwrap();
    let mut daemon = Daemon::start(&desk.config);
    let (out, err) = common::wait_until(Duration::from_secs(20), "status 1", || {
        let (code, out, err) = status(&desk.config);
        (code == Some(1)).then_some((out, err))
    });
    assert!(out.contains("daemon:     running"), "{out}");
    assert!(err.contains("mailbox failing: nowhere"), "{err}");
    daemon.stop();
}

/// `guichet run` in the background, stopped with SIGTERM as systemd does.
struct Daemon(std::process::Child);

impl Daemon {
    fn start(config: &Path) -> Daemon {
        Daemon(
            Command::new(env!("CARGO_BIN_EXE_guichet"))
                .arg("--config")
                .arg(config)
                .arg("run")
                .env("GUICHET_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    fn stop(&mut self) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = self.0.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn lists_come_in_pages() {
    let desk = TempDesk::new("");
    for n in 1..=5 {
        desk.ingest(&common::request(
            &format!("user{n}@example.test"),
            "support@desk.example.test",
            &format!("Request {n}"),
            &format!("m{n}@example.test"),
            "Please help.",
        ));
    }
    let numbers = |args: &[&str]| -> Vec<u64> {
        let out = desk.run(args, b"");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["number"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(numbers(&["tickets", "list", "--json"]), [1, 2, 3, 4, 5]);
    assert_eq!(
        numbers(&["tickets", "list", "--json", "--limit", "2"]),
        [1, 2]
    );
    assert_eq!(
        numbers(&["tickets", "list", "--json", "--limit", "2", "--after", "2"]),
        [3, 4]
    );
    assert!(numbers(&["tickets", "list", "--json", "--after", "5"]).is_empty());
    let text = stdout(&desk.run(&["tickets", "list", "--limit", "3"], b""));
    assert_eq!(
        text.lines().count(),
        4,
        "a header and three tickets:\n{text}"
    );

    let ranked = numbers(&["queue", "--json"]);
    assert_eq!(ranked.len(), 5);
    assert_eq!(numbers(&["queue", "--json", "--limit", "2"]), ranked[..2]);
    let after = ranked[1].to_string();
    assert_eq!(
        numbers(&["queue", "--json", "--limit", "2", "--after", &after]),
        ranked[2..4]
    );
    let gone = desk.run(&["queue", "--after", "99"], b"");
    assert_eq!(gone.status.code(), Some(64), "{}", stdout(&gone));
}
