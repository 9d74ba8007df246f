//! redactd scrubs secrets (cloud keys, tokens, passwords, connection strings,
//! private keys) out of log streams before they leave the machine.
//!
//! It is a streaming multi-pattern matcher over raw bytes: output is
//! identical however the input is chunked, memory is bounded by
//! configuration, and every untouched byte passes through unchanged.
//!
//! # Layout
//!
//! From the bottom up; a module uses only those above it in this list (no
//! import circle).
//!
//! - [`fingerprint`]: keyed HMAC-SHA256 fingerprints of secrets.
//! - [`rules`]: the rule-file schema, built-in and user rule loading,
//!   validation, allowlists, known values, and the compiled
//!   [`rules::RuleSet`].
//! - [`engine`]: the streaming [`engine::Redactor`] (prefilter, verification,
//!   carry-over window, multi-line blocks, replacement styles, findings)
//!   writing into a [`engine::Sink`], and the test oracle.
//! - [`formats`]: pure parsing and writing, no engine: syslog frames and
//!   headers (RFC 6587, 5424, 3164), JSON tokens and grammar, msgpack and
//!   protobuf walkers, HTTP body codecs.
//! - [`check`]: rule self-tests and explanations, shared by the CLI and tests.
//! - [`alert`]: alerts on findings (dedup, rate limits, audit file,
//!   webhook, Alertmanager).
//! - [`counters`]: the tallies every mode keeps (bytes, findings per rule,
//!   engine stats, refusals).
//! - [`scrub`]: format-aware redaction: one redactor driven over what
//!   `formats` yields (JSON values with their keys as context, msgpack and
//!   protobuf strings, syslog SD values and MSG, HTTP bodies buffered or
//!   streamed).
//! - [`config`]: the settings model: the config file's schema and
//!   validation, the network commands' flags (which become the same
//!   validated config), defaults, secret references.
//! - [`net`]: what the network modes share: accepting into slots, the
//!   memory budget, TLS, dialing upstreams, shutdown.
//! - [`modes`]: the ways redactd runs data through the engine: `filter`,
//!   `syslog`, `tcp`, `http`.
//! - [`scan`]: `redactd scan`, secrets already sitting in files.
//! - [`metrics`]: the Prometheus families and the admin endpoint
//!   (`/metrics`, `/healthz`, `/readyz`).
//! - [`serve`]: a validated config's listeners started, reloaded and
//!   drained (`serve --config` and the single-listener commands).
//!
//! `fingerprint`, `rules`, `engine`, `formats` and `scrub` do no I/O and
//! use no async runtime.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use redactd::engine::{fingerprint::Fingerprinter, Options, Redactor, Style};
//! use redactd::rules::RuleSetBuilder;
//!
//! let rules = redactd::check::load(&RuleSetBuilder::builtin()).unwrap();
//! let opts = Options {
//!     style: Style::Label,
//!     fingerprinter: Arc::new(Fingerprinter::new(b"an example key, 16+ bytes", "k1").unwrap()),
//!     learned_values: 32,
//! };
//! let mut r = Redactor::new(rules, opts);
//! let mut out = Vec::new();
//! // Feed it in any pieces; here the password arrives split across reads.
//! r.write(b"connecting to postgres://app:hunter2", &mut out);
//! r.write(b"-very-long@db.internal:5432/orders\n", &mut out);
//! r.finish(&mut out);
//! assert!(!String::from_utf8_lossy(&out).contains("hunter2"));
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod alert;
pub mod check;
pub mod config;
pub mod counters;
pub mod engine;
pub mod fingerprint;
pub mod formats;
pub mod metrics;
pub mod modes;
pub mod net;
pub mod rules;
pub mod scan;
pub mod scrub;
pub mod serve;
