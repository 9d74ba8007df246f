//! Verification: deciding, hit by hit in stream order, whether a rule's
//! match starts at or before a keyword hit.
//!
//! A hit at `k` is verified once its window is buffered: matches that count
//! start in `s..=k` (`s` is `k` less the rule's keyword offset, but not
//! before the rule's last match nor before released bytes) and end by the
//! window's end `w` (the rule's longest match after `k`, or the line's end).
//! Three steps, cheapest first:
//!
//! 1. The rule's **screen** ([`crate::rules::screen`]) walks the window. Where
//!    it finds no match, none of the rule's matches is there, and the walk,
//!    kept per rule and resumed for the next hit, often proves more: no match
//!    starts anywhere it passed with every thread alive (up to the line's
//!    end, a line of keywords), so the hits there are dropped unverified.
//! 2. Close to the keyword (`k - s` at most [`ANCHORED_TRIES`]), each start
//!    in `s..=k` is tried anchored, the screen bounding where the rule's
//!    regex must look; further, the regex searches `s..w` unanchored.
//! 3. A match is checked (entropy, stop words, validator, allowlist) and
//!    recorded as a span.

use std::sync::Arc;

use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input};

use super::marks::Hay;
use super::{learned, Hit, Redactor, LOOK_BEHIND};
use crate::rules::screen::{Ask, Probe, Screen, Walk, Window};
use crate::rules::{Analysis, Block, Rule};

/// Up to this many bytes between the earliest start a match may have and
/// its keyword, verification tries each start anchored.
pub(super) const ANCHORED_TRIES: u64 = crate::rules::ANCHORED_VERIFY_MAX as u64;

/// A rule's findings fail closed once this many of them follow each other
/// on one line, each starting at most [`DENSE_GAP`] bytes after the one
/// before: that finding's span runs on to the end of its line, as one
/// finding. Every finding costs a regex search with captures, the checks
/// and a fingerprint, so a line made of one secret shape repeated
/// (`password=abcd1234 ` over and over) ran at a few MB/s; no log line
/// holds that many secrets of one kind that close together unless it is
/// made of them.
pub const DENSE_RUN: u32 = 16;

/// See [`DENSE_RUN`].
pub const DENSE_GAP: u64 = 64;

/// A rule's run of close findings on the current line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    rule: u32,
    /// Findings in the run.
    count: u32,
    /// Where the last one's secret starts, and its line.
    last: u64,
    line: u64,
}

/// A hit being verified: its rule, the earliest and latest start of a
/// match that counts, the end of its window, and whether escaped forms lie
/// near (so the rule's raw bounds and its escaped screen apply).
#[derive(Debug, Clone, Copy)]
struct Cand {
    r: usize,
    s: u64,
    k: u64,
    w: u64,
    escaped: bool,
}

/// A hit's window (see [`Redactor::window_end`]).
#[derive(Debug, Clone, Copy)]
struct Win {
    /// A match that counts ends by this.
    end: u64,
    /// A match that counts starts at most this far before the hit.
    off: u64,
    /// Whether escaped forms lie near (the rule matches decoded text).
    escaped: bool,
}

/// How much longer an escaped form makes a match than the text it decodes
/// to, at most (`\u002f` for `/`), with one form's worth more at each end
/// of a region for a form that straddles it.
const FORM_SLACK: u64 = crate::rules::escape::MAX_FORM_LEN as u64 - 1;

/// Past this many escaped forms near a hit, its window is the rule's raw
/// bounds.
const MAX_FORMS: usize = 16;

/// The screens' walks of one stream: one per rule screened since the
/// stream (or record) began, not one per rule of the set. A walk is a
/// hundred bytes, and resetting one per rule for every record (each string
/// of a JSON body) cost a tenth of an HTTP request's time.
#[derive(Debug, Default)]
pub(super) struct Walks {
    /// Per rule: 1 + the index of its walk in `walks`, 0 for none; empty
    /// until the first walk.
    slot: Vec<u32>,
    /// Each walk, with its rule.
    walks: Vec<(u32, Walk)>,
}

impl Walks {
    /// Rule `r`'s walk, if it has one.
    fn get_mut(&mut self, r: usize) -> Option<&mut Walk> {
        match self.slot.get(r) {
            Some(&i) if i > 0 => Some(&mut self.walks[i as usize - 1].1),
            _ => None,
        }
    }

