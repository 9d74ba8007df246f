//! The ways redactd runs. Each mode owns its files and sockets and nothing
//! else; all of them drive [`crate::engine::Redactor`]s, the format-aware
//! ones through [`crate::scrub`] (syslog messages, HTTP bodies) over what
//! [`crate::formats`] parses (syslog frames, body codecs). Modes never call
//! each other; what they share (upstream addresses, backoff, shutdown,
//! counters) is in [`net`], and opening files and stdin (gzip detected by
//! its magic bytes) in [`input`]. [`http_stream`] holds the channel body a
//! streamed HTTP request goes upstream in.

pub mod budget;
pub mod filter;
pub mod http;
pub mod http_stream;
pub mod input;
pub mod net;
pub mod scan;
pub mod slots;
pub mod syslog;
pub mod tcp;
pub mod tls;
