//! What loading proves about the built-in rules, computed ahead of time.
//!
//! Loading a rule parses its regex, proves the facts the engine relies on
//! ([`super::analyze`]), reads off which bytes may follow its keywords
//! ([`super::follow`], from an NFA built for it) and derives its
//! `-truncated` twin ([`super::truncated`], which runs the parent's regex
//! over its examples). For the built-in library that was four fifths of
//! start-up, and none of it depends on anything but the rule files' text.
//! So it is computed once, written to `patterns/precomputed.jsonl`, embedded
//! in the binary, and used by [`RuleSetBuilder::build_to_run`] for every
//! built-in file whose text is the one it was computed from (64-bit FNV-1a
//! of the text): a file edited since is compiled as any other. Examples
//! are not expanded on that path (loading for a run forgets them anyway,
//! and the test suite and `rules check` run them on the full path).
//!
//! **Never stale.** The test `the_precomputed_file_is_what_loading_computes`
//! compiles every built-in rule the full way and fails unless this file
//! says exactly that; `REDACTD_BLESS=1 cargo test --lib precomputed`
//! rewrites it. A change to a rule file or to what loading proves (the
//! analysis, the follow sets, the truncated shapes) therefore cannot land
//! without the file that goes with it, and a second test checks that rules
//! built from the file equal rules built the full way, field by field.
//!
//! **Format.** JSON lines, one rule per line so a diff shows which rules
//! changed: a header with the byte sets and follow sets every other line
//! refers to by index, then for each file a line with its name and hash and
//! a line per rule.
//!
//! [`RuleSetBuilder::build_to_run`]: super::RuleSetBuilder::build_to_run

use std::collections::HashMap;
use std::fmt::Write as _;

use regex_syntax::hir::Look;
use serde::{Deserialize, Serialize};

use super::follow::Follow;
use super::truncated::{self, Shapes};
use super::{Analysis, ByteSet, Matcher, Rule, RuleSet};

/// The file, deflated by build.rs (see there for why).
const DEFLATED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/precomputed.deflate"));

/// The file's length, in bytes.
const LEN: usize = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/patterns/precomputed.jsonl"
))
.len();

/// The file, as embedded.
fn text() -> String {
    super::inflate_text(&mut flate2::read::DeflateDecoder::new(DEFLATED), LEN)
}

/// Where the file lives in the repository.
pub const PATH: &str = "patterns/precomputed.jsonl";

/// Changes whenever what the file holds changes meaning (a file of another
/// version is ignored).
const VERSION: u32 = 1;

/// The first line: the shared tables.
#[derive(Serialize, Deserialize, Default)]
struct Header {
    version: u32,
    /// Byte sets, as hex ranges (`30-39,41-5a`).
    sets: Vec<String>,
    /// Follow sets: the first bytes' set, and (group, next) set pairs.
    follows: Vec<(u32, Vec<(u32, u32)>)>,
}

/// A file's line.
#[derive(Serialize, Deserialize)]
struct FileLine {
    file: String,
    hash: String,
}

/// A rule's line: what loading computed for it.
#[derive(Serialize, Deserialize)]
struct RuleLine {
    id: String,
    analysis: Analysis,
    secret_group: Option<usize>,
    /// Per search keyword, its follow set's index.
    follows: Vec<Option<u32>>,
    /// Its `-truncated` twin, if it has one.
    truncated: Option<Twin>,
}

/// A derived `-truncated` rule's own parts (the rest is its parent's).
#[derive(Serialize, Deserialize)]
struct Twin {
    pattern: String,
    keywords: Vec<String>,
    analysis: Analysis,
    extend: u32,
    follows: Vec<Option<u32>>,
    /// The shapes' look-arounds: `b` (`\b`), `B` (`\B`), `^`.
    lead: String,
    /// The shapes' classes (set indices), and each alternative as hex
    /// class indices.
    classes: Vec<u32>,
    alts: Vec<String>,
}

/// The precomputed facts of one file's rules, by rule id.
pub struct FileFacts {
    rules: HashMap<String, RuleLine>,
}

/// The facts of one rule, ready to use.
pub struct Facts {
    /// What [`super::analyze`] proved.
    pub analysis: Analysis,
    /// The `secret` group's index.
    pub secret_group: Option<usize>,
    /// What may follow each search keyword ([`super::follow`]).
    pub follows: Vec<Option<Follow>>,
    twin: Option<TwinFacts>,
}

/// A twin's facts, ready to build it from its parent.
pub struct TwinFacts {
    pattern: String,
    keywords: Vec<String>,
    analysis: Analysis,
    extend: ByteSet,
    follows: Vec<Option<Follow>>,
    lead: Vec<Look>,
    classes: Vec<ByteSet>,
    alts: Vec<Box<[u8]>>,
}

