//! Deciding which held-back bytes an idle stream may release.
//!
//! The redactor holds bytes back while a match could still cover them. Most
//! of the time that is brief: a finished line goes out at once. A stream
//! that stops in the middle of a line (a TCP client that wrote half a line,
//! a prompt without a newline) keeps its tail held until more input comes.
//! Proxy modes call [`Redactor::flush_idle`](crate::engine::Redactor::flush_idle)
//! when a stream has been quiet for a while; it releases exactly the held
//! bytes at which **no rule can have a match starting, complete or still in
//! progress**, and keeps the rest. Output is therefore identical whether or
//! not, and whenever, idle flushes happen: the split-invariance promise holds
//! with timers in the loop.
//!
//! The test is a lazy DFA over the union of every rule's regex with
//! [`MatchKind::All`], searched anchored at each held position: if it dies
//! before the end of the held bytes without passing a match state, no rule
//! matches there whatever bytes come next. It is built on first use (filter
//! mode never pays for it) and its caches are pooled per rule set, so memory
//! grows with the number of threads flushing at once, not with the number
//! of streams.

use std::sync::Mutex;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

use crate::rules::{escape, RuleSet};

/// Union DFA of a rule set, for idle flushes.
#[derive(Debug)]
pub struct Viability {
    dfa: DFA,
    pool: Mutex<Vec<Cache>>,
}

/// Cap on one cache's transition table; when full the DFA clears it and goes
/// on (slower, never wrong).
const CACHE_CAPACITY: usize = 2 << 20;

impl Viability {
    /// Builds the union DFA; `None` when it cannot be built, in which case
    /// idle flushes release nothing extra (fail closed).
    pub fn new(set: &RuleSet) -> Option<Viability> {
        let patterns: Vec<&str> = set.rules().iter().map(|r| r.pattern.as_str()).collect();
        if patterns.is_empty() {
            return None;
        }
        let dfa = DFA::builder()
            .syntax(
                syntax::Config::new()
                    .unicode(false)
                    .utf8(false)
                    .multi_line(true),
            )
            .thompson(
                thompson::Config::new()
                    .utf8(false)
                    .which_captures(thompson::WhichCaptures::None),
            )
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(CACHE_CAPACITY)
                    .skip_cache_capacity_check(true),
            )
            .build_many(&patterns)
            .ok()?;
        Some(Viability {
            dfa,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// The first position in `[from, hay.len())` at which some rule may have
    /// a match starting (complete, or in progress at the end of `hay`), or
    /// `hay.len()` when there is none. Bytes before `from` serve as
    /// look-behind context (`\b`, `^`). Rules match decoded text (see
    /// [`escape`]): the DFA walks `hay` decoded, and a trailing part of an
    /// escaped form counts as a possible start, whose character more bytes
    /// will tell. Fails closed: on any DFA error the answer is `from`.
    pub fn first_live(&self, hay: &[u8], from: usize) -> usize {
        let tail = partial_escape_start(hay);
        let decoded;
        let (text, raw): (&[u8], Option<&[usize]>) = if escape::has_escape(&hay[..tail]) {
            decoded = escape::Decoded::new(&hay[..tail]);
            (&decoded.bytes, Some(&decoded.raw))
        } else {
            (&hay[..tail], None)
        };
        let start = raw.map_or(from, |r| r.partition_point(|&x| x < from));
        let mut cache = self
            .pool
            .lock()
            .map(|mut p| p.pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| self.dfa.create_cache());
        let at = (start..text.len())
            .find(|&p| self.live_at(&mut cache, text, p).unwrap_or(true))
            .unwrap_or(text.len());
        if let Ok(mut p) = self.pool.lock() {
            p.push(cache);
        }
        raw.map_or(at, |r| r[at]).max(from)
    }

    /// Whether a match may start at `p`: the anchored DFA reaches a match
    /// state, or is still alive when the bytes run out.
    fn live_at(
        &self,
        cache: &mut Cache,
        hay: &[u8],
        p: usize,
    ) -> Result<bool, regex_automata::MatchError> {
        let input = Input::new(hay).range(p..).anchored(Anchored::Yes);
        let mut sid = self.dfa.start_state_forward(cache, &input)?;
        for &b in &hay[p..] {
            sid = self
                .dfa
                .next_state(cache, sid, b)
                .map_err(|_| regex_automata::MatchError::gave_up(p))?;
            if sid.is_tagged() {
                if sid.is_match() {
                    return Ok(true);
                }
                if sid.is_dead() {
                    return Ok(false);
                }
                if sid.is_quit() || sid.is_unknown() {
                    return Ok(true);
                }
            }
        }
        // Alive at the end: more input may complete a match (or one just
        // completed: match states are reported one byte late).
        Ok(true)
    }
}

/// Where a trailing part of an escaped form starts in `hay` (a `\` with
/// fewer than [`escape::MAX_FORM_LEN`] bytes after it that more input may
/// complete), or `hay.len()`.
fn partial_escape_start(hay: &[u8]) -> usize {
    let from = hay.len().saturating_sub(escape::MAX_FORM_LEN - 1);
    match memchr::memrchr(b'\\', &hay[from..]) {
        Some(i) if escape::may_become_escape(&hay[from + i..]) => from + i,
        _ => hay.len(),
    }
}
