//! The ways redactd runs. Each mode owns its files and sockets and nothing
//! else; all of them drive [`crate::engine::Redactor`]s.

pub mod filter;
