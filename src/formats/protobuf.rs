//! Protobuf messages walked and rewritten at the wire level, guided by a
//! [`Schema`] that names the string fields that matter; no generated code
//! and no `.proto` compilation. No engine here: [`rewrite`] hands each
//! named string field to a callback (what [`crate::scrub::protobuf`] uses
//! to redact it) and writes what the callback returns.
//!
//! **What it owns.** Wire types, varints, the schemas of OTLP logs and
//! Loki pushes, and the length fix-up: a changed string changes its length
//! prefix, and every enclosing message's, innermost first (LogRecord, then
//! ScopeLogs, ResourceLogs and the request; EntryAdapter, StreamAdapter,
//! PushRequest).
//!
//! **Invariant.** Every other field, unknown ones included, keeps its
//! bytes and its place, and a message in which the callback changes
//! nothing is never re-encoded ([`rewrite`] returns `None`: the input is
//! the output). Groups (wire types 3 and 4, deprecated), truncated fields
//! and nesting past [`MAX_DEPTH`] are [`ProtoError`]s, so nothing is
//! forwarded unwalked.

/// What a field holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string (or bytes) to redact.
    Text,
    /// An embedded message.
    Message(&'static Schema),
}

/// Where a field's name context comes from: the name a text field is
/// handed to [`rewrite`]'s callback with (a `KeyValue`'s value is scanned
/// after its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Scanned on its own.
    None,
    /// The context the enclosing message was given.
    Inherit,
    /// The first string field with this number in the same message (a
    /// `KeyValue`'s key for its value).
    Sibling(u32),
}

/// One field of a schema.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// Field number.
    pub number: u32,
    /// What it holds.
    pub kind: Kind,
    /// Its name context.
    pub context: Context,
}

/// The fields of one message type that matter; all others pass untouched.
#[derive(Debug)]
pub struct Schema {
    /// Message type name, for errors.
    pub name: &'static str,
    /// The fields.
    pub fields: &'static [FieldSpec],
}

const fn text(number: u32, context: Context) -> FieldSpec {
    FieldSpec {
        number,
        kind: Kind::Text,
        context,
    }
}

const fn msg(number: u32, schema: &'static Schema, context: Context) -> FieldSpec {
    FieldSpec {
        number,
        kind: Kind::Message(schema),
        context,
    }
}

/// OTLP `ExportLogsServiceRequest` (opentelemetry/proto/collector/logs/v1).
/// Redacted: every string the client writes, as OTLP/JSON bodies are: log
/// bodies, attribute values (with their keys as context) and keys, resource
/// and scope attributes, nested arrays and kvlists, a record's
/// `severity_text` and `event_name`, the scope's name and version, schema
/// URLs and resource entity refs. Left alone: trace and span ids (binary
/// ids, not text), numbers, enums, and the `*_strindex` dictionary indexes.
pub static OTLP_LOGS: Schema = Schema {
    name: "ExportLogsServiceRequest",
    fields: &[msg(1, &OTLP_RESOURCE_LOGS, Context::None)],
};

static OTLP_RESOURCE_LOGS: Schema = Schema {
    name: "ResourceLogs",
    fields: &[
        msg(1, &OTLP_RESOURCE, Context::None),
        msg(2, &OTLP_SCOPE_LOGS, Context::None),
        text(3, Context::None), // schema_url
    ],
};

static OTLP_RESOURCE: Schema = Schema {
    name: "Resource",
    fields: &[
        msg(1, &OTLP_KEY_VALUE, Context::None),
        msg(3, &OTLP_ENTITY_REF, Context::None),
    ],
};

/// `EntityRef`: schema_url, type, id_keys, description_keys.
static OTLP_ENTITY_REF: Schema = Schema {
    name: "EntityRef",
    fields: &[
        text(1, Context::None),
        text(2, Context::None),
        text(3, Context::None),
        text(4, Context::None),
    ],
};

