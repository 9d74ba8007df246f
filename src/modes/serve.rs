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

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::Signal;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::net::{self, Counters, Dialer, Engine, Shutdown, ShutdownTrigger, Stop, Upstream};
use super::{http, syslog, tcp, tls};
use crate::alert::{self, Alerts};
use crate::config::{self, Config};
use crate::metrics::{self, Sources};
use crate::rules::RuleSet;

/// Counters of the serve loop itself.
#[derive(Debug, Default)]
pub struct ServeCounters {
    /// Reloads that took effect.
    pub reloads_ok: AtomicU64,
    /// Reloads refused (bad file, unreadable key, a listener that could not
    /// start).
    pub reloads_failed: AtomicU64,
}

/// A listener that is running.
struct Running {
    cfg: config::Listener,
    /// Stops its accept loops.
    accept: ShutdownTrigger,
    tasks: Vec<JoinHandle<()>>,
    /// The syslog relay's upstream writer.
    writer: Option<JoinHandle<()>>,
    bound: Vec<(String, SocketAddr)>,
}

/// Why serving could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

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
) -> Result<(BTreeMap<String, Arc<Counters>>, Arc<ServeCounters>), StartError> {
    let opts = config
        .options()
        .map_err(|e| StartError(format!("{}: {e}", config.origin)))?;
    let (engine_tx, engine) = watch::channel(Engine { rules, opts });
    let (drain_trigger, drain) = Shutdown::new();
    let serve_counters = Arc::new(ServeCounters::default());
    let (alerts, alerts_running) = match &config.alerts {
        Some(a) => Alerts::start(a.settings(), &a.sinks, &engine.borrow().rules)
            .map_err(|e| StartError(format!("{}: {e}", config.origin)))?,
        None => (Alerts::disabled(), alert::Running::idle()),
    };
    let sources = Sources::new();
    sources.engine(engine.clone());
    sources.alerts(alerts.clone());
    sources.reloads(Arc::clone(&serve_counters));
    let mut counters: BTreeMap<String, Arc<Counters>> = BTreeMap::new();
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut retiring: Vec<Running> = Vec::new();
    let deadline = config.runtime.drain;

    for l in &config.listeners {
        let c = Arc::clone(
            counters
                .entry(l.name.clone())
                .or_insert_with(|| listener_counters(&alerts, l)),
        );
        let r = start(l, engine.clone(), Arc::clone(&c), &drain, deadline)
            .await
            .map_err(|e| StartError(format!("listener {}: {e}", l.name)))?;
        sources.listener(&l.name, c);
        running.insert(l.name.clone(), r);
    }
    let metrics = match &config.metrics {
        Some(m) => Some(
            metrics::start(m.listen, &sources)
                .await
                .map_err(|e| StartError(format!("cannot serve metrics on {}: {e}", m.listen)))?,
        ),
        None => None,
    };
    write_ready(&ready_file, &running, metrics)?;
    // [alerts] is read at start only: its drain time too.
    let alert_drain = config.alerts.as_ref().map_or(deadline, |a| a.drain);
    let mut current = config;

    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = Reload::next(&mut reload_from) => {
                let path = &reload_from.as_ref().expect("a SIGHUP came from it").path;
                info!(config = %path.display(), "SIGHUP: reloading");
                let result = reload(path, &current, &engine_tx, &engine, &mut running,
                                    &mut retiring, &mut counters, &drain, deadline,
                                    &alerts).await;
                for name in running.keys() {
                    sources.listener(name, Arc::clone(&counters[name]));
                }
                sources.running(running.keys().map(String::as_str));
                match result {
                    Ok(new) => {
                        if new.metrics != current.metrics {
                            warn!("[metrics] changed: the endpoint moves at the next restart");
                        }
                        if new.alerts != current.alerts {
                            warn!("[alerts] changed: takes effect at the next restart");
                        }
                        current = new;
                        Counters::add(&serve_counters.reloads_ok, 1);
                        info!("reload done");
                        if let Err(e) = write_ready(&ready_file, &running, metrics) {
                            warn!(error = %e, "cannot rewrite the ready file");
                        }
                    }
                    Err(()) => {
                        Counters::add(&serve_counters.reloads_failed, 1);
                        error!("reload failed; the previous configuration stays in force");
                    }
                }
                // Listeners retired by earlier reloads that have finished.
                retiring.retain(|r| r.tasks.iter().any(|t| !t.is_finished()));
            }
        }
    }

    info!("shutting down: no new connections, draining");
    sources.stopping();
    drain_trigger.trigger();
    let all = running.into_values().chain(retiring);
    let mut writers = Vec::new();
    for r in all {
        for t in r.tasks {
            let _ = t.await;
        }
        writers.extend(r.writer.map(|w| (r.cfg.name.clone(), w)));
    }
    for (name, w) in writers {
        let abort = w.abort_handle();
        if tokio::time::timeout(deadline, w).await.is_err() {
            abort.abort();
            let c = &counters[&name];
            let left = Counters::get(&c.messages_in)
                .saturating_sub(Counters::get(&c.messages_out))
                .saturating_sub(Counters::get(&c.dropped_queue_full));
            Counters::add(&c.dropped_shutdown, left);
            warn!(listener = %name, messages = left, "drain deadline passed with messages still queued");
        }
    }
    if alerts.is_enabled() {
        alerts.close();
        alerts_running.drain(&alerts, alert_drain).await;
        info!("{}", alerts.summary());
    }
    Ok((counters, serve_counters))
}

