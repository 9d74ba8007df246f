//! Splitting byte streams into records and fields without copying: syslog
//! frames and headers, JSON strings (redacted in decoded form, replaced in
//! encoded form) and protobuf string fields (rewritten at the wire level,
//! lengths fixed inside-out). [`fields`] is what the last two share: one
//! value scanned with its name as context. Like `engine`, this module does
//! no I/O.

pub mod fields;
pub mod json;
pub mod protobuf;
pub mod syslog;
