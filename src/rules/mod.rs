//! Rules as data: the TOML schema, loading (built-ins embedded from
//! `patterns/`, plus user directories), validation, and compiling a
//! [`RuleSet`].
//!
//! Loading reports *every* problem it finds, each naming the file, the rule id
//! and what is wrong. It refuses unknown keys, duplicate ids, non-ASCII
//! patterns, Unicode classes, unbounded maximum match length, stream anchors,
//! keywords the regex does not provably contain, and rules without examples.
//! Running each example through the engine happens one layer up, in
//! [`crate::check`], because it needs the engine.
//!
//! This module uses no I/O beyond reading rule files and no async runtime.

pub mod allow;
pub mod analyze;
pub mod compile;
pub mod escape;
pub mod follow;
pub mod identifiable;
pub mod known;
pub mod lazy;
pub mod par;
pub mod precomputed;
pub mod prefilter;
pub mod screen;
pub mod syntax;
pub mod template;
pub mod truncated;
pub mod validate;
pub mod viability;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lazy::LazyRegex;
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Input, PatternID};

pub use analyze::Analysis;
pub use prefilter::Prefilter;
pub use validate::Validator;
pub use viability::Viability;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The built-in rule files, embedded at build time: `(file name, contents)`,
/// inflated on each call (see build.rs: the texts are dropped once the rules
/// are built, so their pages do not stay resident).
pub fn builtin_files() -> Vec<(&'static str, String)> {
    let mut z = flate2::read::DeflateDecoder::new(BUILTIN_RULES_DEFLATED);
    BUILTIN_RULE_FILES
        .iter()
        .map(|&(name, len)| (name, inflate_text(&mut z, len)))
        .collect()
}

/// The next `len` bytes of the embedded stream `z`, as text: build.rs wrote
/// them from UTF-8 files, so anything else is a broken build.
pub(crate) fn inflate_text(z: &mut impl std::io::Read, len: usize) -> String {
    use std::io::Read;
    let mut text = String::with_capacity(len);
    z.take(len as u64)
        .read_to_string(&mut text)
        .expect("build.rs embeds UTF-8 text, deflated");
    assert_eq!(text.len(), len, "build.rs embeds whole files");
    text
}

/// How the sources of built-in rule files are named (`builtin:aws.toml`).
pub const BUILTIN_SOURCE_PREFIX: &str = "builtin:";

/// Rules whose keyword is at most this many bytes into every match (as
/// written) are verified by anchored searches (one per possible start, see
/// the engine), so their regexes need no reverse NFA and no literal
/// prefilter. (Where escaped forms put the keyword further in, the engine
/// searches unanchored, which the backtracker or the PikeVM answers.)
pub const ANCHORED_VERIFY_MAX: usize = 8;

/// Loading spreads rules over the cores only when at least this many per
/// core need compiling ([`par`]).
pub const PAR_MIN_RULES: usize = 32;

/// Longest match any rule may have. Bounds the carry-over window.
pub const MAX_RULE_LEN: usize = 8192;
/// Default cap on a multi-line block.
pub const DEFAULT_MAX_BLOCK_BYTES: usize = 65536;
/// Shortest keyword the prefilter accepts: shorter ones wake a rule on
/// nearly every line.
pub const MIN_KEYWORD_LEN: usize = 2;

/// A stable rule id, `vendor.kind`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId(Arc<str>);

impl RuleId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How bad a leak of this kind is; written in rule files in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Low impact or low confidence.
    Low,
    /// Limited access.
    Medium,
    /// Account or service access.
    High,
    /// Broad access: cloud root keys, private keys.
    Critical,
}

impl Severity {
    /// The name as written in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A set of bytes: `extend` classes, the classes of `-truncated` shapes and
/// what may follow a keyword ([`follow`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ByteSet([u64; 4]);

/// Calls `f(lo, hi)` with each range of `class`, as code points (bytes for
/// a byte class).
pub(crate) fn class_ranges(class: &regex_syntax::hir::Class, f: &mut dyn FnMut(u32, u32)) {
    use regex_syntax::hir::Class;
    match class {
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .for_each(|r| f(u32::from(r.start()), u32::from(r.end()))),
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .for_each(|r| f(u32::from(r.start()), u32::from(r.end()))),
    }
}

impl ByteSet {
    /// The set of one byte.
    pub fn single(b: u8) -> ByteSet {
        let mut set = ByteSet::default();
        set.insert(b);
        set
    }

    /// The bytes of `class` (its ranges cut at 255), and whether every
    /// range lay within bytes.
    pub fn of_class(class: &regex_syntax::hir::Class) -> (ByteSet, bool) {
        let mut set = ByteSet::default();
        let mut bytes = true;
        let mut add = |lo: u32, hi: u32| {
            if lo <= 255 {
                set.insert_range(lo as u8, hi.min(255) as u8);
            }
            bytes &= hi <= 255;
        };
        class_ranges(class, &mut add);
        (set, bytes)
    }

    /// Whether `b` is in the set.
    #[inline]
    pub fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    /// Adds `b`.
    pub fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    /// Adds `lo..=hi`.
    pub fn insert_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.insert(b);
        }
    }

    /// Adds every byte of `other`.
    pub fn union(&mut self, other: &ByteSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    /// Whether every byte is in the set.
    pub fn is_full(&self) -> bool {
        self.0 == [u64::MAX; 4]
    }

    /// How long the run of bytes in the set at the start of `bytes` is, an
    /// escaped form of a member ([`escape`]) counting as a member, and
    /// whether it ended: `false` when `bytes` ran out before a byte outside
    /// the set, or ends in what more bytes may make an escaped form, and
    /// `eof` is not set.
    pub fn run(&self, bytes: &[u8], eof: bool) -> (usize, bool) {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if self.contains(b) {
                i += 1;
                continue;
            }
            if b == b'\\' {
                match escape::escaped_at(&bytes[i..]) {
                    Some((d, n)) if self.contains(d) => {
                        i += n;
                        continue;
                    }
                    None if !eof && escape::may_become_escape(&bytes[i..]) => return (i, false),
                    _ => {}
                }
            }
            return (i, true);
        }
        (i, eof)
    }
}

