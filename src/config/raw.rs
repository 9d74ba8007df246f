//! The config file as written: every key optional and spanned, so that
//! validation can tell "absent" from "default", report the line of a value,
//! and collect every problem instead of stopping at the first. Only syntax,
//! unknown keys and wrong TOML types stop the parse (serde errors).

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// An optional key with the byte span of its value.
pub(super) type Opt<T> = Option<Spanned<T>>;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    #[serde(default)]
    pub redact: Redact,
    #[serde(default)]
    pub rules: Rules,
    #[serde(default)]
    pub runtime: Runtime,
    pub metrics: Option<Spanned<Metrics>>,
    pub alerts: Option<Spanned<Alerts>>,
    #[serde(default)]
    pub listener: Vec<Spanned<Listener>>,
}

/// `[alerts]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Alerts {
    pub audit_file: Opt<String>,
    pub webhook_url: Opt<String>,
    pub webhook_token_file: Opt<String>,
    pub alertmanager_url: Opt<String>,
    pub window_ms: Opt<u64>,
    pub queue: Opt<u64>,
    pub rate_per_second: Opt<f64>,
    pub burst: Opt<u64>,
    pub timeout_ms: Opt<u64>,
    pub max_attempts: Opt<u64>,
    pub retry_ms: Opt<u64>,
    pub drain_ms: Opt<u64>,
}

/// `[redact]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Redact {
    pub style: Opt<String>,
    pub hmac_key_file: Opt<String>,
    pub hmac_key_env: Opt<String>,
    pub hmac_key_id: Opt<String>,
    pub learned_values: Opt<u64>,
}

/// `[rules]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rules {
    pub dirs: Option<Vec<Spanned<String>>>,
    pub enable: Option<Vec<Spanned<String>>>,
    pub disable: Option<Vec<Spanned<String>>>,
    pub builtin: Opt<bool>,
    pub known_secrets: Option<Vec<Spanned<String>>>,
    pub known_secrets_env: Option<Vec<Spanned<String>>>,
    pub allow_regex: Option<Vec<Spanned<String>>>,
    pub allow_fingerprints: Option<Vec<Spanned<String>>>,
}

/// `[runtime]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Runtime {
    pub threads: Opt<u64>,
    pub drain_ms: Opt<u64>,
    pub log: Opt<String>,
    pub buffer_bytes: Opt<u64>,
}

/// `[metrics]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Metrics {
    pub listen: Opt<String>,
    pub public: Opt<bool>,
}

/// One `[[listener]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Listener {
    pub name: Opt<String>,
    pub mode: Opt<String>,
    pub public: Opt<bool>,
    // syslog
    pub listen_tcp: Opt<Vec<Spanned<String>>>,
    pub listen_udp: Opt<Vec<Spanned<String>>>,
    pub upstream_framing: Opt<String>,
    pub max_message_size: Opt<u64>,
    pub queue_bytes: Opt<u64>,
    pub max_datagram: Opt<u64>,
    // tcp and http
    pub listen: Opt<String>,
    // tcp
    pub flush_ms: Opt<u64>,
    // http
    pub max_body: Opt<u64>,
    pub stream_above: Opt<u64>,
    pub max_line: Opt<u64>,
    pub header_timeout_ms: Opt<u64>,
    // both
    pub upstream: Opt<String>,
    pub max_connections: Opt<u64>,
    pub connect_timeout_ms: Opt<u64>,
    pub idle_timeout_ms: Opt<u64>,
    pub message_timeout_ms: Opt<u64>,
    pub tls: Option<Spanned<ServerTls>>,
    pub upstream_tls: Option<Spanned<ClientTls>>,
}

/// A key that is present, and the span of its value.
pub(super) type Present = (&'static str, Range<usize>);

fn present<T>(key: &'static str, v: &Opt<T>) -> Option<Present> {
    v.as_ref().map(|v| (key, v.span()))
}

impl Listener {
    /// The keys only `mode = "syslog"` takes that are set.
    pub fn syslog_only_keys(&self) -> Vec<Present> {
        [
            present("listen_tcp", &self.listen_tcp),
            present("listen_udp", &self.listen_udp),
            present("upstream_framing", &self.upstream_framing),
            present("max_message_size", &self.max_message_size),
            present("queue_bytes", &self.queue_bytes),
            present("max_datagram", &self.max_datagram),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The keys only `mode = "tcp"` takes that are set.
    pub fn tcp_only_keys(&self) -> Vec<Present> {
        [present("flush_ms", &self.flush_ms)]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The keys only `mode = "http"` takes that are set.
    pub fn http_only_keys(&self) -> Vec<Present> {
        [
            present("max_body", &self.max_body),
            present("stream_above", &self.stream_above),
            present("max_line", &self.max_line),
            present("header_timeout_ms", &self.header_timeout_ms),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// `listen`, which the tcp and http modes take, when set.
    pub fn stream_listen_key(&self) -> Vec<Present> {
        [present("listen", &self.listen)]
            .into_iter()
            .flatten()
            .collect()
    }
}

/// `[listener.tls]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServerTls {
    pub cert_file: Opt<String>,
    pub key_file: Opt<String>,
    pub client_ca_file: Opt<String>,
}

/// `[listener.upstream_tls]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientTls {
    pub ca_file: Opt<String>,
    pub cert_file: Opt<String>,
    pub key_file: Opt<String>,
    pub server_name: Opt<String>,
}
