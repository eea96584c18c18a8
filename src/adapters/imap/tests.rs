//! Every network step has a deadline: a scripted server on loopback answers until the step a test
//! names, then stays silent. Real time (tokio's paused clock would jump past a reply still in a
//! socket), with the shortest deadline the config allows: 1 s.

use std::path::Path;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;
use crate::config::Config;

#[test]
fn uid_sets_compress_runs() {
    assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
    assert_eq!(uid_set(&[5]), "5");
    assert_eq!(uid_set(&[]), "");
}

/// A server that greets unless told not to, answers the usual commands, and never answers the
/// command named `silent_on` (nor anything after it).
async fn scripted_server(greet: bool, silent_on: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        if greet {
            write.write_all(b"* OK ready\r\n").await.unwrap();
        }
        let mut lines = BufReader::new(read).lines();
        let mut idle_tag = String::new();
        let mut silent = false;
        while let Ok(Some(line)) = lines.next_line().await {
            let (tag, command) = line.split_once(' ').unwrap_or(("", line.as_str()));
            let verb = if line == "DONE" {
                "DONE"
            } else {
                command.split(' ').next().unwrap_or("")
            };
            silent |= verb.eq_ignore_ascii_case(silent_on);
            if silent {
                continue;
            }
            let answer = match verb.to_ascii_uppercase().as_str() {
                "LOGIN" => format!("{tag} OK logged in\r\n"),
                "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 IDLE MOVE UIDPLUS\r\n{tag} OK done\r\n"),
                "SELECT" => format!(
                    "* 2 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 10] ok\r\n{tag} OK [READ-WRITE] selected\r\n"
                ),
                "IDLE" => {
                    idle_tag = tag.to_string();
                    "+ idling\r\n* OK Still here\r\n* 3 EXISTS\r\n".to_string()
                }
                "DONE" => format!("{idle_tag} OK IDLE terminated\r\n"),
                "LOGOUT" => format!("* BYE bye\r\n{tag} OK done\r\n"),
                _ => format!("{tag} BAD unknown\r\n"),
            };
            write.write_all(answer.as_bytes()).await.unwrap();
        }
    });
    port
}

fn connector(port: u16) -> ImapConnector {
    let text =
        "[general]\nstate_dir = \"/nonexistent\"\nsupport_address = \"support@example.test\"\n\
         [[mailbox]]\nname = \"support\"\nhost = \"127.0.0.1\"\nsecurity = \"insecure\"\n\
         username = \"u\"\npassword = \"p\"\ntimeout_secs = 1\n";
    let config = Config::parse(Path::new("t.toml"), text, &|_| None).unwrap();
    let mut settings = config.mailboxes[0].imap.clone();
    settings.port = port;
    ImapConnector::new(settings, None).unwrap()
}

fn timed_out_at(result: Result<impl Sized, ImapError>) -> String {
    match result {
        Err(ImapError::Timeout { step, secs }) => {
            assert_eq!(secs, 1);
            step
        }
        Err(other) => panic!("not a timeout: {other}"),
        Ok(_) => panic!("no timeout"),
    }
}

#[tokio::test]
async fn a_server_that_never_greets_times_out_at_the_greeting() {
    let port = scripted_server(false, "").await;
    assert_eq!(timed_out_at(connector(port).connect().await), "greeting");
}

#[tokio::test]
async fn an_unanswered_login_or_capability_times_out_naming_the_step() {
    let port = scripted_server(true, "LOGIN").await;
    assert_eq!(timed_out_at(connector(port).connect().await), "LOGIN");
    let port = scripted_server(true, "CAPABILITY").await;
    assert_eq!(timed_out_at(connector(port).connect().await), "CAPABILITY");
}

#[tokio::test]
async fn an_unanswered_command_times_out() {
    let port = scripted_server(true, "SELECT").await;
    let mut session = connector(port).connect().await.unwrap();
    assert_eq!(timed_out_at(session.select("INBOX").await), "SELECT");
}

#[tokio::test]
async fn idle_tells_keepalives_from_changes_and_bounds_its_commands() {
    let port = scripted_server(true, "").await;
    let mut session = connector(port).connect().await.unwrap();
    let status = session.select("INBOX").await.unwrap();
    assert_eq!(
        status,
        FolderStatus {
            uid_validity: 7,
            exists: 2,
            uid_next: Some(10)
        }
    );
    assert!(session.can_idle());
    session.idle_start().await.unwrap();
    assert_eq!(session.idle_next().await.unwrap(), IdleEvent::Chatter);
    assert_eq!(session.idle_next().await.unwrap(), IdleEvent::Changed);
    session.idle_done().await.unwrap();
    session.select("INBOX").await.unwrap();
    session.logout().await;

    let port = scripted_server(true, "IDLE").await;
    let mut session = connector(port).connect().await.unwrap();
    session.select("INBOX").await.unwrap();
    assert_eq!(timed_out_at(session.idle_start().await), "IDLE");

    let port = scripted_server(true, "DONE").await;
    let mut session = connector(port).connect().await.unwrap();
    session.select("INBOX").await.unwrap();
    session.idle_start().await.unwrap();
    assert_eq!(timed_out_at(session.idle_done().await), "DONE");
    assert!(
        session.select("INBOX").await.is_err(),
        "a session whose DONE went unanswered is not used again"
    );
}