impl fmt::Debug for ByteSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ByteSet({} bytes)",
            self.0.iter().map(|w| w.count_ones()).sum::<u32>()
        )
    }
}

/// A multi-line block that follows a rule's match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// An ASCII-armored block (PEM, OpenSSH, PGP): base64 body lines, `Key:
    /// value` header lines, `\n` escapes, ending at a `-----END ...-----`
    /// footer, at the first byte that cannot belong to the block, or at
    /// `max_bytes` after the header.
    Armor {
        /// Cap on the block's length after the header.
        max_bytes: usize,
    },
    /// The map after a Kubernetes Secret's `data:` / `stringData:` header
    /// line, whose end the match marks with an empty `secret` group: from the
    /// first value, every following line indented at least as far as the
    /// first entry, up to `max_bytes` (see `engine::yaml`).
    K8sSecretMap {
        /// Cap on the block's length after the match.
        max_bytes: usize,
    },
}

/// One worked example, placeholders expanded.
#[derive(Debug, Clone)]
pub struct Example {
    /// Input text.
    pub input: String,
    /// Exact expected output with the `label` style and this rule alone.
    pub output: String,
}

/// One compiled, validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id.
    pub id: RuleId,
    /// Human-readable name.
    pub name: String,
    /// The regex as written.
    pub pattern: String,
    /// How the rule finds matches: its compiled regex, or, for a derived
    /// `-truncated` rule, its shapes. Search through
    /// [`search_slots`](Self::search_slots), which sees escapes decoded.
    pub matcher: Matcher,
    /// Capture group index of `secret`, if the regex names one.
    pub secret_group: Option<usize>,
    /// Keywords as written.
    pub keywords: Vec<String>,
    /// What the prefilter searches for: the keywords as written, cut before
    /// a `/`, `+` or `=`, or with JSON-escaped spellings (see
    /// [`escape::search_keywords`]).
    pub search_keywords: Vec<String>,
    /// For each of `search_keywords`, the bytes that may follow it where a
    /// match starts, if that filters its hits ([`follow`]); empty for
    /// none.
    pub keyword_follows: Vec<Option<follow::Follow>>,
    /// Severity.
    pub severity: Severity,
    /// What to rotate and where.
    pub remediation: String,
    /// Pack tags.
    pub tags: Vec<String>,
    /// Minimum entropy of the secret in bits per byte.
    pub min_entropy: Option<f64>,
    /// Lowercased placeholder markers.
    pub stop_words: Vec<Vec<u8>>,
    /// Whole-secret shapes that are not secrets (`allow_values`, joined and
    /// anchored at both ends), if the rule has any.
    pub allow_values: Option<Arc<LazyRegex>>,
    /// Structural validator.
    pub validator: Option<Validator>,
    /// Public bytes at the start of the secret.
    pub public_prefix: usize,
    /// Continuation class for tokens longer than the regex allows.
    pub extend: Option<ByteSet>,
    /// Multi-line block after the match.
    pub block: Option<Block>,
    /// Facts proven about the regex.
    pub analysis: Analysis,
    /// Cheap lazy DFAs over relaxed forms of the regex, built on first use
    /// from the same HIR as `regex`: where one finds nothing, `regex` would
    /// not either (see [`screen`]). `None` for a rule without a regex.
    pub screens: Option<Arc<screen::Screens>>,
    /// The file the rule came from.
    pub source: String,
    /// Worked examples.
    pub examples: Vec<Example>,
    /// Inputs the rule must leave alone.
    pub negative_examples: Vec<String>,
}

/// How a rule finds its matches.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The rule's regex, compiled by its first search ([`lazy`]). It pools
    /// its caches per thread, so it is shared behind an `Arc`: a rule's
    /// clones, and the derived rule it shadows, use the same regex and
    /// caches (a cache of a large regex is tens of KB). Rules with `analysis.plain_keyword_offset` at most
    /// [`ANCHORED_VERIFY_MAX`] are built without full DFAs or literal
    /// prefilters (and, unless generic and woken by plain words, without
    /// lazy DFAs).
    Regex(Arc<LazyRegex>),
    /// A derived `-truncated` rule ([`truncated`]): a few fixed-length
    /// shapes, matched without a regex (each compiled regex costs some 8 KB
    /// however small), and the parent's regex, which shadows them.
    Truncated(Arc<truncated::Shapes>),
}

impl Matcher {
    /// Heap bytes of the compiled matcher (without per-thread caches; a
    /// regex no search has needed yet takes none).
    pub fn memory_usage(&self) -> usize {
        match self {
            Matcher::Regex(r) => r.memory_usage(),
            Matcher::Truncated(t) => t.memory_usage(),
        }
    }
}

impl Rule {
    /// A copy whose regexes are uncompiled copies of this rule's
    /// ([`LazyRegex::detached`]): running its examples compiles those and
    /// leaves this rule's regexes as they were (uncompiled until a search
    /// needs them) when the copy is dropped.
    pub fn detached(&self) -> Rule {
        let mut r = self.clone();
        r.matcher = match &self.matcher {
            Matcher::Regex(re) => Matcher::Regex(Arc::new(re.detached())),
            Matcher::Truncated(t) => Matcher::Truncated(Arc::new(t.detached())),
        };
        r.allow_values = self.allow_values.as_ref().map(|a| Arc::new(a.detached()));
        // Screens of its own too: a copy's checks build them and fill their
        // lazy caches, which the rule would otherwise keep (7 MB for a
        // thousand rules checked at load).
        r.screens = self
            .screens
            .as_ref()
            .map(|_| Arc::new(screen::Screens::new(&self.pattern)));
        r
    }

    /// Compiles this rule's own regexes (a detached copy's, say).
    fn compile_all_own(&self) {
        if let Matcher::Regex(re) = &self.matcher {
            re.with(|_| ());
        }
        if let Some(a) = &self.allow_values {
            a.with(|_| ());
        }
    }