    /// Rule `r`'s walk, a new one if it has none (`rules`: how many the
    /// set has).
    fn entry(&mut self, r: usize, rules: usize) -> &mut Walk {
        if self.slot.is_empty() {
            self.slot = vec![0; rules];
        }
        let i = match self.slot[r] {
            0 => {
                self.walks.push((r as u32, Walk::default()));
                self.slot[r] = self.walks.len() as u32;
                self.walks.len() - 1
            }
            i => i as usize - 1,
        };
        &mut self.walks[i].1
    }

    /// Forgets every walk, keeping the allocations.
    pub(super) fn clear(&mut self) {
        for &(r, _) in &self.walks {
            self.slot[r as usize] = 0;
        }
        self.walks.clear();
    }
}

/// What the screen says about a hit.
enum Verdict {
    /// No match starts in `s..=k`, nor anywhere before this.
    Clear(u64),
    /// The rule's regex must decide.
    Maybe,
}

impl Redactor {
    pub(super) fn process_hits(&mut self) -> bool {
        // Once per call, not per hit: the rules are borrowed while `self`
        // changes.
        let set = Arc::clone(&self.set);
        let mut progressed = false;
        while let Some(&hit) = self.hits.front() {
            let r = hit.rule as usize;
            if let Some(e) = self.extenders.iter().find(|e| e.rule == hit.rule) {
                if hit.pos < e.pos {
                    // Inside the open continuation: the rule's next match
                    // starts after it, so this hit cannot yield one.
                    self.hits.pop_front();
                    progressed = true;
                    continue;
                }
                break;
            }
            if hit.pos < self.next[r] {
                if let Some(w) = self.walks.get_mut(r) {
                    w.passed();
                }
                self.hits.pop_front();
                progressed = true;
                continue;
            }
            let rule = &set.rules()[r];
            let Some(win) = self.window_end(hit.pos, &rule.analysis) else {
                break;
            };
            self.hits.pop_front();
            progressed = true;
            self.stats.hits_verified += 1;
            if self.verify(rule, hit, win) {
                // An extender opened: the hit waits for it.
                self.hits.push_front(hit);
            }
        }
        progressed
    }

    /// Where a match woken by a hit at `k` must end by, and how far before
    /// `k` it may start, once enough input is buffered to decide it; `None`
    /// while it is not. No match holds a line break, so the line bounds the
    /// window too. Without an escaped form on the line near `k` the rule's
    /// bounds as written hold; with some, each makes a match at most
    /// [`FORM_SLACK`] bytes longer (see [`crate::rules::escape`]), so the
    /// window grows by that per form it holds, up to the rule's raw bounds.
    fn window_end(&mut self, k: u64, a: &Analysis) -> Option<Win> {
        let end = self.end();
        let hay = Hay {
            bytes: &self.buf,
            base: self.base,
            eof: self.eof,
        };
        let raw = k + a.max_len as u64;
        let plain = k + a.plain_max_len as u64;
        // A form that starts inside the bounds as written and ends past
        // them counts too.
        let to = plain + FORM_SLACK;
        // Up to and including the byte after the longest match: a line
        // break there ends the window as surely as one inside it.
        let far = raw.max(to) + 1;
        let nl = self.newlines.first_from(hay, k, far.min(end)).map(|m| m.0);
        // From the character before the earliest start (look-behind sees it
        // decoded), but not before the line's start.
        let floor = k
            .saturating_sub(a.keyword_offset as u64 + LOOK_BEHIND)
            .max(self.base);
        let line = match self.newlines.last_before(hay, floor, k) {
            Some(i) => i + 1,
            None => floor,
        };
        let line_end = nl.unwrap_or(end).min(end);
        let from = k
            .saturating_sub(a.plain_keyword_offset as u64 + LOOK_BEHIND)
            .max(line);
        if nl.is_none_or(|n| n > to) && to > end && !self.eof {
            return None;
        }
        let (lim, off, escaped) = if self.escapes.any_within(hay, from, k, to.min(line_end)) {
            let forms = self.forms_near(a, k, line, line_end);
            let grow = |n: usize| n as u64 * FORM_SLACK;
            match forms {
                Some(f) => (
                    (plain + grow(f + 1)).min(raw),
                    (a.plain_keyword_offset as u64 + grow(f + 1)).min(a.keyword_offset as u64),
                    true,
                ),
                None => (raw, a.keyword_offset as u64, true),
            }
        } else {
            (plain, a.plain_keyword_offset as u64, false)
        };
        let end_at = match nl {
            Some(n) if n <= lim => n,
            _ if lim < end => lim,
            _ if self.eof => end,
            _ => return None,
        };
        Some(Win {
            end: end_at,
            off,
            escaped,
        })
    }

