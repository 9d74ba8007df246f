//! `redactd serve --config FILE`: every listener of a config file in one
//! process, sharing one engine, and reloaded on SIGHUP.
//!
//! # Reload
//!
//! SIGHUP re-reads the file with [`config::load_checked`] (so the rules, the
//! HMAC key file and the inline-secret scan are all redone). A file with
//! any problem changes nothing: every problem is logged with its key path
//! and the reload is counted as failed. A good file:
//!
//! - swaps the engine (rules, style, key) for every connection at its next
//!   safe point (between syslog messages; in a stream, when nothing is held
//!   back), so no connection is dropped;
//! - keeps listeners whose settings are unchanged as they are;
//! - stops accepting on listeners that were removed or changed, letting
//!   their open connections finish with their old settings, and starts the
//!   new ones (a changed listener rebinds its address once the old accept
//!   loop let go of it);
//! - leaves `[runtime]` (threads, log filter), `[metrics]` and `[alerts]`
//!   as started: those need a restart, and a change is logged.
//!
//! # Alerts
//!
//! With an `[alerts]` table every listener's findings go to the alert
//! pipeline ([`crate::alert`]), with the listener's mode and name and the
//! client's address as their source.
//!
//! # Metrics
//!
//! With a `[metrics]` table, `/metrics`, `/healthz` and `/readyz` are
//! served on its `listen` address (in the ready file as `metrics ADDR`);
//! each listener's counters carry its name as the `listener` label and stay
//! monotonic across reloads; `/readyz` counts the listeners running now.
//!
//! # Shutdown
//!
//! SIGTERM or SIGINT stops every accept loop, connections stop reading and
//! drain within `runtime.drain_ms`, then each syslog relay's queue gets the
//! same deadline to reach its upstream.

mod listener;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::signal::unix::Signal;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::alert::{self, Alerts};
use crate::config::{self, Config};
use crate::counters::Reloads;
use crate::metrics::{self, Sources};
use crate::net::budget::Budget;
use crate::net::tls::TlsError;
use crate::net::{self, Counters, Engine, Shutdown};
use crate::rules::RuleSet;
use listener::{Running, Shared};

