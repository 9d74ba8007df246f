//! A slow whole-buffer reference for tests: the definition of what the
//! streaming [`super::Redactor`] must produce, computed the obvious way.
//!
//! All rules go into one `meta::Regex::new_many`. For each rule that matches
//! anywhere, matches are found by anchored searches for that rule's pattern
//! at every position in turn (leftmost-first, then continuing after the match
//! and its continuation), on the text with its escaped forms decoded (see
//! [`crate::rules::escape`]). A rule's [`DENSE_RUN`]-th close finding on a
//! line runs to the line's end. No prefilter, no windows, no streaming: if the fast
//! engine and this disagree, the fast engine is wrong. Never used by modes.

use std::sync::Arc;

use regex_automata::util::syntax as re_syntax;
use regex_automata::{meta, Anchored, Input, MatchKind, PatternID, PatternSet};

use super::{armor, Style, DENSE_GAP, DENSE_RUN};
use crate::rules::escape::Decoded;
use crate::rules::{Block, RuleSet};

/// One accepted secret: `[start, end)` after continuation, and its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OracleSpan {
    /// First redacted byte.
    pub start: usize,
    /// One past the last redacted byte (after `extend`/`block`).
    pub end: usize,
    /// Rule index.
    pub rule: usize,
}

/// The reference redactor.
#[derive(Debug)]
pub struct Oracle {
    set: Arc<RuleSet>,
    /// Leftmost-first, for finding each rule's matches.
    re: meta::Regex,
    /// Every-match semantics, for telling which rules match at all.
    any: meta::Regex,
}

impl Oracle {
    /// Compiles every rule of `set` into one multi-pattern regex.
    pub fn new(set: Arc<RuleSet>) -> Oracle {
        let patterns: Vec<&str> = set.rules().iter().map(|r| r.pattern.as_str()).collect();
        let build = |kind| {
            meta::Regex::builder()
                .syntax(
                    re_syntax::Config::new()
                        .unicode(false)
                        .utf8(false)
                        .multi_line(true),
                )
                .configure(meta::Regex::config().utf8_empty(false).match_kind(kind))
                .build_many(&patterns)
                .expect("rules that compiled one by one compile together")
        };
        Oracle {
            re: build(MatchKind::LeftmostFirst),
            any: build(MatchKind::All),
            set,
        }
    }

    /// Every accepted secret span, sorted by start.
    ///
    /// Rules match the text with its escaped forms decoded (see
    /// [`crate::rules::escape`]): the searches run on the decoded text, and
    /// spans, checks and continuations are on the raw bytes.
    pub fn spans(&self, hay: &[u8]) -> Vec<OracleSpan> {
        let n = self.set.rules().len();
        let decoded = Decoded::new(hay);
        let (text, raw) = (&decoded.bytes[..], &decoded.raw[..]);
        let mut which = PatternSet::new(n.max(1));
        self.any
            .which_overlapping_matches(&Input::new(text), &mut which);
        let mut caps = self.re.create_captures();
        let mut out = Vec::new();
        for pid in which.iter() {
            let r = pid.as_usize();
            let rule = &self.set.rules()[r];
            let mut pos = 0;
            // The rule's run of close findings on one line (see DENSE_RUN):
            // how many, and where the last one's secret starts.
            let mut run = (0, 0);
            'search: while pos <= text.len() {
                let mut found = None;
                for p in pos..=text.len() {
                    let input = Input::new(text)
                        .range(p..)
                        .anchored(Anchored::Pattern(PatternID::must(r)));
                    self.re.search_captures(&input, &mut caps);
                    if let Some(m) = caps.get_match() {
                        found = Some((m.start(), m.end()));
                        break;
                    }
                }
                let Some((ms, me)) = found else { break 'search };
                pos = me;
                // A derived rule's match where its parent's regex matches
                // too is the parent's to decide.
                if rule.shadowed(text, ms, text.len()) {
                    continue;
                }
                let (ss, se) = match rule.secret_group {
                    Some(_) => match caps.get_group_by_name("secret") {
                        Some(g) => (g.start, g.end),
                        None => continue,
                    },
                    None => (ms, me),
                };
                let (ss, se) = (raw[ss], raw[se]);
                if ss == se || rule.accept(&hay[ss..se]).is_err() {
                    continue;
                }
                let close = run.0 > 0
                    && ss - run.1 <= DENSE_GAP as usize
                    && !hay[run.1..ss].contains(&b'\n');
                run = (if close { run.0 + 1 } else { 1 }, ss);
                let capped = rule.block.is_none() && run.0 >= DENSE_RUN;
                if capped {
                    run = (0, 0);
                }
                let end = match (rule.block, &rule.extend) {
                    // Failing closed: the rest of the line.
                    _ if capped => memchr::memchr(b'\n', &hay[se..]).map_or(hay.len(), |i| se + i),
                    (Some(Block::Armor { max_bytes }), _) => {
                        se + armor::block_len(&hay[se..], max_bytes)
                    }
                    (None, Some(class)) => se + class.run(&hay[se..], true).0,
                    (None, None) => se,
                };
                pos = pos.max(decoded.at_or_after(end));
                out.push(OracleSpan {
                    start: ss,
                    end,
                    rule: r,
                });
            }
        }
        let key = |s: &OracleSpan| (s.start, self.set.rules()[s.rule].is_generic(), s.rule);
        out.sort_by_key(key);
        out
    }

    /// One span per redacted union, in order: its extent and the rule its
    /// label names (the span that starts first; ties as in [`Self::spans`]).
    /// This is what findings report.
    pub fn findings(&self, hay: &[u8]) -> Vec<OracleSpan> {
        let mut out: Vec<OracleSpan> = Vec::new();
        for s in self.spans(hay) {
            match out.last_mut() {
                Some(u) if s.start < u.end => u.end = u.end.max(s.end),
                _ => out.push(s),
            }
        }
        out
    }

    /// The reference output for `label` or `mask` style.
    pub fn redact(&self, hay: &[u8], style: Style) -> Vec<u8> {
        assert!(
            matches!(style, Style::Label | Style::Mask),
            "the oracle renders label and mask"
        );
        let mut out = Vec::with_capacity(hay.len());
        let mut at = 0;
        for u in self.findings(hay) {
            out.extend_from_slice(&hay[at..u.start]);
            if style == Style::Label {
                out.extend_from_slice(
                    format!("[REDACTED:{}]", self.set.rules()[u.rule].id).as_bytes(),
                );
            }
            for &c in &hay[u.start..u.end] {
                if c == b'\n' || c == b'\r' {
                    out.push(c);
                } else if style == Style::Mask {
                    out.push(b'*');
                }
            }
            at = u.end;
        }
        out.extend_from_slice(&hay[at..]);
        out
    }
}