    /// How many escaped forms lie where a match around `k` may reach
    /// (within the line, `line..line_end`): the region around `k` that the
    /// rule's bounds as written give, grown by [`FORM_SLACK`] for each form
    /// in it until no more come in; `None` past [`MAX_FORMS`] (the raw
    /// bounds hold then). A match with `n` forms is at most `n` slacks
    /// longer than its text decoded, so it lies in the region.
    fn forms_near(&self, a: &Analysis, k: u64, line: u64, line_end: u64) -> Option<usize> {
        let mut n = 0;
        loop {
            let grow = (n + 1) as u64 * FORM_SLACK;
            let lo = k
                .saturating_sub(a.plain_keyword_offset as u64 + LOOK_BEHIND + grow)
                .max(line);
            let hi = (k + a.plain_max_len as u64 + grow).min(line_end);
            let bytes = &self.buf[self.at(lo)..self.at(hi)];
            let found = memchr::memchr_iter(b'\\', bytes)
                .filter(|&i| crate::rules::escape::escaped_at(&bytes[i..]).is_some())
                .take(MAX_FORMS + 1)
                .count();
            if found > MAX_FORMS {
                return None;
            }
            if found <= n {
                return Some(n);
            }
            n = found;
        }
    }

    /// Searches the rule of `hit` for matches starting at or before the hit,
    /// in the window [`window_end`](Self::window_end) decided (and said
    /// whether it holds escaped forms). Returns true when it opened an
    /// extender and stopped early.
    fn verify(&mut self, rule: &Rule, hit: Hit, win: Win) -> bool {
        let r = hit.rule as usize;
        let k = hit.pos;
        let Win {
            end: window_end,
            off,
            escaped,
        } = win;
        let screen = rule.screens.as_deref().and_then(|s| s.get(escaped));
        let mut screened = false;
        loop {
            // No match can start before `released` (the release limit saw to
            // that, if need be because a line break lies in between), and
            // those bytes may be gone from the window.
            let s = self.next[r].max(k.saturating_sub(off)).max(self.released);
            if s > k {
                return false;
            }
            let c = Cand {
                r,
                s,
                k,
                w: window_end,
                escaped,
            };
            if !screened {
                screened = true;
                let verdict = match screen {
                    Some(sc) => self.screen(sc, rule, c),
                    None => self.gate(rule, c),
                };
                if let Verdict::Clear(free) = verdict {
                    self.raise_next(r, (k + 1).max(free));
                    return false;
                }
            }
            let Some((ms, me)) = self.search(rule, screen, c) else {
                self.raise_next(r, k + 1);
                return false;
            };
            if ms > k {
                self.raise_next(r, k + 1);
                return false;
            }
            // A match starts at or after `next[r]`, so ends after it.
            self.raise_next(r, me);
            if self.accept_match(hit.rule, ms, me) {
                return true;
            }
        }
    }

    /// Checks the match `[ms, me)` of rule `r` (its groups in `slots`) and
    /// records its secret if it passes. Returns whether an extender opened.
    fn accept_match(&mut self, r: u32, ms: u64, me: u64) -> bool {
        let set = Arc::clone(&self.set);
        let rule = &set.rules()[r as usize];
        let get = |i: usize| self.slots[i].map(|v| v.get() as u64);
        let secret = match rule.secret_group {
            Some(g) => get(2 * g).zip(get(2 * g + 1)),
            None => Some((ms, me)),
        };
        // A `secret` group that did not take part: nothing to redact.
        let Some((ss, se)) = secret else {
            return false;
        };
        if ss == se {
            // A Kubernetes Secret map's header: its block decides.
            return match rule.block {
                Some(Block::K8sSecretMap { max_bytes }) => self.open_map(r, ms, se, max_bytes),
                _ => false,
            };
        }
        let secret = &self.buf[self.at(ss)..self.at(se)];
        if rule.accept(secret).is_err() || self.allowed(rule, secret) {
            return false;
        }
        let capped = rule.block.is_none() && self.dense_run(r, ss);
        if capped {
            self.stats.runs_capped += 1;
        }
        // Learned values: an accepted secret teaches its value, once its
        // continuation (the `extend` run, or the rest of the line of a
        // capped run) has ended.
        if learned::learns_from(rule) {
            let (a, b) = (self.at(ss), self.at(se));
            let open = rule.extend.is_some() || capped;
            self.learned.learn(
                ss,
                se,
                (set.is_generic(r as usize), r),
                &self.buf[a..b],
                open,
            );
        }
        self.open_span(r, ss, se, capped)
    }

