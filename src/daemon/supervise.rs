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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn config() -> Config {
        Config::parse(
            std::path::Path::new("guichet.toml"),
            "[general]\nstate_dir = \"/nonexistent\"\nsupport_address = \"support@example.test\"\n",
            &|_| None,
        )
        .unwrap()
    }

    /// Starts a supervised task keyed on `first_ticket_number` whose runs note when they start
    /// and when they have finished.
    fn supervised(
        configs: watch::Receiver<Arc<Config>>,
        stopping: watch::Receiver<bool>,
        journal: Arc<Mutex<Vec<String>>>,
    ) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        tokio::spawn(async move {
            supervise(
                "test",
                configs,
                stopping,
                |config| config.first_ticket_number,
                move |config, mut stop| {
                    let journal = journal.clone();
                    let number = config.first_ticket_number;
                    journal.lock().unwrap().push(format!("start {number}"));
                    Ok(Some(Box::pin(async move {
                        while !*stop.borrow() {
                            stop.changed().await?;
                        }
                        journal.lock().unwrap().push(format!("end {number}"));
                        Ok(())
                    })))
                },
            )
            .await
        })
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_task_restarts_only_when_its_key_changes_and_never_overlaps_itself() {
        let base = config();
        let (reloaded, configs) = watch::channel(Arc::new(base.clone()));
        let (stop, stopping) = watch::channel(false);
        let journal = Arc::new(Mutex::new(Vec::new()));
        let task = supervised(configs, stopping, journal.clone());
        settle().await;

        let mut unrelated = base.clone();
        unrelated.max_message_bytes += 1;
        reloaded.send_replace(Arc::new(unrelated.clone()));
        settle().await;
        assert_eq!(*journal.lock().unwrap(), ["start 1"]);

        let mut changed = unrelated;
        changed.first_ticket_number = 7;
        reloaded.send_replace(Arc::new(changed));
        settle().await;
        assert_eq!(*journal.lock().unwrap(), ["start 1", "end 1", "start 7"]);

        stop.send_replace(true);
        task.await.unwrap().unwrap();
        assert_eq!(
            *journal.lock().unwrap(),
            ["start 1", "end 1", "start 7", "end 7"]
        );
    }

    #[tokio::test]
    async fn a_task_with_nothing_to_run_waits_for_a_config_that_asks_for_it() {
        let (reloaded, configs) = watch::channel(Arc::new(config()));
        let (stop, stopping) = watch::channel(false);
        let starts = Arc::new(Mutex::new(0));
        let counted = starts.clone();
        let task = tokio::spawn(supervise(
            "test",
            configs,
            stopping,
            |config| config.first_ticket_number,
            move |config, _stop| {
                *counted.lock().unwrap() += 1;
                if config.first_ticket_number == 1 {
                    return Ok(None);
                }
                Err(anyhow::anyhow!(
                    "started under {}",
                    config.first_ticket_number
                ))
            },
        ));
        settle().await;
        assert_eq!(*starts.lock().unwrap(), 1);
        let mut wanted = config();
        wanted.first_ticket_number = 3;
        reloaded.send_replace(Arc::new(wanted));
        let error = task.await.unwrap().unwrap_err();
        assert_eq!(error.to_string(), "started under 3");
        drop(stop);
    }
}
