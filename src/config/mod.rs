//! The `redactd serve --config FILE` file: schema, validation and secret
//! references.
//!
//! [`load`] (or [`parse`]) turns a TOML file into a [`Config`] with typed,
//! resolved values (socket addresses, enums, durations) that the wiring uses
//! directly. Every key is documented, with its default, in
//! `deploy/config.example.toml`.
//!
//! # Errors
//!
//! Every problem is reported with its key path (`listener[1].upstream`,
//! `redact.hmac_key_file`) and, where known, its line. A TOML syntax error,
//! an unknown key or a value of the wrong TOML type stops the parse (one
//! error); once the file parses, validation collects **every** problem: a
//! [`ConfigErrors`] lists them all, one per line when displayed.
//!
//! # Security
//!
//! - **Loopback unless told otherwise.** Default addresses are loopback; a
//!   listener (or `[metrics]`) that listens on any other address must say
//!   `public = true`.
//! - **No inline secrets.** The config refers to secrets (the HMAC key, TLS
//!   private keys) with `*_file` or `*_env` keys only and never holds one.
//!   A key that looks like an inline secret (`hmac_key`, `token`,
//!   `password`) is refused, and [`scan_for_inline_secrets`] runs the text
//!   through redactd's own rules: any finding refuses the file. [`check`]
//!   and [`load_checked`] do both, with the rule set the file selects.
//! - **Error messages never quote string values** that could carry a secret
//!   (addresses, URLs, names that fail validation, unknown enum values):
//!   they name the key and say what is expected. They do quote file paths,
//!   environment variable names and valid listener names. [`check`] also
//!   scrubs any detected secret out of every message (a secret used as a
//!   key name, say).
//! - Secrets are read when needed ([`Config::hmac_key`]), so a reload picks
//!   up a rotated key; a [`Config`] holds no key material.
//!
//! # Paths
//!
//! Relative `*_file` paths and `rules.dirs` are resolved against the
//! directory of the config file by [`load`], and against the current
//! directory by [`parse`]. Resolved paths are stored in the [`Config`].

pub mod cli;
pub mod defaults;
mod raw;
mod scan;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::fingerprint::Fingerprinter;
use crate::engine::{Options, Style};
use crate::rules::{RuleSet, RuleSetBuilder};

pub use scan::scan_for_inline_secrets;

pub use defaults::MIN_HMAC_KEY_LEN;

/// A validated config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it came from (the file path, or the `origin` given to
    /// [`parse`]), for messages.
    pub origin: String,
    /// `[redact]`: replacement style and fingerprint key.
    pub redact: Redact,
    /// `[rules]`: which rules run.
    pub rules: Rules,
    /// `[runtime]`: threads, shutdown, logging.
    pub runtime: Runtime,
    /// `[metrics]`: the metrics endpoint, when the table is present.
    pub metrics: Option<Metrics>,
    /// `[alerts]`: where alerts on findings go, when the table is present.
    pub alerts: Option<Alerts>,
    /// `[[listener]]`: at least one, names unique.
    pub listeners: Vec<Listener>,
    /// Problems that do not refuse the file (a key file others can read),
    /// for `check-config` to print and `serve` to log.
    pub warnings: Vec<ConfigError>,
}

/// `[redact]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redact {
    /// `style`: how secrets are replaced (default `label`).
    pub style: Style,
    /// `hmac_key_file` or `hmac_key_env`: where the HMAC key is read from.
    /// Without one, fingerprints use a random per-process key.
    pub hmac_key: Option<SecretRef>,
    /// `hmac_key_id`: the key's id, shown in fingerprints (default `k1`).
    pub hmac_key_id: String,
}

/// A reference to a secret: the config never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `*_file`: the file's contents.
    File(PathBuf),
    /// `*_env`: the value of this environment variable.
    Env(String),
}