/// The embedded file, parsed.
pub struct Table {
    sets: Vec<ByteSet>,
    follows: Vec<Follow>,
    files: HashMap<String, (u64, FileFacts)>,
}

impl Table {
    /// The embedded file; `None` if it is unreadable or of another version
    /// (everything is then compiled the full way).
    pub fn embedded() -> Option<Table> {
        Self::parse(&text())
    }

    fn parse(text: &str) -> Option<Table> {
        let mut lines = text.lines();
        let header: Header = serde_json::from_str(lines.next()?).ok()?;
        if header.version != VERSION {
            return None;
        }
        let sets = header
            .sets
            .iter()
            .map(|s| set_from_ranges(s))
            .collect::<Option<Vec<_>>>()?;
        let set = |i: u32| sets.get(i as usize).copied();
        let follows = header
            .follows
            .iter()
            .map(|(first, second)| {
                let second = second
                    .iter()
                    .map(|&(g, n)| Some((set(g)?, set(n)?)))
                    .collect::<Option<Vec<_>>>()?;
                Some(Follow::from_parts(set(*first)?, second))
            })
            .collect::<Option<Vec<_>>>()?;
        let mut files = HashMap::new();
        let mut current: Option<(String, u64, FileFacts)> = None;
        for line in lines {
            if line.starts_with("{\"file\":") {
                let f: FileLine = serde_json::from_str(line).ok()?;
                let hash = u64::from_str_radix(&f.hash, 16).ok()?;
                let empty = FileFacts {
                    rules: HashMap::new(),
                };
                if let Some((name, h, facts)) = current.replace((f.file, hash, empty)) {
                    files.insert(name, (h, facts));
                }
            } else {
                let r: RuleLine = serde_json::from_str(line).ok()?;
                current.as_mut()?.2.rules.insert(r.id.clone(), r);
            }
        }
        if let Some((name, h, facts)) = current {
            files.insert(name, (h, facts));
        }
        Some(Table {
            sets,
            follows,
            files,
        })
    }

    /// The facts of file `name`'s rules, if `text` is what they were
    /// computed from.
    pub fn file(&mut self, name: &str, text: &str) -> Option<FileFacts> {
        match self.files.remove(name) {
            Some((hash, facts)) if hash == fnv1a(text.as_bytes()) => Some(facts),
            _ => None,
        }
    }

    /// The facts of rule `id` of `file`, taken out (each is used once).
    pub fn rule(&self, file: &mut FileFacts, id: &str) -> Option<Facts> {
        let line = file.rules.remove(id)?;
        let follows = self.follows_of(&line.follows)?;
        let twin = match line.truncated {
            None => None,
            Some(t) => Some(TwinFacts {
                follows: self.follows_of(&t.follows)?,
                extend: *self.sets.get(t.extend as usize)?,
                lead: t.lead.chars().map(look_of).collect::<Option<_>>()?,
                classes: t
                    .classes
                    .iter()
                    .map(|&i| self.sets.get(i as usize).copied())
                    .collect::<Option<_>>()?,
                alts: t.alts.iter().map(|a| hex_bytes(a)).collect::<Option<_>>()?,
                pattern: t.pattern,
                keywords: t.keywords,
                analysis: t.analysis,
            }),
        };
        Some(Facts {
            analysis: line.analysis,
            secret_group: line.secret_group,
            follows,
            twin,
        })
    }

    fn follows_of(&self, ids: &[Option<u32>]) -> Option<Vec<Option<Follow>>> {
        ids.iter()
            .map(|id| match id {
                None => Some(None),
                Some(i) => self.follows.get(*i as usize).cloned().map(Some),
            })
            .collect()
    }
}

impl Facts {
    /// The twin of `parent` (built from these facts), or `None` if it has
    /// none (or the shapes written down are not valid ones).
    pub fn twin(&mut self, parent: &Rule) -> Option<Rule> {
        let t = self.twin.take()?;
        let Matcher::Regex(regex) = &parent.matcher else {
            return None;
        };
        let shapes = Shapes::from_parts(t.lead, t.alts, t.classes, regex.clone())?;
        Some(truncated::from_parts(
            parent, t.pattern, t.keywords, t.analysis, t.extend, t.follows, shapes,
        ))
    }
}