    /// Searches `input` with the rule's regex as [`regex_automata::meta::Regex::search_slots`]
    /// does, in decoded text (see [`escape`]): when the span, or the
    /// [`escape::MAX_FORM_LEN`] bytes before it (look-behind context, which
    /// callers should provide), hold an escaped form, the regex runs on the
    /// haystack decoded and the slots are mapped back to raw offsets. No
    /// match starts or ends inside an escaped form.
    pub fn search_slots(
        &self,
        input: &Input<'_>,
        slots: &mut [Option<NonMaxUsize>],
    ) -> Option<PatternID> {
        let span = input.get_span();
        let look = span.start.saturating_sub(escape::MAX_FORM_LEN);
        let escaped = escape::has_escape(&input.haystack()[look..span.end]);
        self.search_slots_escaped(input, slots, escaped)
    }

    /// As [`search_slots`](Self::search_slots), for callers that have
    /// looked for escaped forms themselves: `escaped` says whether the
    /// haystack may hold one (`false` searches it as it is). A caller trying
    /// many starts in one window looks once.
    pub fn search_slots_escaped(
        &self,
        input: &Input<'_>,
        slots: &mut [Option<NonMaxUsize>],
        escaped: bool,
    ) -> Option<PatternID> {
        if !escaped {
            return self.search_shadowed(input, slots);
        }
        let hay = input.haystack();
        let span = input.get_span();
        let look = span.start.saturating_sub(escape::MAX_FORM_LEN);
        let d = escape::Decoded::new(&hay[look..]);
        let (from, to) = (
            d.at_or_after(span.start - look),
            d.ending_by(span.end - look),
        );
        if from > to {
            return None;
        }
        let decoded = Input::new(&d.bytes)
            .span(from..to)
            .anchored(input.get_anchored())
            .earliest(input.get_earliest());
        let pid = self.search_shadowed(&decoded, slots)?;
        for slot in slots.iter_mut() {
            *slot = slot.and_then(|v| NonMaxUsize::new(look + d.raw[v.get()]));
        }
        Some(pid)
    }

    /// The matcher's search; a derived rule's match that its parent's
    /// regex also matches at its start has its secret group left out.
    fn search_shadowed(
        &self,
        input: &Input<'_>,
        slots: &mut [Option<NonMaxUsize>],
    ) -> Option<PatternID> {
        match &self.matcher {
            Matcher::Regex(r) => r.search_slots(input, slots),
            Matcher::Truncated(t) => t.search_slots(input, slots),
        }
    }

    /// Whether this is a derived rule whose parent's regex matches at `at`
    /// in `hay[..end]`, so that a match of this rule there is the parent's
    /// to decide.
    pub fn shadowed(&self, hay: &[u8], at: usize, end: usize) -> bool {
        match &self.matcher {
            Matcher::Regex(_) => false,
            Matcher::Truncated(t) => t.shadowed(hay, at, end),
        }
    }

    /// The rule's matches in `hay` one after another, as the engine finds
    /// them (escapes decoded, shadowed matches kept): each match's span and
    /// its secret's, if the secret group took part.
    pub fn matches<'h>(&'h self, hay: &'h [u8]) -> impl Iterator<Item = Match> + 'h {
        let mut slots = vec![None; 2 * (self.secret_group.unwrap_or(0) + 1)];
        let g = self.secret_group.unwrap_or(0);
        let mut at = 0;
        std::iter::from_fn(move || {
            if at > hay.len() {
                return None;
            }
            self.search_slots(&Input::new(hay).range(at..), &mut slots)?;
            let get = |i: usize| slots[i].map(NonMaxUsize::get);
            let (start, end) = (get(0)?, get(1)?);
            at = if end > start { end } else { end + 1 };
            Some(Match {
                span: start..end,
                secret: get(2 * g).zip(get(2 * g + 1)).map(|(s, e)| s..e),
            })
        })
    }

    /// Whether the rule is in the `generic` pack (it loses label ties to
    /// specific rules).
    pub fn is_generic(&self) -> bool {
        self.tags.iter().any(|t| t == "generic")
    }

    /// Whether a candidate secret passes the rule's entropy, stop-word and
    /// validator checks. Returns the reason when it does not. The checks
    /// see the secret with JSON escapes decoded ([`escape::decode`]).
    pub fn accept(&self, secret: &[u8]) -> Result<(), Rejection> {
        let secret = &*escape::decode(secret);
        if let Some(word) = self
            .stop_words
            .iter()
            .find(|w| validate::contains_ignore_case(secret, w))
        {
            return Err(Rejection::StopWord(
                String::from_utf8_lossy(word).into_owned(),
            ));
        }
        if self
            .allow_values
            .as_ref()
            .is_some_and(|r| r.is_match(secret))
        {
            return Err(Rejection::AllowedValue);
        }
        if let Some(min) = self.min_entropy {
            let e = validate::entropy(secret);
            if e < min {
                return Err(Rejection::Entropy { got: e, min });
            }
        }
        if let Some(v) = self.validator {
            if !v.check(secret) {
                return Err(Rejection::Validator(v));
            }
        }
        Ok(())
    }
}

/// One match of a rule: where it is, and where its secret is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The whole match.
    pub span: std::ops::Range<usize>,
    /// The secret (the `secret` group, else the match), if it took part.
    pub secret: Option<std::ops::Range<usize>>,
}

/// Why a regex match was not accepted as a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The secret contains a placeholder marker.
    StopWord(String),
    /// The whole secret has a shape the rule's `allow_values` name.
    AllowedValue,
    /// The secret's entropy is below the rule's minimum.
    Entropy {
        /// Measured bits per byte.
        got: f64,
        /// Required bits per byte.
        min: f64,
    },
    /// A structural validator failed.
    Validator(Validator),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::StopWord(w) => write!(f, "contains stop word {w:?}"),
            Rejection::AllowedValue => f.write_str("is one of the rule's allowed values"),
            Rejection::Entropy { got, min } => write!(f, "entropy {got:.2} < {min:.2} bits/byte"),
            Rejection::Validator(v) => write!(f, "fails the {v:?} validator"),
        }
    }
}