/// A listener's counters, its findings reported to `alerts`.
fn listener_counters(alerts: &Alerts, l: &config::Listener) -> Arc<Counters> {
    let mode = match l.mode {
        config::Mode::Syslog(_) => "syslog",
        config::Mode::Tcp(_) => "tcp",
        config::Mode::Http(_) => "http",
    };
    Arc::new(Counters {
        alerts: alert::Tap::new(alerts.clone(), mode, Some(&l.name)),
        ..Counters::default()
    })
}

#[allow(clippy::too_many_arguments)]
async fn reload(
    path: &Path,
    current: &Config,
    engine_tx: &watch::Sender<Engine>,
    engine: &net::EngineWatch,
    running: &mut BTreeMap<String, Running>,
    retiring: &mut Vec<Running>,
    counters: &mut BTreeMap<String, Arc<Counters>>,
    drain: &Shutdown,
    deadline: Duration,
    alerts: &Alerts,
) -> Result<Config, ()> {
    let (new, rules) = match config::load_checked(path) {
        Ok(x) => x,
        Err(errors) => {
            // Messages name key paths; detected secrets are scrubbed out.
            for e in errors.iter() {
                error!("{}: {e}", errors.origin);
            }
            return Err(());
        }
    };
    let opts = match new.options() {
        Ok(o) => o,
        Err(e) => {
            error!("{}: {e}", new.origin);
            return Err(());
        }
    };
    if new.runtime != current.runtime {
        warn!("[runtime] changed: threads and the log filter take effect at the next restart");
    }
    engine_tx.send_replace(Engine { rules, opts });

    // Retire what was removed or changed, then start what is new or changed.
    let keep: Vec<String> = new
        .listeners
        .iter()
        .filter(|l| running.get(&l.name).is_some_and(|r| r.cfg == **l))
        .map(|l| l.name.clone())
        .collect();
    let names: Vec<String> = running.keys().cloned().collect();
    for name in names {
        if !keep.contains(&name) {
            let r = running.remove(&name).expect("listed");
            info!(listener = %name, "listener removed or changed: no longer accepting");
            r.accept.trigger();
            retiring.push(r);
        }
    }
    let mut ok = true;
    for l in &new.listeners {
        if keep.contains(&l.name) {
            continue;
        }
        let c = Arc::clone(
            counters
                .entry(l.name.clone())
                .or_insert_with(|| listener_counters(alerts, l)),
        );
        match start(l, engine.clone(), c, drain, deadline).await {
            Ok(r) => {
                info!(listener = %l.name, "listener started");
                running.insert(l.name.clone(), r);
            }
            Err(e) => {
                error!(listener = %l.name, error = %e, "listener could not start");
                ok = false;
            }
        }
    }
    // Engine and the other listeners changed either way; a listener that
    // could not start is reported as a failed reload.
    if ok {
        Ok(new)
    } else {
        Err(())
    }
}

