//! A slow whole-buffer reference for tests: the definition of what the
//! streaming [`super::Redactor`] must produce, computed the obvious way.
//!
//! All rules go into one `meta::Regex::new_many`, without capture groups,
//! which tells the rules that match anywhere. For each of those, matches are
//! found by anchored searches for that rule's own pattern, compiled once more
//! on its own, at every position in turn (leftmost-first, then continuing
//! after the match and its continuation), on the text with its escaped forms
//! decoded (see [`crate::rules::escape`]). A rule's [`DENSE_RUN`]-th close
//! finding on a line runs to the line's end. No prefilter, no windows, no
//! streaming: if the fast engine and this disagree, the fast engine is
//! wrong. Never used by modes.
//!
//! One regex per rule for the capturing searches, not one for all: a PikeVM
//! cache for a many-pattern regex holds a capture slot of every pattern for
//! every state, which grows with the square of the number of rules (1.4 GB
//! for 246 rules, over 10 GB for 788).
//!
//! Stream-learned values ([`super::learned`] defines them) are found by
//! walking the positions in order with the set as that definition keeps
//! it, looking for each held value's forms as
//! [`known::forms`](crate::rules::known::forms) lists them with `memmem`:
//! no grams, no index.

use std::sync::Arc;

use memchr::memmem;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax as re_syntax;
use regex_automata::{meta, Anchored, Input, MatchKind, PatternSet};

use super::{armor, learned, yaml, Style, DENSE_GAP, DENSE_RUN};
use crate::rules::escape::Decoded;
use crate::rules::{Block, Rule, RuleSet};

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
    /// Each rule's pattern, leftmost-first, for finding its matches.
    re: Vec<meta::Regex>,
    /// Every pattern, every-match semantics and no captures, for telling
    /// which rules match at all.
    any: meta::Regex,
    /// Values learned at most (0: none).
    learned: usize,
}

impl Oracle {
    /// Compiles every rule of `set` into one multi-pattern regex; no
    /// stream-learned values.
    pub fn new(set: Arc<RuleSet>) -> Oracle {
        Oracle::with_learned(set, 0)
    }

    /// As [`new`](Self::new), learning at most `learned` values as a
    /// redactor with [`Options::learned_values`](super::Options) does.
    pub fn with_learned(set: Arc<RuleSet>, learned: usize) -> Oracle {
        let patterns: Vec<&str> = set.rules().iter().map(|r| r.pattern.as_str()).collect();
        let build = |patterns: &[&str], config: meta::Config| {
            meta::Regex::builder()
                .syntax(
                    re_syntax::Config::new()
                        .unicode(false)
                        .utf8(false)
                        .multi_line(true),
                )
                .configure(config.utf8_empty(false))
                .build_many(patterns)
                .expect("rules that compiled one by one compile again")
        };
        // The union of 830 rules is over the default 10 MB NFA limit that
        // each rule alone keeps well under.
        let any = meta::Regex::config()
            .match_kind(MatchKind::All)
            .which_captures(WhichCaptures::None)
            .nfa_size_limit(Some(256 << 20));
        Oracle {
            re: patterns
                .iter()
                .map(|p| build(&[p], meta::Regex::config()))
                .collect(),
            any: build(&patterns, any),
            set,
            learned: learned.min(learned::MAX_CAP),
        }
    }

    /// Every accepted secret span and every learned occurrence, sorted by
    /// start (then specific before `generic`, then rule).
    pub fn spans(&self, hay: &[u8]) -> Vec<OracleSpan> {
        let mut out = self.rule_spans(hay);
        out.extend(self.learned_spans(hay, &out));
        let key = |s: &OracleSpan| (s.start, self.set.rules()[s.rule].is_generic(), s.rule);
        out.sort_by_key(key);
        out
    }