/// `[rules]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// `dirs`: extra rule directories or files.
    pub dirs: Vec<PathBuf>,
    /// `enable`: rule ids or tags enabled on top of the `default` tag.
    pub enable: Vec<String>,
    /// `disable`: rule ids or tags disabled (wins over `enable`).
    pub disable: Vec<String>,
    /// `builtin`: whether the built-in rules are loaded (default true).
    pub builtin: bool,
    /// `known_secrets`: files of values (one per line) or directories of
    /// one file per value, masked wherever they appear (`known.<name>`).
    /// Re-read on every reload.
    pub known_secrets: Vec<PathBuf>,
    /// `known_secrets_env`: environment variables whose values are masked.
    pub known_secrets_env: Vec<String>,
    /// `allow_regex`: candidates whose secret bytes match one of these are
    /// neither redacted nor reported.
    pub allow_regex: Vec<String>,
    /// `allow_fingerprints`: files of fingerprints (`keyid:hex`, one per
    /// line) that are not secrets. Re-read on every reload.
    pub allow_fingerprints: Vec<PathBuf>,
}

/// `[runtime]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// `threads`: worker threads; `None` (written `0`, the default) means
    /// one per core.
    pub threads: Option<usize>,
    /// `drain_ms`: time connections get to finish after SIGTERM/SIGINT.
    pub drain: Duration,
    /// `log`: the log filter (`error` … `trace`, or a tracing directive).
    pub log: String,
    /// `buffer_bytes`: bytes of incomplete messages all connections may
    /// hold beyond their free 64 KiB each (see [`crate::net::budget`]).
    pub buffer_bytes: usize,
}

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// `listen`: address of the metrics endpoint (default
    /// `127.0.0.1:9464`).
    pub listen: SocketAddr,
    /// `public`: whether a non-loopback `listen` is allowed.
    pub public: bool,
}

/// `[alerts]` (see [`crate::alert`]). Read at start: a reload keeps the
/// running pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerts {
    /// `audit_file`, `webhook_url` (+ `webhook_token_file`),
    /// `alertmanager_url`: at least one.
    pub sinks: Vec<crate::alert::SinkSpec>,
    /// `window_ms`: dedup window per (rule, fingerprint) (default 300000).
    pub window: Duration,
    /// `queue`: alerts queued at most per sink (default 1024).
    pub queue: usize,
    /// `rate_per_second`: deliveries per second per sink (default 10;
    /// decimals allowed).
    pub rate_per_second: f64,
    /// `burst`: token bucket size per sink (default 20).
    pub burst: u32,
    /// `timeout_ms`: bound on one HTTP delivery (default 5000).
    pub timeout: Duration,
    /// `max_attempts`: delivery attempts per alert and sink at most
    /// (default 100; a cap within `retry`).
    pub max_attempts: u32,
    /// `retry_ms`: how long after it was queued a failed delivery is still
    /// retried (default 300000).
    pub retry: Duration,
    /// `drain_ms`: time queued alerts get to be delivered at exit (default
    /// 5000).
    pub drain: Duration,
}

impl Alerts {
    /// The pipeline's settings.
    pub fn settings(&self) -> crate::alert::Settings {
        crate::alert::Settings {
            window: self.window,
            queue: self.queue,
            rate_per_second: self.rate_per_second,
            burst: self.burst,
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            retry: self.retry,
            ..crate::alert::Settings::default()
        }
    }
}

/// One `[[listener]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// `name`: unique, `[a-z0-9_-]{1,64}`; the `listener` metric label.
    pub name: String,
    /// `public`: whether non-loopback listen addresses are allowed.
    pub public: bool,
    /// `upstream`: where redacted data goes.
    pub upstream: Upstream,
    /// `max_connections`: TCP connections served at once; more are closed.
    pub max_connections: usize,
    /// `connect_timeout_ms`: bound on one upstream connect.
    pub connect_timeout: Duration,
    /// `idle_timeout_ms`: silence after which a connection with nothing in
    /// progress is closed; zero: never.
    pub idle_timeout: Duration,
    /// `message_timeout_ms`: time a message may take from its first byte
    /// to its last.
    pub message_timeout: Duration,
    /// `[listener.tls]`: TLS on the listener (RFC 5425 for syslog).
    pub tls: Option<ServerTls>,
    /// `[listener.upstream_tls]`: TLS towards the upstream; present exactly
    /// when the upstream is `tls://`.
    pub upstream_tls: Option<ClientTls>,
    /// The mode and its own settings.
    pub mode: Mode,
}

