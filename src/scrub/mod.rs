//! Format-aware redaction (layer 3): one [`Redactor`](crate::engine::Redactor)
//! driven over what [`crate::formats`] yields, the result written back in
//! the same format, never changing an untouched byte.
//!
//! - [`fields`]: what the others share: one value scanned with its name as
//!   context, and the span bookkeeping that splices replacements back.
//! - [`json`]: JSON strings redacted in decoded form and replaced in
//!   encoded form, numbers scanned too, keys as context.
//! - [`msgpack`]: `str`/`bin` items rewritten in place.
//! - [`protobuf`]: OTLP and Loki string fields rewritten at the wire level.
//! - [`syslog`]: SD-PARAM values and MSG of one syslog message, cut
//!   safely when a frame was oversized; per-connection scratch.
//! - [`body`]: an HTTP request body of a given format, buffered.
//! - [`stream`]: NDJSON and text bodies redacted as they arrive, decoded
//!   and re-encoded on the way.
//!
//! Like `engine` and `formats`, this module does no I/O and uses no async
//! runtime.

pub mod body;
pub mod fields;
pub mod json;
pub mod msgpack;
pub mod protobuf;
pub mod stream;
pub mod syslog;