/// One problem found while loading rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as named to the loader.
    pub file: String,
    /// The rule id, when the problem belongs to one rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(id) => write!(f, "{}: rule {}: {}", self.file, id, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Errors from loading rules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule directory or file could not be read.
    #[error("cannot read rules from {}", .path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An allowlist entry is invalid.
    #[error(transparent)]
    Allow(#[from] allow::AllowError),
    /// Known values could not be read or turned into rules (the message
    /// never holds a value).
    #[error(transparent)]
    Known(#[from] known::KnownError),
    /// One or more rules are invalid; every problem is listed.
    #[error("{} rule problem(s):\n  {}", .0.len(), .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Invalid(Vec<Problem>),
}

/// Collects rule files and selection flags, then compiles a [`RuleSet`].
#[derive(Debug, Default, Clone)]
pub struct RuleSetBuilder {
    /// Each file's display name and text (the built-in files' borrowed from
    /// the binary: a builder is kept for reloads, and copies took 0.7 MB).
    files: Vec<(String, Cow<'static, str>)>,
    enable: Vec<String>,
    disable: Vec<String>,
    all: bool,
    allow: allow::Allowlist,
}

impl RuleSetBuilder {
    /// An empty builder.
    pub fn new() -> RuleSetBuilder {
        RuleSetBuilder::default()
    }

    /// A builder holding the built-in rule files.
    pub fn builtin() -> RuleSetBuilder {
        let mut b = RuleSetBuilder::new();
        for (name, text) in builtin_files() {
            b.files
                .push((format!("{BUILTIN_SOURCE_PREFIX}{name}"), Cow::Owned(text)));
        }
        b
    }

    /// Adds one rule file's text under a display name.
    pub fn add_source(&mut self, name: impl Into<String>, text: impl Into<String>) -> &mut Self {
        self.files.push((name.into(), Cow::Owned(text.into())));
        self
    }

    /// Adds every `*.toml` file in `dir` (sorted by name), or `dir` itself if
    /// it is a file.
    pub fn add_path(&mut self, dir: &Path) -> Result<&mut Self, Error> {
        let read_err = |source| Error::Read {
            path: dir.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(dir).map_err(read_err)?;
        let mut paths = if meta.is_dir() {
            let mut v = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(read_err)? {
                let p = entry.map_err(read_err)?.path();
                if p.extension().is_some_and(|e| e == "toml") {
                    v.push(p);
                }
            }
            v
        } else {
            vec![dir.to_path_buf()]
        };
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|source| Error::Read {
                path: p.clone(),
                source,
            })?;
            self.add_source(p.display().to_string(), text);
        }
        Ok(self)
    }

    /// Enables rules by id or tag, on top of the `default` tag.
    pub fn enable(&mut self, id_or_tag: impl Into<String>) -> &mut Self {
        self.enable.push(id_or_tag.into());
        self
    }

    /// Disables rules by id or tag. Disabling wins over enabling.
    pub fn disable(&mut self, id_or_tag: impl Into<String>) -> &mut Self {
        self.disable.push(id_or_tag.into());
        self
    }

    /// Selects every rule, whatever its tags (for `rules check` and `list`).
    pub fn all(&mut self, yes: bool) -> &mut Self {
        self.all = yes;
        self
    }

    /// Parses, validates and compiles. Reports every problem found.
    ///
    /// Only the selected rules are compiled (regex, static analysis,
    /// examples): the others get the checks that need no compiling, so
    /// `rules check` (which selects [`all`](Self::all)) is where every
    /// problem of every rule shows.
    pub fn build(&self) -> Result<RuleSet, Error> {
        self.build_with(None)
    }

    /// As [`build`](Self::build), for running rather than checking: built-in
    /// files unchanged since their facts were written down are not
    /// analysed again ([`precomputed`]), and their examples are not
    /// expanded. Every other file is compiled as `build` does.
    pub fn build_to_run(&self) -> Result<RuleSet, Error> {
        self.build_with(precomputed::Table::embedded())
    }

    fn build_with(&self, table: Option<precomputed::Table>) -> Result<RuleSet, Error> {
        let (parsed_rules, mut problems) = self.parse_all(table);
        // Selection.
        problems.extend(self.unknown_names(parsed_rules.iter().map(|(_, r, _)| r)));
        let hit = |r: &syntax::RuleConfig, names: &[String]| {
            names
                .iter()
                .any(|n| r.id == *n || r.tags.iter().any(|t| t == n))
        };
        let selected = |r: &syntax::RuleConfig| {
            let on = self.all || r.tags.iter().any(|t| t == "default") || hit(r, &self.enable);
            on && !hit(r, &self.disable)
        };
        // Compiled on every core when many rules need it (a user's large
        // file; precomputed built-ins cost next to nothing).
        let jobs: Vec<_> = parsed_rules
            .into_iter()
            .map(|(file, rc, known)| (file, selected(&rc), rc, known))
            .collect();
        let costly = jobs.iter().filter(|j| j.1 && j.3.is_none()).count();
        let compiled = par::map(jobs, costly, PAR_MIN_RULES, |(file, full, rc, known)| {
            (compile(file, rc, full, known.as_ref()), known)
        });
        let mut rules = Vec::new();
        let mut known_twins = Vec::new();
        for (result, known) in compiled {
            match result {
                Ok(Some(r)) => {
                    rules.push(r);
                    known_twins.push(known);
                }
                Ok(None) => {}
                Err(mut ps) => problems.append(&mut ps),
            }
        }
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        // Derived rules go last, so their parents win ties in labels.
        let derived = self.derive_all(&rules, known_twins);
        rules.extend(derived);
        let mut set = RuleSet::from_rules(rules);
        set.allow = self.allow.clone();
        Ok(set)
    }

    /// Every file's rules parsed, each with its precomputed facts when
    /// `table` has them, and the problems (files that do not parse,
    /// duplicate ids).
    #[allow(clippy::type_complexity)]
    fn parse_all(
        &self,
        mut table: Option<precomputed::Table>,
    ) -> (
        Vec<(&String, syntax::RuleConfig, Option<precomputed::Facts>)>,
        Vec<Problem>,
    ) {
        let mut problems = Vec::new();
        let mut parsed_rules = Vec::new();
        let mut seen = HashSet::new();
        for (file, text) in &self.files {
            let mut facts = table.as_mut().and_then(|t| t.file(file, text));
            let parsed: syntax::RuleFileConfig = match syntax::parse_rule_file(text) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(Problem {
                        file: file.clone(),
                        rule: None,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            for rc in parsed.rules {
                if !seen.insert(rc.id.clone()) {
                    problems.push(Problem {
                        file: file.clone(),
                        rule: Some(rc.id.clone()),
                        message: "duplicate rule id".into(),
                    });
                    continue;
                }
                let known = table.as_ref().zip(facts.as_mut());
                let known = known.and_then(|(t, f)| t.rule(f, &rc.id));
                parsed_rules.push((file, rc, known));
            }
        }
        (parsed_rules, problems)
    }

    /// The `-truncated` twins of `rules` not disabled (from their
    /// precomputed facts where known), on every core when many need
    /// deriving.
    fn derive_all(&self, rules: &[Rule], known: Vec<Option<precomputed::Facts>>) -> Vec<Rule> {
        let off = |id: &RuleId| {
            self.disable
                .iter()
                .any(|d| d == truncated::TAG || *d == format!("{id}{}", truncated::ID_SUFFIX))
        };
        let parents: Vec<_> = rules
            .iter()
            .zip(known)
            .filter(|(r, _)| !off(&r.id))
            .collect();
        let costly = parents.iter().filter(|(_, k)| k.is_none()).count();
        par::map(parents, costly, PAR_MIN_RULES, |(r, known)| match known {
            Some(mut facts) => facts.twin(r),
            None => truncated::derive(r),
        })
        .into_iter()
        .flatten()
        .collect()
    }

    /// A problem for each name to enable or disable that is no rule id or
    /// tag, nor a derived rule's id or tag ([`truncated`]).
    fn unknown_names<'a>(
        &self,
        parsed: impl Iterator<Item = &'a syntax::RuleConfig>,
    ) -> Vec<Problem> {
        let mut known: BTreeSet<String> = BTreeSet::from([truncated::TAG.to_string()]);
        for r in parsed {
            known.insert(format!("{}{}", r.id, truncated::ID_SUFFIX));
            known.insert(r.id.clone());
            known.extend(r.tags.iter().cloned());
        }
        self.enable
            .iter()
            .chain(&self.disable)
            .filter(|name| !known.contains(name.as_str()))
            .map(|name| Problem {
                file: "selection".into(),
                rule: None,
                message: format!("no rule id or tag named {name:?}"),
            })
            .collect()
    }

    /// Allows candidates whose secret matches `pattern` (see [`allow`]).
    pub fn allow_regex(&mut self, pattern: &str) -> Result<&mut Self, Error> {
        self.allow.add_regex(pattern)?;
        Ok(self)
    }

    /// Allows the fingerprints listed in `path` (see [`allow`]).
    pub fn allow_fingerprints(&mut self, path: &Path) -> Result<&mut Self, Error> {
        self.allow.add_fingerprint_file(path)?;
        Ok(self)
    }
}

/// The problems found in one rule.
struct Report<'a> {
    file: &'a str,
    id: &'a str,
    problems: Vec<Problem>,
}

impl Report<'_> {
    fn add(&mut self, message: String) {
        self.problems.push(Problem {
            file: self.file.into(),
            rule: Some(self.id.into()),
            message,
        });
    }
}

