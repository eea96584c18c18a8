//! `guichet run`: the long-running service. Owns the clock, the tasks, reload and shutdown.
//!
//! The config the tasks work under lives in one `watch` channel: SIGHUP loads the file again
//! and, if it is valid, sends it there (see `supervise` for who restarts and who reads it as it
//! goes); if not, the running config stays and the log says why.

mod supervise;
mod systemd;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::adapters::imap::ImapConnector;
use crate::adapters::oauth2::TokenSource;
use crate::adapters::smtp::SmtpTransport;
use crate::adapters::store::Store;
use crate::config::{Config, ImapAuth, ImapSettings, OAuth2Account, SmtpAuth, SmtpConfig};
use crate::outbox::Sender;
use crate::pipeline::{system_now, Pipeline};
use crate::poller::MailboxTask;
use supervise::{supervise, Start};

/// How long in-flight work may take after SIGTERM before the daemon exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(5);

type TaskResult = (String, anyhow::Result<()>);
type Tasks = tokio::task::JoinSet<TaskResult>;

/// What every task is started with.
#[derive(Clone)]
struct Shared {
    configs: watch::Receiver<Arc<Config>>,
    stopping: watch::Receiver<bool>,
    wake_outbox: Arc<Notify>,
    tokens: Arc<TokenSources>,
    /// Observed by the mailbox tasks, shown on `/metrics`.
    latency: crate::metrics::IntakeLatency,
}

/// One token source per `[[oauth2]]` account, shared by the mailboxes and the sender that log in
/// with it, so they share one access token. A reload that changes an account's table gives it a
/// new source (the tasks using it restart: the account is part of their key).
#[derive(Default)]
struct TokenSources(std::sync::Mutex<Vec<(OAuth2Account, Arc<TokenSource>)>>);

impl TokenSources {
    fn for_account(&self, account: Option<&OAuth2Account>) -> Option<Arc<TokenSource>> {
        let account = account?;
        let mut sources = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, source)) = sources.iter().find(|(known, _)| known == account) {
            return Some(source.clone());
        }
        sources.retain(|(known, _)| known.name != account.name);
        let source = Arc::new(TokenSource::new(account.clone()));
        sources.push((account.clone(), source.clone()));
        Some(source)
    }
}

/// The `[[oauth2]]` account `[smtp]` logs in with, if any.
fn smtp_account<'a>(config: &'a Config, smtp: &SmtpConfig) -> Option<&'a OAuth2Account> {
    match &smtp.credentials {
        Some(SmtpAuth::OAuth2 { account, .. }) => config.oauth2.iter().find(|a| &a.name == account),
        _ => None,
    }
}

/// The `[[oauth2]]` account a mailbox logs in with, if any.
fn imap_account<'a>(config: &'a Config, imap: &ImapSettings) -> Option<&'a OAuth2Account> {
    match &imap.auth {
        ImapAuth::OAuth2 { account, .. } => config.oauth2.iter().find(|a| &a.name == account),
        _ => None,
    }
}

