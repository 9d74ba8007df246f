//! From the parsed file ([`super::raw`]) to a [`Config`]: every value
//! checked, every problem collected with its key path and line.

use std::io::Read;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::defaults::{self as d, Num};
use super::raw::Present;
use super::raw::{self, Opt};
use super::*;

/// Parses and validates; `Err` holds every problem found.
pub(super) fn parse(
    text: &str,
    origin: &str,
    base: Option<&Path>,
) -> Result<Config, Vec<ConfigError>> {
    let de = toml::Deserializer::new(text);
    let file: raw::File = match serde_path_to_error::deserialize(de) {
        Ok(f) => f,
        Err(e) => return Err(vec![serde_error(text, &e)]),
    };
    let mut config = validate(file, Some(text), base, false)?;
    config.origin = origin.to_string();
    Ok(config)
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

    fn listeners(&mut self, ls: Vec<Spanned<raw::Listener>>) -> Vec<Option<Listener>> {
        if ls.is_empty() {
            self.err(
                ErrorKind::Missing,
                "listener",
                None,
                "at least one [[listener]] is required",
            );
        }
        let mut names: Vec<(String, usize)> = Vec::new();
        let mut out = Vec::new();
        for (i, l) in ls.into_iter().enumerate() {
            let at = span(&l);
            let l = l.into_inner();
            if let Some(n) = &l.name {
                if let Some((_, first)) = names.iter().find(|(x, _)| x == n.get_ref()) {
                    self.err(
                        ErrorKind::Invalid,
                        format!("listener[{i}].name"),
                        span(n),
                        format!(
                            "duplicate listener name {:?} (also listener[{first}].name): names \
                             must be unique",
                            n.get_ref()
                        ),
                    );
                } else {
                    names.push((n.get_ref().clone(), i));
                }
            }
            out.push(self.listener(i, at, l));
        }
        out
    }

    fn listener(
        &mut self,
        i: usize,
        at: Option<Range<usize>>,
        l: raw::Listener,
    ) -> Option<Listener> {
        let at = Place { i, at };
        let errors_before = self.errors.len();
        let name = self.listener_name(&at, &l);
        let kind = self.listener_kind(&at, &l);
        if let Some(kind) = kind {
            self.keys_of_other_modes(&at, &l, kind);
        }
        let public = l.public.as_ref().is_some_and(|b| *b.get_ref());
        let upstream = match &l.upstream {
            None => {
                let (p, s) = (at.key("upstream"), at.at.clone());
                self.err(ErrorKind::Missing, p, s, "missing key `upstream`");
                None
            }
            Some(u) => self.upstream(&at.key("upstream"), u, kind),
        };
        let max_connections = self.size(
            &at.key("max_connections"),
            &l.max_connections,
            d::MAX_CONNECTIONS,
        );
        let connect_timeout = self.millis(
            &at.key("connect_timeout_ms"),
            &l.connect_timeout_ms,
            d::CONNECT_TIMEOUT_MS,
        );
        let idle_timeout = self.millis(
            &at.key("idle_timeout_ms"),
            &l.idle_timeout_ms,
            d::IDLE_TIMEOUT_MS,
        );
        let message_timeout = self.millis(
            &at.key("message_timeout_ms"),
            &l.message_timeout_ms,
            d::MESSAGE_TIMEOUT_MS,
        );
        let mode = match kind {
            Some(Kind::Syslog) => self.syslog_mode(&at, &l, public, upstream.as_ref()),
            Some(Kind::Tcp) => self.tcp_mode(&at, &l, public),
            Some(Kind::Http) => self.http_mode(&at, &l, public),
            None => None,
        };
        let tls = l.tls.as_ref().and_then(|t| self.server_tls(i, t));
        let upstream_tls =
            self.client_tls(i, at.at.clone(), upstream.as_ref(), l.upstream_tls.as_ref());
        if self.errors.len() > errors_before {
            return None;
        }
        Some(Listener {
            name: name?,
            public,
            upstream: upstream?,
            max_connections,
            connect_timeout,
            idle_timeout,
            message_timeout,
            tls,
            upstream_tls,
            mode: mode?,
        })
    }

    /// `name`: present, and usable as a metric label.
    fn listener_name(&mut self, at: &Place, l: &raw::Listener) -> Option<String> {
        let Some(n) = &l.name else {
            self.err(
                ErrorKind::Missing,
                at.key("name"),
                at.at.clone(),
                "missing key `name`",
            );
            return None;
        };
        let s = n.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            self.err(
                ErrorKind::Invalid,
                at.key("name"),
                span(n),
                "must be 1 to 64 characters of a-z, 0-9, '_' and '-' (it is the \
                 `listener` metric label)",
            );
        }
        Some(s.clone())
    }

    /// `mode`: present and known.
    fn listener_kind(&mut self, at: &Place, l: &raw::Listener) -> Option<Kind> {
        let Some(m) = &l.mode else {
            self.err(
                ErrorKind::Missing,
                at.key("mode"),
                at.at.clone(),
                "missing key `mode` (\"syslog\", \"tcp\" or \"http\")",
            );
            return None;
        };
        let kind = match m.get_ref().as_str() {
            "syslog" => Kind::Syslog,
            "tcp" => Kind::Tcp,
            "http" => Kind::Http,
            _ => {
                let msg = "must be \"syslog\", \"tcp\" or \"http\"";
                self.err(ErrorKind::Invalid, at.key("mode"), span(m), msg);
                return None;
            }
        };
        Some(kind)
    }

    /// Each key that only another mode takes is an error.
    fn keys_of_other_modes(&mut self, at: &Place, l: &raw::Listener, kind: Kind) {
        let (this, wrong): (&str, Vec<(Present, &str)>) = match kind {
            Kind::Syslog => (
                "syslog",
                tag(l.tcp_only_keys(), "\"tcp\"")
                    .chain(tag(l.http_only_keys(), "\"http\""))
                    .chain(tag(l.stream_listen_key(), "\"tcp\" and \"http\""))
                    .collect(),
            ),
            Kind::Tcp => (
                "tcp",
                tag(l.syslog_only_keys(), "\"syslog\"")
                    .chain(tag(l.http_only_keys(), "\"http\""))
                    .collect(),
            ),
            Kind::Http => (
                "http",
                tag(l.syslog_only_keys(), "\"syslog\"")
                    .chain(tag(l.tcp_only_keys(), "\"tcp\""))
                    .collect(),
            ),
        };
        for ((key, span), other) in wrong {
            self.err(
                ErrorKind::Invalid,
                at.key(key),
                Some(span),
                format!(
                    "`{key}` applies to mode = {other} listeners only; this listener has \
                     mode = \"{this}\""
                ),
            );
        }
    }

    /// The addresses of `key` (`listen_tcp`, `listen_udp`).
    fn listen_addrs(
        &mut self,
        at: &Place,
        key: &str,
        v: &Opt<Vec<Spanned<String>>>,
        public: bool,
    ) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for (j, a) in v.iter().flat_map(|v| v.get_ref()).enumerate() {
            let path = format!("{}[{j}]", at.key(key));
            out.extend(self.listen_addr(&path, a, public, &at.me()));
        }
        out
    }

    fn syslog_mode(
        &mut self,
        at: &Place,
        l: &raw::Listener,
        public: bool,
        upstream: Option<&Upstream>,
    ) -> Option<Mode> {
        let listen_tcp = self.listen_addrs(at, "listen_tcp", &l.listen_tcp, public);
        let listen_udp = self.listen_addrs(at, "listen_udp", &l.listen_udp, public);
        if listen_tcp.is_empty() && listen_udp.is_empty() && !self.has_errors_at(at, "listen_") {
            self.err(
                ErrorKind::Missing,
                at.key("listen_tcp"),
                at.at.clone(),
                "a syslog listener needs at least one listen_tcp or listen_udp address",
            );
        }
        let framing = self.framing(at, l, upstream);
        let max_message_size = self.size(
            &at.key("max_message_size"),
            &l.max_message_size,
            d::MAX_MESSAGE_SIZE,
        );
        let queue_bytes = self.size(&at.key("queue_bytes"), &l.queue_bytes, d::QUEUE_BYTES);
        if queue_bytes < max_message_size {
            let span = l
                .queue_bytes
                .as_ref()
                .or(l.max_message_size.as_ref())
                .and_then(span);
            self.err(
                ErrorKind::Invalid,
                at.key("queue_bytes"),
                span,
                format!(
                    "{queue_bytes} is less than max_message_size ({max_message_size}): the \
                     queue must hold at least one message of the largest size"
                ),
            );
        }
        let max_datagram = self.size(&at.key("max_datagram"), &l.max_datagram, d::MAX_DATAGRAM);
        if let Some(tls) = &l.tls {
            let none =
                |v: &Opt<Vec<Spanned<String>>>| v.as_ref().is_none_or(|v| v.get_ref().is_empty());
            let problem = if none(&l.listen_tcp) {
                Some("TLS applies to listen_tcp addresses, and this listener has none")
            } else if !none(&l.listen_udp) {
                Some(
                    "TLS covers listen_tcp only, and UDP cannot use it: put the listen_udp \
                     addresses in a listener of their own so that no plaintext input hides \
                     behind a TLS listener",
                )
            } else {
                None
            };
            if let Some(problem) = problem {
                self.err(ErrorKind::Invalid, at.key("tls"), span(tls), problem);
            }
        }
        Some(Mode::Syslog(Syslog {
            listen_tcp,
            listen_udp,
            framing,
            max_message_size,
            queue_bytes,
            max_datagram,
        }))
    }

    /// Whether a problem was recorded at a key of this listener starting
    /// with `prefix`.
    fn has_errors_at(&self, at: &Place, prefix: &str) -> bool {
        let p = at.key(prefix);
        self.errors.iter().any(|e| e.path.starts_with(&p))
    }

    /// `upstream_framing` (only for tcp:// and tls:// upstreams).
    fn framing(&mut self, at: &Place, l: &raw::Listener, upstream: Option<&Upstream>) -> Framing {
        let Some(f) = &l.upstream_framing else {
            return Framing::Preserve;
        };
        if upstream.is_some_and(|u| u.scheme == Scheme::Udp) {
            self.err(
                ErrorKind::Invalid,
                at.key("upstream_framing"),
                span(f),
                "applies to tcp:// and tls:// upstreams only (a udp:// upstream gets one \
                 message per datagram)",
            );
        }
        match f.get_ref().as_str() {
            "preserve" => Framing::Preserve,
            "octet" => Framing::Octet,
            "lf" => Framing::Lf,
            _ => {
                let msg = "must be \"preserve\", \"octet\" or \"lf\"";
                self.err(ErrorKind::Invalid, at.key("upstream_framing"), span(f), msg);
                Framing::Preserve
            }
        }
    }

    /// `listen` of a tcp or http listener (`example` in the message).
    fn stream_listen(
        &mut self,
        at: &Place,
        l: &raw::Listener,
        public: bool,
        what: &str,
    ) -> Option<SocketAddr> {
        let Some(a) = &l.listen else {
            self.err(
                ErrorKind::Missing,
                at.key("listen"),
                at.at.clone(),
                format!("{what} needs `listen` (for example \"127.0.0.1:6000\")"),
            );
            return None;
        };
        self.listen_addr(&at.key("listen"), a, public, &at.me())
    }

    fn tcp_mode(&mut self, at: &Place, l: &raw::Listener, public: bool) -> Option<Mode> {
        let listen = self.stream_listen(at, l, public, "a tcp listener");
        let flush = self.millis(&at.key("flush_ms"), &l.flush_ms, d::FLUSH_MS);
        listen.map(|listen| Mode::Tcp(Tcp { listen, flush }))
    }

    fn http_mode(&mut self, at: &Place, l: &raw::Listener, public: bool) -> Option<Mode> {
        let listen = self.stream_listen(at, l, public, "an http listener");
        let max_body = self.size(&at.key("max_body"), &l.max_body, d::MAX_BODY);
        let stream_above = self.size(&at.key("stream_above"), &l.stream_above, d::STREAM_ABOVE);
        let max_line = self.size(&at.key("max_line"), &l.max_line, d::MAX_LINE);
        let header_timeout = self.millis(
            &at.key("header_timeout_ms"),
            &l.header_timeout_ms,
            d::HEADER_TIMEOUT_MS,
        );
        listen.map(|listen| {
            Mode::Http(Http {
                listen,
                max_body,
                stream_above,
                max_line,
                header_timeout,
            })
        })
    }

    /// Parses an upstream URL for a listener of the given mode (`None`:
    /// the mode is unknown).
    fn upstream(
        &mut self,
        path: &str,
        v: &Spanned<String>,
        mode: Option<Kind>,
    ) -> Option<Upstream> {
        let checked = split_scheme(v.get_ref().trim(), mode)
            .and_then(|(scheme, rest)| scheme_fits(scheme, mode).map(|()| (scheme, rest)));
        let (scheme, rest) = match checked {
            Ok(x) => x,
            Err(msg) => {
                self.err(ErrorKind::Invalid, path, span(v), msg);
                return None;
            }
        };
        if matches!(scheme, Scheme::Http | Scheme::Https) {
            return self.http_upstream(path, v, scheme, rest);
        }
        let Some((host, port)) = host_port(rest) else {
            self.err(
                ErrorKind::Invalid,
                path,
                span(v),
                "expected SCHEME://HOST:PORT with a host name or IP address (IPv6 in \
                 brackets) and a port from 1 to 65535; credentials and paths are not accepted",
            );
            return None;
        };
        Some(Upstream {
            scheme,
            host,
            port,
            path: String::new(),
        })
    }

    /// The part of an `http://` or `https://` upstream after the scheme:
    /// `HOST[:PORT][/PREFIX]`, the port defaulting to the scheme's.
    fn http_upstream(
        &mut self,
        path: &str,
        v: &Spanned<String>,
        scheme: Scheme,
        rest: &str,
    ) -> Option<Upstream> {
        let (authority, prefix) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let problem = if authority.contains('@') {
            "must not hold credentials (user:password@): clients' own headers are forwarded"
        } else if prefix.contains(['?', '#']) || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            "the path prefix must be a plain path (no query, fragment or spaces)"
        } else {
            ""
        };
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let hp = if problem.is_empty() {
            host_port(authority).or_else(|| {
                let bare = authority
                    .strip_prefix('[')
                    .and_then(|a| a.strip_suffix(']'));
                match bare {
                    Some(v6) => v6
                        .parse::<Ipv6Addr>()
                        .ok()
                        .map(|_| (v6.to_string(), default_port)),
                    None => host_ok(authority).then(|| (authority.to_string(), default_port)),
                }
            })
        } else {
            None
        };
        match hp {
            Some((host, port)) => Some(Upstream {
                scheme,
                host,
                port,
                path: prefix.trim_end_matches('/').to_string(),
            }),
            None => {
                let problem = if problem.is_empty() {
                    "expected http://HOST[:PORT][/PREFIX] or https://HOST[:PORT][/PREFIX] with a \
                     host name or IP address (IPv6 in brackets) and a port from 1 to 65535"
                } else {
                    problem
                };
                self.err(ErrorKind::Invalid, path, span(v), problem);
                None
            }
        }
    }

    fn required_file(
        &mut self,
        path: String,
        table_at: Option<Range<usize>>,
        v: &Opt<String>,
        content: Content,
        what: &str,
    ) -> Option<PathBuf> {
        match v {
            None => {
                self.err(ErrorKind::Missing, path, table_at, what);
                None
            }
            Some(v) => self.file(&path, v, content),
        }
    }

    fn server_tls(&mut self, i: usize, t: &Spanned<raw::ServerTls>) -> Option<ServerTls> {
        let p = |key: &str| format!("listener[{i}].tls.{key}");
        let at = span(t);
        let t = t.get_ref();
        let cert = self.required_file(
            p("cert_file"),
            at.clone(),
            &t.cert_file,
            Content::Certs,
            "missing key: the listener's PEM certificate chain (cert_file and key_file come \
             together)",
        );
        let key = self.required_file(
            p("key_file"),
            at,
            &t.key_file,
            Content::PrivateKey,
            "missing key: the listener's PEM private key (cert_file and key_file come together)",
        );
        let client_ca = t
            .client_ca_file
            .as_ref()
            .and_then(|c| self.file(&p("client_ca_file"), c, Content::Certs));
        Some(ServerTls {
            cert_file: cert?,
            key_file: key?,
            client_ca_file: client_ca,
        })
    }

    fn client_tls(
        &mut self,
        i: usize,
        listener_at: Option<Range<usize>>,
        upstream: Option<&Upstream>,
        t: Option<&Spanned<raw::ClientTls>>,
    ) -> Option<ClientTls> {
        let p = |key: &str| format!("listener[{i}].upstream_tls.{key}");
        let is_tls = upstream.map(|u| matches!(u.scheme, Scheme::Tls | Scheme::Https));
        let Some(t) = t else {
            // An https:// upstream without the table trusts the system's CAs.
            let https = upstream.is_some_and(|u| u.scheme == Scheme::Https);
            if is_tls == Some(true) && !https {
                self.err(
                    ErrorKind::Missing,
                    p("ca_file"),
                    listener_at,
                    "a tls:// upstream needs [listener.upstream_tls] with ca_file (the PEM CAs \
                     its certificate must chain to)",
                );
            }
            return None;
        };
        let t_at = span(t);
        let t = t.get_ref();
        if is_tls == Some(false) {
            self.err(
                ErrorKind::Invalid,
                format!("listener[{i}].upstream_tls"),
                t_at.clone(),
                "applies to tls:// and https:// upstreams only: use tls://HOST:PORT (or \
                 https:// for an http listener) or remove this table",
            );
        }
        let ca = self.required_file(
            p("ca_file"),
            t_at.clone(),
            &t.ca_file,
            Content::Certs,
            "missing key: the PEM CAs the upstream's certificate must chain to",
        );
        let client_cert = self.client_cert(i, t);
        let server_name = match &t.server_name {
            Some(n) if upstream.is_some_and(|u| u.scheme == Scheme::Https) => {
                self.err(
                    ErrorKind::Invalid,
                    p("server_name"),
                    span(n),
                    "an https:// upstream is verified by its URL's host: remove server_name",
                );
                n.get_ref().clone()
            }
            Some(n) => {
                let ok = host_ok(n.get_ref()) || n.get_ref().parse::<IpAddr>().is_ok();
                if !ok {
                    self.err(
                        ErrorKind::Invalid,
                        p("server_name"),
                        span(n),
                        "must be a DNS name or an IP address",
                    );
                }
                n.get_ref().clone()
            }
            None => upstream.map(|u| u.host.clone()).unwrap_or_default(),
        };
        Some(ClientTls {
            ca_file: ca?,
            client_cert,
            server_name,
        })
    }

    /// `cert_file` and `key_file` of `[listener.upstream_tls]`: together or
    /// not at all.
    fn client_cert(&mut self, i: usize, t: &raw::ClientTls) -> Option<(PathBuf, PathBuf)> {
        let p = |key: &str| format!("listener[{i}].upstream_tls.{key}");
        let (missing, span) = match (&t.cert_file, &t.key_file) {
            (None, None) => return None,
            (Some(c), Some(k)) => {
                let c = self.file(&p("cert_file"), c, Content::Certs);
                let k = self.file(&p("key_file"), k, Content::PrivateKey);
                return c.zip(k);
            }
            (Some(c), None) => ("key_file", span(c)),
            (None, Some(k)) => ("cert_file", span(k)),
        };
        self.err(
            ErrorKind::Missing,
            p(missing),
            span,
            format!("cert_file and key_file come together: set {missing} too, or neither"),
        );
        None
    }

    /// Two binds of one protocol and address (port 0 excepted) cannot both
    /// succeed.
    fn unique_binds(&mut self, listeners: &[Option<Listener>], metrics: Option<&Metrics>) {
        let mut seen: Vec<(&'static str, SocketAddr, String)> = Vec::new();
        if let Some(m) = metrics {
            seen.push(("tcp", m.listen, "metrics.listen".into()));
        }
        for (i, l) in listeners.iter().enumerate() {
            let Some(l) = l else { continue };
            for (proto, addr) in l.binds() {
                if addr.port() == 0 {
                    continue;
                }
                if let Some((_, _, other)) = seen.iter().find(|(p, a, _)| *p == proto && *a == addr)
                {
                    self.err(
                        ErrorKind::Invalid,
                        format!("listener[{i}]"),
                        None,
                        format!("{proto} {addr} is also bound by {other}"),
                    );
                } else {
                    seen.push((proto, addr, format!("listener[{i}]")));
                }
            }
        }
    }
}

