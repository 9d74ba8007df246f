//! Pure parsing and writing of the formats redactd reads, with no engine
//! and no I/O (layer 2, beside `engine`): each module owns one format's
//! grammar and says what it yields and which invariant holds.
//!
//! - [`syslog`]: RFC 6587 frames (a split-invariant decoder, frame
//!   writers) and the RFC 5424 / RFC 3164 header scan.
//! - [`json`]: the JSON grammar check and its string and number tokens,
//!   with the maps between a string's raw and decoded bytes.
//! - [`msgpack`]: the msgpack walker (every `str` and `bin`, with its map
//!   key) and the header writer for rewritten strings.
//! - [`protobuf`]: the schema-guided protobuf walker that rewrites string
//!   fields and fixes every length prefix.
//! - [`codec`]: HTTP body content codings (gzip, deflate, zstd, raw
//!   snappy), buffered and streamed.
//!
//! Redacting what these yield is [`crate::scrub`]'s job. Each parser has a
//! fuzz target (`fuzz/`).

pub mod codec;
pub mod json;
pub mod msgpack;
pub mod protobuf;
pub mod syslog;