pub async fn run(config: Arc<Config>) -> anyhow::Result<()> {
    crate::adapters::state_dir::prepare(&config.state_dir)?;
    // Migrate once up front so every task opens a current schema; a long migration keeps
    // systemd's start-up timeout at bay.
    let database = config.database_path();
    let migrating = match Store::migrations_pending(&database) {
        Ok(0) | Err(_) => None,
        Ok(pending) => Some(systemd::long_start(&format!(
            "migrating the store ({pending} steps)"
        ))),
    };
    drop(Store::open(&database).map_err(|e| anyhow::anyhow!("{}: {e}", database.display()))?);
    drop(migrating);
    // The first config's transports are built here so that a bad one stops start-up.
    check_transports(&config)?;
    let (stop, stopping) = watch::channel(false);
    let (reloaded, configs) = watch::channel(config.clone());
    let shared = Shared {
        configs,
        stopping,
        wake_outbox: Arc::new(Notify::new()),
        tokens: Arc::new(TokenSources::default()),
        latency: crate::metrics::IntakeLatency::default(),
    };
    let mut tasks = Tasks::new();
    // Before READY=1: from then on systemd may send SIGHUP, whose default action ends the process.
    let mut signals = Signals::new()?;

    spawn_metrics(&mut tasks, &shared);
    spawn_outbox_sender(&mut tasks, &shared);
    let mut mailboxes = HashSet::new();
    for mailbox in &config.mailboxes {
        mailboxes.insert(mailbox.name.clone());
        spawn_mailbox(&mut tasks, &shared, mailbox.name.clone());
    }
    spawn_sla_scheduler(&mut tasks, &shared);
    spawn_digest_scheduler(&mut tasks, &shared);
    spawn_retention(&mut tasks, &shared);
    spawn_dashboard(&mut tasks, &shared);
    spawn_webhooks(&mut tasks, &shared);
    spawn_upkeep(&mut tasks, &shared);
    spawn_handover(&mut tasks, &shared);
    tracing::info!(
        config = %config.file.display(),
        state_dir = %config.state_dir.display(),
        mailboxes = config.mailboxes.len(),
        "guichet running"
    );
    systemd::ready(&format!(
        "started: connecting {} mailboxes",
        config.mailboxes.len()
    ));
    {
        let (database, shared) = (config.database_path(), shared.clone());
        tasks.spawn(async move { ("heartbeat".to_string(), heartbeat(database, shared).await) });
    }

    loop {
        tokio::select! {
            signal = signals.next() => {
                if signal == "SIGHUP" {
                    systemd::reloading();
                    match reload(&reloaded) {
                        Ok(config) => {
                            for mailbox in &config.mailboxes {
                                if mailboxes.insert(mailbox.name.clone()) {
                                    spawn_mailbox(&mut tasks, &shared, mailbox.name.clone());
                                }
                            }
                            systemd::ready("config reloaded");
                        }
                        Err(reason) => {
                            tracing::error!(error = %reason, "config not reloaded: the running config stays");
                            systemd::ready("config not reloaded (see the log): the running config stays");
                        }
                    }
                    continue;
                }
                tracing::info!(signal, "stopping: finishing the mail in hand");
                break;
            }
            Some(finished) = tasks.join_next() => {
                match finished {
                    Ok((task, Ok(()))) => tracing::info!(task, "task ended"),
                    Ok((task, Err(error))) => {
                        let _ = stop.send(true);
                        return Err(error.context(format!("{task} failed")));
                    }
                    Err(panic) => {
                        let _ = stop.send(true);
                        return Err(anyhow::anyhow!("a task panicked: {panic}"));
                    }
                }
            }
        }
    }
    systemd::stopping();
    let _ = stop.send(true);
    let drain = async {
        while let Some(finished) = tasks.join_next().await {
            match finished {
                Ok((task, Err(error))) => {
                    tracing::error!(task, %error, "task failed while stopping")
                }
                Ok((task, Ok(()))) => tracing::debug!(task, "task stopped"),
                Err(panic) => tracing::error!(%panic, "task panicked while stopping"),
            }
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "tasks still busy at the deadline: exiting anyway"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Reads the config file again and hands it to the tasks; on any error the running config stays.
fn reload(reloaded: &watch::Sender<Arc<Config>>) -> Result<Arc<Config>, String> {
    let running = reloaded.borrow().clone();
    let config = Config::load(&running.file).map_err(|e| e.to_string())?;
    if config.state_dir != running.state_dir {
        return Err(format!(
            "{}: general.state_dir: changed from {} to {}: the store cannot move under a running daemon; restart it",
            config.file.display(),
            running.state_dir.display(),
            config.state_dir.display()
        ));
    }
    check_transports(&config).map_err(|e| format!("{}: {e:#}", config.file.display()))?;
    if config.log_level != running.log_level {
        tracing::warn!(
            log_level = %config.log_level,
            "general.log_level changes at the next restart, not on reload"
        );
    }
    let config = Arc::new(config);
    reloaded.send_replace(config.clone());
    tracing::info!(
        config = %config.file.display(),
        mailboxes = config.mailboxes.len(),
        agents = config.intake.directory.agents.len(),
        "config reloaded"
    );
    Ok(config)
}

/// Builds the SMTP transport and each mailbox's connector (CA files, TLS settings), so that a
/// config whose transports cannot be made is refused before any task is restarted under it.
fn check_transports(config: &Config) -> anyhow::Result<()> {
    if let Some(smtp) = &config.smtp {
        let tokens = smtp_account(config, smtp).map(|a| Arc::new(TokenSource::new(a.clone())));
        SmtpTransport::new(smtp, tokens).map_err(|e| anyhow::anyhow!("smtp: {e}"))?;
    }
    for mailbox in &config.mailboxes {
        let tokens =
            imap_account(config, &mailbox.imap).map(|a| Arc::new(TokenSource::new(a.clone())));
        ImapConnector::new(mailbox.imap.clone(), tokens)
            .map_err(|e| anyhow::anyhow!("mailbox {}: {e}", mailbox.name))?;
    }
    Ok(())
}

fn spawn_supervised<K: PartialEq + Send + 'static>(
    tasks: &mut Tasks,
    shared: &Shared,
    task: String,
    key: impl Fn(&Arc<Config>) -> K + Send + 'static,
    start: impl Fn(Arc<Config>, watch::Receiver<bool>) -> Start + Send + 'static,
) {
    let (configs, stopping) = (shared.configs.clone(), shared.stopping.clone());
    tasks.spawn(async move {
        let result = supervise(&task, configs, stopping, key, start).await;
        (task, result)
    });
}

/// Restarted (its SMTP connections dropped) only when `[smtp]` changes.
fn spawn_outbox_sender(tasks: &mut Tasks, shared: &Shared) {
    let shared_ = shared.clone();
    spawn_supervised(
        tasks,
        shared,
        "outbox sender".into(),
        |config: &Arc<Config>| {
            let smtp = config.smtp.clone();
            let account = smtp.as_ref().and_then(|s| smtp_account(config, s)).cloned();
            (smtp, account)
        },
        move |config, stop| {
            let Some(smtp) = &config.smtp else {
                tracing::warn!("no [smtp] in the config: outgoing mail waits in the outbox");
                return Ok(None);
            };
            let sender = Sender {
                database: config.database_path(),
                transport: SmtpTransport::new(
                    smtp,
                    shared_.tokens.for_account(smtp_account(&config, smtp)),
                )?,
                connections: smtp.connections,
                wake: shared_.wake_outbox.clone(),
                configs: shared_.configs.clone(),
            };
            tracing::info!(host = %smtp.host, port = smtp.port, "outbox sender started");
            Ok(Some(Box::pin(async move {
                sender.run(stop).await.map_err(anyhow::Error::from)
            })))
        },
    );
}

/// Restarted (reconnected) only when its own `[[mailbox]]` table changes; idle while the config
/// does not list it. Its pipeline takes each reloaded config at the next batch.
fn spawn_mailbox(tasks: &mut Tasks, shared: &Shared, name: String) {
    let shared_ = shared.clone();
    let key_name = name.clone();
    let start_name = name.clone();
    spawn_supervised(
        tasks,
        shared,
        format!("mailbox {name}"),
        move |config: &Arc<Config>| {
            let mailbox = config.mailboxes.iter().find(|m| m.name == key_name);
            let account = mailbox.and_then(|m| imap_account(config, &m.imap)).cloned();
            (mailbox.cloned(), account)
        },
        move |config, stop| {
            let Some(mailbox) = config.mailboxes.iter().find(|m| m.name == start_name) else {
                tracing::info!(mailbox = %start_name, "mailbox no longer in the config: not watched");
                return Ok(None);
            };
            let mut pipeline =
                Pipeline::open(config.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
            pipeline.follow(shared_.configs.clone());
            let task = MailboxTask {
                connector: ImapConnector::new(
                    mailbox.imap.clone(),
                    shared_
                        .tokens
                        .for_account(imap_account(&config, &mailbox.imap)),
                )
                .map_err(|e| anyhow::anyhow!("mailbox {}: {e}", mailbox.name))?,
                pipeline: Arc::new(std::sync::Mutex::new(pipeline)),
                config: mailbox.clone(),
                wake_outbox: shared_.wake_outbox.clone(),
                latency: shared_.latency.clone(),
            };
            // Every line the task logs, the pipeline's on its blocking threads included, names it.
            let span = tracing::info_span!("mailbox", name = %mailbox.name);
            Ok(Some(Box::pin(
                async move {
                    task.run(stop).await;
                    Ok(())
                }
                .instrument(span),
            )))
        },
    );
}

/// A scheduler holds no connection: it starts again under every reloaded config. The key holds
/// its config, so no later config can be mistaken for it.
struct EveryReload(Arc<Config>);

impl PartialEq for EveryReload {
    fn eq(&self, other: &EveryReload) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

fn every_reload(config: &Arc<Config>) -> EveryReload {
    EveryReload(config.clone())
}

fn spawn_sla_scheduler(tasks: &mut Tasks, shared: &Shared) {
    let wake = shared.wake_outbox.clone();
    spawn_supervised(
        tasks,
        shared,
        "SLA scheduler".into(),
        every_reload,
        move |config, stop| {
            if config.intake.sla.plans.is_empty() {
                return Ok(None);
            }
            let scheduler = crate::scheduler::Scheduler {
                database: config.database_path(),
                attachments: crate::adapters::blobs::BlobStore::new(
                    crate::pipeline::attachments_dir(&config),
                ),
                policy: config.intake.clone(),
                wake_outbox: wake.clone(),
            };
            tracing::info!(
                plans = config.intake.sla.plans.len(),
                "SLA scheduler started"
            );
            Ok(Some(Box::pin(async move {
                scheduler.run(stop).await.map_err(anyhow::Error::from)
            })))
        },
    );
}

fn spawn_digest_scheduler(tasks: &mut Tasks, shared: &Shared) {
    let wake = shared.wake_outbox.clone();
    spawn_supervised(
        tasks,
        shared,
        "digest scheduler".into(),
        every_reload,
        move |config, stop| {
            if config.reports.is_empty() {
                return Ok(None);
            }
            tracing::info!(reports = config.reports.len(), "digest scheduler started");
            let digests = crate::scheduler::Digests {
                database: config.database_path(),
                config,
                interval: Duration::from_secs(60),
                wake_outbox: wake.clone(),
            };
            Ok(Some(Box::pin(async move {
                digests.run(stop).await.map_err(anyhow::Error::from)
            })))
        },
    );
}

/// Restarted when `[metrics]` or the list of mailboxes it reports on changes.
fn spawn_metrics(tasks: &mut Tasks, shared: &Shared) {
    let latency = shared.latency.clone();
    let mailboxes = |config: &Config| -> Vec<String> {
        config.mailboxes.iter().map(|m| m.name.clone()).collect()
    };
    spawn_supervised(
        tasks,
        shared,
        "metrics".into(),
        move |config: &Arc<Config>| (config.metrics.clone(), mailboxes(config)),
        move |config, stop| {
            let Some(metrics) = config.metrics.clone() else {
                return Ok(None);
            };
            let latency = latency.clone();
            Ok(Some(Box::pin(async move {
                let server = crate::metrics::server::MetricsServer::bind(
                    &metrics,
                    config.database_path(),
                    mailboxes(&config),
                    latency,
                )
                .await?;
                tracing::info!(listen = %server.local_addr()?, "metrics served at /metrics");
                server.serve(stop).await
            })))
        },
    );
}

fn spawn_retention(tasks: &mut Tasks, shared: &Shared) {
    spawn_supervised(
        tasks,
        shared,
        "retention".into(),
        every_reload,
        move |config, stop| {
            if !config.retention.is_active() {
                return Ok(None);
            }
            tracing::info!("retention task started");
            let retention = crate::scheduler::Retention {
                database: config.database_path(),
                attachments: crate::adapters::blobs::BlobStore::new(config.attachments_dir()),
                policy: config.retention.clone(),
            };
            Ok(Some(Box::pin(async move {
                retention.run(stop).await.map_err(anyhow::Error::from)
            })))
        },
    );
}

/// Always running: the full-text indexes merged at start, then hourly.
/// Not restarted on reload: its pipeline follows the reloaded configs itself.
fn spawn_handover(tasks: &mut Tasks, shared: &Shared) {
    let (configs, stopping, wake) = (
        shared.configs.clone(),
        shared.stopping.clone(),
        shared.wake_outbox.clone(),
    );
    tasks.spawn(async move {
        let result = crate::handover::serve(configs, stopping, wake).await;
        ("hand-over socket".to_string(), result)
    });
}

fn spawn_upkeep(tasks: &mut Tasks, shared: &Shared) {
    spawn_supervised(
        tasks,
        shared,
        "index upkeep".into(),
        |config: &Arc<Config>| config.database_path(),
        move |config, stop| {
            let upkeep = crate::scheduler::Upkeep {
                database: config.database_path(),
                interval: Duration::from_secs(3600),
            };
            Ok(Some(Box::pin(async move {
                upkeep.run(stop).await.map_err(anyhow::Error::from)
            })))
        },
    );
}

/// Always running: with no webhook it only forgets old queued events.
fn spawn_webhooks(tasks: &mut Tasks, shared: &Shared) {
    spawn_supervised(
        tasks,
        shared,
        "webhooks".into(),
        |config: &Arc<Config>| config.webhooks.clone(),
        move |config, stop| {
            if !config.webhooks.is_empty() {
                tracing::info!(webhooks = config.webhooks.len(), "webhooks started");
            }
            let webhooks = crate::webhooks::Webhooks {
                database: config.database_path(),
                webhooks: config.webhooks.clone(),
                // Events wait at most a second; with no webhook, old ones are pruned hourly.
                interval: Duration::from_secs(if config.webhooks.is_empty() { 3600 } else { 1 }),
            };
            Ok(Some(Box::pin(async move {
                webhooks.run(stop).await.map_err(anyhow::Error::from)
            })))
        },
    );
}

/// Started again on every reload: who may sign in (the agents) comes from the config it holds.
fn spawn_dashboard(tasks: &mut Tasks, shared: &Shared) {
    let wake = shared.wake_outbox.clone();
    spawn_supervised(
        tasks,
        shared,
        "dashboard".into(),
        every_reload,
        move |config, stop| {
            let Some(web) = config.web.clone() else {
                return Ok(None);
            };
            let wake = wake.clone();
            Ok(Some(Box::pin(async move {
                let dashboard = crate::web::Dashboard::bind(config, wake).await?;
                tracing::info!(listen = %web.listen, url = %web.public_url, "dashboard started");
                dashboard.run(stop).await
            })))
        },
    );
}

/// Records that the daemon is alive, for `guichet status`, and that it stopped cleanly. This is
/// the loop that proves the daemon works (its runtime runs and its store takes writes): the
/// systemd watchdog is pinged only after a heartbeat committed, and STATUS says what it sees.
async fn heartbeat(database: std::path::PathBuf, shared: Shared) -> anyhow::Result<()> {
    let Shared {
        configs,
        mut stopping,
        ..
    } = shared;
    let mut store = Store::open(&database)?;
    let (pid, started) = (std::process::id(), system_now());
    let watchdog = systemd::watchdog_interval();
    let every = watchdog.map_or(HEARTBEAT, |interval| interval.min(HEARTBEAT));
    let mut last_status = String::new();
    loop {
        let stopped = *stopping.borrow();
        let beat = store.write().and_then(|tx| {
            tx.daemon_heartbeat(pid, started, system_now(), stopped)?;
            tx.commit()
        });
        match beat {
            Err(error) => tracing::warn!(%error, "heartbeat not recorded"),
            Ok(()) if stopped => return Ok(()),
            Ok(()) => {
                if watchdog.is_some() {
                    systemd::watchdog();
                }
                let status = status_line(&store, &configs.borrow());
                if status != last_status {
                    systemd::status(&status);
                    last_status = status;
                }
            }
        }
        if stopped {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// "mailboxes connected 1/2, outbox 3 pending", as `systemctl status` shows it.
fn status_line(store: &Store, config: &Config) -> String {
    let reader = store.read();
    let connected = reader.mailbox_states().map_or(0, |states| {
        states
            .iter()
            .filter(|state| {
                state.connected && config.mailboxes.iter().any(|m| m.name == state.name)
            })
            .count()
    });
    let outbox = reader
        .outbox_counts()
        .map_or_else(|_| "?".to_string(), |counts| counts.pending.to_string());
    format!(
        "mailboxes connected {connected}/{}, outbox {outbox} pending",
        config.mailboxes.len()
    )
}

/// SIGTERM (systemd) or SIGINT (a terminal) to stop, SIGHUP (`systemctl reload`) to reload.
struct Signals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.hangup.recv() => "SIGHUP",
        }
    }
}