/// A DNS host name (letters, digits, '-', '_', '.').
fn host_ok(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !h.starts_with('.')
        && !h.starts_with('-')
}

/// An upstream URL's scheme (a bare `HOST:PORT` is TCP, except for syslog,
/// which must say) and the rest; or what is wrong, quoting no value but a
/// scheme-looking word.
fn split_scheme(s: &str, mode: Option<Kind>) -> Result<(Scheme, &str), String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        if mode == Some(Kind::Syslog) {
            return Err(
                "syslog upstreams need a scheme: tcp://HOST:PORT, udp://HOST:PORT or \
                        tls://HOST:PORT"
                    .into(),
            );
        }
        return Ok((Scheme::Tcp, s));
    };
    let scheme = match scheme {
        "tcp" => Scheme::Tcp,
        "udp" => Scheme::Udp,
        "tls" => Scheme::Tls,
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => {
            let looks_like_one = !other.is_empty()
                && other.len() <= 16
                && other
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+');
            let shown = if looks_like_one {
                format!("unknown scheme \"{other}\"")
            } else {
                "unknown scheme".to_string()
            };
            let expected = match mode {
                Some(Kind::Syslog) => "syslog upstreams are tcp://, udp:// or tls://",
                Some(Kind::Tcp) => "tcp listeners forward to HOST:PORT, tcp:// or tls://",
                Some(Kind::Http) => {
                    "http listeners forward to http://HOST:PORT or https://HOST:PORT"
                }
                None => "expected tcp://, udp://, tls:// or http://",
            };
            return Err(format!("{shown}: {expected}"));
        }
    };
    Ok((scheme, rest))
}

