//! One task of the daemon under a config that can be reloaded: it runs under the current
//! config, and is stopped and started again under the new one only when the part of the config
//! it depends on (its key) changed. Everything else a task needs it reads from the config
//! channel as it goes, so a reload that leaves its key alone leaves it, and its connections,
//! running.
//!
//! **Invariant:** two runs of one task never overlap: the old run has finished the work in
//! hand (its stop signal is the same one SIGTERM gives) before the new one starts.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::config::Config;

/// What `start` makes of a config: nothing to run under it (no `[smtp]`, a mailbox no longer
/// listed), or the run, which ends once its stop receiver turns true.
pub type Start = anyhow::Result<Option<BoxFuture<'static, anyhow::Result<()>>>>;

/// Runs `task` until `stopping`; returns early only if a run fails or ends by itself.
pub async fn supervise<K: PartialEq>(
    task: &str,
    mut configs: watch::Receiver<Arc<Config>>,
    mut stopping: watch::Receiver<bool>,
    key: impl Fn(&Arc<Config>) -> K,
    start: impl Fn(Arc<Config>, watch::Receiver<bool>) -> Start,
) -> anyhow::Result<()> {
    loop {
        let config = configs.borrow_and_update().clone();
        let current = key(&config);
        let (stop_run, run_stopping) = watch::channel(false);
        let mut run = start(config, run_stopping)?;
        let restart = loop {
            if *stopping.borrow() {
                break false;
            }
            tokio::select! {
                result = async { run.as_mut().expect("guarded").await }, if run.is_some() => {
                    return result;
                }
                changed = stopping.changed() => if changed.is_err() { break false },
                changed = configs.changed() => {
                    if changed.is_err() {
                        break false;
                    }
                    if key(&configs.borrow()) != current {
                        break true;
                    }
                }
            }
        };
        let _ = stop_run.send(true);
        let was_running = run.is_some();
        if let Some(run) = run {
            run.await?;
        }
        if !restart {
            return Ok(());
        }
        if was_running {
            tracing::info!(task, "restarting: its settings changed on reload");
        }
    }
}