/// What a listener does, with the keys only that mode takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `mode = "syslog"`: a syslog relay.
    Syslog(Syslog),
    /// `mode = "tcp"`: a byte-stream proxy.
    Tcp(Tcp),
    /// `mode = "http"`: a reverse proxy for log-ingestion APIs.
    Http(Http),
}

/// Settings of a `mode = "http"` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    /// `listen`: the address to accept HTTP/1.1 requests on.
    pub listen: SocketAddr,
    /// `max_body`: largest request body after decoding (413 beyond it).
    pub max_body: usize,
    /// `stream_above`: NDJSON and text bodies longer than this, or sent
    /// chunked, are streamed.
    pub stream_above: usize,
    /// `max_line`: longest NDJSON line held while streaming (413 beyond it).
    pub max_line: usize,
    /// `header_timeout_ms`: time a client gets to send a request's headers.
    pub header_timeout: Duration,
}

/// Settings of a `mode = "syslog"` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    /// `listen_tcp`: TCP addresses (either RFC 6587 framing, or RFC 5425
    /// with `[listener.tls]`).
    pub listen_tcp: Vec<SocketAddr>,
    /// `listen_udp`: UDP addresses. At least one TCP or UDP address.
    pub listen_udp: Vec<SocketAddr>,
    /// `upstream_framing`: framing towards a TCP or TLS upstream.
    pub framing: Framing,
    /// `max_message_size`: largest message accepted over TCP.
    pub max_message_size: usize,
    /// `queue_bytes`: bytes of messages waiting for the upstream, at most.
    pub queue_bytes: usize,
    /// `max_datagram`: largest datagram sent to a UDP upstream.
    pub max_datagram: usize,
}

/// Settings of a `mode = "tcp"` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    /// `listen`: the address to accept connections on.
    pub listen: SocketAddr,
    /// `flush_ms`: idle time after which held-back bytes are released.
    pub flush: Duration,
}

/// Framing of syslog messages towards a TCP or TLS upstream (also the
/// values of `--upstream-framing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Framing {
    /// Each message as it arrived (datagrams octet counted).
    #[default]
    Preserve,
    /// RFC 6587 octet counting.
    Octet,
    /// RFC 6587 non-transparent framing (LF).
    Lf,
}

/// Transport to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `tcp://` (or a bare `HOST:PORT` in tcp mode).
    Tcp,
    /// `udp://` (syslog only).
    Udp,
    /// `tls://` (needs `[listener.upstream_tls]`).
    Tls,
    /// `http://` (http listeners only).
    Http,
    /// `https://` (http listeners only; `[listener.upstream_tls]` is
    /// optional: without it the system's trust store verifies it).
    Https,
}

/// A validated upstream address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Transport.
    pub scheme: Scheme,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port, never 0.
    pub port: u16,
    /// Path prefix of an `http://` or `https://` upstream (`/a/b`, no
    /// trailing `/`); empty otherwise.
    pub path: String,
}

impl Upstream {
    /// `HOST:PORT` for connecting (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Tcp => "tcp",
            Scheme::Udp => "udp",
            Scheme::Tls => "tls",
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

/// `[listener.tls]`: the listener's certificate, and optionally the CAs
/// whose client certificates it requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// `cert_file`: PEM certificate chain.
    pub cert_file: PathBuf,
    /// `key_file`: PEM private key.
    pub key_file: PathBuf,
    /// `client_ca_file`: when set, clients must present a certificate
    /// signed by one of these PEM CAs.
    pub client_ca_file: Option<PathBuf>,
}

