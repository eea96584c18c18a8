//! What the daemon tells its service manager (sd_notify(3)): ready, what it is doing, that it
//! still works, reloading, stopping. Without `NOTIFY_SOCKET` (not under systemd) each call does
//! nothing; a message that cannot be sent is logged at debug and never stops the daemon.

use std::sync::mpsc;
use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::debug!(%error, "service manager not notified");
    }
}

/// The store is open and every task started.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// The loop that proves the daemon works has just done so.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// SIGHUP received; `ready` follows once the new config is in force or refused.
pub fn reloading() {
    // MONOTONIC_USEC lets a manager using Type=notify-reload match this to its SIGHUP.
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// How often to ping the watchdog: half its timeout (WATCHDOG_USEC), as sd_watchdog_enabled(3)
/// advises; `None` when the manager asked for no watchdog.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}

/// Start-up work that may outlast the manager's start-up timeout (`TimeoutStartSec`, 90 s by
/// default): migrating a large store. While it lives, the timeout is pushed `EXTEND_BY` ahead
/// every `EXTEND_EVERY`, with the work as STATUS; dropping it stops that.
pub struct LongStart {
    /// Dropping the sender tells the thread to stop.
    extending: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

const EXTEND_BY: Duration = Duration::from_secs(30);
const EXTEND_EVERY: Duration = Duration::from_secs(10);

pub fn long_start(status: &str) -> LongStart {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return LongStart { extending: None };
    }
    let (done, stop) = mpsc::channel::<()>();
    let status = status.to_string();
    let thread = std::thread::spawn(move || loop {
        send(&[
            NotifyState::ExtendTimeoutUsec(EXTEND_BY.as_micros() as u32),
            NotifyState::Status(&status),
        ]);
        if stop.recv_timeout(EXTEND_EVERY) != Err(mpsc::RecvTimeoutError::Timeout) {
            return;
        }
    });
    LongStart {
        extending: Some((done, thread)),
    }
}

impl Drop for LongStart {
    fn drop(&mut self) {
        if let Some((done, thread)) = self.extending.take() {
            drop(done);
            let _ = thread.join();
        }
    }
}