    /// Counts a finding of rule `r` whose secret starts at `ss` into the
    /// rule's run; whether the run has reached [`DENSE_RUN`] (see there).
    fn dense_run(&mut self, r: u32, ss: u64) -> bool {
        let line = self.line_of(ss);
        let i = match self.runs.iter().position(|x| x.rule == r) {
            Some(i) => i,
            None => {
                self.runs.push(Run {
                    rule: r,
                    count: 0,
                    last: ss,
                    line,
                });
                self.runs.len() - 1
            }
        };
        // A rule's findings come in order.
        let run = self.runs[i];
        let close = run.count > 0 && run.line == line && ss - run.last <= DENSE_GAP;
        let count = if close { run.count + 1 } else { 1 };
        if count >= DENSE_RUN {
            self.runs.swap_remove(i);
            return true;
        }
        self.runs[i] = Run {
            rule: r,
            count,
            last: ss,
            line,
        };
        false
    }

    /// The line number of the byte at `pos` (unreleased, so in the window).
    fn line_of(&mut self, pos: u64) -> u64 {
        let (mut at, mut line) = self.run_line;
        if at < self.base {
            (at, line) = (self.line_pos, self.line_no);
        }
        if pos >= at {
            line += super::count_newlines(&self.buf[self.at(at)..self.at(pos)]);
        } else {
            line -= super::count_newlines(&self.buf[self.at(pos)..self.at(at)]);
        }
        self.run_line = (pos, line);
        line
    }

    /// The screen's verdict on the candidate's matches. A lone hit is
    /// walked until the threads begun by it have died (or to its window's
    /// end), unless the screen cannot tell when they have and the hit is
    /// close to its keyword: then the anchored tries screen each start, and
    /// stop where its thread dies. Where the rule's hits are dense, the walk goes on past
    /// the hit, and past the window while threads live, as far as the run
    /// of dense hits has lasted (but not past the line's end or what is
    /// buffered), to clear the hits it passes.
    fn screen(&mut self, sc: &Screen, rule: &Rule, c: Cand) -> Verdict {
        let rules = self.set.rules().len();
        // A screen that cannot tell when a hit's threads have died walks to
        // the window's end: close to the keyword, anchored tries (each
        // stopping where its thread dies) cost less, unless the run of dense
        // hits already spans more than a window, which one walk clears.
        let tries = c.k - c.s <= ANCHORED_TRIES && !sc.young();
        let Some(run) = self.walks.entry(c.r, rules).dense(c.k) else {
            if tries {
                return Verdict::Maybe;
            }
            return self.probe(sc, rule, c, (c.w, c.k));
        };
        if tries && run < c.w - c.s {
            return Verdict::Maybe;
        }
        let end = self.end();
        let hay = Hay {
            bytes: &self.buf,
            base: self.base,
            eof: self.eof,
        };
        let nl = self.newlines.first_from(hay, c.k, end).map(|m| m.0);
        let ahead = nl.unwrap_or(end.saturating_sub(1)).min(c.w + run);
        self.probe(sc, rule, c, (ahead, c.k + run))
    }

    /// The screen's walk for a candidate, on to `ahead` while threads live
    /// and to `keep_to` in any case (see [`Ask`]).
    fn probe(&mut self, sc: &Screen, rule: &Rule, c: Cand, to: (u64, u64)) -> Verdict {
        let (ahead, keep_to) = to;
        let ask = Ask {
            s: c.s,
            k: c.k,
            w: c.w,
            ahead: ahead.max(c.w),
            keep_to: keep_to.min(ahead.max(c.w)),
            min_len: rule.analysis.min_len,
        };
        let win = Window {
            bytes: &self.buf,
            base: self.base,
            eof: self.eof,
        };
        let fed = &mut self.stats.screened_bytes;
        let walk = self.walks.entry(c.r, self.set.rules().len());
        match sc.probe(walk, win, ask, fed) {
            Probe::Maybe => Verdict::Maybe,
            Probe::Clear { walked, dead } => Verdict::Clear(self.cleared(rule, c, walked, dead)),
        }
    }