/// Writes the file for `set`, built the full way with every rule selected.
/// Rules come in the order of the set (file order), each derived rule with
/// its parent.
pub fn render(set: &RuleSet, files: &[(String, &str)]) -> String {
    let mut tables = Tables::default();
    let mut body = String::new();
    for (name, text) in files {
        let line = FileLine {
            file: name.clone(),
            hash: format!("{:016x}", fnv1a(text.as_bytes())),
        };
        body.push_str(&json(&line));
        body.push('\n');
        for r in set.rules().iter().filter(|r| r.source == *name) {
            if r.tags.iter().any(|t| t == truncated::TAG) {
                continue;
            }
            let twin = set
                .get(&format!("{}{}", r.id, truncated::ID_SUFFIX))
                .map(|t| tables.twin(t));
            let line = RuleLine {
                id: r.id.to_string(),
                analysis: r.analysis.clone(),
                secret_group: r.secret_group,
                follows: tables.follows_of(&r.keyword_follows),
                truncated: twin,
            };
            body.push_str(&json(&line));
            body.push('\n');
        }
    }
    let header = Header {
        version: VERSION,
        sets: tables.sets.iter().map(ranges).collect(),
        follows: tables.follows,
    };
    json(&header) + "\n" + &body
}

/// The shared tables while rendering: each set and follow once.
#[derive(Default)]
struct Tables {
    sets: Vec<ByteSet>,
    set_ids: HashMap<ByteSet, u32>,
    follows: Vec<(u32, Vec<(u32, u32)>)>,
    follow_ids: HashMap<Follow, u32>,
}

impl Tables {
    fn set(&mut self, s: ByteSet) -> u32 {
        *self.set_ids.entry(s).or_insert_with(|| {
            self.sets.push(s);
            self.sets.len() as u32 - 1
        })
    }

    fn follow(&mut self, f: &Follow) -> u32 {
        if let Some(&id) = self.follow_ids.get(f) {
            return id;
        }
        let (first, second) = f.parts();
        let entry = (
            self.set(first),
            second
                .iter()
                .map(|&(g, n)| (self.set(g), self.set(n)))
                .collect(),
        );
        self.follows.push(entry);
        let id = self.follows.len() as u32 - 1;
        self.follow_ids.insert(f.clone(), id);
        id
    }

    fn follows_of(&mut self, fs: &[Option<Follow>]) -> Vec<Option<u32>> {
        fs.iter()
            .map(|f| f.as_ref().map(|f| self.follow(f)))
            .collect()
    }

