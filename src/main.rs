//! The `redactd` command line: argument parsing, wiring and exit codes. The
//! only place that uses `anyhow`.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use redactd::check;
use redactd::engine::fingerprint::Fingerprinter;
use redactd::engine::{Options, Style};
use redactd::modes::filter::{self, Source};
use redactd::rules::{RuleSet, RuleSetBuilder};

#[derive(Parser)]
#[command(
    name = "redactd",
    version,
    about = "Scrub secrets out of log streams before they leave"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Redact files (or stdin) to stdout, like `cat`.
    Filter(FilterArgs),
    /// Relay syslog (TCP with either RFC 6587 framing, UDP) to an upstream,
    /// redacting each message.
    Syslog(Box<SyslogArgs>),
    /// Proxy TCP byte streams (line-based log inputs) to an upstream,
    /// redacting them.
    Tcp(Box<TcpArgs>),
    /// Reverse-proxy log-ingestion HTTP APIs (Elasticsearch _bulk, Loki,
    /// OTLP/HTTP, Splunk HEC, Datadog...), redacting request bodies.
    Http(Box<HttpArgs>),
    /// Run every listener of a config file; SIGHUP reloads it.
    Serve(ServeArgs),
    /// Validate a config file (every problem, with its key path) and exit.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Find secrets already sitting in files and directories (gzip read
    /// transparently); exit 1 when anything is found.
    Scan(ScanArgs),
    /// List, check and explain rules.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Args, Clone)]
struct RuleArgs {
    /// Add the rule files in DIR (or the file DIR). Repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Enable rules by id or tag (on top of the `default` tag). Repeatable.
    #[arg(long, value_name = "ID|TAG")]
    enable: Vec<String>,
    /// Disable rules by id or tag. Repeatable; wins over --enable.
    #[arg(long, value_name = "ID|TAG")]
    disable: Vec<String>,
    /// Do not load the built-in rules.
    #[arg(long)]
    no_builtin: bool,
    /// Mask these known values wherever they appear, raw, JSON-escaped,
    /// percent-encoded or base64-encoded (rules `known.<name>`): a file of
    /// values, one per line, or a directory of one file per value (as
    /// Kubernetes secret volumes look). Repeatable.
    #[arg(long, value_name = "PATH")]
    known_secrets: Vec<PathBuf>,
    /// Mask the value of this environment variable (rule `known.<name>`).
    /// Repeatable.
    #[arg(long, value_name = "NAME")]
    known_secrets_env: Vec<String>,
    /// Not a secret: candidates whose secret bytes match this regex are
    /// neither redacted nor reported (anchor with ^...$). Repeatable.
    #[arg(long, value_name = "REGEX")]
    allow_regex: Vec<String>,
    /// Not secrets: a file of fingerprints as findings show them
    /// (`keyid:hex`, one per line). Needs the same --hmac-key-file.
    #[arg(long, value_name = "FILE")]
    allow_fingerprints: Option<PathBuf>,
}

impl RuleArgs {
    /// The rule-set builder these flags describe: the same settings as a
    /// config file's `[rules]`, built the same way.
    fn builder(&self) -> Result<RuleSetBuilder> {
        let rules = redactd::config::Rules {
            dirs: self.rules.clone(),
            enable: self.enable.clone(),
            disable: self.disable.clone(),
            builtin: !self.no_builtin,
            known_secrets: self.known_secrets.clone(),
            known_secrets_env: self.known_secrets_env.clone(),
            allow_regex: self.allow_regex.clone(),
            allow_fingerprints: self.allow_fingerprints.iter().cloned().collect(),
        };
        Ok(rules.builder()?)
    }

