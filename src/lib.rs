//! redactd scrubs secrets (cloud keys, tokens, passwords, connection strings,
//! private keys) out of log streams before they leave the machine.
//!
//! It is a streaming multi-pattern matcher over raw bytes: output is
//! identical however the input is chunked, memory is bounded by
//! configuration, and every untouched byte passes through unchanged.
//!
//! # Layout
//!
//! - [`rules`]: the rule-file schema, built-in and user rule loading,
//!   validation, and the compiled [`rules::RuleSet`].
//! - [`engine`]: the streaming [`engine::Redactor`] (prefilter, verification,
//!   carry-over window, multi-line blocks, replacement styles, findings).
//! - [`framing`]: syslog frames and headers (RFC 6587, 5424, 3164).
//! - [`check`]: rule self-tests and explanations, shared by the CLI and tests.
//! - [`modes`]: the ways redactd is run: `filter`, `tcp`, `syslog`.
//! - [`config`]: the `serve --config` file: schema, validation, secret references.
//! - [`metrics`]: the Prometheus families and the admin endpoint
//!   (`/metrics`, `/healthz`, `/readyz`).
//!
//! `rules`, `engine` and `framing` do no I/O and use no async runtime.
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

pub mod alert;
pub mod check;
pub mod config;
pub mod counters;
pub mod engine;
pub mod framing;
pub mod metrics;
pub mod modes;
pub mod net;
pub mod rules;
pub mod scan;
pub mod serve;
