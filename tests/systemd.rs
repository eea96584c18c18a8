//! `guichet run` under a service manager, without one: the test plays systemd's side of
//! sd_notify(3) with its own datagram socket in NOTIFY_SOCKET and a WATCHDOG_USEC, and checks
//! what the daemon says and when: ready, what it is doing, alive, reloading, stopping. A reload
//! with a broken config keeps the running one and says why.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CONFIG: &str = "support_address = \"support@desk.example.test\"\n";

struct Manager {
    socket: UnixDatagram,
    heard: Vec<String>,
}

impl Manager {
    fn new(dir: &Path) -> Manager {
        let socket = UnixDatagram::bind(dir.join("notify.sock")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Manager {
            socket,
            heard: Vec::new(),
        }
    }

    /// Reads messages until one carries `line`; returns that message.
    fn until(&mut self, line: &str) -> String {
        let mut buffer = [0u8; 4096];
        loop {
            let len = self
                .socket
                .recv(&mut buffer)
                .unwrap_or_else(|e| panic!("waiting for {line:?}, heard {:?}: {e}", self.heard));
            let message = String::from_utf8_lossy(&buffer[..len]).into_owned();
            self.heard.push(message.clone());
            if message.lines().any(|l| l == line || l.starts_with(line)) {
                return message;
            }
        }
    }

    /// The index of the first message that carries `line`.
    fn first(&self, line: &str) -> usize {
        self.heard
            .iter()
            .position(|m| m.lines().any(|l| l.starts_with(line)))
            .unwrap_or_else(|| panic!("no {line:?} in {:?}", self.heard))
    }
}

fn start(dir: &Path, config: &Path) -> Child {
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    Command::new(common::guichet_bin())
        .arg("--config")
        .arg(config)
        .arg("run")
        .env("NOTIFY_SOCKET", dir.join("notify.sock"))
        .env("WATCHDOG_USEC", "2000000")
        .env_remove("WATCHDOG_PID")
        .env("GUICHET_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn write_config(path: &Path, dir: &Path, extra: &str) {
    std::fs::write(
        path,
        format!(
            "[general]\nstate_dir = {:?}\n{CONFIG}{extra}",
            dir.join("state")
        ),
    )
    .unwrap();
}

#[test]
fn ready_status_watchdog_reloading_and_stopping_reach_the_manager_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("guichet.toml");
    write_config(&config, dir.path(), "");
    let mut manager = Manager::new(dir.path());
    let mut daemon = start(dir.path(), &config);

    // A new store: every migration runs, with systemd's start-up timeout pushed ahead meanwhile.
    let migrating = manager.until("EXTEND_TIMEOUT_USEC=");
    assert!(
        migrating.contains("EXTEND_TIMEOUT_USEC=30000000")
            && migrating.contains("STATUS=migrating the store ("),
        "{migrating}"
    );
    let ready = manager.until("READY=1");
    assert!(
        ready.contains("STATUS=started: connecting 0 mailboxes"),
        "{ready}"
    );
    manager.until("WATCHDOG=1");
    let status = manager.until("STATUS=mailboxes connected");
    assert!(
        status.contains("STATUS=mailboxes connected 0/0, outbox 0 pending"),
        "{status}"
    );
    // The watchdog is pinged on every beat (every second for a two-second timeout), not once.
    manager.until("WATCHDOG=1");

    // A valid reload: reloading, then ready again under the new config.
    write_config(
        &config,
        dir.path(),
        "[[queue]]\nname = \"hardware\"\n[[rule]]\nname = \"printers\"\nconditions = [{ field = \"subject\", contains = \"printer\" }]\nactions = { queue = \"hardware\" }\n",
    );
    signal(&daemon, "HUP");
    let reloading = manager.until("RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    let reloaded = manager.until("READY=1");
    assert!(
        reloaded.contains("STATUS=config reloaded"),
        "{reloaded}\n{}",
        std::fs::read_to_string(dir.path().join("daemon.log")).unwrap()
    );

    // A broken config on reload: refused with its file, key and reason; the daemon goes on.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap() + "[[rule]]\nname = \"no conditions\"\n",
    )
    .unwrap();
    signal(&daemon, "HUP");
    manager.until("RELOADING=1");
    let refused = manager.until("READY=1");
    assert!(refused.contains("STATUS=config not reloaded"), "{refused}");
    manager.until("WATCHDOG=1");

    signal(&daemon, "TERM");
    manager.until("STOPPING=1");
    let exit = common::wait_until(Duration::from_secs(15), "the daemon to exit", || {
        daemon.try_wait().unwrap()
    });
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(exit.success(), "{exit:?}\n{log}");

    assert_eq!(manager.first("EXTEND_TIMEOUT_USEC="), 0);
    assert!(manager.first("READY=1") < manager.first("STATUS=mailboxes connected"));
    assert!(manager.first("READY=1") < manager.first("WATCHDOG=1"));
    assert!(manager.first("WATCHDOG=1") < manager.first("RELOADING=1"));
    assert!(manager.first("RELOADING=1") < manager.first("STOPPING=1"));
    assert_eq!(
        manager.heard.last().map(|m| m.contains("STOPPING=1")),
        Some(true),
        "nothing after STOPPING=1: {:?}",
        manager.heard
    );
    assert!(log.contains("config reloaded"), "{log}");
    let refusal = log
        .lines()
        .find(|l| l.contains("config not reloaded"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        refusal.contains(&config.display().to_string()) && refusal.contains("rule"),
        "{refusal}"
    );

    // The store is current now: nothing to migrate, no extension asked for.
    write_config(&config, dir.path(), "");
    drop(manager);
    std::fs::remove_file(dir.path().join("notify.sock")).unwrap();
    let mut manager = Manager::new(dir.path());
    let mut daemon = start(dir.path(), &config);
    manager.until("READY=1");
    assert!(
        !manager
            .heard
            .iter()
            .any(|m| m.contains("EXTEND_TIMEOUT_USEC")),
        "{:?}",
        manager.heard
    );
    signal(&daemon, "TERM");
    manager.until("STOPPING=1");
    let exit = common::wait_until(Duration::from_secs(15), "the daemon to exit", || {
        daemon.try_wait().unwrap()
    });
    assert!(exit.success(), "{exit:?}");
}
