//! Splitting byte streams into records without copying: syslog frames and
//! headers today. Like `engine`, this module does no I/O; modes feed it
//! bytes and it survives any split of them.

pub mod syslog;
