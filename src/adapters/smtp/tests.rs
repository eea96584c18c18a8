//! The SMTP adapter against a scripted server on loopback: what each reply becomes for each
//! recipient, what the server is (and is not) sent, and the connection phase's timeouts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

/// How the scripted server behaves.
#[derive(Clone)]
struct Script {
    greet: bool,
    smtputf8: bool,
    /// The reply to `RCPT TO:<address>`.
    rcpt: fn(&str) -> &'static str,
    /// Closes the connection, without a word, after this many mails.
    hang_up_after: Option<usize>,
}

/// What the server saw.
#[derive(Default, Debug)]
struct Seen {
    connections: usize,
    /// Each accepted mail's recipients.
    mails: Vec<Vec<String>>,
    commands: Vec<String>,
    /// AUTH attempts to refuse (with RFC 7628's error challenge first) before accepting.
    refuse_auth: usize,
}

fn accept_all(_: &str) -> &'static str {
    "250 2.1.5 Ok"
}

async fn server(script: Script) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            shared.lock().unwrap().connections += 1;
            tokio::spawn(converse(socket, script.clone(), shared.clone()));
        }
    });
    (port, seen)
}

async fn converse(socket: tokio::net::TcpStream, script: Script, seen: Arc<Mutex<Seen>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if !script.greet {
        // Accepts the connection and says nothing, ever.
        let _ = lines.next_line().await;
        std::future::pending::<()>().await;
    }
    let _ = write.write_all(b"220 fake ESMTP\r\n").await;
    let mut recipients = Vec::new();
    let mut mails = 0;
    while let Ok(Some(line)) = lines.next_line().await {
        seen.lock().unwrap().commands.push(line.clone());
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") {
            if script.smtputf8 {
                "250-fake\r\n250-8BITMIME\r\n250 SMTPUTF8"
            } else {
                "250-fake\r\n250 8BITMIME"
            }
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RSET") {
            recipients.clear();
            "250 2.1.0 Ok"
        } else if upper.starts_with("RCPT TO:<") {
            let address = line[9..].trim_end_matches('>').to_string();
            let reply = (script.rcpt)(&address);
            if reply.starts_with('2') {
                recipients.push(address);
            }
            reply
        } else if upper == "DATA" {
            let _ = write.write_all(b"354 End data with .\r\n").await;
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
            }
            seen.lock()
                .unwrap()
                .mails
                .push(std::mem::take(&mut recipients));
            mails += 1;
            if script.hang_up_after == Some(mails) {
                let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
                return;
            }
            "250 2.0.0 queued"
        } else if upper.starts_with("AUTH ") {
            let refuse = {
                let mut seen = seen.lock().unwrap();
                let refuse = seen.refuse_auth > 0;
                seen.refuse_auth = seen.refuse_auth.saturating_sub(1);
                refuse
            };
            if !refuse {
                "235 2.7.0 Authentication successful"
            } else {
                let _ = write.write_all(b"334 eyJzdGF0dXMiOiI0MDEifQ==\r\n").await;
                match lines.next_line().await {
                    Ok(Some(line)) if line.is_empty() => "535 5.7.8 token expired",
                    _ => return,
                }
            }
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 what?"
        };
        let _ = write.write_all(format!("{reply}\r\n").as_bytes()).await;
    }
}

fn transport(port: u16) -> SmtpTransport {
    SmtpTransport::new(
        &SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::Plain,
            credentials: None,
            ca_file: None,
            hello_name: "desk.example.test".into(),
            timeout_secs: 1,
            connections: 2,
        },
        None,
    )
    .unwrap()
}

const MAIL: &[u8] = b"From: support@desk.example.test\r\nSubject: hi\r\n\r\nhello\r\n";

async fn send(transport: &SmtpTransport, recipients: &[&str]) -> Vec<Outcome> {
    let recipients: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
    // A guard against a hang, not a timing assertion: every step has its own 1 s timeout.
    tokio::time::timeout(
        Duration::from_secs(60),
        transport.send(Some("support@desk.example.test"), &recipients, MAIL),
    )
    .await
    .expect("the send finishes")
}

