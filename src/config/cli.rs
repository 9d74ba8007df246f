//! The command line's share of the settings model.
//!
//! The flags of `syslog`, `tcp` and `http`, and the rule, redaction and
//! alert flags every command takes, are clap types here. Each group turns
//! into the raw config a file would hold ([`super::raw`]), and that goes
//! through the very validation `serve --config` applies: the same bounds,
//! the same defaults ([`super::defaults`], which the flags' `--help` shows),
//! the same messages. Only the place named differs: an error says
//! `--max-message-size` where a file's says `listener[0].max_message_size`.
//!
//! The network commands build a one-listener [`Config`] (two for `syslog`
//! with both plain and `--listen-tls` addresses: TLS and plaintext input
//! never share a listener, as in a file) that `serve`'s listener builder
//! runs. The listeners are named `syslog` (and `syslog-tls`), `tcp-0` and
//! `http-0`, the `listener` label earlier releases gave them. Flags steer
//! only what a file cannot say: `--ready-file`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use toml::Spanned;

use super::defaults as d;
use super::raw::{self, Opt};
use super::{Alerts, Config, ConfigError, ConfigErrors, ErrorKind, Framing, Redact, Rules};

/// What a command-line config is called in messages.
pub const ORIGIN: &str = "command line";

fn v<T>(x: T) -> Spanned<T> {
    // No text behind it: validation shows no line for a span-less value.
    Spanned::new(0..0, x)
}

fn some<T>(x: T) -> Opt<T> {
    Some(v(x))
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn strings<T: AsRef<str>>(xs: &[T]) -> Option<Vec<Spanned<String>>> {
    (!xs.is_empty()).then(|| xs.iter().map(|x| v(x.as_ref().to_string())).collect())
}

fn paths(xs: &[PathBuf]) -> Option<Vec<Spanned<String>>> {
    (!xs.is_empty()).then(|| xs.iter().map(|p| v(path_str(p))).collect())
}

fn addrs(xs: &[SocketAddr]) -> Opt<Vec<Spanned<String>>> {
    (!xs.is_empty()).then(|| v(xs.iter().map(|a| v(a.to_string())).collect()))
}

/// `redactd serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// The config file (see deploy/config.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Once every listener is bound (and after each reload), write one
    /// `NAME ADDR` line per bound address to FILE.
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

/// `redactd filter`.
#[derive(Args, Clone, Debug)]
pub struct FilterArgs {
    /// Input files; stdin when none (or `-`).
    pub files: Vec<PathBuf>,
    /// Print bytes, findings per rule and throughput to stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// Write one JSON line per finding (never secret bytes) to FILE.
    #[arg(long, value_name = "FILE")]
    pub findings: Option<PathBuf>,
    /// Threads that redact each input (0: one per core; 1: the main thread
    /// only). Output, findings and their order are the same for every
    /// count.
    #[arg(long, value_name = "N", default_value_t = d::THREADS.default,
          value_parser = clap::value_parser!(u64).range(0..=d::THREADS.max))]
    pub threads: u64,
    /// Alerts on findings.
    #[command(flatten)]
    pub alerts: AlertArgs,
    /// Replacement style and key.
    #[command(flatten)]
    pub redact: RedactArgs,
    /// Which rules run.
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// The report `redactd scan` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// `path:line  rule  severity  fingerprint` rows and a summary
    Table,
    /// one JSON document
    Json,
    /// SARIF 2.1.0
    Sarif,
}

