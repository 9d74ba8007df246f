//! Regexes compiled on their first search.
//!
//! A compiled `meta::Regex` costs some 6-10 KB however small (strategy,
//! NFAs, the bounded backtracker's and PikeVM's tables), and a rule set of
//! 800 rules would hold 7-8 MB of them, while a day of ordinary logs wakes a
//! few dozen rules: the rest wait for a keyword that never comes. So each
//! rule's regex (and its `allow_values` regex) is kept as its pattern and
//! compiled by the first search that needs it, once per rule set, shared by
//! every thread after ([`OnceLock`]).
//!
//! **What is bounded.** What a rule set can compile is bounded by the rule
//! set (configuration), never by input: at most every rule once, the sum
//! [`RuleSet::compiled_memory`](super::RuleSet::compiled_memory) reports once
//! [`RuleSet::compile_all`](super::RuleSet::compile_all) has run (`redactd
//! rules check` prints it). Each regex's per-thread caches have their own
//! caps ([`super::compile`]).
//!
//! **Errors come at load time.** Loading a rule parses its pattern and
//! builds its forward NFA under the limits the compiled regex uses
//! ([`check`]): the one part of a build that can fail on a valid pattern.
//! Should a full build still fail when a search needs it, the regex is
//! built again without lazy or full DFAs, which needs nothing but that
//! forward NFA; and if even that fails the search **fails closed**: a rule
//! whose regex is missing matches its whole search span (redacted), an
//! `allow_values` regex that is missing allows nothing.

use std::sync::OnceLock;

use regex_automata::nfa::thompson;
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::util::syntax as re_syntax;
use regex_automata::{meta, Input, PatternID};
use regex_syntax::hir::Hir;

/// The size limit of a compiled NFA (`meta::Regex`'s default).
const NFA_SIZE_LIMIT: usize = 10 << 20;

/// How a pattern is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// A rule's regex ([`super::compile::parse`] syntax), searched anchored
    /// only (`anchored`: no full DFA, no literal prefilter) or also
    /// unanchored; `words` says it is a generic rule woken by plain words
    /// (a lazy DFA with a larger cache, see [`super::compile::build_search`]).
    Rule {
        /// Searched anchored only.
        anchored: bool,
        /// A generic rule woken by plain words.
        words: bool,
    },
    /// A whole-secret regex (`allow_values`), matched only against accepted
    /// candidates: no lazy DFA.
    Whole,
}

/// A regex compiled by its first search.
#[derive(Debug)]
pub struct LazyRegex {
    pattern: Box<str>,
    build: Build,
    regex: OnceLock<Option<meta::Regex>>,
}

impl LazyRegex {
    /// Checks that `pattern` parses and that its forward NFA builds, and
    /// keeps the pattern to compile on first use. The error is the parser's
    /// or the compiler's message, on one line.
    pub fn new(pattern: &str, build: Build) -> Result<LazyRegex, String> {
        Self::parsed(pattern, &parse(pattern, build)?, build)
    }

    /// As [`new`](Self::new), for a caller that has parsed `pattern`
    /// (as [`Build`] says) into `hir` already.
    pub fn parsed(pattern: &str, hir: &Hir, build: Build) -> Result<LazyRegex, String> {
        check(hir)?;
        Ok(LazyRegex {
            pattern: pattern.into(),
            build,
            regex: OnceLock::new(),
        })
    }

    /// The compiled regex, compiled now if no search has needed it yet;
    /// `None` only if it cannot be built (see the module docs).
    pub fn get(&self) -> Option<&meta::Regex> {
        self.regex.get_or_init(|| self.compile()).as_ref()
    }

    /// An uncompiled copy, compiled by its own first search, with caches of
    /// its own: for checks at load time that should leave neither this
    /// regex compiled nor caches behind.
    pub fn detached(&self) -> LazyRegex {
        LazyRegex {
            pattern: self.pattern.clone(),
            build: self.build,
            regex: OnceLock::new(),
        }
    }

    /// Whether a search has compiled it.
    pub fn is_compiled(&self) -> bool {
        self.regex.get().is_some()
    }

    /// Heap bytes of the compiled regex (0 until compiled; caches not
    /// counted).
    pub fn memory_usage(&self) -> usize {
        self.regex
            .get()
            .and_then(Option::as_ref)
            .map_or(0, meta::Regex::memory_usage)
    }

    /// As [`meta::Regex::search_slots`]; a regex that cannot be built
    /// matches the whole span, with every slot pair on it (fail closed).
    pub fn search_slots(
        &self,
        input: &Input<'_>,
        slots: &mut [Option<NonMaxUsize>],
    ) -> Option<PatternID> {
        if let Some(r) = self.get() {
            return r.search_slots(input, slots);
        }
        let span = input.get_span();
        if span.is_empty() {
            return None;
        }
        for pair in slots.chunks_mut(2) {
            pair[0] = NonMaxUsize::new(span.start);
            if let Some(end) = pair.get_mut(1) {
                *end = NonMaxUsize::new(span.end);
            }
        }
        Some(PatternID::ZERO)
    }

