//! OAuth2 over the real stack: Dovecot's oauth2 passdb checks every token against the
//! authorization server in `common/oauth_server.py` (token endpoint with the client-credentials,
//! refresh-token and device-code grants, introspection, short lifetimes, revocation), for IMAP
//! and, through Dovecot SASL, for Postfix submission.

mod common;

use std::io::BufRead;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{mailstack, request, unique, wait_until, Instance, MailStack};
use guichet::adapters::store::Store;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(45);

/// The authorization server, one per test binary; it exits when this process does.
fn oauth_server(stack: &MailStack) -> u16 {
    static SERVER: OnceLock<(u16, Child)> = OnceLock::new();
    let port = stack.port("MAILSTACK_OAUTH_PORT");
    SERVER
        .get_or_init(|| {
            let mut child = Command::new("python3")
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/common/oauth_server.py"
                ))
                .arg(port.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 for the test authorization server");
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(
                line.trim(),
                "ready",
                "the authorization server did not start"
            );
            (port, child)
        })
        .0
}

fn admin(port: u16, path: &str, body: Value) -> Value {
    let mut response = ureq::post(&format!("http://127.0.0.1:{port}{path}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

fn server_state(port: u16) -> Value {
    let mut response = ureq::get(&format!("http://127.0.0.1:{port}/admin/state"))
        .call()
        .unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

/// A client of the authorization server whose tokens log in as `user`.
fn client(port: u16, user: &str, secret: Option<&str>, lifetime: u64) -> String {
    let id = unique("client");
    admin(
        port,
        "/admin/client",
        json!({"client_id": id, "client_secret": secret, "user": user, "lifetime": lifetime}),
    );
    id
}

/// A file only user `guichet` reads, as an operator would leave a secret.
fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    let status = Command::new("chown")
        .args(["guichet:guichet"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

fn instance_dir(stack: &MailStack, name: &str) -> PathBuf {
    Path::new(stack.get("GUICHET_PIPE_ROOT")).join(name)
}

/// An `[[oauth2]]` table on the test server.
fn oauth2_toml(port: u16, name: &str, client_id: &str, grant: &str, secrets: &str) -> String {
    format!(
        "[[oauth2]]\nname = {name:?}\ngrant = {grant:?}\nclient_id = {client_id:?}\n{secrets}\
         token_url = \"http://127.0.0.1:{port}/token\"\ndevice_url = \"http://127.0.0.1:{port}/devicecode\"\n\
         scopes = [\"mail\", \"offline_access\"]\n"
    )
}

/// A `[[mailbox]]` that logs in to `user`'s INBOX over IMAPS with `auth`.
fn mailbox_toml(stack: &MailStack, name: &str, user: &str, auth: &str, account: &str) -> String {
    format!(
        "[[mailbox]]\nname = {name:?}\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"tls\"\nca_file = {:?}\n\
         address = {user:?}\nusername = {user:?}\nauth = {auth:?}\noauth2 = {account:?}\n\
         poll_interval_secs = 600\nfull_check_interval_secs = 600\n",
        stack.port("MAILSTACK_IMAPS_PORT"),
        stack.get("MAILSTACK_CA_CERT"),
    )
}

/// `[smtp]` through submission (STARTTLS) with `auth`.
fn smtp_toml(stack: &MailStack, user: &str, auth: &str, account: &str) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nca_file = {:?}\n\
         username = {user:?}\nauth = {auth:?}\noauth2 = {account:?}\ntimeout_secs = 10\n",
        stack.port("MAILSTACK_SUBMISSION_PORT"),
        stack.get("MAILSTACK_CA_CERT"),
    )
}

/// An `[[oauth2]]` account as a test configures it.
struct Account<'a> {
    name: &'a str,
    client_id: &'a str,
    grant: &'a str,
    /// Its secret lines (`client_secret = …`, `refresh_token_file = …`), or none.
    secrets: String,
}

/// An instance whose one mailbox, `support`, and whose sender log in as `user` with `account`
/// by `auth` (oauth2 or oauthbearer).
fn one_mailbox_desk(
    stack: &MailStack,
    port: u16,
    name: &str,
    user: &str,
    auth: &str,
    account: &Account<'_>,
) -> Instance {
    let config = format!(
        "{}{}",
        oauth2_toml(
            port,
            account.name,
            account.client_id,
            account.grant,
            &account.secrets
        ),
        mailbox_toml(stack, "support", user, auth, account.name),
    );
    Instance::custom(
        stack,
        name,
        user,
        &smtp_toml(stack, user, auth, account.name),
        &config,
    )
}

/// Waits for the mailbox `support` to be connected.
fn wait_connected(store: &Store) {
    wait_until(WAIT, "the OAuth2 mailbox connected", || {
        connected(store, "support").then_some(())
    });
}

fn tickets(store: &Store) -> usize {
    store.read().list_tickets(None).unwrap().len()
}

fn connected(store: &Store, name: &str) -> bool {
    store
        .read()
        .mailbox_state(name)
        .unwrap()
        .is_some_and(|s| s.connected && s.last_success_at.is_some())
}

/// Mails `count` requests to `support` and waits until each is a ticket and its
/// acknowledgement (sent over OAuth2 SMTP) is in the requester's mailbox.
fn request_and_acknowledgement(stack: &MailStack, desk: &Instance, support: &str, tag: &str) {
    let store = desk.store();
    let before = tickets(&store);
    let requester = format!("{}@example.test", unique("req"));
    let subject = format!("printer on fire {tag}");
    stack.send(
        &requester,
        support,
        &request(
            &requester,
            support,
            &subject,
            &format!("<{}@client>", unique(tag)),
            "It smokes.",
        ),
    );
    wait_until(WAIT, "the request's ticket", || {
        (tickets(&store) > before).then_some(())
    });
    stack.wait_for_mail(&requester, WAIT, |mail| {
        mail.contains(&subject) && mail.contains("Auto-Submitted: auto-replied")
    });
}

/// Every token and secret the server handed out, none of which may be in `text`.
fn assert_no_token_in(port: u16, text: &str, what: &str) {
    let state = server_state(port);
    let tokens = state["tokens"].as_array().unwrap();
    assert!(!tokens.is_empty());
    for token in tokens {
        let token = token.as_str().unwrap();
        assert!(!text.contains(token), "{what} shows a token or secret");
    }
}

#[test]
fn client_credentials_log_in_the_mailbox_and_the_sender_with_xoauth2() {
    let Some(stack) = mailstack() else { return };
    let port = oauth_server(&stack);
    let user = format!("{}@example.test", unique("app"));
    let name = unique("occ");
    let secret = unique("secret");
    let client_id = client(port, &user, Some(&secret), 300);
    let secret_path = secret_file(&instance_dir(&stack, &name), "client-secret", &secret);
    let account = Account {
        name: "m365",
        client_id: &client_id,
        grant: "client_credentials",
        secrets: format!("client_secret_file = {secret_path:?}\n"),
    };
    let mut desk = one_mailbox_desk(&stack, port, &name, &user, "oauth2", &account);
    desk.start_with_log("trace");
    let store = desk.store();
    wait_connected(&store);
    request_and_acknowledgement(&stack, &desk, &user, "cc");
    let state = server_state(port);
    assert!(state["grants"]["client_credentials"].as_u64().unwrap() >= 1);
    assert!(state["introspections"]["active"].as_u64().unwrap() >= 2);
    desk.stop();
    let log = desk.log();
    assert!(
        log.contains("OAuth2 access token obtained"),
        "the log covers the token requests:\n{log}"
    );
    assert_no_token_in(port, &log, "the daemon's trace log");
}

#[test]
fn a_refresh_token_logs_in_the_mailbox_and_the_sender_with_oauthbearer() {
    let Some(stack) = mailstack() else { return };
    let port = oauth_server(&stack);
    let user = format!("{}@example.test", unique("user"));
    let name = unique("ort");
    let client_id = client(port, &user, None, 300);
    let refresh = admin(
        port,
        "/admin/refresh-token",
        json!({"client_id": client_id}),
    );
    let refresh_path = secret_file(
        &instance_dir(&stack, &name),
        "refresh-token",
        refresh["refresh_token"].as_str().unwrap(),
    );
    let account = Account {
        name: "google",
        client_id: &client_id,
        grant: "refresh_token",
        secrets: format!("refresh_token_file = {refresh_path:?}\n"),
    };
    let mut desk = one_mailbox_desk(&stack, port, &name, &user, "oauthbearer", &account);
    desk.start_with_log("trace");
    let store = desk.store();
    wait_connected(&store);
    request_and_acknowledgement(&stack, &desk, &user, "rt");
    assert!(
        server_state(port)["grants"]["refresh_token"]
            .as_u64()
            .unwrap()
            >= 1
    );
    desk.stop();
    let log = desk.log();
    assert!(
        log.contains("OAuth2 access token obtained"),
        "the log covers the token requests:\n{log}"
    );
    assert_no_token_in(port, &log, "the daemon's trace log");
}

#[test]
fn a_token_expiring_mid_idle_is_renewed_without_losing_or_repeating_a_mail() {
    let Some(stack) = mailstack() else { return };
    let port = oauth_server(&stack);
    let user = format!("{}@example.test", unique("short"));
    let name = unique("oshort");
    let secret = unique("secret");
    // Tokens live 4 s: the session logs in again every 3.2 s, mostly while idling.
    let client_id = client(port, &user, Some(&secret), 4);
    let account = Account {
        name: "m365",
        client_id: &client_id,
        grant: "client_credentials",
        secrets: format!("client_secret = {secret:?}\n"),
    };
    let mut desk = one_mailbox_desk(&stack, port, &name, &user, "oauth2", &account);
    desk.start();
    let store = desk.store();
    wait_connected(&store);
    let grants = || {
        server_state(port)["grants"]["client_credentials"]
            .as_u64()
            .unwrap()
    };
    for round in 0..3 {
        // Mail arrives while the session idles on a token about to expire.
        let first = grants();
        wait_until(WAIT, "a renewed token", || (grants() > first).then_some(()));
        request_and_acknowledgement(&stack, &desk, &user, &format!("idle{round}"));
    }
    assert_eq!(tickets(&store), 3, "one ticket per mail, none twice");
    assert_eq!(stack.count(&user, "INBOX"), 0, "every mail filed away");
    assert_eq!(stack.count(&user, "Processed"), 3);
    desk.stop();
    assert!(
        !desk.log().contains("mailbox failed"),
        "a renewal is not a failure:\n{}",
        desk.log()
    );
}

#[test]
fn a_token_the_server_refuses_is_replaced_at_once_without_a_failure() {
    let Some(stack) = mailstack() else { return };
    let port = oauth_server(&stack);
    let user = format!("{}@example.test", unique("early"));
    let name = unique("oearly");
    let secret = unique("secret");
    let client_id = client(port, &user, Some(&secret), 300);
    let account = Account {
        name: "m365",
        client_id: &client_id,
        grant: "client_credentials",
        secrets: format!("client_secret = {secret:?}\n"),
    };
    let mut desk = one_mailbox_desk(&stack, port, &name, &user, "oauth2", &account);
    desk.start();
    let store = desk.store();
    wait_connected(&store);
    let grants = || {
        server_state(port)["grants"]["client_credentials"]
            .as_u64()
            .unwrap()
    };
    let before = grants();
    // The token in Guichet's hand stops working long before its announced end (an admin
    // signed the application out); the session is cut, and Guichet logs in again.
    admin(port, "/admin/forget", json!({"client_id": client_id}));
    let kicked = Command::new("doveadm")
        .args(["-c", stack.get("MAILSTACK_DOVECOT_CONFIG"), "kick", &user])
        .output()
        .unwrap();
    assert!(kicked.status.success(), "{kicked:?}");
    request_and_acknowledgement(&stack, &desk, &user, "early");
    assert!(grants() > before, "a new token was asked for");
    desk.stop();
    let log = desk.log();
    assert!(
        log.contains("OAuth2 token refused; trying once with a new one"),
        "{log}"
    );
    assert!(
        !log.contains("login refused"),
        "the refusal never reached the mailbox's state:\n{log}"
    );
}

#[test]
fn a_revoked_refresh_token_shows_in_status_while_another_mailbox_goes_on() {
    let Some(stack) = mailstack() else { return };
    let port = oauth_server(&stack);
    let name = unique("orev");
    let delegated_user = format!("{}@example.test", unique("deleg"));
    let app_user = format!("{}@example.test", unique("app"));
    let delegated = client(port, &delegated_user, None, 3);
    let refresh = admin(
        port,
        "/admin/refresh-token",
        json!({"client_id": delegated}),
    );
    let refresh = refresh["refresh_token"].as_str().unwrap().to_string();
    let secret = unique("secret");
    let app = client(port, &app_user, Some(&secret), 300);
    let config = format!(
        "{}{}{}{}",
        oauth2_toml(
            port,
            "google",
            &delegated,
            "refresh_token",
            &format!("refresh_token = {refresh:?}\n"),
        ),
        oauth2_toml(
            port,
            "m365",
            &app,
            "client_credentials",
            &format!("client_secret = {secret:?}\n"),
        ),
        mailbox_toml(&stack, "delegated", &delegated_user, "oauth2", "google"),
        mailbox_toml(&stack, "app", &app_user, "oauth2", "m365"),
    );
    let mut desk = Instance::custom(
        &stack,
        &name,
        &app_user,
        &smtp_toml(&stack, &app_user, "oauth2", "m365"),
        &config,
    );
    desk.start();
    let store = desk.store();
    wait_until(WAIT, "both mailboxes connected", || {
        (connected(&store, "delegated") && connected(&store, "app")).then_some(())
    });
    admin(port, "/admin/revoke", json!({"refresh_token": refresh}));
    wait_until(WAIT, "the revoked token in the mailbox state", || {
        let state = store.read().mailbox_state("delegated").unwrap()?;
        state
            .last_error
            .filter(|e| e.contains("invalid_grant"))
            .map(|_| ())
    });
    let (code, out, _) = desk.cli(&["status"]);
    assert_eq!(
        code, 1,
        "a failing mailbox is exit 1 for monitoring:\n{out}"
    );
    assert!(
        out.contains("revoked by the user") && out.contains("guichet oauth login google"),
        "status says what happened and what to run:\n{out}"
    );
    request_and_acknowledgement(&stack, &desk, &app_user, "other");
    assert!(connected(&store, "app"));
    desk.stop();
}

#[test]
fn the_device_code_login_stores_a_refresh_token_that_works() {
    let Some(stack) = mailstack() else { return };
    let port = oauth_server(&stack);
    let user = format!("{}@example.test", unique("dev"));
    let name = unique("odev");
    let client_id = client(port, &user, None, 300);
    let account = Account {
        name: "google",
        client_id: &client_id,
        grant: "refresh_token",
        secrets: String::new(),
    };
    let mut desk = one_mailbox_desk(&stack, port, &name, &user, "oauth2", &account);
    let (code, out, err) = desk.cli(&["check-config"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("no refresh token yet: run `guichet oauth login google`"),
        "{out}"
    );

    let mut login = desk
        .command(&["oauth", "login", "google"])
        .env("GUICHET_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(login.stdout.take().unwrap());
    let mut shown = String::new();
    let code_line = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no code shown");
        shown.push_str(&line);
        if line.contains("enter the code") {
            break line;
        }
    };
    assert!(code_line.contains(&format!("http://127.0.0.1:{port}/device")));
    let user_code = code_line
        .split("enter the code ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    admin(port, "/admin/approve", json!({"user_code": user_code}));
    let output = login.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    shown.push_str(&rest);
    shown.push_str(&String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{shown}");
    let stored = desk.dir.join("state/oauth2/google.refresh-token");
    let metadata = std::fs::metadata(&stored).unwrap();
    assert_eq!(metadata.mode() & 0o777, 0o600);
    assert_no_token_in(port, &shown, "`guichet oauth login`'s output");

    desk.start();
    let store = desk.store();
    wait_until(WAIT, "the mailbox connected with the stored token", || {
        connected(&store, "support").then_some(())
    });
    request_and_acknowledgement(&stack, &desk, &user, "device");
    desk.stop();
}