/// `redactd scan`.
#[derive(Args, Clone, Debug)]
pub struct ScanArgs {
    /// Files and directories to scan (directories recursively).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ScanFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Skip files and directories matching GLOB (`*`, `?`; matched against
    /// the name, or against the whole path when GLOB has a `/`). Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Follow symlinks inside directories (loops are detected and skipped).
    #[arg(long)]
    pub follow: bool,
    /// Files scanned at once, each on a thread of its own (0: one per
    /// core). The report is the same for every count.
    #[arg(long, value_name = "N", default_value_t = d::THREADS.default,
          value_parser = clap::value_parser!(u64).range(0..=d::THREADS.max))]
    pub threads: u64,
    /// The fingerprint key.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Which rules run.
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// Which rules run (every command that redacts or scans).
#[derive(Args, Clone, Debug, Default)]
pub struct RuleArgs {
    /// Add the rule files in DIR (or the file DIR). Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Enable rules by id or tag (on top of the `default` tag). Repeatable.
    #[arg(long, value_name = "ID|TAG")]
    pub enable: Vec<String>,
    /// Disable rules by id or tag. Repeatable; wins over --enable.
    #[arg(long, value_name = "ID|TAG")]
    pub disable: Vec<String>,
    /// Do not load the built-in rules.
    #[arg(long)]
    pub no_builtin: bool,
    /// Known secret values, found wherever they appear, raw, JSON-escaped,
    /// percent-encoded or base64-encoded (rules `known.<name>`): a file of
    /// values, one per line, or a directory of one file per value (as
    /// Kubernetes secret volumes look). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub known_secrets: Vec<PathBuf>,
    /// The value of this environment variable is a known secret (rule
    /// `known.<name>`). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub known_secrets_env: Vec<String>,
    /// Not a secret: candidates whose secret bytes match this regex are
    /// neither redacted nor reported (anchor with ^...$). Repeatable.
    #[arg(long, value_name = "REGEX")]
    pub allow_regex: Vec<String>,
    /// Not secrets: a file of fingerprints as findings show them
    /// (`keyid:hex`, one per line), made with the HMAC key given by
    /// --hmac-key-file (commands without that flag cannot match them).
    #[arg(long, value_name = "FILE")]
    pub allow_fingerprints: Option<PathBuf>,
}

impl RuleArgs {
    fn raw(&self) -> raw::Rules {
        raw::Rules {
            dirs: paths(&self.rules),
            enable: strings(&self.enable),
            disable: strings(&self.disable),
            builtin: self.no_builtin.then(|| v(false)),
            known_secrets: paths(&self.known_secrets),
            known_secrets_env: strings(&self.known_secrets_env),
            allow_regex: strings(&self.allow_regex),
            allow_fingerprints: paths(self.allow_fingerprints.as_slice()),
        }
    }

    /// The validated `[rules]` these flags describe; warnings (a secrets
    /// file others can read) go to stderr.
    pub fn settings(&self) -> Result<Rules, ConfigErrors> {
        let (rules, warnings) = super::validate::rules_only(self.raw()).map_err(cli_errors)?;
        warn_all(warnings);
        Ok(rules)
    }
}

/// How secrets are replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StyleArg {
    /// `[REDACTED:rule.id]`
    Label,
    /// one `*` per byte
    Mask,
    /// public prefix, `****`, and at most min(4, n/4) trailing bytes
    Partial,
    /// `[rule.id:hmac:KEYID:8hex]` (needs --hmac-key-file)
    Hmac,
}

/// The fingerprint key (every command that reports findings).
#[derive(Args, Clone, Debug)]
pub struct KeyArgs {
    /// File holding the HMAC key (16+ bytes) for fingerprints and the hmac
    /// style, so fingerprints are stable across runs. Without it, a random
    /// per-run key.
    #[arg(long, value_name = "FILE")]
    pub hmac_key_file: Option<PathBuf>,
    /// Id of the HMAC key, shown in fingerprints (for key rotation).
    #[arg(long, value_name = "ID", default_value = d::HMAC_KEY_ID)]
    pub hmac_key_id: String,
}

/// How secrets are replaced and fingerprinted (every mode).
#[derive(Args, Clone, Debug)]
pub struct RedactArgs {
    /// How secrets are replaced.
    #[arg(long, value_enum, default_value = "label")]
    pub style: StyleArg,
    /// Values a stream (an input, a connection, an HTTP body) learns from
    /// its own findings at most: every later copy of a redacted secret in
    /// the same stream is redacted too, raw or encoded; least recently
    /// seen evicted; 0: off.
    #[arg(long, value_name = "N", default_value_t = d::LEARNED_VALUES.default)]
    pub learned_values: u64,
    /// The fingerprint key.
    #[command(flatten)]
    pub key: KeyArgs,
}

impl RedactArgs {
    fn raw(&self) -> raw::Redact {
        let style = self
            .style
            .to_possible_value()
            .expect("no variant is skipped")
            .get_name()
            .to_string();
        raw::Redact {
            style: some(style),
            hmac_key_file: self.key.hmac_key_file.as_deref().map(path_str).map(v),
            hmac_key_env: None,
            hmac_key_id: some(self.key.hmac_key_id.clone()),
            learned_values: some(self.learned_values),
        }
    }