/// `[listener.upstream_tls]`: how the upstream is verified, and an optional
/// client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// `ca_file`: PEM CAs the upstream's certificate must chain to.
    pub ca_file: PathBuf,
    /// `cert_file` and `key_file`: client certificate and key (together or
    /// not at all).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `server_name`: the name verified in the upstream's certificate
    /// (default: the upstream host).
    pub server_name: String,
}

/// What kind of problem a [`ConfigError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not valid TOML, or a value of the wrong TOML type.
    Syntax,
    /// A key the schema does not have.
    UnknownKey,
    /// A required key is absent.
    Missing,
    /// A value is malformed, out of bounds, not allowed in its place, or in
    /// conflict with another.
    Invalid,
    /// A `*_file` or `*_env` reference cannot be used (missing, unreadable,
    /// unset, not the right content), or the rules cannot be loaded.
    Reference,
    /// The text holds what looks like a secret.
    InlineSecret,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.display())]
pub struct ConfigError {
    /// What kind of problem.
    pub kind: ErrorKind,
    /// Key path, like `listener[1].upstream` (empty for the whole file).
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and what is expected; never a secret.
    pub message: String,
}

impl ConfigError {
    fn new(kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            kind,
            path: path.into(),
            line: None,
            message: message.into(),
        }
    }

    /// `line N: path: message`, parts omitted when unknown.
    fn display(&self) -> String {
        let mut s = String::new();
        if let Some(line) = self.line {
            s.push_str(&format!("line {line}: "));
        }
        if !self.path.is_empty() {
            s.push_str(&self.path);
            s.push_str(": ");
        }
        s.push_str(&self.message);
        s
    }
}

/// Every problem found in one config file. Displayed one per line as
/// `ORIGIN:LINE: PATH: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file (or `origin` given to [`parse`]).
    pub origin: String,
    /// The problems, in file order where lines are known (never empty).
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    fn new(origin: &str, mut errors: Vec<ConfigError>) -> ConfigErrors {
        // File order; errors without a line after those with one, each group
        // in the order found.
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        ConfigErrors {
            origin: origin.to_string(),
            errors,
        }
    }

    /// The problems.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether there are none (never true for a returned error).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The problems at exactly this key path.
    pub fn at<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a ConfigError> + 'a {
        self.errors.iter().filter(move |e| e.path == path)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&self.origin)?;
            if let Some(line) = e.line {
                write!(f, ":{line}")?;
            }
            f.write_str(": ")?;
            if !e.path.is_empty() {
                write!(f, "{}: ", e.path)?;
            }
            f.write_str(&e.message)?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// Reads and validates the config file at `path`. Relative paths in it are
/// resolved against the file's directory.
///
/// This does not scan for inline secrets (that needs the rules); use
/// [`load_checked`] to do both.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let (text, origin) = read(path)?;
    parse_in(&text, &origin, path.parent())
}

/// Parses and validates config text; `origin` names it in messages.
/// Relative paths are resolved against the current directory.
///
/// This does not scan for inline secrets (that needs the rules); use
/// [`check`] to do both.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    parse_in(text, origin, None)
}

/// [`load`], then builds the rule set the file selects and refuses the file
/// if [`scan_for_inline_secrets`] finds anything in it. This is what
/// `serve` and `check-config` use, at start and on every reload.
pub fn load_checked(path: &Path) -> Result<(Config, Arc<RuleSet>), ConfigErrors> {
    let (text, origin) = read(path)?;
    check_in(&text, &origin, path.parent())
}

/// [`parse`], then builds the rule set the text selects and refuses it if
/// [`scan_for_inline_secrets`] finds anything in it.
///
/// Every problem is reported together. When the text does not parse, or
/// its rules cannot be loaded, the scan uses the built-in default rules.
/// Any detected secret is also scrubbed out of every message.
pub fn check(text: &str, origin: &str) -> Result<(Config, Arc<RuleSet>), ConfigErrors> {
    check_in(text, origin, None)
}

