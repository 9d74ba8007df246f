//! JSON: the grammar check accepts exactly what serde_json accepts, and
//! redaction (every built-in rule) changes nothing but the strings and
//! numbers it redacts, keeps the output JSON, and gives NDJSON the same
//! output whole or a run of lines at a time. Inputs are raw bytes or a
//! rendered document with secrets planted in its strings. See
//! `redactd_fuzz::props::{json_grammar, json_redaction}`.
//! The case and its checks are `redactd_fuzz::cases::Json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redactd_fuzz::cases::{run, Json};

fuzz_target!(|case: Json| {
    run(&case);
});