    /// The validated `[redact]` these flags describe (the key file read
    /// and checked). Warnings (a key file others can read) go to stderr:
    /// the commands that take these flags log nowhere else.
    pub fn settings(&self) -> Result<Redact, ConfigErrors> {
        let (redact, warnings) = super::validate::redact_only(self.raw()).map_err(cli_errors)?;
        warn_all(warnings);
        Ok(redact)
    }
}

impl KeyArgs {
    /// The validated `[redact]` for a command that only fingerprints.
    pub fn settings(&self) -> Result<Redact, ConfigErrors> {
        RedactArgs {
            style: StyleArg::Label,
            learned_values: d::LEARNED_VALUES.default,
            key: self.clone(),
        }
        .settings()
    }
}

/// Alerts on findings (filter and the network modes).
#[derive(Args, Clone, Debug)]
pub struct AlertArgs {
    /// Append one JSON line per alert (never secret bytes) to FILE.
    #[arg(long, value_name = "FILE")]
    pub alert_audit_file: Option<PathBuf>,
    /// POST each alert as a CloudEvents 1.0 JSON event to URL (http://).
    #[arg(long, value_name = "URL")]
    pub alert_webhook: Option<String>,
    /// File holding the webhook's bearer token.
    #[arg(long, value_name = "FILE", requires = "alert_webhook")]
    pub alert_webhook_token_file: Option<PathBuf>,
    /// Send alerts to Prometheus Alertmanager at URL (POST /api/v2/alerts).
    #[arg(long, value_name = "URL")]
    pub alertmanager: Option<String>,
    /// Dedup window per (rule, fingerprint), in ms.
    #[arg(long, value_name = "MS", default_value_t = d::ALERT_WINDOW_MS.default)]
    pub alert_window_ms: u64,
    /// Alerts queued at most (per sink); beyond, they are dropped (counted).
    #[arg(long, value_name = "N", default_value_t = d::ALERT_QUEUE.default)]
    pub alert_queue: u64,
    /// Alerts delivered per second per sink (token bucket; decimals allowed).
    #[arg(long, value_name = "N", default_value_t = d::ALERT_RATE)]
    pub alert_rate: f64,
    /// Token bucket size per sink.
    #[arg(long, value_name = "N", default_value_t = d::ALERT_BURST.default)]
    pub alert_burst: u64,
    /// Bound on one HTTP delivery, in ms.
    #[arg(long, value_name = "MS", default_value_t = d::ALERT_TIMEOUT_MS.default)]
    pub alert_timeout_ms: u64,
    /// Delivery attempts per alert and sink at most (retries back off from
    /// 200 ms, doubling, up to 10 s, within --alert-retry-ms).
    #[arg(long, value_name = "N", default_value_t = d::ALERT_MAX_ATTEMPTS.default)]
    pub alert_max_attempts: u64,
    /// How long after it was queued a failed alert delivery is still
    /// retried, in ms.
    #[arg(long, value_name = "MS", default_value_t = d::ALERT_RETRY_MS.default)]
    pub alert_retry_ms: u64,
    /// Time queued alerts get to be delivered at exit, in ms.
    #[arg(long, value_name = "MS", default_value_t = d::ALERT_DRAIN_MS.default)]
    pub alert_drain_ms: u64,
}

impl AlertArgs {
    /// `None` without a sink: the tuning flags alone start no pipeline.
    fn raw(&self) -> Option<Spanned<raw::Alerts>> {
        let sinks = self.alert_audit_file.is_some()
            || self.alert_webhook.is_some()
            || self.alertmanager.is_some();
        sinks.then(|| {
            v(raw::Alerts {
                audit_file: self.alert_audit_file.as_deref().map(path_str).map(v),
                webhook_url: self.alert_webhook.clone().map(v),
                webhook_token_file: self
                    .alert_webhook_token_file
                    .as_deref()
                    .map(path_str)
                    .map(v),
                alertmanager_url: self.alertmanager.clone().map(v),
                window_ms: some(self.alert_window_ms),
                queue: some(self.alert_queue),
                rate_per_second: some(self.alert_rate),
                burst: some(self.alert_burst),
                timeout_ms: some(self.alert_timeout_ms),
                max_attempts: some(self.alert_max_attempts),
                retry_ms: some(self.alert_retry_ms),
                drain_ms: some(self.alert_drain_ms),
            })
        })
    }

