//! redactd's integration tests, in one test binary (as ripgrep keeps
//! `tests/tests.rs`): one link instead of one per file, which is most of
//! what a first `cargo test` costs on a small machine.
//!
//! Each module is one area. Tests that need an installed peer (rsyslog,
//! syslog-ng, promtool, Python packages) print `SKIP` and pass when it is
//! absent, unless `REDACTD_REQUIRE_PEERS=1` (CI), which makes them fail.
//! Fixtures hold fake secrets only, built at test time.

mod common;
/// The fuzz crate's library (`fuzz/src`): properties, structured inputs and
/// the format cases, shared with the cargo-fuzz targets.
#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod redactd_fuzz;

mod alerts;
mod cli;
mod config;
mod deploy;
mod fuzz_formats;
mod fuzz_regressions;
mod hostile;
mod http;
mod http_clients;
mod metrics;
mod no_leak;
mod peers_selftest;
mod relay;
mod rules;
mod scan;
mod serve;
mod split;
mod syslog_peers;
mod tls;
