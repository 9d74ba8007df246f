//! From the parsed file ([`super::raw`]) to a [`Config`]: every value
//! checked, every problem collected with its key path and line.

use std::io::Read;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

mod listener;

use super::defaults::{self as d, Num};
use super::raw::{self, Opt};
use super::*;

/// Parses and validates; `Err` holds every problem found.
///
/// An unknown key or a value of the wrong type does not hide the other
/// problems: the offending line is blanked (its bytes become spaces, so
/// every offset and line number stays) and the text is parsed again, up to
/// [`MAX_RESUMES`] times, and validation then reports the rest. (A key
/// whose value was blanked is not reported again as missing.) Only a TOML
/// syntax error stops at once.
pub(super) fn parse(
    text: &str,
    origin: &str,
    base: Option<&Path>,
) -> Result<Config, Vec<ConfigError>> {
    let mut now = text.to_string();
    let mut early: Vec<ConfigError> = Vec::new();
    let file = loop {
        let de = toml::Deserializer::new(&now);
        match serde_path_to_error::deserialize::<_, raw::File>(de) {
            Ok(f) => break f,
            Err(e) => {
                let resumable = e.inner().span().filter(|_| early.len() < MAX_RESUMES);
                early.push(serde_error(text, &e));
                let kind = early.last().map(|e| e.kind);
                match resumable {
                    Some(span) if kind == Some(ErrorKind::UnknownKey) || is_type_error(&e) => {
                        blank_item(&mut now, span.start)
                    }
                    _ => return Err(early),
                }
            }
        }
    };
    match validate(file, Some(text), base, false) {
        Ok(mut config) if early.is_empty() => {
            config.origin = origin.to_string();
            Ok(config)
        }
        Ok(_) => Err(early),
        Err(mut later) => {
            later.retain(|l| {
                !(l.kind == ErrorKind::Missing && early.iter().any(|e| e.path == l.path))
            });
            early.append(&mut later);
            Err(early)
        }
    }
}

/// Unknown keys and wrong types reported in one pass, at most.
const MAX_RESUMES: usize = 64;

fn is_type_error(e: &serde_path_to_error::Error<toml::de::Error>) -> bool {
    let msg = e.inner().message();
    msg.starts_with("invalid type: ") || msg.starts_with("invalid value: ")
}

/// Blanks the item at `offset`: its line, or for a table header (`[x]`,
/// `[[x]]`) the whole table up to the next header. Offsets and line
/// numbers stay as they were.
fn blank_item(text: &mut String, offset: usize) {
    let bytes = text.as_bytes();
    let offset = offset.min(bytes.len());
    let start = bytes[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| from + i)
    };
    let mut end = line_end(start);
    if bytes[start..end].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        // A whole table: up to the next header.
        while end < bytes.len() {
            let next = end + 1;
            let next_end = line_end(next);
            if bytes[next..next_end]
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                == Some(&b'[')
            {
                break;
            }
            end = next_end;
        }
    }
    // Byte for byte, so offsets stay; whole lines, so what remains is
    // still UTF-8.
    let mut v = std::mem::take(text).into_bytes();
    for b in &mut v[start..end] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
    *text = String::from_utf8(v).unwrap_or_default();
}