fn read(path: &Path) -> Result<(String, String), ConfigErrors> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text, origin)),
        Err(e) => Err(ConfigErrors::new(
            &origin,
            vec![ConfigError::new(
                ErrorKind::Reference,
                "",
                format!("cannot read the config file: {}", validate::io_reason(&e)),
            )],
        )),
    }
}

fn parse_in(text: &str, origin: &str, base: Option<&Path>) -> Result<Config, ConfigErrors> {
    validate::parse(text, origin, base).map_err(|errors| ConfigErrors::new(origin, errors))
}

fn check_in(
    text: &str,
    origin: &str,
    base: Option<&Path>,
) -> Result<(Config, Arc<RuleSet>), ConfigErrors> {
    let mut errors = Vec::new();
    let parsed = validate::parse(text, origin, base);
    let rules = match &parsed {
        Ok(config) => match config.rules.builder().and_then(|b| crate::check::load(&b)) {
            Ok(set) => Some(set),
            Err(e) => {
                errors.push(ConfigError::new(
                    ErrorKind::Reference,
                    "rules",
                    format!("cannot load the rules: {e}"),
                ));
                None
            }
        },
        Err(_) => None,
    };
    let scan_rules = match &rules {
        Some(set) => set.clone(),
        None => match crate::check::load(&RuleSetBuilder::builtin()) {
            Ok(set) => set,
            Err(e) => {
                errors.push(ConfigError::new(
                    ErrorKind::Reference,
                    "rules",
                    format!("cannot load the built-in rules to scan the config: {e}"),
                ));
                return Err(ConfigErrors::new(origin, errors));
            }
        },
    };
    let (findings, secrets) = scan::scan(text, scan_rules);
    match parsed {
        Ok(config) if errors.is_empty() && findings.is_empty() => {
            Ok((config, rules.expect("rules load when the config does")))
        }
        parsed => {
            if let Err(mut e) = parsed {
                errors.append(&mut e);
            }
            errors.extend(findings);
            for e in &mut errors {
                scan::scrub(&mut e.path, &secrets);
                scan::scrub(&mut e.message, &secrets);
            }
            Err(ConfigErrors::new(origin, errors))
        }
    }
}

impl Config {
    /// Reads the HMAC key now (so a reload re-reads a rotated key): `None`
    /// when the config names no key. Surrounding whitespace is trimmed; a
    /// key shorter than [`MIN_HMAC_KEY_LEN`] bytes is an error.
    pub fn hmac_key(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        self.redact.hmac_key_bytes()
    }

    /// Replacement style and fingerprinter for the engine: the configured
    /// key, or a random per-process key when none is configured (and the
    /// style is not `hmac`, which validation requires a key for).
    pub fn options(&self) -> Result<Options, ConfigError> {
        self.redact.options()
    }

    /// The listener called `name`.
    pub fn listener(&self, name: &str) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.name == name)
    }
}

impl Redact {
    /// Replacement style and fingerprinter, as [`Config::options`].
    pub fn options(&self) -> Result<Options, ConfigError> {
        let fingerprinter = match self.hmac_key_bytes()? {
            Some(key) => Fingerprinter::new(&key, &self.hmac_key_id),
            None => Fingerprinter::ephemeral(),
        }
        .map_err(|e| ConfigError::new(ErrorKind::Reference, "redact", e.to_string()))?;
        Ok(Options {
            style: self.style,
            fingerprinter: Arc::new(fingerprinter),
        })
    }

    /// Reads the key `hmac_key` refers to, as [`Config::hmac_key`].
    pub fn hmac_key_bytes(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(r) = &self.hmac_key else {
            return Ok(None);
        };
        let path = match r {
            SecretRef::File(_) => "redact.hmac_key_file",
            SecretRef::Env(_) => "redact.hmac_key_env",
        };
        let key = r
            .read()
            .map_err(|m| ConfigError::new(ErrorKind::Reference, path, m))?;
        let key = key.trim_ascii();
        if key.len() < MIN_HMAC_KEY_LEN {
            return Err(ConfigError::new(
                ErrorKind::Reference,
                path,
                format!(
                    "the HMAC key in {} is {} bytes; at least {MIN_HMAC_KEY_LEN} are required \
                     (e.g. `head -c 32 /dev/urandom | base64`)",
                    r.describe(),
                    key.len()
                ),
            ));
        }
        Ok(Some(key.to_vec()))
    }
}