    /// The validated `[alerts]` these flags describe; `None` without a
    /// sink.
    pub fn settings(&self) -> Result<Option<Alerts>, ConfigErrors> {
        super::validate::alerts_only(self.raw()).map_err(cli_errors)
    }
}

/// Settings every network command shares.
#[derive(Args, Clone, Debug)]
pub struct NetArgs {
    /// Once every listener is bound, write one `NAME ADDR` line per bound
    /// address to FILE (useful with port 0).
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// Serve Prometheus metrics (`/metrics`), `/healthz` and `/readyz` over
    /// HTTP on ADDR (`IP:PORT`, or `PORT` on 127.0.0.1); listed in the ready
    /// file as `metrics ADDR`.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Allow listen and metrics addresses other than loopback (redactd
    /// binds 127.0.0.1 unless told otherwise).
    #[arg(long)]
    pub public: bool,
    /// Connections served at once per listener; a newcomer beyond takes
    /// the slot of the stalest connection (a message stalled or silence of
    /// 1 s or more), or is closed when every connection makes progress.
    #[arg(long, value_name = "N", default_value_t = d::MAX_CONNECTIONS.default)]
    pub max_connections: u64,
    /// Time connections get to finish after SIGTERM/SIGINT, in ms.
    #[arg(long, value_name = "MS", default_value_t = d::DRAIN_MS.default)]
    pub drain_ms: u64,
    /// Bound on one upstream connect, in ms.
    #[arg(long, value_name = "MS", default_value_t = d::CONNECT_TIMEOUT_MS.default)]
    pub connect_timeout_ms: u64,
    /// A connection with nothing in progress is closed after this long
    /// without a byte, in ms; 0: never.
    #[arg(long, value_name = "MS", default_value_t = d::IDLE_TIMEOUT_MS.default)]
    pub idle_timeout_ms: u64,
    /// Time a message (syslog frame, line, HTTP request) may take from its
    /// first byte to its last, in ms; a slower one is dropped (counted) and
    /// its connection closed.
    #[arg(long, value_name = "MS", default_value_t = d::MESSAGE_TIMEOUT_MS.default)]
    pub message_timeout_ms: u64,
    /// Bytes of incomplete messages all connections together may hold
    /// beyond their first 64 KiB each; a connection that needs more waits.
    #[arg(long, value_name = "BYTES", default_value_t = d::BUFFER_BYTES.default)]
    pub buffer_bytes: u64,
    /// Worker threads (0: one per core).
    #[arg(long, value_name = "N", default_value_t = d::THREADS.default)]
    pub threads: u64,
    /// Log filter (`error`, `warn`, `info`, `debug`, or a tracing
    /// directive); RUST_LOG wins when set.
    #[arg(long, value_name = "FILTER", default_value = d::LOG)]
    pub log: String,
    /// Alerts on findings.
    #[command(flatten)]
    pub alerts: AlertArgs,
}

impl NetArgs {
    fn runtime(&self) -> raw::Runtime {
        raw::Runtime {
            threads: some(self.threads),
            drain_ms: some(self.drain_ms),
            log: some(self.log.clone()),
            buffer_bytes: some(self.buffer_bytes),
        }
    }

    fn metrics(&self) -> Option<Spanned<raw::Metrics>> {
        self.metrics.as_ref().map(|m| {
            // `PORT` alone is loopback.
            let listen = if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) {
                format!("127.0.0.1:{m}")
            } else {
                m.clone()
            };
            v(raw::Metrics {
                listen: some(listen),
                public: self.public.then(|| v(true)),
            })
        })
    }

    /// The keys every listener takes.
    fn listener(&self, name: &str, mode: &str, upstream: &str) -> raw::Listener {
        raw::Listener {
            name: some(name.to_string()),
            mode: some(mode.to_string()),
            public: self.public.then(|| v(true)),
            upstream: some(upstream.to_string()),
            max_connections: some(self.max_connections),
            connect_timeout_ms: some(self.connect_timeout_ms),
            idle_timeout_ms: some(self.idle_timeout_ms),
            message_timeout_ms: some(self.message_timeout_ms),
            ..raw::Listener::default()
        }
    }
}