/// Validates one rule and, when `full`, compiles it; otherwise only the
/// checks that need no compiling run and `Ok(None)` says the rule is fine
/// as far as they go. With `known` facts ([`precomputed`]) nothing is
/// parsed or analysed, and no example expanded.
fn compile(
    file: &str,
    rc: syntax::RuleConfig,
    full: bool,
    known: Option<&precomputed::Facts>,
) -> Result<Option<Rule>, Vec<Problem>> {
    let id = rc.id.clone();
    let mut report = Report {
        file,
        id: &id,
        problems: Vec::new(),
    };
    check_fields(&rc, &mut report);
    let (validator, block, extend) = check_checks(&rc, &mut report);
    let generic = rc.tags.iter().any(|t| t == "generic");
    let words = compile::wakes_on_words(generic, &rc.keywords);
    let known = known.filter(|_| full);
    let search = if let Some(facts) = known {
        Some(compile::precomputed_search(
            &rc.regex,
            &rc.keywords,
            words,
            facts,
        ))
    } else {
        let hir = compile::parse(&rc.regex)
            .map_err(|e| report.add(format!("regex does not parse: {e}")))
            .ok();
        hir.as_ref().filter(|_| full).and_then(|h| {
            compile::build_search(&rc.regex, h, &rc.keywords, words)
                .map_err(|ps| ps.into_iter().for_each(|p| report.add(p)))
                .ok()
        })
    };
    let allow_values = allow_values(&rc, full, known.is_some(), &mut report);
    let (examples, negative_examples) = if full && known.is_none() {
        expand_examples(&rc, &mut report)
    } else {
        Default::default()
    };
    if !report.problems.is_empty() {
        return Err(report.problems);
    }
    let Some(search) = search else {
        return Ok(None);
    };
    let screens = Arc::new(screen::Screens::new(&rc.regex));
    Ok(Some(Rule {
        id: RuleId(rc.id.into()),
        name: rc.name,
        pattern: rc.regex,
        secret_group: search.secret_group,
        matcher: Matcher::Regex(Arc::new(search.regex)),
        keywords: rc.keywords,
        search_keywords: search.keywords,
        keyword_follows: search.follows,
        severity: rc.severity,
        remediation: rc.remediation,
        tags: rc.tags,
        min_entropy: rc.min_entropy,
        stop_words: rc
            .stop_words
            .iter()
            .map(|w| w.as_bytes().to_ascii_lowercase())
            .collect(),
        allow_values,
        validator,
        public_prefix: rc.public_prefix,
        extend,
        block,
        analysis: search.analysis,
        screens: Some(screens),
        source: file.to_string(),
        examples,
        negative_examples,
    }))
}

