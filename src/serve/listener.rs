//! How a validated listener becomes bound sockets and running tasks: the
//! one listener builder, for `serve` and for the single-listener commands.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::StartError;
use crate::config::{self, Listener, Mode};
use crate::modes::{http, syslog, tcp};
use crate::net::budget::Budget;
use crate::net::slots::Timeouts;
use crate::net::tls;
use crate::net::{Counters, Dialer, EngineWatch, Shutdown, ShutdownTrigger, Stop};

/// What every listener shares.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    /// The engine in force; reloads replace it.
    pub engine: EngineWatch,
    /// Fires when the process shuts down.
    pub drain: Shutdown,
    /// Time connections (and each syslog queue) get to finish then.
    pub deadline: Duration,
    /// Memory for incomplete messages, across every listener.
    pub buffers: Budget,
}

/// A listener that is running.
#[derive(Debug)]
pub(super) struct Running {
    /// The settings it runs with (a reload restarts it when they change).
    pub cfg: Listener,
    /// Stops its accept loops.
    pub accept: ShutdownTrigger,
    /// Its accept loops.
    pub tasks: Vec<JoinHandle<()>>,
    /// The syslog relay's upstream writer.
    pub writer: Option<JoinHandle<()>>,
    /// `(name, address)` of each bound socket, for the ready file.
    pub bound: Vec<(String, SocketAddr)>,
}

/// Binds `l`'s sockets and starts its tasks. Nothing is left running when
/// it fails: sockets are bound before any task starts.
pub(super) async fn start(
    l: &Listener,
    shared: &Shared,
    counters: Arc<Counters>,
) -> Result<Running, StartError> {
    let (accept, accept_rx) = Shutdown::new();
    let stop = Stop {
        accept: accept_rx,
        drain: shared.drain.clone(),
    };
    let acceptor = l.tls.as_ref().map(tls::acceptor).transpose()?;
    let mut run = Running {
        cfg: l.clone(),
        accept,
        tasks: Vec::new(),
        writer: None,
        bound: Vec::new(),
    };
    match &l.mode {
        Mode::Syslog(s) => start_syslog(l, s, shared, counters, acceptor, stop, &mut run).await?,
        Mode::Tcp(t) => {
            let sock = bind(&mut run, &l.name, t.listen).await?;
            let cfg = tcp::Config {
                name: l.name.clone(),
                max_connections: l.max_connections,
                flush: t.flush,
                connect_timeout: l.connect_timeout,
                drain: shared.deadline,
                read_size: tcp::READ_SIZE,
                timeouts: timeouts(l),
            };
            let ends = tcp::Ends {
                upstream: Dialer::new(
                    &l.upstream.authority(),
                    l.upstream_tls.as_ref(),
                    l.connect_timeout,
                )?,
                tls: acceptor,
            };
            let engine = shared.engine.clone();
            let task = tcp::serve(sock, cfg, ends, engine, counters, stop);
            run.tasks.push(tokio::spawn(task));
        }
        Mode::Http(h) => {
            let sock = bind(&mut run, &l.name, h.listen).await?;
            let (cfg, tls) = http_settings(l, h, shared.deadline, acceptor)?;
            let engine = shared.engine.clone();
            let task = http::serve(
                sock,
                cfg,
                tls,
                engine,
                counters,
                stop,
                shared.buffers.clone(),
            );
            run.tasks.push(tokio::spawn(task));
        }
    }
    Ok(run)
}

/// A syslog listener: its TCP and UDP sockets and one relay (queue and
/// upstream writer) they all feed.
async fn start_syslog(
    l: &Listener,
    s: &config::Syslog,
    shared: &Shared,
    counters: Arc<Counters>,
    acceptor: Option<TlsAcceptor>,
    stop: Stop,
    run: &mut Running,
) -> Result<(), StartError> {
    let cfg = syslog::Config {
        upstream: l.upstream.clone(),
        framing: s.framing,
        max_message_size: s.max_message_size,
        max_connections: l.max_connections,
        queue_bytes: s.queue_bytes,
        max_datagram: s.max_datagram,
        drain: shared.deadline,
        connect_timeout: l.connect_timeout,
        upstream_tls: l.upstream_tls.clone(),
        timeouts: timeouts(l),
    };
    // Bind first: a listener that cannot bind starts no writer.
    let mut tcp = Vec::new();
    for (i, addr) in s.listen_tcp.iter().enumerate() {
        let name = format!("{}/tcp-{i}", l.name);
        tcp.push((name.clone(), bind(run, &name, *addr).await?));
    }
    let mut udp = Vec::new();
    for (i, addr) in s.listen_udp.iter().enumerate() {
        let name = format!("{}/udp-{i}", l.name);
        let sock = retry_in_use(|| UdpSocket::bind(*addr))
            .await
            .map_err(|e| StartError::Bind("udp", *addr, e))?;
        run.bound.push((name.clone(), sock.local_addr()?));
        udp.push((name, sock));
    }
    let engine = shared.engine.clone();
    let (relay, writer) = syslog::start(cfg, engine, counters, shared.buffers.clone())?;
    run.writer = Some(writer);
    for (name, sock) in tcp {
        let task = syslog::serve_tcp(sock, name, acceptor.clone(), relay.clone(), stop.clone());
        run.tasks.push(tokio::spawn(task));
    }
    for (name, sock) in udp {
        let task = syslog::serve_udp(sock, name, relay.clone(), stop.clone());
        run.tasks.push(tokio::spawn(task));
    }
    Ok(())
}

/// The http proxy's settings and TLS for `l`.
fn http_settings(
    l: &Listener,
    h: &config::Http,
    deadline: Duration,
    acceptor: Option<TlsAcceptor>,
) -> Result<(http::Config, http::Tls), StartError> {
    let https = l.upstream.scheme == config::Scheme::Https;
    let (scheme, default_port) = if https { ("https", 443) } else { ("http", 80) };
    let authority = if l.upstream.port == default_port && !l.upstream.host.contains(':') {
        l.upstream.host.clone()
    } else {
        l.upstream.authority()
    };
    let uri: hyper::Uri = format!("{scheme}://{authority}{}", l.upstream.path)
        .parse()
        .map_err(|_| StartError::Upstream(l.upstream.to_string()))?;
    let upstream = if https {
        Some(Arc::new(tls::https_client_config(l.upstream_tls.as_ref())?))
    } else {
        None
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
        timeouts: timeouts(l),
    };
    let tls = http::Tls {
        listener: acceptor,
        upstream,
    };
    Ok((cfg, tls))
}

/// Binds a TCP listener and records it as `name` for the ready file.
async fn bind(run: &mut Running, name: &str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    let sock = retry_in_use(|| TcpListener::bind(addr))
        .await
        .map_err(|e| StartError::Bind("tcp", addr, e))?;
    run.bound.push((name.to_string(), sock.local_addr()?));
    Ok(sock)
}

/// Binds, retrying briefly: after a reload the old accept loop may still
/// be letting go of the same address.
async fn retry_in_use<T, F, Fut>(bind: F) -> io::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut tries = 0;
    loop {
        match bind().await {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

fn timeouts(l: &Listener) -> Timeouts {
    Timeouts {
        idle: l.idle_timeout,
        message: l.message_timeout,
    }
}