    fn load(&self) -> Result<Arc<RuleSet>> {
        Ok(check::load(&self.builder()?)?)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StyleArg {
    /// `[REDACTED:rule.id]`
    Label,
    /// one `*` per byte
    Mask,
    /// public prefix, `****`, and at most min(4, n/4) trailing bytes
    Partial,
    /// `[rule.id:hmac:KEYID:8hex]` (needs --hmac-key-file)
    Hmac,
}

/// How secrets are replaced and fingerprinted (every mode).
#[derive(Args)]
struct RedactArgs {
    /// How secrets are replaced.
    #[arg(long, value_enum, default_value = "label")]
    style: StyleArg,
    /// File holding the HMAC key (16+ bytes) for fingerprints and the hmac
    /// style. Without it, fingerprints use a random per-run key.
    #[arg(long, value_name = "FILE")]
    hmac_key_file: Option<PathBuf>,
    /// Id of the HMAC key, shown in fingerprints (for key rotation).
    #[arg(long, value_name = "ID", default_value = "k1")]
    hmac_key_id: String,
}

impl RedactArgs {
    fn options(&self) -> Result<Options> {
        let style = match self.style {
            StyleArg::Label => Style::Label,
            StyleArg::Mask => Style::Mask,
            StyleArg::Partial => Style::Partial,
            StyleArg::Hmac => Style::Hmac,
        };
        let fingerprinter = match &self.hmac_key_file {
            Some(path) => {
                let key = std::fs::read(path)
                    .with_context(|| format!("cannot read HMAC key file {}", path.display()))?;
                Fingerprinter::new(&key, &self.hmac_key_id)
                    .with_context(|| format!("bad HMAC key in {}", path.display()))?
            }
            None if style == Style::Hmac => bail!("--style hmac needs --hmac-key-file"),
            None => Fingerprinter::ephemeral()?,
        };
        Ok(Options {
            style,
            fingerprinter: Arc::new(fingerprinter),
        })
    }
}

#[derive(Args)]
struct FilterArgs {
    /// Input files; stdin when none (or `-`).
    files: Vec<PathBuf>,
    /// Print bytes, findings per rule and throughput to stderr at the end.
    #[arg(long)]
    stats: bool,
    /// Write one JSON line per finding (never secret bytes) to FILE.
    #[arg(long, value_name = "FILE")]
    findings: Option<PathBuf>,
    #[command(flatten)]
    alerts: AlertArgs,
    #[command(flatten)]
    redact: RedactArgs,
    #[command(flatten)]
    rules: RuleArgs,
}

/// Alerts on findings (filter and the network modes).
#[derive(Args)]
struct AlertArgs {
    /// Append one JSON line per alert (never secret bytes) to FILE.
    #[arg(long, value_name = "FILE")]
    alert_audit_file: Option<PathBuf>,
    /// POST each alert as a CloudEvents 1.0 JSON event to URL (http://).
    #[arg(long, value_name = "URL")]
    alert_webhook: Option<String>,
    /// File holding the webhook's bearer token.
    #[arg(long, value_name = "FILE", requires = "alert_webhook")]
    alert_webhook_token_file: Option<PathBuf>,
    /// Send alerts to Prometheus Alertmanager at URL (POST /api/v2/alerts).
    #[arg(long, value_name = "URL")]
    alertmanager: Option<String>,
    /// Dedup window per (rule, fingerprint), in ms.
    #[arg(long, value_name = "MS", default_value_t = 300_000)]
    alert_window_ms: u64,
    /// Alerts queued at most (per sink); beyond, they are dropped (counted).
    #[arg(long, value_name = "N", default_value_t = 1024)]
    alert_queue: usize,
    /// Alerts delivered per second per sink (token bucket).
    #[arg(long, value_name = "N", default_value_t = 10.0)]
    alert_rate: f64,
    /// Token bucket size per sink.
    #[arg(long, value_name = "N", default_value_t = 20)]
    alert_burst: u32,
    /// Bound on one HTTP delivery, in ms.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    alert_timeout_ms: u64,
    /// Delivery attempts per alert and sink (retries back off from 200 ms,
    /// doubling, up to 10 s).
    #[arg(long, value_name = "N", default_value_t = 5)]
    alert_max_attempts: u32,
    /// Time queued alerts get to be delivered at exit, in ms.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    alert_drain_ms: u64,
}

impl AlertArgs {
    fn specs(&self) -> Vec<redactd::alert::SinkSpec> {
        use redactd::alert::SinkSpec;
        let mut v = Vec::new();
        if let Some(p) = &self.alert_audit_file {
            v.push(SinkSpec::Audit(p.clone()));
        }
        if let Some(url) = &self.alert_webhook {
            v.push(SinkSpec::Webhook {
                url: url.clone(),
                token_file: self.alert_webhook_token_file.clone(),
            });
        }
        if let Some(url) = &self.alertmanager {
            v.push(SinkSpec::Alertmanager { url: url.clone() });
        }
        v
    }

    fn settings(&self) -> redactd::alert::Settings {
        use std::time::Duration;
        redactd::alert::Settings {
            window: Duration::from_millis(self.alert_window_ms),
            queue: self.alert_queue.max(1),
            rate_per_second: self.alert_rate,
            burst: self.alert_burst,
            timeout: Duration::from_millis(self.alert_timeout_ms),
            max_attempts: self.alert_max_attempts.max(1),
            ..redactd::alert::Settings::default()
        }
    }

    fn drain(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.alert_drain_ms)
    }

    /// Starts the pipeline (inside a runtime).
    fn start(&self, set: &RuleSet) -> Result<(redactd::alert::Alerts, redactd::alert::Running)> {
        Ok(redactd::alert::Alerts::start(
            self.settings(),
            &self.specs(),
            set,
        )?)
    }
}

/// Delivers what is queued (bounded by the drain time) and logs the counts.
async fn finish_alerts(
    alerts: &redactd::alert::Alerts,
    running: redactd::alert::Running,
    drain: std::time::Duration,
) {
    if alerts.is_enabled() {
        alerts.close();
        running.drain(alerts, drain).await;
        tracing::info!("{}", alerts.summary());
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ScanFormat {
    /// `path:line  rule  severity  fingerprint` rows and a summary
    Table,
    /// one JSON document
    Json,
    /// SARIF 2.1.0
    Sarif,
}

#[derive(Args)]
struct ScanArgs {
    /// Files and directories to scan (directories recursively).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    format: ScanFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Skip files and directories matching GLOB (`*`, `?`; matched against
    /// the name, or against the whole path when GLOB has a `/`). Repeatable.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Follow symlinks inside directories (loops are detected and skipped).
    #[arg(long)]
    follow: bool,
    /// File holding the HMAC key (16+ bytes) for fingerprints, so they are
    /// stable across runs. Without it, a random per-run key.
    #[arg(long, value_name = "FILE")]
    hmac_key_file: Option<PathBuf>,
    /// Id of the HMAC key, shown in fingerprints.
    #[arg(long, value_name = "ID", default_value = "k1")]
    hmac_key_id: String,
    #[command(flatten)]
    rules: RuleArgs,
}

/// Settings every network mode shares.
#[derive(Args)]
struct NetArgs {
    /// Once every listener is bound, write one `NAME ADDR` line per
    /// listener to FILE (useful with port 0).
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// Serve Prometheus metrics (`/metrics`), `/healthz` and `/readyz` over
    /// HTTP on ADDR (`HOST:PORT`, or `PORT` on 127.0.0.1); listed in the
    /// ready file as `metrics ADDR`.
    #[arg(long, value_name = "ADDR", value_parser = redactd::metrics::parse_addr)]
    metrics: Option<SocketAddr>,
    /// Connections served at once per TCP listener; more are closed.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Time connections get to finish after SIGTERM/SIGINT, in ms.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    drain_ms: u64,
    /// Bound on one upstream connect, in ms.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    connect_timeout_ms: u64,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Log filter (`error`, `warn`, `info`, `debug`, or a tracing
    /// directive); RUST_LOG wins when set.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    log: String,
    #[command(flatten)]
    alerts: AlertArgs,
}

/// TLS towards clients and upstreams (network modes).
#[derive(Args)]
struct TlsArgs {
    /// PEM certificate chain for TLS listeners.
    #[arg(long, value_name = "FILE")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key for TLS listeners.
    #[arg(long, value_name = "FILE")]
    tls_key_file: Option<PathBuf>,
    /// PEM CA certificates: TLS clients must present a certificate signed
    /// by one of them.
    #[arg(long, value_name = "FILE")]
    tls_client_ca_file: Option<PathBuf>,
    /// PEM CA certificates a tls:// upstream's certificate must chain to
    /// (for an https:// upstream, instead of the system's trust store).
    #[arg(long, value_name = "FILE")]
    upstream_ca_file: Option<PathBuf>,
    /// PEM client certificate chain to present to a tls:// or https://
    /// upstream.
    #[arg(long, value_name = "FILE")]
    upstream_cert_file: Option<PathBuf>,
    /// PEM key of --upstream-cert-file.
    #[arg(long, value_name = "FILE")]
    upstream_key_file: Option<PathBuf>,
    /// Name to verify in the upstream's certificate (default: its host).
    #[arg(long, value_name = "NAME")]
    upstream_server_name: Option<String>,
}

impl TlsArgs {
    /// The listener acceptor, when certificate and key are given.
    fn acceptor(&self) -> Result<Option<tokio_rustls::TlsAcceptor>> {
        use redactd::modes::tls::{acceptor, ServerTls};
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Ok(Some(acceptor(&ServerTls {
                cert_file: cert.clone(),
                key_file: key.clone(),
                client_ca_file: self.tls_client_ca_file.clone(),
            })?)),
            (None, None) if self.tls_client_ca_file.is_some() => {
                bail!("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")
            }
            (None, None) => Ok(None),
            _ => bail!("--tls-cert-file and --tls-key-file go together"),
        }
    }

    /// Upstream TLS settings for `upstream`.
    fn upstream(
        &self,
        upstream: &redactd::modes::net::Upstream,
    ) -> Result<Option<redactd::modes::tls::ClientTls>> {
        use redactd::modes::net::Upstream;
        match (upstream, &self.upstream_ca_file) {
            (Upstream::Tls(_), Some(ca)) => Ok(Some(redactd::modes::tls::ClientTls {
                ca_file: ca.clone(),
                cert_file: self.upstream_cert_file.clone(),
                key_file: self.upstream_key_file.clone(),
                server_name: self.upstream_server_name.clone(),
            })),
            (Upstream::Tls(_), None) => bail!("a tls:// upstream needs --upstream-ca-file"),
            (_, Some(_)) => bail!("--upstream-ca-file is for a tls:// upstream"),
            (_, None) => Ok(None),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FramingArg {
    /// Each message as it arrived (datagrams octet counted).
    Preserve,
    /// RFC 6587 octet counting.
    Octet,
    /// RFC 6587 non-transparent (LF).
    Lf,
}

#[derive(Args)]
struct SyslogArgs {
    /// TCP address to accept syslog on (either framing). Repeatable.
    #[arg(long, value_name = "ADDR")]
    listen_tcp: Vec<SocketAddr>,
    /// UDP address to accept syslog on. Repeatable.
    #[arg(long, value_name = "ADDR")]
    listen_udp: Vec<SocketAddr>,
    /// TCP address to accept syslog over TLS on (RFC 5425: octet counting
    /// only). Repeatable; needs --tls-cert-file and --tls-key-file.
    #[arg(long, value_name = "ADDR")]
    listen_tls: Vec<SocketAddr>,
    /// Where to relay: tcp://HOST:PORT, udp://HOST:PORT or tls://HOST:PORT.
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Framing towards a TCP upstream.
    #[arg(long, value_enum, default_value = "preserve")]
    upstream_framing: FramingArg,
    /// Largest message accepted over TCP, in bytes; a larger frame closes
    /// the connection (counted).
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    max_message_size: usize,
    /// Bytes of messages waiting for the upstream at most; TCP clients wait
    /// beyond it, UDP datagrams are dropped (counted).
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 20)]
    queue_bytes: usize,
    /// Largest datagram sent to a UDP upstream; longer messages are cut.
    #[arg(long, value_name = "BYTES", default_value_t = 65_507)]
    max_datagram: usize,
    #[command(flatten)]
    net: NetArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    redact: RedactArgs,
    #[command(flatten)]
    rules: RuleArgs,
}

#[derive(Args)]
struct HttpArgs {
    /// TCP address to accept HTTP/1.1 requests on.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Where requests go: http://HOST:PORT[/PREFIX] or https://...; TLS on
    /// the listener with --tls-cert-file and --tls-key-file.
    #[arg(long, value_name = "URL")]
    upstream: hyper::Uri,
    /// Largest request body after decoding, in bytes (413 beyond it).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    max_body: usize,
    /// NDJSON and text bodies longer than this, or sent chunked, are
    /// redacted as they arrive and streamed upstream chunked; shorter ones
    /// are buffered and sent with a Content-Length.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    stream_above: usize,
    /// Longest NDJSON line (one document) held while streaming, in bytes
    /// (413 beyond it).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_line: usize,
    /// Time a client gets to send a request's headers, in ms; a slower one
    /// is disconnected.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    header_timeout_ms: u64,
    #[command(flatten)]
    net: NetArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    redact: RedactArgs,
    #[command(flatten)]
    rules: RuleArgs,
}

#[derive(Args)]
struct TcpArgs {
    /// TCP address to accept clients on.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Where to forward each client: HOST:PORT, tcp://HOST:PORT or
    /// tls://HOST:PORT. With --tls-cert-file the listener is TLS too.
    #[arg(long, value_name = "ADDR")]
    upstream: String,
    /// Idle time after which bytes held back are released, as far as no
    /// secret can still be in progress across them, in ms.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    flush_ms: u64,
    #[command(flatten)]
    net: NetArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    redact: RedactArgs,
    #[command(flatten)]
    rules: RuleArgs,
}

#[derive(Args)]
struct ServeArgs {
    /// The config file (see deploy/config.example.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Once every listener is bound (and after each reload), write one
    /// `NAME ADDR` line per bound address to FILE.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// List the enabled rules (or all with --all).
    List {
        /// Include rules not enabled by default.
        #[arg(long)]
        all: bool,
        /// Print each pack (tag) and how many rules it holds instead, over
        /// every rule.
        #[arg(long)]
        packs: bool,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Validate rule files and run every example; the built-ins without DIR.
    Check {
        /// Directory (or file) of rules to check instead of the built-ins.
        dir: Option<PathBuf>,
    },
    /// Show which rules match TEXT, where and why (secrets masked).
    Explain {
        /// The text to explain.
        text: String,
        #[command(flatten)]
        rules: RuleArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("redactd: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Filter(args) => run_filter(args),
        Command::Syslog(args) => run_syslog(*args),
        Command::Tcp(args) => run_tcp(*args),
        Command::Http(args) => run_http(*args),
        Command::Serve(args) => run_serve(args),
        Command::Scan(args) => run_scan(args),
        Command::CheckConfig { file } => match redactd::config::load_checked(&file) {
            Ok((cfg, rules)) => {
                println!(
                    "{}: ok ({} listener(s), {} rules)",
                    cfg.origin,
                    cfg.listeners.len(),
                    rules.rules().len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprint!("{errors}");
                Ok(ExitCode::from(1))
            }
        },
        Command::Rules(RulesCommand::List { all, packs, rules }) => {
            let mut b = rules.builder()?;
            b.all(all || packs);
            let set = b.build()?;
            let mut out = io::stdout().lock();
            if packs {
                let mut counts = std::collections::BTreeMap::<&str, usize>::new();
                for r in set.rules() {
                    if r.tags.is_empty() {
                        *counts.entry("(untagged)").or_default() += 1;
                    }
                    for t in &r.tags {
                        *counts.entry(t.as_str()).or_default() += 1;
                    }
                }
                for (tag, n) in counts {
                    if writeln!(out, "{tag:<18} {n}").is_err() {
                        break;
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            for r in set.rules() {
                let line = format!(
                    "{:<36} {:<8} {:<18} {}\n",
                    r.id.as_str(),
                    r.severity.as_str(),
                    r.tags.join(","),
                    r.name
                );
                if out.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules(RulesCommand::Check { dir }) => {
            let mut b = match &dir {
                Some(d) => {
                    let mut b = RuleSetBuilder::new();
                    b.add_path(d)?;
                    b
                }
                None => RuleSetBuilder::builtin(),
            };
            b.all(true);
            let set = b.build()?;
            let problems = check::check(&set);
            if problems.is_empty() {
                let examples: usize = set
                    .rules()
                    .iter()
                    .map(|r| r.examples.len() + r.negative_examples.len())
                    .sum();
                println!("{} rules, {} examples: ok", set.rules().len(), examples);
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &problems {
                    eprintln!("{p}");
                }
                eprintln!("{} problem(s)", problems.len());
                Ok(ExitCode::from(1))
            }
        }
        Command::Rules(RulesCommand::Explain { text, rules }) => {
            let set = rules.load()?;
            print!("{}", check::explain(&set, text.as_bytes()));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_filter(args: FilterArgs) -> Result<ExitCode> {
    let set = args.rules.load()?;
    let opts = args.redact.options()?;
    let sources: Vec<Source> = args
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                Source::Stdin
            } else {
                Source::File(f.clone())
            }
        })
        .collect();
    let mut findings_file = match &args.findings {
        Some(p) => Some(io::BufWriter::new(std::fs::File::create(p).with_context(
            || format!("cannot create findings file {}", p.display()),
        )?)),
        None => None,
    };
    let specs = args.alerts.specs();
    let rt = if specs.is_empty() {
        None
    } else {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?,
        )
    };
    let (alerts, running) = match &rt {
        Some(rt) => {
            let _enter = rt.enter();
            let (a, r) = args.alerts.start(&set)?;
            (a, Some(r))
        }
        None => (redactd::alert::Alerts::disabled(), None),
    };
    let tap = redactd::alert::Tap::new(alerts.clone(), "filter", None);
    let mut stdout = io::stdout().lock();
    let result = filter::run_alerting(
        &set,
        &opts,
        &sources,
        &mut stdout,
        findings_file.as_mut().map(|w| w as &mut dyn Write),
        &tap,
    );
    if let (Some(rt), Some(running)) = (&rt, running) {
        rt.block_on(async {
            alerts.close();
            running.drain(&alerts, args.alerts.drain()).await;
        });
        let problems = alerts
            .stats()
            .iter()
            .any(|(_, s)| s.results()[1].1 + s.results()[2].1 > 0);
        if args.stats || problems {
            eprintln!("redactd: {}", alerts.summary());
        }
    }
    let summary = match result {
        Ok(s) => s,
        Err(filter::Error::OutputClosed) => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    if args.stats {
        eprint!("{}", summary.render());
    }
    for (name, e) in &summary.unreadable {
        eprintln!("redactd: cannot read {name}: {e}");
    }
    Ok(if summary.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn run_scan(args: ScanArgs) -> Result<ExitCode> {
    use redactd::modes::scan::{self, Format, Pattern, Progress};
    let set = args.rules.load()?;
    let key = RedactArgs {
        style: StyleArg::Label,
        hmac_key_file: args.hmac_key_file.clone(),
        hmac_key_id: args.hmac_key_id.clone(),
    };
    let opts = key.options()?;
    let config = scan::Config {
        exclude: args.exclude.iter().map(|p| Pattern::new(p)).collect(),
        follow: args.follow,
    };
    let format = match args.format {
        ScanFormat::Table => Format::Table,
        ScanFormat::Json => Format::Json,
        ScanFormat::Sarif => Format::Sarif,
    };
    // Created first, so a bad path fails before the scan and the report
    // file is not scanned itself.
    let mut output = match &args.output {
        Some(p) => Some(
            std::fs::File::create(p)
                .with_context(|| format!("cannot create report file {}", p.display()))?,
        ),
        None => None,
    };
    let ignore: Vec<&std::path::Path> = args.output.iter().map(|p| p.as_path()).collect();
    let mut progress =
        io::IsTerminal::is_terminal(&io::stderr()).then(|| Progress::new(io::stderr()));
    let report = scan::scan(&set, &opts, &config, &args.paths, &ignore, &mut |t| {
        if let Some(p) = progress.as_mut() {
            p.update(t);
        }
    });
    if let Some(p) = progress.as_mut() {
        p.clear();
    }
    for p in &report.problems {
        eprintln!("redactd: {p}: {}", p.source);
    }
    let written = match output.as_mut() {
        Some(f) => {
            let mut w = io::BufWriter::new(f);
            scan::render(&report, &set, format, &mut w).and_then(|()| w.flush())
        }
        None => {
            let mut w = io::BufWriter::new(io::stdout().lock());
            scan::render(&report, &set, format, &mut w).and_then(|()| w.flush())
        }
    };
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(anyhow::Error::new(e).context("cannot write the report")),
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// Logs to stderr. Never given payload: modes log counts, peers and errors.
fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false)
        .try_init();
}

fn runtime(net: &NetArgs) -> Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = net.threads {
        b.worker_threads(n.max(1));
    }
    Ok(b.enable_all().build()?)
}

/// Installs SIGTERM and SIGINT handlers (before anyone can learn our
/// ports) and returns a future resolving on the first of them.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

fn ready(net: &NetArgs, bound: &[(String, SocketAddr)]) -> Result<()> {
    for (name, addr) in bound {
        tracing::info!(listener = %name, %addr, "listening");
    }
    if let Some(p) = &net.ready_file {
        redactd::modes::net::write_ready_file(p, bound)
            .with_context(|| format!("cannot write ready file {}", p.display()))?;
    }
    Ok(())
}

fn run_syslog(args: SyslogArgs) -> Result<ExitCode> {
    use redactd::modes::net::{Counters, Shutdown, Stop, Upstream};
    use redactd::modes::syslog::{self, OutFraming};
    init_logging(&args.net.log);
    if args.listen_tcp.is_empty() && args.listen_udp.is_empty() && args.listen_tls.is_empty() {
        bail!("give at least one --listen-tcp, --listen-udp or --listen-tls address");
    }
    let acceptor = args.tls.acceptor()?;
    if args.listen_tls.is_empty() != acceptor.is_none() {
        bail!("--listen-tls and --tls-cert-file/--tls-key-file go together");
    }
    let upstream = Upstream::parse(&args.upstream).map_err(anyhow::Error::msg)?;
    let set = args.rules.load()?;
    let opts = args.redact.options()?;
    let mut cfg = syslog::Config::new(upstream);
    cfg.framing = match args.upstream_framing {
        FramingArg::Preserve => OutFraming::Preserve,
        FramingArg::Octet => OutFraming::OctetCounted,
        FramingArg::Lf => OutFraming::NonTransparent,
    };
    cfg.max_message_size = args.max_message_size;
    cfg.max_connections = args.net.max_connections;
    cfg.queue_bytes = args.queue_bytes.max(args.max_message_size + 1024);
    cfg.max_datagram = args.max_datagram;
    cfg.drain = std::time::Duration::from_millis(args.net.drain_ms);
    cfg.connect_timeout = std::time::Duration::from_millis(args.net.connect_timeout_ms);
    cfg.upstream_tls = args.tls.upstream(&cfg.upstream)?;
    let drain = cfg.drain;
    let rt = runtime(&args.net)?;
    rt.block_on(async move {
        let (alerts, alerts_running) = args.net.alerts.start(&set)?;
        let counters = Arc::new(Counters {
            alerts: redactd::alert::Tap::new(alerts.clone(), "syslog", Some("syslog")),
            ..Counters::default()
        });
        let mut bound = Vec::new();
        let mut tcp = Vec::new();
        for (i, addr) in args.listen_tcp.iter().enumerate() {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on tcp {addr}"))?;
            let name = format!("syslog-tcp-{i}");
            bound.push((name.clone(), l.local_addr()?));
            tcp.push((name, l));
        }
        for (i, addr) in args.listen_tls.iter().enumerate() {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on tcp {addr}"))?;
            let name = format!("syslog-tls-{i}");
            bound.push((name.clone(), l.local_addr()?));
            tcp.push((name, l));
        }
        let mut udp = Vec::new();
        for (i, addr) in args.listen_udp.iter().enumerate() {
            let s = tokio::net::UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot listen on udp {addr}"))?;
            let name = format!("syslog-udp-{i}");
            bound.push((name.clone(), s.local_addr()?));
            udp.push((name, s));
        }
        let engine = redactd::modes::net::fixed_engine(set, opts);
        let sources = redactd::metrics::Sources::new();
        sources.listener("syslog", Arc::clone(&counters));
        sources.engine(engine.clone());
        sources.alerts(alerts.clone());
        if let Some(addr) = args.net.metrics {
            let a = redactd::metrics::start(addr, &sources)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            bound.push(("metrics".to_string(), a));
        }
        let (relay, writer) = syslog::start(cfg, engine, Arc::clone(&counters))?;
        let (trigger, shutdown) = Shutdown::new();
        let mut tasks = tokio::task::JoinSet::new();
        for (name, l) in tcp {
            let tls = name
                .starts_with("syslog-tls")
                .then(|| acceptor.clone())
                .flatten();
            tasks.spawn(syslog::serve_tcp(
                l,
                name,
                tls,
                relay.clone(),
                Stop::single(&shutdown),
            ));
        }
        for (name, s) in udp {
            tasks.spawn(syslog::serve_udp(
                s,
                name,
                relay.clone(),
                Stop::single(&shutdown),
            ));
        }
        drop(relay);
        let stop = stop_signal()?;
        ready(&args.net, &bound)?;
        stop.await;
        tracing::info!("shutting down: no new connections, draining");
        sources.stopping();
        trigger.trigger();
        while tasks.join_next().await.is_some() {}
        let aborter = writer.abort_handle();
        if tokio::time::timeout(drain, writer).await.is_err() {
            aborter.abort();
            let c = &counters;
            let left = Counters::get(&c.messages_in)
                .saturating_sub(Counters::get(&c.messages_out))
                .saturating_sub(Counters::get(&c.dropped_queue_full));
            Counters::add(&c.dropped_shutdown, left);
            tracing::warn!(
                messages = left,
                "drain deadline passed with messages still queued"
            );
        }
        tracing::info!("{}", counters.summary());
        finish_alerts(&alerts, alerts_running, args.net.alerts.drain()).await;
        Ok(ExitCode::SUCCESS)
    })
}

fn run_tcp(args: TcpArgs) -> Result<ExitCode> {
    use redactd::modes::net::Upstream;
    use redactd::modes::tcp;
    init_logging(&args.net.log);
    let upstream = Upstream::parse(&args.upstream).map_err(anyhow::Error::msg)?;
    let addr = match &upstream {
        Upstream::Tcp(a) | Upstream::Tls(a) => a.clone(),
        Upstream::Udp(_) => bail!("the tcp mode forwards to a TCP upstream"),
    };
    let set = args.rules.load()?;
    let opts = args.redact.options()?;
    let mut cfg = tcp::Config::new("tcp-0");
    cfg.max_connections = args.net.max_connections;
    cfg.flush = std::time::Duration::from_millis(args.flush_ms);
    cfg.drain = std::time::Duration::from_millis(args.net.drain_ms);
    cfg.connect_timeout = std::time::Duration::from_millis(args.net.connect_timeout_ms);
    let ends = tcp::Ends {
        upstream: redactd::modes::net::Dialer::new(
            &addr,
            args.tls.upstream(&upstream)?.as_ref(),
            cfg.connect_timeout,
        )?,
        tls: args.tls.acceptor()?,
    };
    let name = cfg.name.clone();
    run_stream_listener(
        &args.net,
        args.listen,
        &name,
        set,
        opts,
        |l, engine, counters, stop| tokio::spawn(tcp::serve(l, cfg, ends, engine, counters, stop)),
    )
}

/// The lifecycle of a single-listener command (`tcp`, `http`): bind, the
/// metrics endpoint, the ready file, serve until SIGTERM/SIGINT, drain, and
/// log the counters.
fn run_stream_listener<F>(
    net: &NetArgs,
    listen: SocketAddr,
    name: &str,
    set: Arc<RuleSet>,
    opts: Options,
    spawn: F,
) -> Result<ExitCode>
where
    F: FnOnce(
        tokio::net::TcpListener,
        redactd::modes::net::EngineWatch,
        Arc<redactd::modes::net::Counters>,
        redactd::modes::net::Stop,
    ) -> tokio::task::JoinHandle<()>,
{
    use redactd::modes::net::{Counters, Shutdown, Stop};
    let rt = runtime(net)?;
    rt.block_on(async move {
        let (alerts, alerts_running) = net.alerts.start(&set)?;
        let mode = name.split('-').next().unwrap_or(name);
        let counters = Arc::new(Counters {
            alerts: redactd::alert::Tap::new(alerts.clone(), mode, Some(name)),
            ..Counters::default()
        });
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on tcp {listen}"))?;
        let mut bound = vec![(name.to_string(), l.local_addr()?)];
        let engine = redactd::modes::net::fixed_engine(set, opts);
        let sources = redactd::metrics::Sources::new();
        sources.listener(name, Arc::clone(&counters));
        sources.engine(engine.clone());
        sources.alerts(alerts.clone());
        if let Some(addr) = net.metrics {
            let a = redactd::metrics::start(addr, &sources)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            bound.push(("metrics".to_string(), a));
        }
        let (trigger, shutdown) = Shutdown::new();
        let server = spawn(l, engine, Arc::clone(&counters), Stop::single(&shutdown));
        let stop = stop_signal()?;
        ready(net, &bound)?;
        stop.await;
        tracing::info!("shutting down: no new connections, draining");
        sources.stopping();
        trigger.trigger();
        let _ = server.await;
        tracing::info!("{}", counters.summary());
        finish_alerts(&alerts, alerts_running, net.alerts.drain()).await;
        Ok(ExitCode::SUCCESS)
    })
}

fn run_http(args: HttpArgs) -> Result<ExitCode> {
    use redactd::modes::http;
    init_logging(&args.net.log);
    let https = args.upstream.scheme_str() == Some("https");
    if !(https || args.upstream.scheme_str() == Some("http")) || args.upstream.authority().is_none()
    {
        bail!("--upstream must be http://HOST:PORT[/PREFIX] or https://HOST[:PORT][/PREFIX]");
    }
    // A user:password@ in the URL would be logged with it (and is not how
    // the proxy authenticates): refused, without echoing it.
    if args
        .upstream
        .authority()
        .is_some_and(|a| a.as_str().contains('@'))
    {
        bail!("--upstream must not hold credentials (user:password@): clients' own headers are forwarded");
    }
    let t = &args.tls;
    let client_cert = match (&t.upstream_cert_file, &t.upstream_key_file) {
        (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
        (None, None) => None,
        _ => bail!("--upstream-cert-file and --upstream-key-file go together"),
    };
    if t.upstream_server_name.is_some() {
        bail!("--upstream-server-name is for tls:// upstreams: an https:// upstream is verified by its URL's host");
    }
    if !https && (t.upstream_ca_file.is_some() || client_cert.is_some()) {
        bail!("--upstream-ca-file, --upstream-cert-file and --upstream-key-file need an https:// upstream");
    }
    let tls = http::Tls {
        listener: t.acceptor()?,
        upstream: if https {
            Some(std::sync::Arc::new(
                redactd::modes::tls::https_client_config(
                    t.upstream_ca_file.as_deref(),
                    client_cert,
                )?,
            ))
        } else {
            None
        },
    };
    let set = args.rules.load()?;
    let opts = args.redact.options()?;
    let mut cfg = http::Config::new("http-0", args.upstream.clone());
    cfg.max_body = args.max_body;
    cfg.stream_above = args.stream_above;
    cfg.max_line = args.max_line;
    cfg.header_timeout = std::time::Duration::from_millis(args.header_timeout_ms.max(1));
    cfg.max_connections = args.net.max_connections;
    cfg.drain = std::time::Duration::from_millis(args.net.drain_ms);
    cfg.connect_timeout = std::time::Duration::from_millis(args.net.connect_timeout_ms);
    let name = cfg.name.clone();
    run_stream_listener(
        &args.net,
        args.listen,
        &name,
        set,
        opts,
        |l, engine, counters, stop| tokio::spawn(http::serve(l, cfg, tls, engine, counters, stop)),
    )
}

fn run_serve(args: ServeArgs) -> Result<ExitCode> {
    let (cfg, rules) = match redactd::config::load_checked(&args.config) {
        Ok(x) => x,
        Err(errors) => {
            eprint!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    init_logging(&cfg.runtime.log);
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cfg.runtime.threads {
        b.worker_threads(n.max(1));
    }
    let rt = b.enable_all().build()?;
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let hup = signal(SignalKind::hangup())?;
        let stop = stop_signal()?;
        let (counters, serve) =
            redactd::modes::serve::run(args.config, cfg, rules, args.ready_file, hup, stop).await?;
        let g = redactd::modes::net::Counters::get;
        tracing::info!(
            "reloads_ok={} reloads_failed={} {}",
            g(&serve.reloads_ok),
            g(&serve.reloads_failed),
            redactd::modes::serve::total(&counters).summary()
        );
        Ok(ExitCode::SUCCESS)
    })
}