/// TLS towards clients and upstreams (network commands).
#[derive(Args, Clone, Debug)]
pub struct TlsArgs {
    /// PEM certificate chain for TLS listeners.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for TLS listeners.
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates: TLS clients must present a certificate signed
    /// by one of them.
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// PEM CA certificates a tls:// upstream's certificate must chain to
    /// (for an https:// upstream, instead of the system's trust store).
    #[arg(long, value_name = "FILE")]
    pub upstream_ca_file: Option<PathBuf>,
    /// PEM client certificate chain to present to a tls:// or https://
    /// upstream.
    #[arg(long, value_name = "FILE")]
    pub upstream_cert_file: Option<PathBuf>,
    /// PEM key of --upstream-cert-file.
    #[arg(long, value_name = "FILE")]
    pub upstream_key_file: Option<PathBuf>,
    /// Name to verify in a tls:// upstream's certificate (default: its
    /// host).
    #[arg(long, value_name = "NAME")]
    pub upstream_server_name: Option<String>,
}

fn file_opt(p: &Option<PathBuf>) -> Opt<String> {
    p.as_deref().map(path_str).map(v)
}

impl TlsArgs {
    /// Whether any listener-side flag is given.
    fn serves_tls(&self) -> bool {
        self.tls_cert_file.is_some()
            || self.tls_key_file.is_some()
            || self.tls_client_ca_file.is_some()
    }

    fn server(&self) -> Spanned<raw::ServerTls> {
        v(raw::ServerTls {
            cert_file: file_opt(&self.tls_cert_file),
            key_file: file_opt(&self.tls_key_file),
            client_ca_file: file_opt(&self.tls_client_ca_file),
        })
    }

    fn client(&self) -> Option<Spanned<raw::ClientTls>> {
        let any = self.upstream_ca_file.is_some()
            || self.upstream_cert_file.is_some()
            || self.upstream_key_file.is_some()
            || self.upstream_server_name.is_some();
        any.then(|| {
            v(raw::ClientTls {
                ca_file: file_opt(&self.upstream_ca_file),
                cert_file: file_opt(&self.upstream_cert_file),
                key_file: file_opt(&self.upstream_key_file),
                server_name: self.upstream_server_name.clone().map(v),
            })
        })
    }

    /// TLS on both sides of a one-listener command (`tcp`, `http`).
    fn apply(&self, l: &mut raw::Listener) {
        l.tls = self.serves_tls().then(|| self.server());
        l.upstream_tls = self.client();
    }
}

/// The flags every network command takes besides its own.
#[derive(Args, Clone, Debug)]
pub struct CommonArgs {
    /// Limits, timeouts, runtime, metrics and alerts.
    #[command(flatten)]
    pub net: NetArgs,
    /// TLS on either side.
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Replacement style and key.
    #[command(flatten)]
    pub redact: RedactArgs,
    /// Which rules run.
    #[command(flatten)]
    pub rules: RuleArgs,
}

impl CommonArgs {
    /// The raw config of these flags, without listeners yet.
    fn file(&self) -> raw::File {
        raw::File {
            redact: self.redact.raw(),
            rules: self.rules.raw(),
            runtime: self.net.runtime(),
            metrics: self.net.metrics(),
            alerts: self.net.alerts.raw(),
            listener: Vec::new(),
        }
    }
}

