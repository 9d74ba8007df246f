//! Splitting byte streams into records and fields without copying: syslog
//! frames and headers, and JSON strings (redacted in decoded form, replaced
//! in encoded form). Like `engine`, this module does no I/O.

pub mod json;
pub mod syslog;
