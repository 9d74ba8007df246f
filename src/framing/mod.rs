//! Splitting byte streams into records and fields without copying: syslog
//! frames and headers, JSON texts (grammar checked; strings redacted in
//! decoded form and replaced in encoded form, numbers scanned too), protobuf string fields (rewritten at the wire level,
//! lengths fixed inside-out) and msgpack `str`/`bin` items (rewritten in
//! place, headers widened only when a new length needs it). [`fields`] is
//! what they share: one value scanned with its name as context. Like
//! `engine`, this module does no I/O.

pub mod fields;
pub mod json;
pub mod msgpack;
pub mod protobuf;
pub mod syslog;