/// Why serving could not start. Messages name files and addresses, never
/// secrets.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HMAC key could not be read.
    #[error("{0}")]
    Key(#[from] config::ConfigError),
    /// The alert pipeline could not start.
    #[error(transparent)]
    Alerts(#[from] alert::Error),
    /// TLS settings are unusable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// An address could not be bound.
    #[error("cannot listen on {0} {1}: {2}")]
    Bind(&'static str, SocketAddr, #[source] std::io::Error),
    /// The metrics endpoint could not be served.
    #[error("cannot serve metrics on {0}: {1}")]
    Metrics(SocketAddr, #[source] std::io::Error),
    /// The ready file could not be written.
    #[error("cannot write ready file {}: {source}", .path.display())]
    ReadyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The upstream URL does not make a request URI.
    #[error("upstream {0} is not a usable URL")]
    Upstream(String),
    /// A socket's own address could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A listener of the config could not start.
    #[error("listener {0}: {1}")]
    Listener(String, #[source] Box<StartError>),
}

/// Where a reload comes from: `serve --config FILE` re-reads the file on
/// every SIGHUP. The single-listener commands have none.
#[derive(Debug)]
pub struct Reload {
    /// The config file.
    pub path: PathBuf,
    /// SIGHUP.
    pub hup: Signal,
}

impl Reload {
    /// The next SIGHUP; never, without a reload source.
    async fn next(reload: &mut Option<Reload>) {
        match reload {
            Some(r) => {
                r.hup.recv().await;
            }
            None => std::future::pending().await,
        }
    }
}

/// Every listener's counters, by name, kept across reloads.
pub type ListenerCounters = BTreeMap<String, Arc<Counters>>;

/// The running process: its listeners and what they share.
struct Server {
    current: Config,
    engine_tx: watch::Sender<Engine>,
    shared: Shared,
    alerts: Alerts,
    sources: Arc<Sources>,
    counters: ListenerCounters,
    running: BTreeMap<String, Running>,
    /// Listeners a reload replaced or removed, until their connections end.
    retiring: Vec<Running>,
    ready_file: Option<PathBuf>,
    metrics: Option<SocketAddr>,
}

/// Runs the listeners of `config` until `stop` resolves, reloading on
/// every SIGHUP when `reload` is given. Writes the bound addresses to
/// `ready_file` (again after each reload). Returns the per-listener
/// counters and the serve counters at exit.
pub async fn run(
    config: Config,
    rules: Arc<RuleSet>,
    ready_file: Option<PathBuf>,
    mut reload_from: Option<Reload>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(ListenerCounters, Arc<Reloads>), StartError> {
    let opts = config.options()?;
    let (engine_tx, engine) = watch::channel(Engine { rules, opts });
    let (drain_trigger, drain) = Shutdown::new();
    let serve_counters = Arc::new(Reloads::default());
    let (alerts, alerts_running) = match &config.alerts {
        Some(a) => Alerts::start(a.settings(), &a.sinks, &engine.borrow().rules)?,
        None => (Alerts::disabled(), alert::Running::idle()),
    };
    let sources = Sources::new();
    sources.rules_loaded(engine.borrow().rules.rules().len());
    sources.alerts(alerts.clone());
    sources.reloads(Arc::clone(&serve_counters));
    // [alerts] is read at start only: its drain time too.
    let alert_drain = config
        .alerts
        .as_ref()
        .map_or(config.runtime.drain, |a| a.drain);
    let mut server = Server {
        shared: Shared {
            engine,
            drain,
            deadline: config.runtime.drain,
            buffers: Budget::new(config.runtime.buffer_bytes),
        },
        current: config,
        engine_tx,
        alerts,
        sources,
        counters: BTreeMap::new(),
        running: BTreeMap::new(),
        retiring: Vec::new(),
        ready_file,
        metrics: None,
    };
    server.start().await?;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = Reload::next(&mut reload_from) => {
                let path = &reload_from.as_ref().expect("a SIGHUP came from it").path;
                server.reload(path, &serve_counters).await;
            }
        }
    }
    info!("shutting down: no new connections, draining");
    server.sources.stopping();
    drain_trigger.trigger();
    server.drain().await;
    let alerts = &server.alerts;
    if alerts.is_enabled() {
        alerts.close();
        alerts_running.drain(alerts, alert_drain).await;
        info!("{}", alerts.summary());
    }
    Ok((server.counters, serve_counters))
}

impl Server {
    /// Starts every listener and the metrics endpoint, and writes the
    /// ready file.
    async fn start(&mut self) -> Result<(), StartError> {
        for l in self.current.listeners.clone() {
            let counters = self.counters_of(&l);
            let r = listener::start(&l, &self.shared, counters)
                .await
                .map_err(|e| StartError::Listener(l.name.clone(), Box::new(e)))?;
            self.running.insert(l.name.clone(), r);
        }
        self.publish();
        if let Some(m) = &self.current.metrics {
            let addr = metrics::start(m.listen, &self.sources)
                .await
                .map_err(|e| StartError::Metrics(m.listen, e))?;
            self.metrics = Some(addr);
        }
        self.write_ready()
    }

    /// The counters of listener `l` (kept across reloads), its findings
    /// reported to the alert pipeline.
    fn counters_of(&mut self, l: &config::Listener) -> Arc<Counters> {
        let mode = match l.mode {
            config::Mode::Syslog(_) => "syslog",
            config::Mode::Tcp(_) => "tcp",
            config::Mode::Http(_) => "http",
        };
        let alerts = &self.alerts;
        let c = self.counters.entry(l.name.clone()).or_insert_with(|| {
            Arc::new(Counters {
                alerts: alert::Tap::new(alerts.clone(), mode, Some(&l.name)),
                ..Counters::default()
            })
        });
        Arc::clone(c)
    }

    /// Tells the metrics endpoint which listeners run.
    fn publish(&self) {
        for name in self.running.keys() {
            self.sources
                .listener(name, Arc::clone(&self.counters[name]));
        }
        self.sources
            .running(self.running.keys().map(String::as_str));
    }

    async fn reload(&mut self, path: &Path, serve_counters: &Reloads) {
        info!(config = %path.display(), "SIGHUP: reloading");
        let result = self.apply(path).await;
        self.publish();
        match result {
            Ok(new) => {
                if new.metrics != self.current.metrics {
                    warn!("[metrics] changed: the endpoint moves at the next restart");
                }
                if new.alerts != self.current.alerts {
                    warn!("[alerts] changed: takes effect at the next restart");
                }
                self.current = new;
                Counters::add(&serve_counters.reloads_ok, 1);
                // The ready file first: whoever waits for the log line
                // then reads the new addresses.
                if let Err(e) = self.write_ready() {
                    warn!(error = %e, "cannot rewrite the ready file");
                }
                info!("reload done");
            }
            Err(()) => {
                Counters::add(&serve_counters.reloads_failed, 1);
                error!("reload failed; the previous configuration stays in force");
            }
        }
        // Listeners retired by earlier reloads that have finished.
        self.retiring
            .retain(|r| r.tasks.iter().any(|t| !t.is_finished()));
    }

    /// Reads `path` and applies it: the new engine for every connection,
    /// listeners whose settings changed restarted. `Err` when the file is
    /// refused (nothing changed) or a listener could not start (the rest
    /// changed); every problem is logged.
    async fn apply(&mut self, path: &Path) -> Result<Config, ()> {
        let (new, rules) = config::load_checked(path).map_err(|errors| {
            // Messages name key paths; detected secrets are scrubbed out.
            for e in errors.iter() {
                error!("{}: {e}", errors.origin);
            }
        })?;
        let opts = new.options().map_err(|e| error!("{}: {e}", new.origin))?;
        for w in &new.warnings {
            warn!("{}: {w}", new.origin);
        }
        if new.runtime != self.current.runtime {
            warn!("[runtime] changed: threads, the log filter and buffer_bytes take effect at the next restart");
        }
        self.sources.rules_loaded(rules.rules().len());
        self.engine_tx.send_replace(Engine { rules, opts });
        // Retire what was removed or changed, then start what is new or
        // changed.
        let running = &self.running;
        let keep: Vec<String> = new
            .listeners
            .iter()
            .filter(|l| running.get(&l.name).is_some_and(|r| r.cfg == **l))
            .map(|l| l.name.clone())
            .collect();
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names.into_iter().filter(|n| !keep.contains(n)) {
            let r = self.running.remove(&name).expect("listed");
            info!(listener = %name, "listener removed or changed: no longer accepting");
            r.accept.trigger();
            self.retiring.push(r);
        }
        let mut ok = true;
        for l in new.listeners.iter().filter(|l| !keep.contains(&l.name)) {
            let counters = self.counters_of(l);
            match listener::start(l, &self.shared, counters).await {
                Ok(r) => {
                    info!(listener = %l.name, "listener started");
                    self.running.insert(l.name.clone(), r);
                }
                Err(e) => {
                    error!(listener = %l.name, error = %e, "listener could not start");
                    ok = false;
                }
            }
        }
        // Engine and the other listeners changed either way; a listener
        // that could not start is reported as a failed reload.
        ok.then_some(new).ok_or(())
    }

    /// Waits for every connection to end (within the drain deadline, which
    /// the accept loops apply), then gives each syslog queue the same
    /// deadline to reach its upstream; what is still queued then is
    /// counted as dropped.
    async fn drain(&mut self) {
        let all = std::mem::take(&mut self.running)
            .into_values()
            .chain(std::mem::take(&mut self.retiring));
        let mut writers = Vec::new();
        for r in all {
            for t in r.tasks {
                let _ = t.await;
            }
            writers.extend(r.writer.map(|w| (r.cfg.name.clone(), w)));
        }
        for (name, w) in writers {
            let abort = w.abort_handle();
            if tokio::time::timeout(self.shared.deadline, w).await.is_err() {
                abort.abort();
                let c = &self.counters[&name];
                let left = Counters::get(&c.messages_in)
                    .saturating_sub(Counters::get(&c.messages_out))
                    .saturating_sub(Counters::get(&c.dropped_queue_full));
                Counters::add(&c.dropped_shutdown, left);
                warn!(listener = %name, messages = left, "drain deadline passed with messages still queued");
            }
        }
    }

    fn write_ready(&self) -> Result<(), StartError> {
        let mut bound: Vec<(String, SocketAddr)> = self
            .running
            .values()
            .flat_map(|r| r.bound.clone())
            .collect();
        bound.extend(self.metrics.map(|a| ("metrics".to_string(), a)));
        for (name, addr) in &bound {
            info!(listener = %name, %addr, "listening");
        }
        if let Some(p) = &self.ready_file {
            net::write_ready_file(p, &bound).map_err(|source| StartError::ReadyFile {
                path: p.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// The sum of several listeners' counters (for the exit summary).
pub fn total(counters: &ListenerCounters) -> Counters {
    let t = Counters::default();
    for c in counters.values() {
        t.add_all(c);
    }
    t
}