#[tokio::test]
async fn a_refused_recipient_does_not_stop_the_others() {
    let (port, seen) = server(Script {
        greet: true,
        smtputf8: false,
        rcpt: |address| match address {
            "x@nowhere.invalid" => "554 5.7.1 <x@nowhere.invalid>: Relay access denied",
            "busy@example.test" => "450 4.2.1 <busy@example.test>: mailbox busy",
            _ => "250 2.1.5 Ok",
        },
        hang_up_after: None,
    })
    .await;
    let outcomes = send(
        &transport(port),
        &[
            "carla@example.test",
            "x@nowhere.invalid",
            "busy@example.test",
            "dan@example.test",
        ],
    )
    .await;
    assert_eq!(
        outcomes,
        vec![
            Outcome::Delivered,
            Outcome::Refused("554 5.7.1 <x@nowhere.invalid>: Relay access denied".into()),
            Outcome::Deferred("450 4.2.1 <busy@example.test>: mailbox busy".into()),
            Outcome::Delivered,
        ]
    );
    assert_eq!(
        seen.lock().unwrap().mails,
        vec![vec![
            "carla@example.test".to_string(),
            "dan@example.test".to_string()
        ]]
    );
}

#[tokio::test]
async fn a_non_ascii_address_without_smtputf8_is_refused_for_that_recipient_only() {
    let (port, seen) = server(Script {
        greet: true,
        smtputf8: false,
        rcpt: accept_all,
        hang_up_after: None,
    })
    .await;
    let outcomes = send(
        &transport(port),
        &["jörg@example.test", "carla@example.test"],
    )
    .await;
    assert!(
        matches!(&outcomes[0], Outcome::Refused(why) if why.contains("SMTPUTF8")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Delivered);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.mails, vec![vec!["carla@example.test".to_string()]]);
    assert!(
        seen.commands.iter().all(|c| !c.contains("jörg")),
        "{:?}",
        seen.commands
    );
}

#[tokio::test]
async fn a_non_ascii_address_goes_out_where_the_server_offers_smtputf8() {
    let (port, seen) = server(Script {
        greet: true,
        smtputf8: true,
        rcpt: accept_all,
        hang_up_after: None,
    })
    .await;
    let outcomes = send(&transport(port), &["jörg@example.test"]).await;
    assert_eq!(outcomes, vec![Outcome::Delivered]);
    let seen = seen.lock().unwrap();
    assert!(seen
        .commands
        .iter()
        .any(|c| c.starts_with("MAIL FROM") && c.contains("SMTPUTF8")));
}