/// A rule's compiled `allow_values` (none when it has none, or for a rule
/// not `full`y built); precomputed built-ins are `known` to compile.
fn allow_values(
    rc: &syntax::RuleConfig,
    full: bool,
    known: bool,
    report: &mut Report<'_>,
) -> Option<Arc<LazyRegex>> {
    if rc.allow_values.is_empty() || !full {
        None
    } else if known {
        Some(Arc::new(compile::precomputed_allow_values(
            &rc.allow_values,
        )))
    } else {
        compile::build_allow_values(&rc.allow_values)
            .map(Arc::new)
            .map_err(|p| report.add(p))
            .ok()
    }
}

/// Checks the id, regex text, remediation, examples and keywords as
/// written.
fn check_fields(rc: &syntax::RuleConfig, report: &mut Report<'_>) {
    let id_ok = !rc.id.is_empty()
        && rc.id.contains('.')
        && rc
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !id_ok {
        report.add(
            "id must be `vendor.kind` in lowercase ASCII letters, digits, `.`, `-`, `_`".into(),
        );
    }
    if !rc.regex.is_ascii() {
        report.add("regex must be ASCII (write non-ASCII bytes as \\xNN)".into());
    }
    if rc.remediation.trim().is_empty() {
        report.add("remediation is empty".into());
    }
    if rc.examples.is_empty() {
        report.add("rule has no examples".into());
    }
    for k in &rc.keywords {
        if !k.is_ascii() || k.len() < MIN_KEYWORD_LEN || k.contains('\n') {
            report.add(format!(
                "keyword {k:?} must be ASCII, at least {MIN_KEYWORD_LEN} bytes, without newlines"
            ));
        }
    }
    if rc.keywords.is_empty() {
        report.add("rule has no keywords: the prefilter could never wake it".into());
    }
}

/// Checks the validator and the block against the other fields, and parses
/// the extend class.
fn check_checks(
    rc: &syntax::RuleConfig,
    report: &mut Report<'_>,
) -> (Option<Validator>, Option<Block>, Option<ByteSet>) {
    let validator = rc.validator;
    let block = rc.block.map(|kind| match kind {
        syntax::BlockKind::Armor => Block::Armor {
            max_bytes: rc.max_block_bytes.unwrap_or(DEFAULT_MAX_BLOCK_BYTES),
        },
        syntax::BlockKind::K8sSecretMap => Block::K8sSecretMap {
            max_bytes: rc.max_block_bytes.unwrap_or(DEFAULT_MAX_BLOCK_BYTES),
        },
    });
    if block.is_some_and(|b| matches!(b, Block::K8sSecretMap { .. }))
        && !rc.regex.contains("(?P<secret>)")
    {
        report.add("a k8s-secret-map rule's regex marks where its header ends with an empty (?P<secret>) group".into());
    }
    if rc.max_block_bytes.is_some() && block.is_none() {
        report.add("max_block_bytes without block".into());
    }
    let extend = rc.extend.as_deref().and_then(|c| {
        let set = parse_byte_class(c);
        if set.is_none() {
            report.add(format!(
                "extend must be one ASCII byte class like [A-Za-z0-9_-], got {c:?}"
            ));
        }
        set
    });
    if extend.is_some() && block.is_some() {
        report.add("a rule takes extend or block, not both".into());
    }
    (validator, block, extend)
}

/// The examples and negative examples with their placeholders filled.
fn expand_examples(
    rc: &syntax::RuleConfig,
    report: &mut Report<'_>,
) -> (Vec<Example>, Vec<String>) {
    let mut examples = Vec::new();
    for (i, ex) in rc.examples.iter().enumerate() {
        match template::expand_pair(&format!("{}#{i}", rc.id), &ex.input, &ex.output) {
            Ok((input, output)) => examples.push(Example { input, output }),
            Err(e) => report.add(format!("example {}: {e}", i + 1)),
        }
    }
    let mut negative_examples = Vec::new();
    for (i, ex) in rc.negative_examples.iter().enumerate() {
        match template::expand_one(&format!("{}#neg{i}", rc.id), ex) {
            Ok(s) => negative_examples.push(s),
            Err(e) => report.add(format!("negative example {}: {e}", i + 1)),
        }
    }
    (examples, negative_examples)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_byte_class(c: &str) -> Option<ByteSet> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(c)
        .ok()?;
    let regex_syntax::hir::HirKind::Class(class) = hir.kind() else {
        return None;
    };
    let (set, _) = ByteSet::of_class(class);
    (!set.contains(b'\n') && !set.contains(b'\r')).then_some(set)
}

/// An immutable, compiled set of rules, shared by every stream behind an
/// `Arc`. Per-stream scratch lives in the engine's `Redactor`.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    prefilter: Prefilter,
    /// Longest rule match.
    pub max_len: usize,
    /// Largest keyword offset over all rules.
    pub max_keyword_offset: usize,
    /// Candidates that are not secrets, by the operator's say.
    allow: allow::Allowlist,
    /// Union DFA for idle flushes, built on first use.
    viability: std::sync::OnceLock<Option<Viability>>,
    /// `[REDACTED:id]` per rule, rendered once for every stream to share.
    labels: Vec<Box<[u8]>>,
    /// [`Rule::is_generic`] per rule: the engine orders spans by it, and
    /// asks for every span it keeps.
    generic: Box<[bool]>,
    /// What the rules' compiled regexes may take together ([`lazy`]).
    budget: Arc<lazy::Budget>,
}