/// Whether a listener of `mode` can forward to `scheme`.
fn scheme_fits(scheme: Scheme, mode: Option<Kind>) -> Result<(), String> {
    let Some(mode) = mode else { return Ok(()) };
    let http_scheme = matches!(scheme, Scheme::Http | Scheme::Https);
    let problem = match mode {
        Kind::Http if !http_scheme => {
            "http listeners forward to http://HOST:PORT or https://HOST:PORT"
        }
        Kind::Syslog | Kind::Tcp if http_scheme => {
            "http:// and https:// upstreams are for mode = \"http\" listeners"
        }
        Kind::Tcp if scheme == Scheme::Udp => {
            "a tcp listener forwards a byte stream: udp:// is for syslog listeners (use \
             HOST:PORT, tcp:// or tls://)"
        }
        _ => return Ok(()),
    };
    Err(problem.into())
}

/// A listener's mode, while its keys are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Syslog,
    Tcp,
    Http,
}

/// Where in the file a listener is: its index and the span of its table.
struct Place {
    i: usize,
    at: Option<Range<usize>>,
}

impl Place {
    /// `listener[i].key`.
    fn key(&self, key: &str) -> String {
        format!("listener[{}].{key}", self.i)
    }

    /// `listener[i]`.
    fn me(&self) -> String {
        format!("listener[{}]", self.i)
    }
}

/// Tags each present key with the mode(s) it belongs to.
fn tag(keys: Vec<Present>, mode: &'static str) -> impl Iterator<Item = (Present, &'static str)> {
    keys.into_iter().map(move |k| (k, mode))
}

/// `host:port`, `1.2.3.4:port` or `[v6]:port`, port not 0.
fn host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, port) = rest.split_once("]:")?;
        h.parse::<Ipv6Addr>().ok()?;
        (h.to_string(), port)
    } else {
        let (h, port) = s.rsplit_once(':')?;
        if !host_ok(h) {
            return None;
        }
        (h.to_string(), port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    Some((host, port))
}