#[tokio::test]
async fn a_server_that_never_greets_is_a_temporary_failure_within_the_timeout() {
    let (port, _) = server(Script {
        greet: false,
        smtputf8: false,
        rcpt: accept_all,
        hang_up_after: None,
    })
    .await;
    let outcomes = send(
        &transport(port),
        &["carla@example.test", "dan@example.test"],
    )
    .await;
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Outcome::Deferred(why) if why.contains("no answer to the greeting")),
            "{outcomes:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_refused_is_temporary() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let outcomes = send(&transport(port), &["carla@example.test"]).await;
    assert!(
        matches!(&outcomes[0], Outcome::Deferred(why) if why.contains("connection refused")),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn when_everyone_is_refused_the_connection_is_reset_and_reused() {
    let (port, seen) = server(Script {
        greet: true,
        smtputf8: false,
        rcpt: |address| {
            if address.ends_with(".invalid") {
                "554 5.7.1 Relay access denied"
            } else {
                "250 2.1.5 Ok"
            }
        },
        hang_up_after: None,
    })
    .await;
    let transport = transport(port);
    let refused = send(&transport, &["x@nowhere.invalid"]).await;
    assert!(matches!(&refused[0], Outcome::Refused(_)), "{refused:?}");
    assert_eq!(
        send(&transport, &["carla@example.test"]).await,
        vec![Outcome::Delivered]
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.connections, 1);
    assert!(
        seen.commands.iter().any(|c| c == "RSET"),
        "{:?}",
        seen.commands
    );
}

#[tokio::test]
async fn a_pooled_connection_the_server_dropped_is_replaced_once() {
    let (port, seen) = server(Script {
        greet: true,
        smtputf8: false,
        rcpt: accept_all,
        hang_up_after: Some(1),
    })
    .await;
    let transport = transport(port);
    assert_eq!(
        send(&transport, &["carla@example.test"]).await,
        vec![Outcome::Delivered]
    );
    assert_eq!(
        send(&transport, &["dan@example.test"]).await,
        vec![Outcome::Delivered]
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.connections, 2);
    assert_eq!(seen.mails.len(), 2);
}

/// A token endpoint on loopback that hands out `tok-1`, `tok-2`, … for `lifetime` seconds, and
/// counts the requests.
async fn token_endpoint(lifetime: u64) -> (u16, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            // The headers are enough: the answer does not depend on the form.
            while let Ok(Some(line)) = lines.next_line().await {
                if line.is_empty() {
                    break;
                }
            }
            let n = {
                let mut requests = counted.lock().unwrap();
                *requests += 1;
                *requests
            };
            let body = format!("{{\"access_token\":\"tok-{n}\",\"expires_in\":{lifetime}}}");
            let _ = write
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    (port, requests)
}

fn oauth2_transport(port: u16, token_port: u16, dir: &std::path::Path) -> SmtpTransport {
    let account = crate::config::OAuth2Account {
        name: "m365".into(),
        token_url: format!("http://127.0.0.1:{token_port}/token"),
        device_url: None,
        client_id: "c".into(),
        client_secret: Some(crate::config::Secret::new("s".into())),
        grant: crate::config::OAuth2Grant::ClientCredentials,
        scopes: Vec::new(),
        stored_token: dir.join("m365.refresh-token"),
    };
    SmtpTransport::new(
        &SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::Plain,
            credentials: Some(SmtpAuth::OAuth2 {
                user: "agent@example.test".into(),
                account: "m365".into(),
                mechanism: OAuth2Mechanism::OAuthBearer,
            }),
            ca_file: None,
            hello_name: "desk.example.test".into(),
            timeout_secs: 5,
            connections: 2,
        },
        Some(Arc::new(TokenSource::new(account))),
    )
    .unwrap()
}

#[tokio::test]
async fn a_refused_token_is_replaced_once_and_the_mail_goes_out() {
    let (port, seen) = server(Script {
        greet: true,
        smtputf8: false,
        rcpt: accept_all,
        hang_up_after: None,
    })
    .await;
    seen.lock().unwrap().refuse_auth = 1;
    let (token_port, token_requests) = token_endpoint(3600).await;
    let dir = tempfile::tempdir().unwrap();
    let transport = oauth2_transport(port, token_port, dir.path());
    assert_eq!(
        send(&transport, &["carla@example.test"]).await,
        vec![Outcome::Delivered]
    );
    assert_eq!(*token_requests.lock().unwrap(), 2, "one new token, no more");
    let seen = seen.lock().unwrap();
    let auths: Vec<String> = seen
        .commands
        .iter()
        .filter_map(|c| c.strip_prefix("AUTH OAUTHBEARER "))
        .map(|b64| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(
        auths,
        [1, 2].map(|n| format!(
            "n,a=agent@example.test,\x01host=127.0.0.1\x01port={port}\x01auth=Bearer tok-{n}\x01\x01"
        ))
    );
    assert_eq!(
        seen.connections, 1,
        "the second AUTH on the same connection"
    );
    assert_eq!(seen.mails.len(), 1);
}

#[tokio::test]
async fn a_pooled_connection_whose_token_is_due_is_not_reused() {
    let (port, seen) = server(Script {
        greet: true,
        smtputf8: false,
        rcpt: accept_all,
        hang_up_after: None,
    })
    .await;
    // One-second tokens, due for renewal after 0.8 s.
    let (token_port, token_requests) = token_endpoint(1).await;
    let dir = tempfile::tempdir().unwrap();
    let transport = oauth2_transport(port, token_port, dir.path());
    assert_eq!(
        send(&transport, &["carla@example.test"]).await,
        vec![Outcome::Delivered]
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        send(&transport, &["dan@example.test"]).await,
        vec![Outcome::Delivered]
    );
    assert_eq!(*token_requests.lock().unwrap(), 2);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.connections, 2, "a new connection with the new token");
    assert_eq!(seen.mails.len(), 2);
}