/// `redactd syslog`.
#[derive(Args, Clone, Debug)]
pub struct SyslogArgs {
    /// TCP address to accept syslog on (either framing). Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub listen_tcp: Vec<SocketAddr>,
    /// UDP address to accept syslog on. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub listen_udp: Vec<SocketAddr>,
    /// TCP address to accept syslog over TLS on (RFC 5425: octet counting
    /// only). Repeatable; needs --tls-cert-file and --tls-key-file. Served
    /// as a listener of its own, `syslog-tls`, beside `syslog`.
    #[arg(long, value_name = "ADDR")]
    pub listen_tls: Vec<SocketAddr>,
    /// Where to relay: tcp://HOST:PORT, udp://HOST:PORT or tls://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// Framing towards a TCP upstream.
    #[arg(long, value_enum)]
    pub upstream_framing: Option<Framing>,
    /// Largest message relayed from TCP, in bytes; a longer one is cut to
    /// it (a secret at the cut is dropped whole) and counted as truncated.
    #[arg(long, value_name = "BYTES", default_value_t = d::MAX_MESSAGE_SIZE.default)]
    pub max_message_size: u64,
    /// Bytes of messages waiting for the upstream at most (at least
    /// --max-message-size); TCP clients wait beyond it, UDP datagrams are
    /// dropped (counted).
    #[arg(long, value_name = "BYTES", default_value_t = d::QUEUE_BYTES.default)]
    pub queue_bytes: u64,
    /// Largest datagram sent to a UDP upstream; longer messages are cut.
    #[arg(long, value_name = "BYTES", default_value_t = d::MAX_DATAGRAM.default)]
    pub max_datagram: u64,
    /// What every network command takes.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `redactd tcp`.
#[derive(Args, Clone, Debug)]
pub struct TcpArgs {
    /// TCP address to accept clients on.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Where to forward each client: HOST:PORT, tcp://HOST:PORT or
    /// tls://HOST:PORT. With --tls-cert-file the listener is TLS too.
    #[arg(long, value_name = "ADDR")]
    pub upstream: String,
    /// Idle time after which bytes held back are released, as far as no
    /// secret can still be in progress across them, in ms.
    #[arg(long, value_name = "MS", default_value_t = d::FLUSH_MS.default)]
    pub flush_ms: u64,
    /// What every network command takes.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `redactd http`.
#[derive(Args, Clone, Debug)]
pub struct HttpArgs {
    /// TCP address to accept HTTP/1.1 requests on.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Where requests go: http://HOST[:PORT][/PREFIX] or https://...; TLS
    /// on the listener with --tls-cert-file and --tls-key-file.
    #[arg(long, value_name = "URL")]
    pub upstream: String,
    /// Largest request body after decoding, in bytes (413 beyond it).
    #[arg(long, value_name = "BYTES", default_value_t = d::MAX_BODY.default)]
    pub max_body: u64,
    /// NDJSON and text bodies longer than this, or sent chunked, are
    /// redacted as they arrive and streamed upstream chunked; shorter ones
    /// are buffered and sent with a Content-Length.
    #[arg(long, value_name = "BYTES", default_value_t = d::STREAM_ABOVE.default)]
    pub stream_above: u64,
    /// Longest NDJSON line (one document) held while streaming, in bytes
    /// (413 beyond it).
    #[arg(long, value_name = "BYTES", default_value_t = d::MAX_LINE.default)]
    pub max_line: u64,
    /// Time a client gets to send a request's headers, in ms; a slower one
    /// is disconnected.
    #[arg(long, value_name = "MS", default_value_t = d::HEADER_TIMEOUT_MS.default)]
    pub header_timeout_ms: u64,
    /// What every network command takes.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Key paths whose flag is not the one [`flag_for`] derives.
pub type Renames = Vec<(String, &'static str)>;

/// A network command's flags as one validated config.
pub trait ListenerCommand {
    /// The shared flags.
    fn net(&self) -> &NetArgs;

    /// Validates the flags as `serve` validates a file.
    fn config(&self) -> Result<Config, ConfigErrors>;
}

/// Validates the raw config a command's flags describe; errors name the
/// flag each key path comes from (`renames` where it is not the one
/// [`flag_for`] derives).
fn validated(raw: Result<(raw::File, Renames), ConfigErrors>) -> Result<Config, ConfigErrors> {
    let (file, renames) = raw?;
    let flagged_all = |e: Vec<ConfigError>| {
        ConfigErrors::new(
            ORIGIN,
            e.into_iter().map(|e| flagged(e, &renames)).collect(),
        )
    };
    let mut config = super::validate::validate(file, None, None, true).map_err(flagged_all)?;
    config.origin = ORIGIN.to_string();
    config.warnings = config
        .warnings
        .into_iter()
        .map(|w| flagged(w, &renames))
        .collect();
    Ok(config)
}

impl ListenerCommand for SyslogArgs {
    fn net(&self) -> &NetArgs {
        &self.common.net
    }

    fn config(&self) -> Result<Config, ConfigErrors> {
        validated(self.raw())
    }
}

impl SyslogArgs {
    fn raw(&self) -> Result<(raw::File, Renames), ConfigErrors> {
        let mut file = self.common.file();
        let framing = self.upstream_framing.map(|f| {
            f.to_possible_value()
                .expect("no variant is skipped")
                .get_name()
                .to_string()
        });
        let syslog = |name: &str| raw::Listener {
            upstream_framing: framing.clone().map(v),
            max_message_size: some(self.max_message_size),
            queue_bytes: some(self.queue_bytes),
            max_datagram: some(self.max_datagram),
            upstream_tls: self.common.tls.client(),
            ..self.common.net.listener(name, "syslog", &self.upstream)
        };
        let mut renames = Vec::new();
        let plain = !self.listen_tcp.is_empty() || !self.listen_udp.is_empty();
        if plain || self.listen_tls.is_empty() {
            file.listener.push(v(raw::Listener {
                listen_tcp: addrs(&self.listen_tcp),
                listen_udp: addrs(&self.listen_udp),
                ..syslog("syslog")
            }));
        }
        if !self.listen_tls.is_empty() {
            let i = file.listener.len();
            renames.push((format!("listener[{i}].listen_tcp"), "--listen-tls"));
            file.listener.push(v(raw::Listener {
                listen_tcp: addrs(&self.listen_tls),
                tls: Some(self.common.tls.server()),
                ..syslog("syslog-tls")
            }));
        } else if self.common.tls.serves_tls() {
            // Ignoring them would leave a plaintext listener the user
            // believes is TLS.
            return Err(usage_error(
                "--tls-cert-file",
                "TLS applies to --listen-tls addresses, and none is given",
            ));
        }
        Ok((file, renames))
    }
}

impl ListenerCommand for TcpArgs {
    fn net(&self) -> &NetArgs {
        &self.common.net
    }

    fn config(&self) -> Result<Config, ConfigErrors> {
        validated(self.raw())
    }
}

impl TcpArgs {
    fn raw(&self) -> Result<(raw::File, Renames), ConfigErrors> {
        let mut file = self.common.file();
        let mut l = raw::Listener {
            listen: some(self.listen.to_string()),
            flush_ms: some(self.flush_ms),
            ..self.common.net.listener("tcp-0", "tcp", &self.upstream)
        };
        self.common.tls.apply(&mut l);
        file.listener.push(v(l));
        Ok((file, Vec::new()))
    }
}

impl ListenerCommand for HttpArgs {
    fn net(&self) -> &NetArgs {
        &self.common.net
    }

    fn config(&self) -> Result<Config, ConfigErrors> {
        validated(self.raw())
    }
}

impl HttpArgs {
    fn raw(&self) -> Result<(raw::File, Renames), ConfigErrors> {
        let mut file = self.common.file();
        let mut l = raw::Listener {
            listen: some(self.listen.to_string()),
            max_body: some(self.max_body),
            stream_above: some(self.stream_above),
            max_line: some(self.max_line),
            header_timeout_ms: some(self.header_timeout_ms),
            ..self.common.net.listener("http-0", "http", &self.upstream)
        };
        self.common.tls.apply(&mut l);
        file.listener.push(v(l));
        Ok((file, Vec::new()))
    }
}

/// Config keys whose flag is not `--` + the key with `-` for `_` (listener
/// keys lose their `listener[N].` prefix first).
const FLAGS: &[(&str, &str)] = &[
    ("redact.style", "--style"),
    ("redact.hmac_key_file", "--hmac-key-file"),
    ("redact.hmac_key_id", "--hmac-key-id"),
    ("redact.learned_values", "--learned-values"),
    ("rules.dirs", "--rules"),
    ("rules.builtin", "--no-builtin"),
    ("rules.enable", "--enable"),
    ("rules.disable", "--disable"),
    ("rules.known_secrets", "--known-secrets"),
    ("rules.known_secrets_env", "--known-secrets-env"),
    ("rules.allow_regex", "--allow-regex"),
    ("rules.allow_fingerprints", "--allow-fingerprints"),
    ("runtime.threads", "--threads"),
    ("runtime.drain_ms", "--drain-ms"),
    ("runtime.log", "--log"),
    ("runtime.buffer_bytes", "--buffer-bytes"),
    ("metrics.listen", "--metrics"),
    ("metrics", "--metrics"),
    ("alerts.audit_file", "--alert-audit-file"),
    ("alerts.webhook_url", "--alert-webhook"),
    ("alerts.webhook_token_file", "--alert-webhook-token-file"),
    ("alerts.alertmanager_url", "--alertmanager"),
    ("alerts.window_ms", "--alert-window-ms"),
    ("alerts.queue", "--alert-queue"),
    ("alerts.rate_per_second", "--alert-rate"),
    ("alerts.burst", "--alert-burst"),
    ("alerts.timeout_ms", "--alert-timeout-ms"),
    ("alerts.max_attempts", "--alert-max-attempts"),
    ("alerts.retry_ms", "--alert-retry-ms"),
    ("alerts.drain_ms", "--alert-drain-ms"),
    ("upstream_tls.ca_file", "--upstream-ca-file"),
    ("upstream_tls.cert_file", "--upstream-cert-file"),
    ("upstream_tls.key_file", "--upstream-key-file"),
    ("upstream_tls.server_name", "--upstream-server-name"),
    ("upstream_tls", "--upstream-ca-file"),
    ("tls", "--tls-cert-file"),
];

/// The flag a config key path came from: `listener[0].max_message_size` →
/// `--max-message-size`, `rules.dirs[2]` → `--rules`.
pub fn flag_for(path: &str, renames: &[(String, &'static str)]) -> String {
    // Indexes of repeated flags say nothing on a command line.
    let unindexed = match path.rfind('[') {
        Some(i) if path.ends_with(']') => &path[..i],
        _ => path,
    };
    if let Some((_, flag)) = renames.iter().find(|(p, _)| p == unindexed) {
        return flag.to_string();
    }
    let key = match unindexed.strip_prefix("listener[") {
        Some(rest) => rest.split_once("].").map_or(rest, |(_, key)| key),
        None => unindexed,
    };
    match FLAGS.iter().find(|(k, _)| *k == key) {
        Some((_, flag)) => flag.to_string(),
        None => format!("--{}", key.replace(['_', '.'], "-")),
    }
}

fn flagged(mut e: ConfigError, renames: &[(String, &'static str)]) -> ConfigError {
    if !e.path.is_empty() {
        e.path = flag_for(&e.path, renames);
    }
    e.line = None;
    e
}

/// Errors of a command line's config, each naming its flag.
fn cli_errors(errors: Vec<ConfigError>) -> ConfigErrors {
    ConfigErrors::new(
        ORIGIN,
        errors.into_iter().map(|e| flagged(e, &[])).collect(),
    )
}

/// Prints warnings about flags to stderr (commands that log nowhere
/// else).
fn warn_all(warnings: Vec<ConfigError>) {
    for w in warnings {
        eprintln!("redactd: warning: {}", flagged(w, &[]));
    }
}

/// A problem only a command line can have.
pub fn usage_error(flag: &str, message: &str) -> ConfigErrors {
    ConfigErrors::new(
        ORIGIN,
        vec![ConfigError::new(ErrorKind::Invalid, flag, message)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_name_their_flags() {
        let none: &[(String, &'static str)] = &[];
        assert_eq!(
            flag_for("listener[0].max_message_size", none),
            "--max-message-size"
        );
        assert_eq!(flag_for("listener[0].listen_tcp[1]", none), "--listen-tcp");
        assert_eq!(
            flag_for("listener[0].tls.cert_file", none),
            "--tls-cert-file"
        );
        assert_eq!(
            flag_for("listener[0].tls.client_ca_file", none),
            "--tls-client-ca-file"
        );
        assert_eq!(
            flag_for("listener[0].upstream_tls.ca_file", none),
            "--upstream-ca-file"
        );
        assert_eq!(flag_for("rules.dirs[2]", none), "--rules");
        assert_eq!(flag_for("alerts.rate_per_second", none), "--alert-rate");
        let renames = [("listener[1].listen_tcp".to_string(), "--listen-tls")];
        assert_eq!(
            flag_for("listener[1].listen_tcp[0]", &renames),
            "--listen-tls"
        );
        assert_eq!(
            flag_for("listener[0].listen_tcp[0]", &renames),
            "--listen-tcp"
        );
    }
}