impl RuleSet {
    /// Compiles the prefilter for already-validated rules.
    pub fn from_rules(rules: Vec<Rule>) -> RuleSet {
        let prefilter = Prefilter::with_follows(rules.iter().map(|r| {
            (
                r.search_keywords.as_slice(),
                r.analysis.exact_keywords,
                r.keyword_follows.as_slice(),
            )
        }));
        let max_len = rules.iter().map(|r| r.analysis.max_len).max().unwrap_or(0);
        let budget = lazy::Budget::new(lazy::MAX_COMPILED);
        for r in &rules {
            if let Matcher::Regex(re) = &r.matcher {
                budget.join(re);
            }
            if let Some(a) = &r.allow_values {
                budget.join(a);
            }
        }
        RuleSet {
            budget,
            max_keyword_offset: rules
                .iter()
                .map(|r| r.analysis.keyword_offset)
                .max()
                .unwrap_or(0),
            labels: rules
                .iter()
                .map(|r| format!("[REDACTED:{}]", r.id).into_bytes().into())
                .collect(),
            generic: rules.iter().map(Rule::is_generic).collect(),
            rules,
            prefilter,
            max_len,
            viability: std::sync::OnceLock::new(),
            allow: allow::Allowlist::default(),
        }
    }

    /// The operator's allowlist.
    pub fn allowlist(&self) -> &allow::Allowlist {
        &self.allow
    }

    /// The union DFA idle flushes use, built on first call; `None` when it
    /// could not be built (idle flushes then release nothing extra).
    pub fn viability(&self) -> Option<&Viability> {
        self.viability.get_or_init(|| Viability::new(self)).as_ref()
    }

    /// Compiles every regex no search has needed yet ([`lazy`]), as far as
    /// the set's budget lets them stay ([`lazy::MAX_COMPILED`]): what
    /// `rules check` does.
    pub fn compile_all(&self) {
        for r in &self.rules {
            r.compile_all_own();
        }
    }

    /// What compiling every regex would take, each compiled on a copy and
    /// dropped in turn (the set's own stay as they are): the figure the
    /// budget ([`lazy::MAX_COMPILED`]) is for. Slow; for `rules check` and
    /// tests.
    pub fn memory_if_all_compiled(&self) -> usize {
        let measure = |re: &LazyRegex| {
            let copy = re.detached_as_built();
            copy.with(|_| ());
            copy.memory_usage()
        };
        self.rules
            .iter()
            .filter_map(|r| match &r.matcher {
                Matcher::Regex(re) => {
                    Some(measure(re) + r.allow_values.as_deref().map_or(0, measure))
                }
                Matcher::Truncated(_) => None,
            })
            .sum()
    }

    /// The set's regex budget: bytes held and evictions so far.
    pub fn regex_budget(&self) -> &lazy::Budget {
        &self.budget
    }

    /// Heap bytes of the regexes compiled so far (caches not counted); after
    /// [`compile_all`](Self::compile_all), the most this rule set's regexes
    /// can take. A derived rule shares its parent's regex, counted once.
    pub fn compiled_memory(&self) -> usize {
        self.rules.iter().map(RuleSet::own_memory).sum()
    }

    /// Bytes of a rule's own compiled regexes (a derived rule's are its
    /// parent's, counted there).
    fn own_memory(r: &Rule) -> usize {
        match &r.matcher {
            Matcher::Regex(re) => {
                re.memory_usage() + r.allow_values.as_ref().map_or(0, |a| a.memory_usage())
            }
            Matcher::Truncated(_) => 0,
        }
    }

    /// The rules, in priority order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// [`Rule::is_generic`] of rule `r`, without looking at its tags.
    #[inline]
    pub fn is_generic(&self, r: usize) -> bool {
        self.generic[r]
    }

    /// The replacement text of rule number `rule`: `[REDACTED:id]`.
    pub fn label(&self, rule: usize) -> &[u8] {
        &self.labels[rule]
    }

    /// The keyword prefilter.
    pub fn prefilter(&self) -> &Prefilter {
        &self.prefilter
    }

    /// These rules (and no allowlist) with another prefilter: a test's
    /// comparison.
    #[cfg(test)]
    pub(crate) fn with_prefilter(&self, prefilter: Prefilter) -> RuleSet {
        RuleSet {
            prefilter,
            ..RuleSet::from_rules(self.rules.clone())
        }
    }