    /// How far a screen walk that found nothing up to `walked` clears the
    /// rule: a match starting before a line break the walk passed ends
    /// before it, one starting the rule's longest match before `walked`
    /// would have ended in what was walked, and none starts where every
    /// thread died (before `dead`). The plain screen does
    /// not see matches that hold escaped forms, so after its walk only the
    /// matches ending before the first escaped form from `k` on are
    /// cleared; on a line without any, every match is plain.
    fn cleared(&mut self, rule: &Rule, c: Cand, walked: u64, dead: u64) -> u64 {
        let a = &rule.analysis;
        let end = self.end();
        let hay = Hay {
            bytes: &self.buf,
            base: self.base,
            eof: self.eof,
        };
        let nl = self.newlines.first_from(hay, c.k, end).map(|m| m.0);
        let (len, plain_before) = if c.escaped {
            (a.max_len, u64::MAX)
        } else {
            let form = self.escapes.first_from(hay, c.k, nl.unwrap_or(end));
            let plain_before = match form {
                Some(f) => f.0.saturating_sub(a.max_len as u64),
                None if nl.is_some() || self.eof => u64::MAX,
                None => end.saturating_sub(a.max_len as u64),
            };
            (a.plain_max_len, plain_before)
        };
        let free = match nl {
            Some(n) if n < walked => n + 1,
            _ if self.eof && walked >= end => end,
            _ => walked.saturating_sub(len as u64),
        };
        free.max(dead).min(plain_before)
    }

    /// A rule without a screen: every match holds its gate byte, if it has
    /// one, so without it in the window no match can start in `s..=k`.
    fn gate(&self, rule: &Rule, c: Cand) -> Verdict {
        match rule.analysis.gate {
            Some(g) if memchr::memchr(g, &self.buf[self.at(c.s)..self.at(c.w)]).is_none() => {
                Verdict::Clear(c.k + 1)
            }
            _ => Verdict::Maybe,
        }
    }

    /// The leftmost match of the candidate's rule starting in `s..=k` and
    /// ending by `w` (decoded if `escaped`), as stream offsets, its groups
    /// in `slots` (as stream offsets too).
    fn search(&mut self, rule: &Rule, screen: Option<&Screen>, c: Cand) -> Option<(u64, u64)> {
        let Cand { r, s, k, w, .. } = c;
        let nslots = 2 * (rule.secret_group.unwrap_or(0) + 1);
        let hay_start = s.saturating_sub(LOOK_BEHIND).max(self.base);
        let hay_end = (w + 1).min(self.end());
        let hay = &self.buf[self.at(hay_start)..self.at(hay_end)];
        let slots = &mut self.slots[..nslots];
        let rel = |p: u64| (p - hay_start) as usize;
        let min_len = rule.analysis.min_len as u64;
        // Only a match starting in `s..=k` counts. Close to the keyword,
        // anchored tries at each of those starts (each fails within a few
        // bytes, and the screen bounds where a match from there can end)
        // beat one unanchored search, which runs on to the window's end
        // when nothing matches; far from it, the reverse.
        let found = if k - s <= ANCHORED_TRIES {
            let sw = Window {
                bytes: &self.buf,
                base: self.base,
                eof: self.eof,
            };
            let stats = &mut self.stats;
            let mut try_at = |p: u64, bound: u64| {
                stats.searched_bytes += bound - p;
                let at = Input::new(hay)
                    .span(rel(p)..rel(bound))
                    .anchored(Anchored::Yes);
                rule.search_slots_escaped(&at, slots, c.escaped).is_some()
            };
            match screen {
                // No match is shorter than the rule's shortest.
                Some(sc) => sc.anchored_ends(
                    self.walks.entry(r, self.set.rules().len()),
                    sw,
                    (s, k, w),
                    &mut stats.screened_bytes,
                    |p, e| e >= p + min_len && try_at(p, e),
                ),
                None => (s..=k).any(|p| try_at(p, w)),
            }
        } else {
            self.stats.searched_bytes += w - s;
            let at = Input::new(hay).span(rel(s)..rel(w)).anchored(Anchored::No);
            rule.search_slots_escaped(&at, slots, c.escaped).is_some()
        };
        if !found {
            return None;
        }
        for v in slots.iter_mut() {
            *v = v.and_then(|v| NonMaxUsize::new(v.get() + hay_start as usize));
        }
        let get = |i: usize| slots[i].map(|v| v.get() as u64);
        Some((get(0).expect("match start"), get(1).expect("match end")))
    }

    /// Whether the operator's allowlist lets this candidate through.
    fn allowed(&self, rule: &Rule, secret: &[u8]) -> bool {
        let a = self.set.allowlist();
        if a.is_empty() {
            return false;
        }
        a.allows_bytes(secret)
            || (a.has_fingerprints()
                && rule.block.is_none()
                && a.allows_fingerprint(&self.opts.fingerprinter.fingerprint(secret)))
    }
}