static OTLP_SCOPE_LOGS: Schema = Schema {
    name: "ScopeLogs",
    fields: &[
        msg(1, &OTLP_SCOPE, Context::None),
        msg(2, &OTLP_LOG_RECORD, Context::None),
        text(3, Context::None), // schema_url
    ],
};

static OTLP_SCOPE: Schema = Schema {
    name: "InstrumentationScope",
    fields: &[
        text(1, Context::None), // name
        text(2, Context::None), // version
        msg(3, &OTLP_KEY_VALUE, Context::None),
    ],
};

static OTLP_LOG_RECORD: Schema = Schema {
    name: "LogRecord",
    fields: &[
        text(3, Context::None), // severity_text: free text from the client
        msg(5, &OTLP_ANY_VALUE, Context::None),
        msg(6, &OTLP_KEY_VALUE, Context::None),
        text(12, Context::None), // event_name
    ],
};

/// OTLP `AnyValue`: strings and bytes, arrays and kvlists of them.
pub static OTLP_ANY_VALUE: Schema = Schema {
    name: "AnyValue",
    fields: &[
        text(1, Context::Inherit),
        msg(5, &OTLP_ARRAY_VALUE, Context::Inherit),
        msg(6, &OTLP_KEY_VALUE_LIST, Context::None),
        text(7, Context::Inherit),
    ],
};

static OTLP_ARRAY_VALUE: Schema = Schema {
    name: "ArrayValue",
    fields: &[msg(1, &OTLP_ANY_VALUE, Context::Inherit)],
};

static OTLP_KEY_VALUE_LIST: Schema = Schema {
    name: "KeyValueList",
    fields: &[msg(1, &OTLP_KEY_VALUE, Context::None)],
};

static OTLP_KEY_VALUE: Schema = Schema {
    name: "KeyValue",
    fields: &[
        text(1, Context::None),
        msg(2, &OTLP_ANY_VALUE, Context::Sibling(1)),
    ],
};

/// Loki `PushRequest` (pkg/push/push.proto): entry lines, stream label
/// strings, and structured metadata values (with their names as context).
pub static LOKI_PUSH: Schema = Schema {
    name: "PushRequest",
    fields: &[msg(1, &LOKI_STREAM, Context::None)],
};

static LOKI_STREAM: Schema = Schema {
    name: "StreamAdapter",
    fields: &[text(1, Context::None), msg(2, &LOKI_ENTRY, Context::None)],
};

static LOKI_ENTRY: Schema = Schema {
    name: "EntryAdapter",
    fields: &[
        text(2, Context::None),
        msg(3, &LOKI_LABEL_PAIR, Context::None),
    ],
};

static LOKI_LABEL_PAIR: Schema = Schema {
    name: "LabelPairAdapter",
    fields: &[text(1, Context::None), text(2, Context::Sibling(1))],
};

