//! What the daemon tells its service manager (sd_notify(3)): ready, what it is doing, that it
//! still works, reloading, stopping. Without `NOTIFY_SOCKET` (not under systemd) each call does
//! nothing; a message that cannot be sent is logged at debug and never stops the daemon.

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