fn write_ready(
    path: &Option<PathBuf>,
    running: &BTreeMap<String, Running>,
    metrics: Option<SocketAddr>,
) -> Result<(), StartError> {
    let mut bound: Vec<(String, SocketAddr)> =
        running.values().flat_map(|r| r.bound.clone()).collect();
    bound.extend(metrics.map(|a| ("metrics".to_string(), a)));
    for (name, addr) in &bound {
        info!(listener = %name, %addr, "listening");
    }
    if let Some(p) = path {
        net::write_ready_file(p, &bound)
            .map_err(|e| StartError(format!("cannot write ready file {}: {e}", p.display())))?;
    }
    Ok(())
}

/// Binds, retrying briefly: after a reload the old accept loop may still
/// be letting go of the same address.
async fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

async fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let mut tries = 0;
    loop {
        match UdpSocket::bind(addr).await {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

fn upstream(l: &config::Listener) -> Upstream {
    let a = l.upstream.authority();
    match l.upstream.scheme {
        config::Scheme::Tcp => Upstream::Tcp(a),
        config::Scheme::Udp => Upstream::Udp(a),
        config::Scheme::Tls => Upstream::Tls(a),
        // Only http listeners have http(s):// upstreams; they do not use this.
        config::Scheme::Http | config::Scheme::Https => Upstream::Tcp(a),
    }
}

fn acceptor(l: &config::Listener) -> Result<Option<tokio_rustls::TlsAcceptor>, String> {
    l.tls
        .as_ref()
        .map(tls::acceptor)
        .transpose()
        .map_err(|e| e.to_string())
}

async fn start(
    l: &config::Listener,
    engine: net::EngineWatch,
    counters: Arc<Counters>,
    drain: &Shutdown,
    deadline: Duration,
) -> Result<Running, String> {
    let (accept_trigger, accept) = Shutdown::new();
    let stop = Stop {
        accept,
        drain: drain.clone(),
    };
    let acceptor = acceptor(l)?;
    let mut tasks = Vec::new();
    let mut bound = Vec::new();
    let mut writer = None;
    match &l.mode {
        config::Mode::Syslog(s) => {
            let cfg = syslog::Config {
                upstream: upstream(l),
                framing: match s.framing {
                    config::Framing::Preserve => syslog::OutFraming::Preserve,
                    config::Framing::Octet => syslog::OutFraming::OctetCounted,
                    config::Framing::Lf => syslog::OutFraming::NonTransparent,
                },
                max_message_size: s.max_message_size,
                max_connections: l.max_connections,
                queue_bytes: s.queue_bytes,
                max_datagram: s.max_datagram,
                drain: deadline,
                connect_timeout: l.connect_timeout,
                upstream_tls: l.upstream_tls.clone(),
            };
            // Bind first: a listener that cannot bind starts no writer.
            let mut tcp = Vec::new();
            for (i, addr) in s.listen_tcp.iter().enumerate() {
                let sock = bind_tcp(*addr)
                    .await
                    .map_err(|e| format!("cannot listen on tcp {addr}: {e}"))?;
                let name = format!("{}/tcp-{i}", l.name);
                bound.push((name.clone(), sock.local_addr().map_err(|e| e.to_string())?));
                tcp.push((name, sock));
            }
            let mut udp = Vec::new();
            for (i, addr) in s.listen_udp.iter().enumerate() {
                let sock = bind_udp(*addr)
                    .await
                    .map_err(|e| format!("cannot listen on udp {addr}: {e}"))?;
                let name = format!("{}/udp-{i}", l.name);
                bound.push((name.clone(), sock.local_addr().map_err(|e| e.to_string())?));
                udp.push((name, sock));
            }
            let (relay, w) = syslog::start(cfg, engine, counters).map_err(|e| e.to_string())?;
            writer = Some(w);
            for (name, sock) in tcp {
                tasks.push(tokio::spawn(syslog::serve_tcp(
                    sock,
                    name,
                    acceptor.clone(),
                    relay.clone(),
                    stop.clone(),
                )));
            }
            for (name, sock) in udp {
                tasks.push(tokio::spawn(syslog::serve_udp(
                    sock,
                    name,
                    relay.clone(),
                    stop.clone(),
                )));
            }
        }
        config::Mode::Tcp(t) => {
            let cfg = tcp::Config {
                name: l.name.clone(),
                max_connections: l.max_connections,
                flush: t.flush,
                connect_timeout: l.connect_timeout,
                drain: deadline,
                read_size: tcp::READ_SIZE,
            };
            let ends = tcp::Ends {
                upstream: Dialer::new(
                    &l.upstream.authority(),
                    l.upstream_tls.as_ref(),
                    l.connect_timeout,
                )
                .map_err(|e| e.to_string())?,
                tls: acceptor,
            };
            let sock = bind_tcp(t.listen)
                .await
                .map_err(|e| format!("cannot listen on tcp {}: {e}", t.listen))?;
            bound.push((
                l.name.clone(),
                sock.local_addr().map_err(|e| e.to_string())?,
            ));
            tasks.push(tokio::spawn(tcp::serve(
                sock, cfg, ends, engine, counters, stop,
            )));
        }
        config::Mode::Http(h) => {
            let https = l.upstream.scheme == config::Scheme::Https;
            let scheme = if https { "https" } else { "http" };
            let default_port = if https { 443 } else { 80 };
            let authority = if l.upstream.port == default_port && !l.upstream.host.contains(':') {
                l.upstream.host.clone()
            } else {
                l.upstream.authority()
            };
            let uri: hyper::Uri = format!("{scheme}://{authority}{}", l.upstream.path)
                .parse()
                .map_err(|e| format!("upstream: {e}"))?;
            let upstream_tls = if https {
                let config =
                    tls::https_client_config(l.upstream_tls.as_ref()).map_err(|e| e.to_string())?;
                Some(Arc::new(config))
            } else {
                None
            };
            let tls = http::Tls {
                listener: acceptor,
                upstream: upstream_tls,
            };
            let cfg = http::Config {
                name: l.name.clone(),
                upstream: uri,
                max_body: h.max_body,
                stream_above: h.stream_above,
                max_line: h.max_line,
                header_timeout: h.header_timeout,
                max_connections: l.max_connections,
                drain: deadline,
                connect_timeout: l.connect_timeout,
            };
            let sock = bind_tcp(h.listen)
                .await
                .map_err(|e| format!("cannot listen on tcp {}: {e}", h.listen))?;
            bound.push((
                l.name.clone(),
                sock.local_addr().map_err(|e| e.to_string())?,
            ));
            tasks.push(tokio::spawn(http::serve(
                sock, cfg, tls, engine, counters, stop,
            )));
        }
    }
    Ok(Running {
        cfg: l.clone(),
        accept: accept_trigger,
        tasks,
        writer,
        bound,
    })
}

/// The sum of several listeners' counters (for the exit summary).
pub fn total(counters: &BTreeMap<String, Arc<Counters>>) -> Counters {
    let t = Counters::default();
    for c in counters.values() {
        macro_rules! add {
            ($($f:ident),*) => { $( Counters::add(&t.$f, Counters::get(&c.$f)); )* };
        }
        add!(
            connections_accepted,
            connections_rejected,
            bytes_in,
            bytes_out,
            messages_in,
            messages_out,
            dropped_queue_full,
            dropped_too_large,
            dropped_shutdown,
            truncated,
            framing_errors,
            tls_handshake_errors,
            upstream_connects,
            upstream_errors,
            findings,
            bytes_redacted
        );
    }
    t
}
