//! The ways redactd runs data through the engine. Each mode owns its files
//! and sockets and nothing else; all of them drive
//! [`crate::engine::Redactor`]s, the format-aware ones through
//! [`crate::scrub`] (syslog messages, HTTP bodies) over what
//! [`crate::formats`] parses (syslog frames, JSON, msgpack, protobuf, body
//! codecs). Modes never call each other: what the network modes share
//! (accepting, slots, budgets, TLS, dialing, shutdown) is in
//! [`crate::net`], their tallies in [`crate::counters`], and opening files
//! and stdin (gzip detected by its magic bytes) in [`input`].
//!
//! - [`filter`]: files or stdin to stdout ([`pieces`]: one input on
//!   several threads).
//! - [`syslog`]: the syslog relay (TCP, TLS, UDP in; one queue and writer
//!   per listener out).
//! - [`tcp`]: the line-stream proxy, one upstream connection per client.
//! - [`http`]: the reverse proxy for ingestion APIs (bodies scrubbed by
//!   [`crate::scrub::body`] when buffered and [`crate::scrub::stream`] when
//!   streamed; [`http_stream`] holds the channel body a streamed request
//!   goes upstream in).
//!
//! How a configured listener becomes these tasks is [`crate::serve`]'s;
//! the offline `scan` is [`crate::scan`].

pub mod filter;
pub mod http;
pub mod http_stream;
pub mod input;
pub mod pieces;
pub mod syslog;
pub mod tcp;