/// Why a message could not be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The bytes end inside a field.
    #[error("protobuf {message} is truncated")]
    Truncated {
        /// The message type being read.
        message: &'static str,
    },
    /// A wire type other than 0, 1, 2 or 5.
    #[error("protobuf {message}: unsupported wire type {wire_type}")]
    BadWireType {
        /// The message type being read.
        message: &'static str,
        /// The wire type.
        wire_type: u8,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("protobuf nesting deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// Deepest nesting walked (OTLP bodies nest arrays and kvlists).
pub const MAX_DEPTH: usize = 64;

/// One field as found on the wire.
#[derive(Debug, Clone, Copy)]
struct WireField {
    number: u32,
    wire_type: u8,
    /// The whole field, key included.
    start: usize,
    /// The key's bytes end here (payload or length prefix follows).
    key_end: usize,
    /// Length-delimited payload (for wire type 2).
    payload: (usize, usize),
    end: usize,
}

/// Reads the varint at `*at`, moving `at` past it; `None` when it is
/// truncated or longer than 10 bytes.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Appends `v` as a varint.
pub fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The fields of `msg` (a message of type `schema`), in wire order.
fn fields(msg: &[u8], schema: &Schema, out: &mut Vec<WireField>) -> Result<(), ProtoError> {
    let truncated = ProtoError::Truncated {
        message: schema.name,
    };
    let mut at = 0;
    while at < msg.len() {
        let start = at;
        let key = varint(msg, &mut at).ok_or(truncated.clone())?;
        let (number, wire_type) = ((key >> 3) as u32, (key & 7) as u8);
        let key_end = at;
        let mut payload = (at, at);
        match wire_type {
            0 => {
                varint(msg, &mut at).ok_or(truncated.clone())?;
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = varint(msg, &mut at).ok_or(truncated.clone())?;
                let len = usize::try_from(len).map_err(|_| truncated.clone())?;
                payload = (at, at.checked_add(len).ok_or(truncated.clone())?);
                at = payload.1;
            }
            w => {
                return Err(ProtoError::BadWireType {
                    message: schema.name,
                    wire_type: w,
                })
            }
        }
        if at > msg.len() {
            return Err(truncated);
        }
        out.push(WireField {
            number,
            wire_type,
            start,
            key_end,
            payload,
            end: at,
        });
    }
    Ok(())
}

/// Walks `msg`, a message of type `schema`, and hands every string field
/// the schema names (at any depth) to `text`, with its name context (see
/// [`Context`]): `text(name, payload)` returns the field's new payload, or
/// `None` to keep it. Returns the message rewritten, with every length
/// prefix on the way fixed, or `None` when no field changed.
pub fn rewrite<F>(
    schema: &'static Schema,
    msg: &[u8],
    text: &mut F,
) -> Result<Option<Vec<u8>>, ProtoError>
where
    F: FnMut(Option<&[u8]>, &[u8]) -> Option<Vec<u8>>,
{
    rewrite_at(schema, msg, None, 0, text)
}

/// [`rewrite`] for a message nested `depth` deep whose context is `ctx`.
fn rewrite_at<F>(
    schema: &'static Schema,
    msg: &[u8],
    ctx: Option<&[u8]>,
    depth: usize,
    text: &mut F,
) -> Result<Option<Vec<u8>>, ProtoError>
where
    F: FnMut(Option<&[u8]>, &[u8]) -> Option<Vec<u8>>,
{
    if depth > MAX_DEPTH {
        return Err(ProtoError::TooDeep);
    }
    let mut wire = Vec::new();
    fields(msg, schema, &mut wire)?;
    let sibling = |n: u32| {
        wire.iter()
            .find(|f| f.number == n && f.wire_type == 2)
            .map(|f| &msg[f.payload.0..f.payload.1])
    };
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0; // bytes of `msg` accounted for in `out`
    for f in &wire {
        let Some(spec) = schema.fields.iter().find(|s| s.number == f.number) else {
            continue;
        };
        if f.wire_type != 2 {
            continue;
        }
        let name = match spec.context {
            Context::None => None,
            Context::Inherit => ctx,
            Context::Sibling(n) => sibling(n),
        };
        let payload = &msg[f.payload.0..f.payload.1];
        let new = match spec.kind {
            Kind::Text => text(name, payload),
            Kind::Message(child) => rewrite_at(child, payload, name, depth + 1, text)?,
        };
        if let Some(new) = new {
            let o = out.get_or_insert_with(|| Vec::with_capacity(msg.len() + 64));
            o.extend_from_slice(&msg[copied..f.start]);
            o.extend_from_slice(&msg[f.start..f.key_end]);
            put_varint(new.len() as u64, o);
            o.extend_from_slice(&new);
            copied = f.end;
        }
    }
    Ok(out.map(|mut o| {
        o.extend_from_slice(&msg[copied..]);
        o
    }))
}