    fn twin(&mut self, t: &Rule) -> Twin {
        let Matcher::Truncated(shapes) = &t.matcher else {
            unreachable!("derived rules match by shapes");
        };
        let (lead, alts, classes) = shapes.parts();
        Twin {
            pattern: t.pattern.clone(),
            keywords: t.keywords.clone(),
            analysis: t.analysis.clone(),
            extend: self.set(t.extend.unwrap_or_default()),
            follows: self.follows_of(&t.keyword_follows),
            lead: lead.iter().map(|&l| look_char(l)).collect(),
            classes: classes.iter().map(|&c| self.set(c)).collect(),
            alts: alts.iter().map(|a| hex(a)).collect(),
        }
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

/// 64-bit FNV-1a: which text the facts were computed from (not a defence
/// against anyone: both sides are this repository's).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `30-39,41-5a,5f`: the set's runs of bytes, in hex.
fn ranges(set: &ByteSet) -> String {
    let mut out = String::new();
    let mut b = 0usize;
    while b < 256 {
        if !set.contains(b as u8) {
            b += 1;
            continue;
        }
        let lo = b;
        while b < 256 && set.contains(b as u8) {
            b += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "{lo:02x}");
        if b - 1 > lo {
            let _ = write!(out, "-{:02x}", b - 1);
        }
    }
    out
}

fn set_from_ranges(text: &str) -> Option<ByteSet> {
    let mut set = ByteSet::default();
    for run in text.split(',').filter(|r| !r.is_empty()) {
        let (lo, hi) = run.split_once('-').unwrap_or((run, run));
        let (lo, hi) = (
            u8::from_str_radix(lo, 16).ok()?,
            u8::from_str_radix(hi, 16).ok()?,
        );
        (lo <= hi).then(|| set.insert_range(lo, hi))?;
    }
    Some(set)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hex_bytes(text: &str) -> Option<Box<[u8]>> {
    text.len().is_multiple_of(2).then_some(())?;
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn look_char(l: Look) -> char {
    match l {
        Look::WordAscii => 'b',
        Look::WordAsciiNegate => 'B',
        Look::StartLF => '^',
        other => unreachable!("shapes hold no {other:?}"),
    }
}

fn look_of(c: char) -> Option<Look> {
    match c {
        'b' => Some(Look::WordAscii),
        'B' => Some(Look::WordAsciiNegate),
        '^' => Some(Look::StartLF),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{builtin_files, RuleSetBuilder, BUILTIN_SOURCE_PREFIX};

    fn builtin_names() -> Vec<(String, String)> {
        builtin_files()
            .into_iter()
            .map(|(n, t)| (format!("{BUILTIN_SOURCE_PREFIX}{n}"), t))
            .collect()
    }

    fn full() -> RuleSet {
        RuleSetBuilder::builtin().all(true).build().unwrap()
    }

    #[test]
    fn the_precomputed_file_is_what_loading_computes() {
        let files = builtin_names();
        let files: Vec<(String, &str)> = files.iter().map(|(n, t)| (n.clone(), &t[..])).collect();
        let fresh = render(&full(), &files);
        let text = text();
        if fresh == text {
            return;
        }
        if std::env::var_os("REDACTD_BLESS").is_some() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(PATH);
            std::fs::write(&path, &fresh).unwrap();
            panic!("{PATH} rewritten: rebuild, run the tests again, and commit it");
        }
        let differ = fresh
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(fresh.lines().count().min(text.lines().count()));
        panic!(
            "{PATH} is stale (line {}): the rule files or what loading proves changed. \
             Run `REDACTD_BLESS=1 cargo test --lib precomputed` and commit the file",
            differ + 1
        );
    }

    /// Everything a rule holds but its examples, as text.
    fn describe(r: &Rule) -> String {
        let matcher = match &r.matcher {
            Matcher::Regex(re) => format!("regex {re:?}"),
            Matcher::Truncated(s) => {
                let (lead, alts, classes) = s.parts();
                let classes: Vec<String> = classes.iter().map(ranges).collect();
                format!("shapes {lead:?} {alts:?} {classes:?}")
            }
        };
        format!(
            "{} {:?} {:?} {:?} {matcher} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            r.id,
            r.name,
            r.pattern,
            r.secret_group,
            r.keywords,
            r.search_keywords,
            r.keyword_follows,
            r.severity,
            r.remediation,
            r.tags,
            r.min_entropy,
            r.stop_words,
            r.allow_values,
            r.validator,
            r.public_prefix,
            r.extend.as_ref().map(ranges),
            r.block,
            r.analysis,
            r.screens.is_some(),
            r.source,
        )
    }

    #[test]
    fn rules_built_from_the_file_equal_rules_built_the_full_way() {
        let mut b = RuleSetBuilder::builtin();
        b.all(true);
        let (fast, slow) = (b.build_to_run().unwrap(), b.build().unwrap());
        assert_eq!(fast.rules().len(), slow.rules().len());
        for (f, s) in fast.rules().iter().zip(slow.rules()) {
            assert_eq!(describe(f), describe(s));
        }
        assert!(fast.rules().iter().all(|r| r.examples.is_empty()));
        assert_eq!(
            format!("{:?}", fast.prefilter()),
            format!("{:?}", slow.prefilter())
        );
    }

    #[test]
    fn an_edited_file_or_another_version_is_compiled_the_full_way() {
        let mut table = Table::embedded().expect("the embedded file parses");
        let (name, body) = &builtin_names()[0];
        assert!(table.file(name, &format!("{body}\n")).is_none());
        assert!(Table::parse(&text().replacen("\"version\":1", "\"version\":0", 1)).is_none());
        // The selection still applies on the fast path.
        let mut b = RuleSetBuilder::builtin();
        b.disable("github.pat")
            .disable("aws.access-key-id-truncated");
        let set = b.build_to_run().unwrap();
        assert!(set.get("github.pat").is_none());
        assert!(set.get("github.pat-truncated").is_none());
        assert!(set.get("github.oauth-token-truncated").is_some());
        assert!(set.get("aws.access-key-id").is_some());
        assert!(set.get("aws.access-key-id-truncated").is_none());
    }

    #[test]
    fn sets_and_shapes_survive_the_text_form() {
        let mut s = ByteSet::default();
        for b in [0u8, 1, 2, b'0', b'9', b'a', 255] {
            s.insert(b);
        }
        assert_eq!(ranges(&s), "00-02,30,39,61,ff");
        assert_eq!(set_from_ranges(&ranges(&s)), Some(s));
        assert_eq!(set_from_ranges(""), Some(ByteSet::default()));
        assert_eq!(set_from_ranges("39-30"), None);
        assert_eq!(
            hex_bytes(&hex(&[0, 7, 255])).as_deref(),
            Some(&[0, 7, 255][..])
        );
        assert_eq!(hex_bytes("0"), None);
        for l in [Look::WordAscii, Look::WordAsciiNegate, Look::StartLF] {
            assert_eq!(look_of(look_char(l)), Some(l));
        }
    }
}