    /// As [`meta::Regex::is_match`], except that a regex that cannot be
    /// built matches nothing: an allow list then allows nothing, and a
    /// parent regex shadows nothing of its derived rule (fail closed both).
    pub fn is_match<'h, I: Into<Input<'h>>>(&self, input: I) -> bool {
        self.get().is_some_and(|r| r.is_match(input))
    }

    fn compile(&self) -> Option<meta::Regex> {
        let hir = parse(&self.pattern, self.build).ok()?;
        let full = meta::Regex::builder()
            .configure(config(self.build))
            .build_from_hir(&hir);
        match full {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "a rule's regex did not build with DFAs; built without");
                let plain = config(self.build)
                    .hybrid(false)
                    .dfa(false)
                    .auto_prefilter(false);
                let built = meta::Regex::builder().configure(plain).build_from_hir(&hir);
                built
                    .map_err(|e| tracing::error!(error = %e, "a rule's regex did not build: its hits are redacted whole"))
                    .ok()
            }
        }
    }
}

/// Parses `pattern` as `build` says.
fn parse(pattern: &str, build: Build) -> Result<Hir, String> {
    match build {
        Build::Rule { .. } => super::compile::parse(pattern),
        Build::Whole => regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(pattern)
            .map_err(|e| super::one_line(&e.to_string())),
    }
}

/// The configuration a regex is compiled with (see
/// [`super::compile::build_search`] for why).
fn config(build: Build) -> meta::Config {
    let base = meta::Regex::config()
        .utf8_empty(false)
        .onepass(false)
        .nfa_size_limit(Some(NFA_SIZE_LIMIT));
    match build {
        Build::Rule { anchored, words } => base
            .hybrid(!anchored || words)
            .dfa(!anchored)
            .hybrid_cache_capacity(if words { 256 << 10 } else { 64 << 10 })
            .auto_prefilter(!anchored),
        Build::Whole => base.hybrid(false).dfa(false),
    }
}

/// Builds the forward NFA of `hir` as [`meta::Regex`] does with
/// [`config`]'s limits, and drops it: whether the regex can be built.
fn check(hir: &Hir) -> Result<(), String> {
    thompson::Compiler::new()
        .syntax(re_syntax::Config::new().unicode(false).utf8(false))
        .configure(
            thompson::Config::new()
                .utf8(false)
                .shrink(false)
                .nfa_size_limit(Some(NFA_SIZE_LIMIT)),
        )
        .build_from_hir(hir)
        .map(drop)
        .map_err(|e| super::one_line(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Build = Build::Rule {
        anchored: true,
        words: false,
    };

    #[test]
    fn compiled_by_the_first_search_only() {
        let re = LazyRegex::new(r"tok_(?P<secret>[a-z0-9]{8})", RULE).unwrap();
        assert!(!re.is_compiled());
        assert_eq!(re.memory_usage(), 0);
        let detached = re.detached();
        assert!(detached.is_match(b"tok_abcd1234"));
        assert!(detached.is_compiled());
        assert!(!re.is_compiled(), "a detached copy leaves it uncompiled");
        let mut slots = vec![None; 4];
        let hit = re.search_slots(&Input::new(b"x tok_abcd1234 y"), &mut slots);
        assert_eq!(hit, Some(PatternID::ZERO));
        assert_eq!(slots[2].map(|v| v.get()), Some(6));
        assert!(re.is_compiled());
        assert!(re.memory_usage() > 0);
    }

    #[test]
    fn errors_come_at_load_time() {
        let e = LazyRegex::new("(", RULE).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        // Valid syntax whose NFA is over the limit.
        let e = LazyRegex::new(r"(?:[a-z]{1000}){1000}", RULE).unwrap_err();
        assert!(e.contains("exceeded limit"), "{e}");
        assert!(LazyRegex::new(r"\A(?:a+)\z", Build::Whole).is_ok());
    }

    #[test]
    fn whole_regexes_match_whole_values() {
        let re = LazyRegex::new(r"\A(?:tok_0+)\z", Build::Whole).unwrap();
        assert!(re.is_match(b"tok_000"));
        assert!(!re.is_match(b"tok_0001"));
    }

    #[test]
    fn a_regex_that_cannot_be_built_fails_closed() {
        // Built around the load-time check, as if a build failed later.
        let re = LazyRegex {
            pattern: "(".into(),
            build: RULE,
            regex: OnceLock::new(),
        };
        let mut slots = vec![None; 4];
        let input = Input::new(b"abc tok_x def").range(4..9);
        assert_eq!(re.search_slots(&input, &mut slots), Some(PatternID::ZERO));
        let got: Vec<_> = slots.iter().map(|s| s.map(|v| v.get())).collect();
        assert_eq!(got, [Some(4), Some(9), Some(4), Some(9)]);
        assert!(
            !re.is_match(b"anything"),
            "an allow list that cannot be built allows nothing"
        );
    }
}