    /// A rule by id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id.as_str() == id)
    }

    /// Drops every rule's examples and negative examples (once checked,
    /// they are only memory).
    pub fn forget_examples(&mut self) {
        for r in &mut self.rules {
            r.examples = Vec::new();
            r.negative_examples = Vec::new();
        }
    }

    /// A set holding only `rule` (for checking its examples in isolation).
    pub fn single(rule: &Rule) -> RuleSet {
        RuleSet::from_rules(vec![rule.clone()])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn one(body: &str) -> Result<RuleSet, Error> {
        let mut b = RuleSetBuilder::new();
        b.add_source("t.toml", body).all(true);
        b.build()
    }

    /// A small valid rule file, for tests to vary.
    pub(crate) const GOOD: &str = r#"
[[rule]]
id = "t.tok"
name = "test token"
regex = '\b(?P<secret>tok_[a-z0-9]{8})\b'
keywords = ["tok_"]
severity = "high"
remediation = "rotate it"
tags = ["default"]
examples = [{ input = "x tok_{{lowerdigit:8}} y", output = "x [REDACTED:t.tok] y" }]
"#;

    #[test]
    fn a_good_rule_compiles() {
        let set = one(GOOD).unwrap();
        let r = set.get("t.tok").unwrap();
        assert_eq!(r.secret_group, Some(1));
        assert_eq!(r.analysis.max_len, 12);
        assert!(r.examples[0].input.starts_with("x tok_"));
    }

    #[test]
    fn every_problem_is_reported_with_file_and_id() {
        let bad = GOOD.replace("tok_[a-z0-9]{8}", "tok_[a-z0-9]+").replace("rotate it", " ")
            + "\n[[rule]]\nid = \"t.tok\"\nname = \"dup\"\nregex = 'x'\nkeywords = []\nseverity = \"low\"\nremediation = \"r\"\n";
        let Err(Error::Invalid(ps)) = one(&bad) else {
            panic!("expected problems")
        };
        let text: Vec<String> = ps.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("t.toml: rule t.tok: maximum match length is unbounded")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("t.toml: rule t.tok: remediation is empty")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.contains("duplicate rule id")),
            "{text:?}"
        );
    }

    #[test]
    fn allow_values_match_the_whole_secret_only() {
        let set = one(&GOOD.replace("tags =", "allow_values = ['tok_0+', 'tok_[a-z]+']\ntags ="))
            .unwrap();
        let r = set.get("t.tok").unwrap();
        assert_eq!(r.accept(b"tok_00000000"), Err(Rejection::AllowedValue));
        assert_eq!(r.accept(b"tok_abcdefgh"), Err(Rejection::AllowedValue));
        // Neither alternative spans all of it: not allowed, although both
        // match a part.
        assert_eq!(r.accept(b"tok_0000abcd"), Ok(()));
        assert_eq!(r.accept(b"tok_abcd1234"), Ok(()));
        let e = one(&GOOD.replace("tags =", "allow_values = ['(']\ntags =")).unwrap_err();
        assert!(e.to_string().contains("allow_values do not compile"), "{e}");
    }

    #[test]
    fn unknown_keys_and_unicode_classes_are_refused() {
        let e = one(&GOOD.replace("tags =", "negative_example = [\"x\"]\ntags =")).unwrap_err();
        assert!(
            e.to_string().contains("unknown field `negative_example`"),
            "{e}"
        );
        let e = one(&GOOD.replace("[a-z0-9]{8}", r"\pL{8}")).unwrap_err();
        assert!(e.to_string().contains("regex does not parse"), "{e}");
    }

    #[test]
    fn keywords_must_be_provable() {
        let e = one(&GOOD.replace(r#"keywords = ["tok_"]"#, r#"keywords = ["tik_"]"#)).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot prove that every match contains one of the keywords"),
            "{e}"
        );
    }

    #[test]
    fn selection_by_tag_and_id() {
        let two = GOOD.to_string()
            + &GOOD
                .replace("t.tok", "t.other")
                .replace("\"default\"", "\"generic\"");
        let mut b = RuleSetBuilder::new();
        b.add_source("t.toml", two.clone());
        assert_eq!(b.build().unwrap().rules().len(), 1);
        b.enable("generic");
        assert_eq!(b.build().unwrap().rules().len(), 2);
        b.disable("t.tok");
        assert_eq!(b.build().unwrap().rules()[0].id.as_str(), "t.other");
        b.disable("nope");
        assert!(b
            .build()
            .unwrap_err()
            .to_string()
            .contains("no rule id or tag named \"nope\""));
    }

    #[test]
    fn only_selected_rules_are_compiled_but_check_sees_all() {
        let off = GOOD
            .replace("t.tok", "t.off")
            .replace("\"default\"", "\"pii\"")
            .replace("tok_[a-z0-9]{8}", "tok_[a-z0-9]+");
        let mut b = RuleSetBuilder::new();
        b.add_source("t.toml", GOOD.to_string() + &off);
        // The opt-in rule's regex is unbounded, which only compiling finds.
        assert_eq!(b.build().unwrap().rules().len(), 1);
        let e = b.clone().all(true).build().unwrap_err().to_string();
        assert!(
            e.contains("rule t.off: maximum match length is unbounded"),
            "{e}"
        );
        let e = b.clone().enable("pii").build().unwrap_err().to_string();
        assert!(e.contains("rule t.off: maximum match length"), "{e}");
        // Checks that need no compiling still run on every rule.
        let mut b = RuleSetBuilder::new();
        b.add_source("t.toml", GOOD.to_string() + &off.replace("rotate it", " "));
        let e = b.build().unwrap_err().to_string();
        assert!(e.contains("rule t.off: remediation is empty"), "{e}");
    }

    #[test]
    fn unknown_severity_validator_or_block_names_the_allowed_values() {
        let cases = [
            (
                GOOD.replace("\"high\"", "\"severe\""),
                "unknown variant `severe`, expected one of `low`, `medium`, `high`, `critical`",
            ),
            (
                GOOD.replace("tags =", "validator = \"lunh\"\ntags ="),
                "unknown variant `lunh`, expected one of `luhn`, `jwt`, `github-crc32`",
            ),
            (
                GOOD.replace("tags =", "block = \"pem\"\ntags ="),
                "unknown variant `pem`, expected `armor`",
            ),
        ];
        for (text, want) in cases {
            let e = one(&text).unwrap_err().to_string();
            assert!(e.contains("t.toml: ") && e.contains(want), "{e}");
        }
        // The npm spelling of the token checksums is read too (the test
        // token then fails its example, which is checked after parsing).
        for name in ["npm-crc32", "npm-crc32-fails"] {
            let text = GOOD.replace("tags =", &format!("validator = \"{name}\"\ntags ="));
            match one(&text) {
                Ok(_) => {}
                Err(Error::Invalid(ps)) => assert!(
                    ps.iter().all(|p| p.rule.as_deref() == Some("t.tok")),
                    "{ps:?}"
                ),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn prefix_keywords_share_triggers() {
        let two = GOOD.to_string()
            + &GOOD
                .replace("t.tok", "t.long")
                .replace("tok_[a-z0-9]{8}", "tok_live_[a-z0-9]{8}")
                .replace(r#"keywords = ["tok_"]"#, r#"keywords = ["tok_live_"]"#)
                .replace("x tok_{{", "x tok_live_{{");
        let set = one(&two).unwrap();
        let mut hits = Vec::new();
        set.prefilter().find_hits(b"tok_live_", 9, &mut hits);
        assert_eq!(hits, vec![(0, 0), (0, 1)]);
    }
}