    /// Every accepted secret span of the rules, sorted as [`spans`](Self::spans).
    ///
    /// Rules match the text with its escaped forms decoded (see
    /// [`crate::rules::escape`]): the searches run on the decoded text, and
    /// spans, checks and continuations are on the raw bytes.
    pub fn rule_spans(&self, hay: &[u8]) -> Vec<OracleSpan> {
        let n = self.set.rules().len();
        let decoded = Decoded::new(hay);
        let (text, raw) = (&decoded.bytes[..], &decoded.raw[..]);
        let mut which = PatternSet::new(n.max(1));
        self.any
            .which_overlapping_matches(&Input::new(text), &mut which);
        let mut out = Vec::new();
        for pid in which.iter() {
            let r = pid.as_usize();
            let rule = &self.set.rules()[r];
            let re = &self.re[r];
            let mut caps = re.create_captures();
            let mut pos = 0;
            // The rule's run of close findings on one line (see DENSE_RUN):
            // how many, and where the last one's secret starts.
            let mut run = (0, 0);
            'search: while pos <= text.len() {
                let mut found = None;
                for p in pos..=text.len() {
                    let input = Input::new(text).range(p..).anchored(Anchored::Yes);
                    re.search_captures(&input, &mut caps);
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
                if ss == se {
                    // A Kubernetes Secret map's header: its block decides.
                    if let Some((start, end)) = secret_map(rule, &hay[raw[ms]..], se - raw[ms]) {
                        let (start, end) = (raw[ms] + start, raw[ms] + end);
                        pos = pos.max(decoded.at_or_after(end));
                        out.push(OracleSpan {
                            start,
                            end,
                            rule: r,
                        });
                    }
                    continue;
                }
                if rule.accept(&hay[ss..se]).is_err() {
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
                let end = se + continuation(rule, &hay[se..], capped);
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

    /// The learned occurrences in `hay` (see [`learned`] for the
    /// definition), given its rule spans.
    fn learned_spans(&self, hay: &[u8], rules: &[OracleSpan]) -> Vec<OracleSpan> {
        if self.learned == 0 {
            return Vec::new();
        }
        let mut events: Vec<(usize, usize, bool, usize, Vec<u8>)> = Vec::new();
        for s in rules {
            let rule = &self.set.rules()[s.rule];
            let value = crate::rules::escape::decode(&hay[s.start..s.end]).into_owned();
            let fits = (learned::MIN_LEN..=learned::MAX_LEN).contains(&value.len());
            let one_line = !value.iter().any(|&b| b == b'\n' || b == b'\r');
            let head = &value[..value.len().min(learned::REPEAT_SPAN)];
            let mut runs = std::collections::HashSet::new();
            let distinct = head.windows(4).all(|run| runs.insert(run));
            if learned::learns_from(rule) && fits && one_line && distinct {
                events.push((s.end, s.start, rule.is_generic(), s.rule, value));
            }
        }
        events.sort();
        let mut walk = Walk {
            hay,
            cap: self.learned,
            held: Vec::new(),
            added: 0,
            out: Vec::new(),
        };
        let mut events = events.into_iter().peekable();
        let mut x = 0;
        loop {
            while let Some(e) = events.next_if(|e| e.0 == x) {
                walk.learn(x, e.4, e.3);
            }
            walk.occurrences_at(x);
            let next_event = events.peek().map(|e| e.0);
            let next_found = walk.held.iter().flat_map(|h| h.next.iter().flatten()).min();
            match next_event.into_iter().chain(next_found.copied()).min() {
                Some(n) => x = n,
                None => break,
            }
        }
        walk.out
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

/// A value the oracle's walk holds.
struct Held {
    value: Vec<u8>,
    rule: usize,
    seen: usize,
    added: usize,
    forms: Vec<Vec<u8>>,
    /// Per form, where it next occurs at or after the walk's position.
    next: Vec<Option<usize>>,
}

/// The walk over positions of [`Oracle::learned_spans`].
struct Walk<'a> {
    hay: &'a [u8],
    cap: usize,
    held: Vec<Held>,
    added: usize,
    out: Vec<OracleSpan>,
}

impl Walk<'_> {
    fn find(&self, form: &[u8], from: usize) -> Option<usize> {
        memmem::find(&self.hay[from.min(self.hay.len())..], form).map(|i| from + i)
    }

    /// A learn event of `value` under `rule` at `x`.
    fn learn(&mut self, x: usize, value: Vec<u8>, rule: usize) {
        if let Some(h) = self.held.iter_mut().find(|h| h.value == value) {
            h.seen = x;
            return;
        }
        if self.held.len() == self.cap {
            let (i, _) = self
                .held
                .iter()
                .enumerate()
                .min_by_key(|(_, h)| (h.seen, h.added))
                .expect("a full set holds a value");
            self.held.remove(i);
        }
        let forms = crate::rules::known::forms(&value);
        let next = forms.iter().map(|f| self.find(f, x)).collect();
        self.held.push(Held {
            value,
            rule,
            seen: x,
            added: self.added,
            forms,
            next,
        });
        self.added += 1;
    }

    /// Every held form occurring at `x` is a span; its value is seen.
    fn occurrences_at(&mut self, x: usize) {
        for i in 0..self.held.len() {
            let mut seen = false;
            for j in 0..self.held[i].forms.len() {
                if self.held[i].next[j] != Some(x) {
                    continue;
                }
                let h = &self.held[i];
                self.out.push(OracleSpan {
                    start: x,
                    end: x + h.forms[j].len(),
                    rule: h.rule,
                });
                seen = true;
                let next = self.find(&h.forms[j], x + 1);
                self.held[i].next[j] = next;
            }
            if seen {
                self.held[i].seen = x;
            }
        }
    }
}
/// How far a span goes past its secret's end, in `rest` (the bytes after
/// it): the rest of the line when its rule's run `capped`, its block or
/// `extend` run, or nothing.
fn continuation(rule: &Rule, rest: &[u8], capped: bool) -> usize {
    match (rule.block, &rule.extend) {
        // Failing closed: the rest of the line.
        _ if capped => memchr::memchr(b'\n', rest).unwrap_or(rest.len()),
        (Some(Block::Armor { max_bytes }), _) => armor::block_len(rest, max_bytes),
        // Its match has no secret: see `secret_map`.
        (Some(Block::K8sSecretMap { .. }), _) => 0,
        (None, Some(class)) => class.run(rest, true).0,
        (None, None) => 0,
    }
}

/// The span of a Kubernetes Secret map after the header `hay[..at]`, in
/// `hay`'s offsets, if `rule` takes one there and the map opens.
fn secret_map(rule: &Rule, hay: &[u8], at: usize) -> Option<(usize, usize)> {
    let Some(Block::K8sSecretMap { max_bytes }) = rule.block else {
        return None;
    };
    let (skip, n) = yaml::block_len(&hay[..at], &hay[at..], max_bytes);
    (n > 0).then_some((at + skip, at + skip + n))
}