impl SecretRef {
    /// Reads the secret now. The error says which file or variable and why,
    /// never any of its contents.
    pub fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            SecretRef::File(path) => std::fs::read(path).map_err(|e| {
                format!(
                    "cannot read {}: {}",
                    self.describe(),
                    validate::io_reason(&e)
                )
            }),
            SecretRef::Env(name) => match std::env::var_os(name) {
                Some(v) => Ok(os_bytes(v)),
                None => Err(format!("{} is not set", self.describe())),
            },
        }
    }

    /// `file "/path"` or `environment variable NAME`.
    pub fn describe(&self) -> String {
        match self {
            SecretRef::File(path) => format!("file {:?}", path.display().to_string()),
            SecretRef::Env(name) => format!("environment variable {name}"),
        }
    }
}

#[cfg(unix)]
fn os_bytes(v: std::ffi::OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    v.into_vec()
}

#[cfg(not(unix))]
fn os_bytes(v: std::ffi::OsString) -> Vec<u8> {
    v.to_string_lossy().into_owned().into_bytes()
}

impl Rules {
    /// An allowlist of fingerprints only matches fingerprints made with the
    /// same HMAC key: without a configured key (a random one per run) it
    /// would silently allow nothing, so it is refused. `cli` words the
    /// remedy as a flag.
    pub fn check_key(&self, redact: &Redact, cli: bool) -> Result<(), ConfigError> {
        if self.allow_fingerprints.is_empty() || redact.hmac_key.is_some() {
            return Ok(());
        }
        let (path, remedy) = if cli {
            (
                "--allow-fingerprints",
                "pass the --hmac-key-file they were made with",
            )
        } else {
            (
                "rules.allow_fingerprints",
                "set redact.hmac_key_file (or hmac_key_env) to the key they were made with",
            )
        };
        Err(ConfigError::new(
            ErrorKind::Invalid,
            path,
            format!(
                "fingerprints only match under the HMAC key that made them, and no key is \
                 given (a random one per run matches nothing): {remedy}"
            ),
        ))
    }

    /// A rule-set builder with these settings (built-ins, extra files,
    /// enable and disable). Build it with [`crate::check::load`].
    pub fn builder(&self) -> Result<RuleSetBuilder, crate::rules::Error> {
        let mut b = if self.builtin {
            RuleSetBuilder::builtin()
        } else {
            RuleSetBuilder::new()
        };
        for dir in &self.dirs {
            b.add_path(dir)?;
        }
        for e in &self.enable {
            b.enable(e.as_str());
        }
        for d in &self.disable {
            b.disable(d.as_str());
        }
        let mut known = Vec::new();
        for p in &self.known_secrets {
            known.extend(crate::rules::known::from_path(p)?);
        }
        known.extend(crate::rules::known::from_env(&self.known_secrets_env)?);
        crate::rules::known::add_to(&mut b, &known)?;
        for re in &self.allow_regex {
            b.allow_regex(re)?;
        }
        for f in &self.allow_fingerprints {
            b.allow_fingerprints(f)?;
        }
        Ok(b)
    }
}

impl Listener {
    /// Every address this listener binds, with `"tcp"` or `"udp"`.
    pub fn binds(&self) -> Vec<(&'static str, SocketAddr)> {
        match &self.mode {
            Mode::Syslog(s) => s
                .listen_tcp
                .iter()
                .map(|a| ("tcp", *a))
                .chain(s.listen_udp.iter().map(|a| ("udp", *a)))
                .collect(),
            Mode::Tcp(t) => vec![("tcp", t.listen)],
            Mode::Http(h) => vec![("tcp", h.listen)],
        }
    }
}
