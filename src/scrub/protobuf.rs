//! Protobuf requests (OTLP logs, Loki pushes) redacted at the wire level:
//! only the string fields a [`Schema`] names are scanned, each after its
//! name context, by one [`FieldRedactor`];
//! [`rewrite`] fixes every length prefix on the way and leaves every
//! other field, unknown ones included, byte for byte.
//! A message that needs no change is never re-encoded.

use super::fields::FieldRedactor;
use crate::engine::{Finding, Redactor};
use crate::formats::protobuf::{rewrite, ProtoError, Schema};

/// Reusable scratch for rewriting protobuf messages.
#[derive(Debug, Default)]
pub struct ProtoRedactor {
    fields: FieldRedactor,
}

impl ProtoRedactor {
    /// Empty scratch.
    pub fn new() -> ProtoRedactor {
        ProtoRedactor::default()
    }

    /// Redacts `input`, a message of type `schema`, onto `out` (the input
    /// bytes themselves when nothing changes). Returns how many string
    /// fields changed.
    pub fn redact(
        &mut self,
        red: &mut Redactor,
        schema: &'static Schema,
        input: &[u8],
        out: &mut Vec<u8>,
        findings: &mut Vec<Finding>,
    ) -> Result<u64, ProtoError> {
        let mut changed = 0;
        let fields = &mut self.fields;
        let mut text = |name: Option<&[u8]>, payload: &[u8]| {
            let mut v = Vec::new();
            let hit = fields.redact_into(red, name, payload, &mut v, findings);
            changed += u64::from(hit);
            hit.then_some(v)
        };
        match rewrite(schema, input, &mut text)? {
            Some(new) => out.extend_from_slice(&new),
            None => out.extend_from_slice(input),
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests;