/// Validates a raw config: from a file (`text` is what its spans point
/// into) or from command-line flags (`text` is `None`, `cli` is true:
/// messages point at flags, such as `--public`, where they name a remedy).
/// The returned config's `origin` is empty.
pub(super) fn validate(
    file: raw::File,
    text: Option<&str>,
    base: Option<&Path>,
    cli: bool,
) -> Result<Config, Vec<ConfigError>> {
    let mut cx = Ctx {
        text,
        base,
        cli,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let redact = cx.redact(file.redact);
    let rules = cx.rules(file.rules);
    let runtime = cx.runtime(file.runtime);
    let metrics = file.metrics.map(|m| cx.metrics(m));
    let alerts = file.alerts.map(|a| cx.alerts(a));
    let listeners = cx.listeners(file.listener);
    cx.unique_binds(&listeners, metrics.as_ref());
    if let Some(Err(e)) = redact.as_ref().map(|r| rules.check_key(r, cli)) {
        cx.errors.push(e);
    }
    if cx.errors.is_empty() {
        Ok(Config {
            origin: String::new(),
            redact: redact.expect("no errors"),
            rules,
            runtime,
            metrics,
            alerts,
            listeners: listeners
                .into_iter()
                .map(|l| l.expect("no errors"))
                .collect(),
            warnings: cx.warnings,
        })
    } else {
        Err(cx.errors)
    }
}

/// A context for one section given on the command line.
fn cli_ctx() -> Ctx<'static> {
    Ctx {
        text: None,
        base: None,
        cli: true,
        errors: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Validates `[rules]` alone (commands that take rule flags but run no
/// listener), with any warnings.
pub(super) fn rules_only(r: raw::Rules) -> Result<(Rules, Vec<ConfigError>), Vec<ConfigError>> {
    let mut cx = cli_ctx();
    let rules = cx.rules(r);
    match cx.errors.is_empty() {
        true => Ok((rules, cx.warnings)),
        false => Err(cx.errors),
    }
}

/// Validates `[redact]` alone (the key file read and checked), with any
/// warnings.
pub(super) fn redact_only(r: raw::Redact) -> Result<(Redact, Vec<ConfigError>), Vec<ConfigError>> {
    let mut cx = cli_ctx();
    match cx.redact(r) {
        Some(redact) if cx.errors.is_empty() => Ok((redact, cx.warnings)),
        _ => Err(cx.errors),
    }
}

/// Validates `[alerts]` alone, when present.
pub(super) fn alerts_only(
    a: Option<Spanned<raw::Alerts>>,
) -> Result<Option<Alerts>, Vec<ConfigError>> {
    let mut cx = cli_ctx();
    let alerts = a.map(|a| cx.alerts(a));
    cx.errors.is_empty().then_some(alerts).ok_or(cx.errors)
}

/// Turns a serde error (syntax, unknown key, wrong type) into a
/// [`ConfigError`] with its key path and line, quoting no value.
fn serde_error(text: &str, e: &serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
    let mut path = String::new();
    for seg in e.path().iter() {
        use serde_path_to_error::Segment;
        match seg {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                // `toml::Spanned` wraps values in a private struct.
                if key.starts_with("$__") {
                    continue;
                }
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    let inner = e.inner();
    let line = inner.span().map(|s| line_of(text, s.start));
    let msg = inner.message().trim();
    let (kind, message) = if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
        // serde_path_to_error has the key in the path already; be sure.
        if !(path == key || path.ends_with(&format!(".{key}"))) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
        }
        (ErrorKind::UnknownKey, unknown_key_message(key, tail))
    } else if msg.starts_with("invalid type: ") || msg.starts_with("invalid value: ") {
        (ErrorKind::Syntax, type_message(msg))
    } else {
        (ErrorKind::Syntax, msg.replace('\n', "; "))
    };
    ConfigError {
        kind,
        path,
        line,
        message,
    }
}

/// Whether an unknown key looks like it was meant to hold a secret inline:
/// its last word names one (`hmac_key`, `webhook_token`, `password`), not
/// merely contains one (`max_keys`, `key_file`, `author`).
fn secret_carrier(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let last = k.rsplit(['_', '-', '.']).next().unwrap_or(&k);
    [
        "key",
        "token",
        "password",
        "passwd",
        "pass",
        "secret",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "cookie",
        "apikey",
    ]
    .contains(&last)
}

fn unknown_key_message(key: &str, tail: &str) -> String {
    if secret_carrier(key) {
        return format!(
            "unknown key `{key}`: the config never holds secrets; secrets are only read from \
             *_file or *_env references (such as hmac_key_file, hmac_key_env, key_file)"
        );
    }
    let expected = tail.trim_start_matches(',').trim();
    if expected.is_empty() {
        format!("unknown key `{key}`")
    } else {
        format!("unknown key `{key}` ({expected})")
    }
}

/// `invalid type: string "hunter2", expected u64` → `wrong type: a string,
/// expected an integer ≥ 0`, never quoting the value.
fn type_message(msg: &str) -> String {
    let (head, expected) = msg.split_once(", expected ").unwrap_or((msg, ""));
    let (_, found) = head.split_once(": ").unwrap_or(("", head));
    // serde's `Unexpected`: `string "…"`, `integer `5``, `floating point
    // `1.5``, `boolean `true``, `sequence`, `map`, …: keep the words before
    // the quoted value.
    let found: Vec<&str> = found
        .split(' ')
        .take_while(|w| !w.starts_with('"') && !w.starts_with('`'))
        .collect();
    let found = found.join(" ");
    let expected = match expected {
        "u64" => "an integer ≥ 0",
        "a boolean" | "bool" => "true or false",
        "a string" => "a string",
        "a sequence" => "an array",
        other => other,
    };
    if expected.is_empty() {
        format!("wrong type: {found}")
    } else {
        format!("wrong type: {found}, expected {expected}")
    }
}

pub(super) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn span<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    Some(s.span())
}

/// The span of item `i` of a list key.
fn item_span(v: &Option<Vec<Spanned<String>>>, i: usize) -> Option<Range<usize>> {
    v.as_ref().and_then(|v| v.get(i)).and_then(span)
}

/// What a `*_file` must contain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Content {
    /// A secret (the HMAC key, a token): anything readable, kept private.
    Secret,
    /// PEM certificates.
    Certs,
    /// A PEM private key.
    PrivateKey,
}

/// Largest file read to check it.
const MAX_CHECKED_FILE: u64 = 16 << 20;

struct Ctx<'a> {
    /// The file's text, which spans point into; `None` for flags.
    text: Option<&'a str>,
    base: Option<&'a Path>,
    /// The values came from command-line flags.
    cli: bool,
    errors: Vec<ConfigError>,
    /// Problems that do not refuse the config.
    warnings: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn err(
        &mut self,
        kind: ErrorKind,
        path: impl Into<String>,
        at: Option<Range<usize>>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            kind,
            path: path.into(),
            line: self.text.zip(at).map(|(text, r)| line_of(text, r.start)),
            message: message.into(),
        });
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        match self.base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// Resolves a `*_file` value and checks that it is readable (and looks
    /// like what it should hold). Returns the path even when it is not
    /// usable, the problem recorded.
    fn file(&mut self, path: &str, v: &Spanned<String>, content: Content) -> Option<PathBuf> {
        if v.get_ref().trim().is_empty() {
            self.err(ErrorKind::Invalid, path, span(v), "must not be empty");
            return None;
        }
        let p = self.resolve(v.get_ref());
        let shown = format!("{:?}", p.display().to_string());
        if p.is_dir() {
            self.err(
                ErrorKind::Reference,
                path,
                span(v),
                format!("{shown} is a directory, not a file"),
            );
            return Some(p);
        }
        let mut buf = Vec::new();
        let read =
            std::fs::File::open(&p).and_then(|f| f.take(MAX_CHECKED_FILE).read_to_end(&mut buf));
        if let Err(e) = read {
            self.err(
                ErrorKind::Reference,
                path,
                span(v),
                format!("cannot read {shown}: {}", io_reason(&e)),
            );
            return Some(p);
        }
        let contains = |needle: &[u8]| buf.windows(needle.len()).any(|w| w == needle);
        let problem = match content {
            Content::Certs if !contains(b"-----BEGIN CERTIFICATE-----") => {
                Some("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
            Content::PrivateKey if !(contains(b"-----BEGIN ") && contains(b"PRIVATE KEY-----")) => {
                Some("holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            self.err(
                ErrorKind::Reference,
                path,
                span(v),
                format!("{shown} {problem}"),
            );
        }
        if matches!(content, Content::Secret | Content::PrivateKey) {
            self.private(path, span(v), &p, &shown);
        }
        Some(p)
    }

    /// Warns (as ssh refuses) when a file holding a secret can be read by
    /// its group or others. A warning, not an error: Kubernetes mounts
    /// secrets 0644 unless told otherwise.
    fn private(&mut self, path: &str, at: Option<Range<usize>>, p: &Path, shown: &str) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::metadata(p) else {
                return;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                self.warnings.push(ConfigError {
                    kind: ErrorKind::Reference,
                    path: path.to_string(),
                    line: self.text.zip(at).map(|(text, r)| line_of(text, r.start)),
                    message: format!(
                        "{shown} holds a secret and is readable by its group or others (mode \
                         {mode:04o}): chmod 600 it"
                    ),
                });
            }
        }
    }

    fn redact(&mut self, r: raw::Redact) -> Option<Redact> {
        let style = match &r.style {
            None => Some(Style::Label),
            Some(s) => {
                let style = Style::parse(s.get_ref());
                if style.is_none() {
                    let msg = "must be \"label\", \"mask\", \"partial\" or \"hmac\"";
                    self.err(ErrorKind::Invalid, "redact.style", span(s), msg);
                }
                style
            }
        };
        let key_id = match &r.hmac_key_id {
            None => d::HMAC_KEY_ID.to_string(),
            Some(id) => {
                let s = id.get_ref();
                let ok = !s.is_empty()
                    && s.len() <= 32
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    let msg = "must be 1 to 32 ASCII letters, digits, '-' or '_'";
                    self.err(ErrorKind::Invalid, "redact.hmac_key_id", span(id), msg);
                }
                s.clone()
            }
        };
        let key = self.hmac_key_ref(&r);
        if let Some((secret, path, at)) = &key {
            // Read it now: a missing, unset or short key is reported at
            // load, not at the first finding. (An unreadable file was
            // reported by the file check already.)
            let redact = Redact {
                style: Style::Label,
                hmac_key: Some(secret.clone()),
                hmac_key_id: key_id.clone(),
            };
            if !self.errors.iter().any(|e| e.path == *path) {
                if let Err(e) = redact.hmac_key_bytes() {
                    self.err(e.kind, *path, at.clone(), e.message);
                }
            }
        }
        if style == Some(Style::Hmac) && r.hmac_key_file.is_none() && r.hmac_key_env.is_none() {
            let remedy = if self.cli {
                "pass --hmac-key-file"
            } else {
                "set hmac_key_file or hmac_key_env"
            };
            self.err(
                ErrorKind::Missing,
                "redact.style",
                r.style.as_ref().and_then(span),
                format!("style = \"hmac\" needs a key: {remedy}"),
            );
        }
        Some(Redact {
            style: style?,
            hmac_key: key.map(|(r, _, _)| r),
            hmac_key_id: key_id,
        })
    }

    /// Where the HMAC key is read from (`hmac_key_file` or `hmac_key_env`),
    /// with the key path and span that named it.
    fn hmac_key_ref(
        &mut self,
        r: &raw::Redact,
    ) -> Option<(SecretRef, &'static str, Option<Range<usize>>)> {
        match (&r.hmac_key_file, &r.hmac_key_env) {
            (Some(_), Some(env)) => {
                let msg = "set hmac_key_file or hmac_key_env, not both";
                self.err(ErrorKind::Invalid, "redact.hmac_key_env", span(env), msg);
                None
            }
            (Some(f), None) => {
                let p = self.file("redact.hmac_key_file", f, Content::Secret)?;
                Some((SecretRef::File(p), "redact.hmac_key_file", span(f)))
            }
            (None, Some(env)) => {
                let name = env.get_ref();
                let ok = name
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !ok {
                    self.err(
                        ErrorKind::Invalid,
                        "redact.hmac_key_env",
                        span(env),
                        "must be an environment variable name (letters, digits, '_'; not \
                         starting with a digit)",
                    );
                    return None;
                }
                Some((
                    SecretRef::Env(name.clone()),
                    "redact.hmac_key_env",
                    span(env),
                ))
            }
            (None, None) => None,
        }
    }

    fn strings(&mut self, path: &str, v: &Option<Vec<Spanned<String>>>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, s) in v.iter().flatten().enumerate() {
            if s.get_ref().trim().is_empty() {
                self.err(
                    ErrorKind::Invalid,
                    format!("{path}[{i}]"),
                    span(s),
                    "must not be empty",
                );
            } else {
                out.push(s.get_ref().clone());
            }
        }
        out
    }

    /// Resolves a list of paths, reporting each that is empty or cannot be
    /// used under `key[i]`.
    fn existing_paths(&mut self, key: &str, v: &Option<Vec<Spanned<String>>>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (i, d) in v.iter().flatten().enumerate() {
            let path = format!("{key}[{i}]");
            if d.get_ref().trim().is_empty() {
                self.err(ErrorKind::Invalid, path, span(d), "must not be empty");
                continue;
            }
            let p = self.resolve(d.get_ref());
            if let Err(e) = std::fs::metadata(&p) {
                self.err(
                    ErrorKind::Reference,
                    path,
                    span(d),
                    format!(
                        "cannot use {:?}: {}",
                        p.display().to_string(),
                        io_reason(&e)
                    ),
                );
            }
            out.push(p);
        }
        out
    }

    fn rules(&mut self, r: raw::Rules) -> Rules {
        let dirs = self.existing_paths("rules.dirs", &r.dirs);
        let known_secrets = self.existing_paths("rules.known_secrets", &r.known_secrets);
        self.known_secrets_private(&r, &known_secrets);
        let known_secrets_env = self.strings("rules.known_secrets_env", &r.known_secrets_env);
        for (i, n) in known_secrets_env.iter().enumerate() {
            if std::env::var_os(n).is_none() {
                self.err(
                    ErrorKind::Reference,
                    format!("rules.known_secrets_env[{i}]"),
                    item_span(&r.known_secrets_env, i),
                    format!("environment variable {n} is not set"),
                );
            }
        }
        let (allow_regex, allow_fingerprints) = self.allowlists(&r);
        let enable = self.strings("rules.enable", &r.enable);
        let disable = self.strings("rules.disable", &r.disable);
        let builtin = r.builtin.as_ref().is_none_or(|b| *b.get_ref());
        if !builtin && r.dirs.as_ref().is_none_or(|d| d.is_empty()) {
            self.err(
                ErrorKind::Invalid,
                "rules.builtin",
                r.builtin.as_ref().and_then(span),
                "builtin = false with no rules.dirs leaves no rules to run",
            );
        }
        Rules {
            dirs,
            enable,
            disable,
            builtin,
            known_secrets,
            known_secrets_env,
            allow_regex,
            allow_fingerprints,
        }
    }

    /// Known-secrets files (or each file of a directory) others can read
    /// are warned about.
    fn known_secrets_private(&mut self, r: &raw::Rules, paths: &[PathBuf]) {
        for (i, p) in paths.iter().enumerate() {
            let at = item_span(&r.known_secrets, i);
            let files: Vec<PathBuf> = match std::fs::read_dir(p) {
                Ok(dir) => dir
                    .flatten()
                    .map(|e| e.path())
                    .filter(|f| f.is_file())
                    .collect(),
                Err(_) => vec![p.clone()],
            };
            for f in files {
                let shown = format!("{:?}", f.display().to_string());
                self.private(&format!("rules.known_secrets[{i}]"), at.clone(), &f, &shown);
            }
        }
    }

    /// `allow_regex` (each must compile) and `allow_fingerprints` (each
    /// file must parse).
    fn allowlists(&mut self, r: &raw::Rules) -> (Vec<String>, Vec<PathBuf>) {
        use crate::rules::allow::Allowlist;
        let allow_regex = self.strings("rules.allow_regex", &r.allow_regex);
        for (i, re) in allow_regex.iter().enumerate() {
            if let Err(e) = Allowlist::default().add_regex(re) {
                let at = item_span(&r.allow_regex, i);
                self.err(
                    ErrorKind::Invalid,
                    format!("rules.allow_regex[{i}]"),
                    at,
                    e.0,
                );
            }
        }
        let files = self.existing_paths("rules.allow_fingerprints", &r.allow_fingerprints);
        for (i, f) in files.iter().enumerate().filter(|(_, f)| f.exists()) {
            if let Err(e) = Allowlist::default().add_fingerprint_file(f) {
                let at = item_span(&r.allow_fingerprints, i);
                let path = format!("rules.allow_fingerprints[{i}]");
                self.err(ErrorKind::Invalid, path, at, e.0);
            }
        }
        (allow_regex, files)
    }

    fn runtime(&mut self, r: raw::Runtime) -> Runtime {
        let threads = match self.num("runtime.threads", &r.threads, d::THREADS) {
            0 => None,
            n => Some(n as usize),
        };
        let drain = self.millis("runtime.drain_ms", &r.drain_ms, d::DRAIN_MS);
        let log = match &r.log {
            None => d::LOG.to_string(),
            Some(l) => {
                if tracing_subscriber::EnvFilter::builder()
                    .parse(l.get_ref())
                    .is_err()
                    || l.get_ref().trim().is_empty()
                {
                    self.err(
                        ErrorKind::Invalid,
                        "runtime.log",
                        span(l),
                        "not a log filter: use error, warn, info, debug, trace or a tracing \
                         directive such as \"info,redactd=debug\"",
                    );
                }
                l.get_ref().clone()
            }
        };
        let buffer_bytes = self.size("runtime.buffer_bytes", &r.buffer_bytes, d::BUFFER_BYTES);
        Runtime {
            threads,
            drain,
            log,
            buffer_bytes,
        }
    }

    /// A whole number within the setting's bounds; its default when
    /// absent (or out of bounds, the problem recorded).
    fn num(&mut self, path: &str, v: &Opt<u64>, setting: Num) -> u64 {
        let Some(n) = v else {
            return setting.default;
        };
        let x = *n.get_ref();
        if x < setting.min || x > setting.max {
            let msg = if setting.max == u64::MAX {
                format!("must be at least {}", setting.min)
            } else {
                format!("must be between {} and {}", setting.min, setting.max)
            };
            self.err(ErrorKind::Invalid, path, span(n), msg);
            return setting.default;
        }
        x
    }

    /// [`num`](Self::num) as a count or size in memory.
    fn size(&mut self, path: &str, v: &Opt<u64>, setting: Num) -> usize {
        usize::try_from(self.num(path, v, setting)).unwrap_or(usize::MAX)
    }

    /// [`num`](Self::num) in milliseconds.
    fn millis(&mut self, path: &str, v: &Opt<u64>, setting: Num) -> Duration {
        Duration::from_millis(self.num(path, v, setting))
    }

    /// A listen address: IP:PORT, loopback unless `public`.
    fn listen_addr(
        &mut self,
        path: &str,
        v: &Spanned<String>,
        public: bool,
        public_path: &str,
    ) -> Option<SocketAddr> {
        let Ok(addr) = v.get_ref().trim().parse::<SocketAddr>() else {
            self.err(
                ErrorKind::Invalid,
                path,
                span(v),
                "not an IP:PORT address (for example 127.0.0.1:5514 or [::1]:5514; host names \
                 are not accepted for listen addresses)",
            );
            return None;
        };
        if !public && !addr.ip().to_canonical().is_loopback() {
            let remedy = if self.cli {
                "pass --public".to_string()
            } else {
                format!("set `public = true` in {public_path}")
            };
            self.err(
                ErrorKind::Invalid,
                path,
                span(v),
                format!(
                    "{addr} is not a loopback address: redactd binds 127.0.0.1 unless told \
                     otherwise; {remedy} to accept connections from other hosts"
                ),
            );
        }
        Some(addr)
    }

    fn metrics(&mut self, m: Spanned<raw::Metrics>) -> Metrics {
        let m = m.into_inner();
        let public = m.public.as_ref().is_some_and(|p| *p.get_ref());
        let default: SocketAddr = d::METRICS_LISTEN.parse().expect("valid default");
        let listen = match &m.listen {
            None => default,
            Some(l) => self
                .listen_addr("metrics.listen", l, public, "[metrics]")
                .unwrap_or(default),
        };
        Metrics { listen, public }
    }

    fn alerts(&mut self, a: Spanned<raw::Alerts>) -> Alerts {
        use crate::alert::SinkSpec;
        let at = span(&a);
        let a = a.into_inner();
        let mut sinks: Vec<SinkSpec> = a
            .audit_file
            .as_ref()
            .and_then(|v| self.audit_file(v))
            .map(SinkSpec::Audit)
            .into_iter()
            .collect();
        let token_file = a
            .webhook_token_file
            .as_ref()
            .and_then(|v| self.file("alerts.webhook_token_file", v, Content::Secret));
        match (&a.webhook_url, &a.webhook_token_file) {
            (Some(u), _) => {
                if self.alert_url("alerts.webhook_url", u) {
                    sinks.push(SinkSpec::Webhook {
                        url: u.get_ref().clone(),
                        token_file,
                    });
                }
            }
            (None, Some(t)) => self.err(
                ErrorKind::Invalid,
                "alerts.webhook_token_file",
                span(t),
                "needs alerts.webhook_url",
            ),
            (None, None) => {}
        }
        if let Some(u) = &a.alertmanager_url {
            if self.alert_url("alerts.alertmanager_url", u) {
                sinks.push(SinkSpec::Alertmanager {
                    url: u.get_ref().clone(),
                });
            }
        }
        let no_sink =
            a.audit_file.is_none() && a.webhook_url.is_none() && a.alertmanager_url.is_none();
        if no_sink {
            self.err(
                ErrorKind::Missing,
                "alerts",
                at,
                "give at least one of audit_file, webhook_url, alertmanager_url",
            );
        }
        let window = self.millis("alerts.window_ms", &a.window_ms, d::ALERT_WINDOW_MS);
        let queue = self.size("alerts.queue", &a.queue, d::ALERT_QUEUE);
        let rate_per_second = self.rate(&a.rate_per_second);
        let burst = self.num("alerts.burst", &a.burst, d::ALERT_BURST) as u32;
        let timeout = self.millis("alerts.timeout_ms", &a.timeout_ms, d::ALERT_TIMEOUT_MS);
        let max_attempts = self.num(
            "alerts.max_attempts",
            &a.max_attempts,
            d::ALERT_MAX_ATTEMPTS,
        );
        let retry = self.millis("alerts.retry_ms", &a.retry_ms, d::ALERT_RETRY_MS);
        let drain = self.millis("alerts.drain_ms", &a.drain_ms, d::ALERT_DRAIN_MS);
        Alerts {
            sinks,
            window,
            queue,
            rate_per_second,
            burst,
            timeout,
            max_attempts: max_attempts as u32,
            retry,
            drain,
        }
    }

    /// `alerts.rate_per_second`: above 0, at most [`d::ALERT_RATE_MAX`].
    fn rate(&mut self, v: &Opt<f64>) -> f64 {
        let Some(r) = v else {
            return d::ALERT_RATE;
        };
        let x = *r.get_ref();
        if !(x > 0.0 && x <= d::ALERT_RATE_MAX) {
            self.err(
                ErrorKind::Invalid,
                "alerts.rate_per_second",
                span(r),
                format!("must be above 0 and at most {}", d::ALERT_RATE_MAX),
            );
            return d::ALERT_RATE;
        }
        x
    }

    /// `alerts.audit_file`: a file in a directory that exists.
    fn audit_file(&mut self, v: &Spanned<String>) -> Option<PathBuf> {
        const KEY: &str = "alerts.audit_file";
        if v.get_ref().trim().is_empty() {
            self.err(ErrorKind::Invalid, KEY, span(v), "must not be empty");
            return None;
        }
        let p = self.resolve(v.get_ref());
        if let Some(d) = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
        {
            let msg = format!("directory {:?} does not exist", d.display().to_string());
            self.err(ErrorKind::Reference, KEY, span(v), msg);
        }
        if p.is_dir() {
            self.err(
                ErrorKind::Reference,
                KEY,
                span(v),
                "is a directory, not a file",
            );
        }
        Some(p)
    }

    /// An `http://HOST:PORT[/PATH]` URL without credentials.
    fn alert_url(&mut self, path: &str, v: &Spanned<String>) -> bool {
        let problem = match v.get_ref().parse::<hyper::Uri>() {
            Err(_) => Some("not a URL"),
            Ok(u) if u.scheme_str() != Some("http") => Some("must be an http:// URL"),
            Ok(u) => match u.authority() {
                None => Some("the URL has no host"),
                Some(a) if a.as_str().contains('@') => {
                    Some("credentials in the URL are refused: use alerts.webhook_token_file")
                }
                Some(_) => None,
            },
        };
        if let Some(p) = problem {
            self.err(ErrorKind::Invalid, path, span(v), p);
        }
        problem.is_none()
    }
}
