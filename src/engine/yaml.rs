//! The map after a Kubernetes Secret's `data:` or `stringData:` line,
//! one entry a line.
//!
//! A rule with `block = "k8s-secret-map"` matches the map's header line
//! (`data:` / `stringData:` at the end of a line) and redacts none of it;
//! [`K8sMap`] reads on. First the map's first entry, within
//! [`FIRST_ENTRY`] bytes: a line break, indentation, a name, `:` and the
//! value. Under `stringData` (a Secret's plain-text values; no other object
//! has one) any value opens the block; under `data` the value must be
//! standard base64 ([`crate::rules::validate::base64_value`]), as a
//! Secret's data always is and a ConfigMap's words (`LOG_LEVEL: info`) and
//! files (`config.yaml: |`) seldom are. `kubectl get -o yaml` sorts keys,
//! so `data:` comes before `kind: Secret`: the map cannot wait for the kind.
//! Otherwise the block takes nothing and no span is recorded.
//!
//! Once open, the block is redacted from the first value on: every
//! following line indented at least as far as the first entry (the other
//! entries, and the lines of a `|` block scalar, which are indented
//! further) belongs to the map, and the first line indented less
//! (`kind: Secret`, `metadata:`, a `---` separator, any log line) ends it,
//! before its line break. Blank lines inside the map are taken when an
//! entry follows them. The span covers later names too: a value of several
//! lines cannot be told from a name.
//!
//! The map's text comes in one of three spellings, told by the line break
//! after its header: real lines (`\n`, `\r\n`); lines escaped once inside
//! a JSON string (`\n`, `\r\n`: the string's closing `"` ends the map, an
//! escaped `\"` does not); or escaped twice, a string inside a string
//! (`\\n`; `\"` ends it, `\\\"` does not).
//!
//! Like [`super::armor`], the state machine looks ahead a bounded number of
//! bytes ([`FIRST_ENTRY`] for the first entry, [`LOOKAHEAD`] through blank
//! lines, at most the first entry's indentation elsewhere), never changes
//! state on `NeedMore`, and so stops at the same byte in any chunking.
//! After `max_bytes` the block ends whatever follows (the caller counts it
//! as capped).

use super::armor::{Step, LOOKAHEAD};
use crate::rules::validate::base64_value;

/// Bytes the block may read to judge a map's first entry: a line break,
/// `MAX_INDENT` of indentation, a name of up to `MAX_NAME` bytes, `:`,
/// up to 16 blanks, a quote and `MAX_VALUE` bytes of value.
pub const FIRST_ENTRY: usize = 8 + MAX_INDENT + MAX_NAME + 1 + 16 + 3 + MAX_VALUE + 2;

/// Deepest first-entry indentation the block reads.
const MAX_INDENT: usize = 64;

/// Longest first-entry name the block reads (Kubernetes allows 253; a
/// longer first name does not open the block).
const MAX_NAME: usize = 128;

/// Value bytes read for the base64 check: a longer value passes when its
/// first `MAX_VALUE` bytes do.
const MAX_VALUE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first entry: is this a Secret's map?
    Header,
    /// Inside an entry's line: everything up to its line break.
    Line,
    /// At a line break: does the next non-blank line belong to the map?
    Break,
    /// The map, or the JSON string holding it, has ended.
    Done,
}

/// Block state for one map.
#[derive(Debug, Clone)]
pub struct K8sMap {
    /// The header named `stringData`: any first value opens the block.
    plain: bool,
    /// Indentation of the first entry: a line indented at least this far
    /// belongs to the map.
    indent: usize,
    /// 0: real line breaks; 1: `\n` escapes; 2: `\\n` escapes.
    level: u8,
    state: State,
    taken: usize,
    max_bytes: usize,
}

/// Why the first entry was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unread {
    /// It is not a Secret map's first entry.
    No,
    /// The bytes at hand end inside it.
    Short,
}

/// Reads a first entry's indentation, name, `:` and blanks from `i`: the
/// indentation and where the value starts (after an opening quote, which
/// stays with the name).
fn entry_name(rest: &[u8], mut i: usize) -> Result<(usize, usize), Unread> {
    let ws = |c: &&u8| **c == b' ' || **c == b'\t';
    let is_name = |c: &&u8| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-');
    let run = |i: usize, most: usize, f: &dyn Fn(&&u8) -> bool| {
        rest[i..].iter().take(most).take_while(f).count()
    };
    let indent = run(i, MAX_INDENT + 1, &ws);
    i += indent;
    if i >= rest.len() {
        return Err(Unread::Short);
    }
    if indent == 0 || indent > MAX_INDENT {
        return Err(Unread::No);
    }
    let name = run(i, MAX_NAME + 1, &is_name);
    i += name;
    match rest.get(i) {
        None => return Err(Unread::Short),
        Some(b':') if (1..=MAX_NAME).contains(&name) => i += 1,
        Some(_) => return Err(Unread::No),
    }
    let blanks = run(i, 17, &ws);
    i += blanks;
    if i >= rest.len() {
        return Err(Unread::Short);
    }
    if blanks == 0 || blanks > 16 {
        return Err(Unread::No);
    }
    let k = run(i, 3, &|c: &&u8| **c == b'\\');
    match rest.get(i + k) {
        None => Err(Unread::Short),
        Some(b'"' | b'\'') if k <= 2 => Ok((indent, i + k + 1)),
        _ => Ok((indent, i)),
    }
}

/// How the bytes at a position begin, as a line break.
enum Brk {
    /// A line break of this many bytes.
    Yes(usize),
    No,
    /// The bytes end before it can be told.
    Partial,
}

impl K8sMap {
    /// A block after a map's header; `header` is the matched header text
    /// (what names the map: `stringData` or `data`).
    pub fn new(header: &[u8], max_bytes: usize) -> K8sMap {
        let name = header.trim_ascii_end().strip_suffix(b":").unwrap_or(header);
        K8sMap {
            plain: name.ends_with(b"stringData"),
            indent: 1,
            level: 0,
            state: State::Header,
            taken: 0,
            max_bytes,
        }
    }

    /// Whether the block stopped at its cap rather than where the map ends.
    pub fn capped(&self) -> bool {
        self.state != State::Done && self.taken >= self.max_bytes
    }

    /// Decides the next step for `rest`, the bytes from the current position
    /// to the end of the available input; `eof` says no more will come.
    /// `Skip` comes first, if at all: the first entry's line up to its
    /// value, which is not redacted.
    pub fn step(&mut self, rest: &[u8], eof: bool) -> Step {
        if self.taken >= self.max_bytes {
            return Step::End;
        }
        let step = match self.state {
            State::Header => return self.first_entry(rest, eof),
            State::Line => self.line(rest, eof),
            State::Break => self.line_break(rest, eof),
            State::Done => Step::End,
        };
        match step {
            Step::Take(n) => {
                let n = n.min(self.max_bytes - self.taken);
                if n == 0 {
                    return Step::End;
                }
                self.taken += n;
                Step::Take(n)
            }
            other => other,
        }
    }

    /// Reads the first entry: `Skip` to its value when it opens the block,
    /// `End` when it does not, `NeedMore` while it cannot be told.
    fn first_entry(&mut self, rest: &[u8], eof: bool) -> Step {
        let read = header_break(rest).and_then(|(level, i)| {
            let (indent, at) = entry_name(rest, i)?;
            Ok((level, indent, at, self.value_opens(&rest[at..])?))
        });
        match read {
            Ok((level, indent, at, true)) => {
                self.level = level;
                self.indent = indent;
                self.state = State::Line;
                Step::Skip(at)
            }
            Ok((.., false)) | Err(Unread::No) => Step::End,
            // The entry runs past the bytes at hand: more may tell, unless
            // none come or the entry is already longer than any we read.
            Err(Unread::Short) if !eof && rest.len() < FIRST_ENTRY => Step::NeedMore,
            Err(Unread::Short) => Step::End,
        }
    }

    /// Whether the first entry's value opens the block: any value under
    /// `stringData`, standard base64 (judged on its first [`MAX_VALUE`]
    /// bytes) under `data`.
    fn value_opens(&self, value: &[u8]) -> Result<bool, Unread> {
        if self.plain {
            let &c = value.first().ok_or(Unread::Short)?;
            return Ok(!matches!(c, b'\r' | b'\n' | b'\\' | b'"' | b'\''));
        }
        let run = value
            .iter()
            .take(MAX_VALUE)
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/'))
            .count();
        let pad = value[run..]
            .iter()
            .take(2)
            .take_while(|&&c| c == b'=')
            .count();
        if run + pad >= value.len() && run < MAX_VALUE {
            return Err(Unread::Short);
        }
        Ok(run == MAX_VALUE || base64_value(&value[..run + pad]))
    }

    /// Inside a line: takes up to its line break (then at [`State::Break`]),
    /// or up to the end of the string holding it (then done).
    fn line(&mut self, rest: &[u8], eof: bool) -> Step {
        if self.level == 0 {
            return match memchr::memchr(b'\n', rest) {
                Some(j) => {
                    let end = if j > 0 && rest[j - 1] == b'\r' {
                        j - 1
                    } else {
                        j
                    };
                    self.end_line(end, rest, eof)
                }
                // A last `\r` may be half of a `\r\n`.
                None if !eof && rest.last() == Some(&b'\r') => {
                    take_or(rest.len() - 1, Step::NeedMore)
                }
                None => take_or(rest.len(), end_or_more(eof)),
            };
        }
        let mut i = 0;
        while let Some(j) = memchr::memchr2(b'\\', b'"', &rest[i..]).map(|j| i + j) {
            if rest[j] == b'"' {
                self.state = State::Done;
                return take_or(j, Step::End);
            }
            let k = rest[j..].iter().take_while(|&&c| c == b'\\').count();
            let Some(&c) = rest.get(j + k) else {
                return take_or(j, end_or_more(eof));
            };
            match c {
                b'n' | b'r' => match brk(self.level, &rest[j..]) {
                    Brk::Yes(_) => return self.end_line(j, rest, eof),
                    Brk::Partial if !eof => return take_or(j, Step::NeedMore),
                    _ => i = j + k + 1,
                },
                b'"' if !self.quote_is_content(k) => {
                    self.state = State::Done;
                    return take_or(j, Step::End);
                }
                _ => i = j + k + 1,
            }
        }
        take_or(rest.len(), end_or_more(eof))
    }

    /// The line ends `j` bytes in: takes it, then judges the break.
    fn end_line(&mut self, j: usize, rest: &[u8], eof: bool) -> Step {
        self.state = State::Break;
        if j > 0 {
            Step::Take(j)
        } else {
            self.line_break(rest, eof)
        }
    }

    /// At a line break: takes it and the next line's indentation when that
    /// line belongs to the map (blank lines before it included); ends the
    /// block before the break otherwise.
    fn line_break(&mut self, rest: &[u8], eof: bool) -> Step {
        // Start of the last line break seen: blank lines before it may be
        // taken when the lookahead runs out.
        let mut last = 0;
        let mut i = 0;
        loop {
            let n = match brk(self.level, &rest[i..]) {
                Brk::Yes(n) => n,
                Brk::No => return Step::End,
                Brk::Partial => return self.undecided(last, eof),
            };
            last = i;
            i += n;
            let ws = rest[i..]
                .iter()
                .take(self.indent)
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
            if ws >= self.indent {
                self.state = State::Line;
                return Step::Take(i + ws);
            }
            i += ws;
            if i == rest.len() {
                return self.undecided(last, eof);
            }
            match brk(self.level, &rest[i..]) {
                // A blank line: what follows it decides.
                Brk::Yes(_) => {}
                Brk::No => return Step::End,
                Brk::Partial => return self.undecided(last, eof),
            }
        }
    }

    /// The input ran out before a line break could be judged: at the end
    /// the map ends; past the lookahead, the blank lines seen so far are
    /// taken (failing closed); otherwise more is needed.
    fn undecided(&self, last: usize, eof: bool) -> Step {
        if eof {
            Step::End
        } else if last > LOOKAHEAD {
            Step::Take(last)
        } else {
            Step::NeedMore
        }
    }

    /// Whether a run of `k` backslashes before `"` makes it a quote inside
    /// the map's text rather than the end of the string holding it.
    fn quote_is_content(&self, k: usize) -> bool {
        match self.level {
            1 => k % 2 == 1,
            _ => k % 4 == 3,
        }
    }
}

/// The line break after the header, in any spelling: its level and
/// length.
fn header_break(rest: &[u8]) -> Result<(u8, usize), Unread> {
    match rest {
        [b'\n', ..] => return Ok((0, 1)),
        [b'\r', b'\n', ..] => return Ok((0, 2)),
        [b'\r'] | [] => return Err(Unread::Short),
        _ => {}
    }
    let k = rest.iter().take_while(|&&c| c == b'\\').count();
    let level = match k {
        1 => 1,
        2 => 2,
        _ if k == rest.len() => return Err(Unread::Short),
        _ => return Err(Unread::No),
    };
    match brk(level, rest) {
        Brk::Yes(n) => Ok((level, n)),
        Brk::No => Err(Unread::No),
        Brk::Partial => Err(Unread::Short),
    }
}

/// Whether `s` starts with a line break spelled at `level`.
fn brk(level: u8, s: &[u8]) -> Brk {
    if level == 0 {
        return match s {
            [b'\n', ..] => Brk::Yes(1),
            [b'\r', b'\n', ..] => Brk::Yes(2),
            [b'\r'] => Brk::Partial,
            _ => Brk::No,
        };
    }
    let k = s.iter().take_while(|&&c| c == b'\\').count();
    if k == 0 || !slashes_escape_letter(level, k) {
        return Brk::No;
    }
    match s.get(k) {
        None => Brk::Partial,
        Some(b'n') => Brk::Yes(k + 1),
        Some(b'r') => {
            let after = &s[k + 1..];
            let want = k + 1;
            if after.len() < want {
                let prefix_ok = after.iter().all(|&c| c == b'\\');
                return if prefix_ok { Brk::Partial } else { Brk::No };
            }
            let same = after[..k].iter().all(|&c| c == b'\\') && after[k] == b'n';
            if same {
                Brk::Yes(2 * k + 2)
            } else {
                Brk::No
            }
        }
        Some(_) => Brk::No,
    }
}

/// Whether a run of `k` backslashes before a letter makes it an escape
/// at `level` (`\n` once, `\\n` twice).
fn slashes_escape_letter(level: u8, k: usize) -> bool {
    match level {
        1 => k % 2 == 1,
        _ => k % 4 == 2,
    }
}

fn take_or(n: usize, otherwise: Step) -> Step {
    if n > 0 {
        Step::Take(n)
    } else {
        otherwise
    }
}

fn end_or_more(eof: bool) -> Step {
    if eof {
        Step::End
    } else {
        Step::NeedMore
    }
}

/// Runs a block over a whole buffer from the end of its header: the bytes
/// it skips, then the bytes it takes (none: no Secret's map).
pub fn block_len(header: &[u8], rest: &[u8], max_bytes: usize) -> (usize, usize) {
    let mut m = K8sMap::new(header, max_bytes);
    let (mut skip, mut at) = (0, 0);
    loop {
        match m.step(&rest[at..], true) {
            Step::Skip(n) => {
                at += n;
                skip = at;
            }
            Step::Take(n) => at += n,
            Step::End | Step::NeedMore => return (skip, at - skip),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` with its header ended by `^`: the bytes the block skips and
    /// the bytes it takes.
    fn run(text: &str) -> (String, String) {
        let (header, rest) = text.split_once('^').unwrap();
        let (skip, n) = block_len(header.as_bytes(), rest.as_bytes(), 1 << 16);
        (rest[..skip].to_string(), rest[skip..skip + n].to_string())
    }

    /// The same, fed one byte at a time.
    fn run_bytewise(text: &str) -> (String, String) {
        let (header, rest) = text.split_once('^').unwrap();
        let mut m = K8sMap::new(header.as_bytes(), 1 << 16);
        let (mut skip, mut at, mut avail) = (0, 0, 0);
        loop {
            let eof = avail == rest.len();
            match m.step(&rest.as_bytes()[at..avail], eof) {
                Step::Skip(n) => {
                    at += n;
                    skip = at;
                }
                Step::Take(n) => at += n,
                Step::NeedMore if !eof => avail += 1,
                _ => break,
            }
        }
        (rest[..skip].to_string(), rest[skip..at].to_string())
    }

    fn taken(text: &str) -> String {
        run(text).1
    }

    #[test]
    fn entries_up_to_the_next_key() {
        let t = "data:^\n  password: cGFzcw==\n  user: YWRtaW4=\nkind: Secret\n";
        assert_eq!(run(t).0, "\n  password: ");
        assert_eq!(taken(t), "cGFzcw==\n  user: YWRtaW4=");
        let t = "data:^\r\n  a: cGFzcw==\r\n  b: YWRt\r\nkind: Secret\r\n";
        assert_eq!(taken(t), "cGFzcw==\r\n  b: YWRt");
    }

    #[test]
    fn a_configmap_is_left_alone() {
        for t in [
            "data:^\n  LOG_LEVEL: debug\n  b: cGFzcw==\n",
            "data:^\n  mode: production\n",
            "data:^\n  config.yaml: |\n    a: b\n",
            "data:^\nnext line YWRtaW4xMjM0NTY3OA==\n",
            "data:^\n\n  a: YWRtaW4=\n",
            "stringData:^\n  a:\n",
            "data:^  and more\n  a: YWRtaW4=\n",
        ] {
            assert_eq!(run(t), (String::new(), String::new()), "{t:?}");
        }
    }

    #[test]
    fn nested_maps_end_at_their_parent_level() {
        let t = "items:\n- data:^\n    a: cGFzcw==\n    b: YWRt\n  kind: Secret\n";
        assert_eq!(taken(t), "cGFzcw==\n    b: YWRt");
    }

    #[test]
    fn string_data_takes_any_value_and_block_scalars() {
        let t = "stringData:^\n  cfg: |\n    user=a\n\n    pass=b\n  x: y\n\nmetadata:\n";
        assert_eq!(taken(t), "|\n    user=a\n\n    pass=b\n  x: y");
        let t = "stringData:^\n  p: \"x y\"\n---\n";
        assert_eq!(run(t), ("\n  p: \"".into(), "x y\"".into()));
    }

    #[test]
    fn escaped_lines_end_at_the_string() {
        let t = r#"{"log":"data:^\n  a: cGFzcw==\n  b: \"q\"\n  c: YWRt\n","x":1}"#;
        assert_eq!(taken(t), r#"cGFzcw==\n  b: \"q\"\n  c: YWRt"#);
        let t = r#"{"log":"data:^\r\n  a: cGFzcw==\r\n  b: YWRt\r\nkind: Secret"}"#;
        assert_eq!(taken(t), r#"cGFzcw==\r\n  b: YWRt"#);
        let t = r#""s":"{\"m\":\"data:^\\n  a: cGFzcw==\\n  b: \\\"x\\\"\\nkind: Secret\"}""#;
        assert_eq!(taken(t), r#"cGFzcw==\\n  b: \\\"x\\\""#);
        // The string ends inside the map.
        let t = r#"{"log":"data:^\n  a: cGFzcw==\n  b: YWRt","x":1}"#;
        assert_eq!(taken(t), r#"cGFzcw==\n  b: YWRt"#);
    }

    #[test]
    fn a_map_at_the_end_of_input_is_taken_to_it() {
        assert_eq!(
            taken("data:^\n  a: cGFzcw==\n  b: YWRt"),
            "cGFzcw==\n  b: YWRt"
        );
        assert_eq!(taken("data:^\n  a: cGFzcw==\n"), "cGFzcw==");
    }

    #[test]
    fn a_long_first_value_opens_on_its_first_bytes() {
        let v = "QUJD".repeat(100) + "x-y";
        let t = format!("data:^\n  tls.crt: {v}\nkind: Secret");
        assert_eq!(taken(&t), v);
    }

    #[test]
    fn any_chunking_stops_at_the_same_byte() {
        let long = format!("data:^\n  tls.crt: {}\nkind: Secret", "QUJD".repeat(100));
        for t in [
            "data:^\n  password: cGFzcw==\n  user: YWRtaW4=\nkind: Secret\n",
            "data:^\r\n  a: cGFzcw== \r\n\r\n  b: YWRt\r\nkind: Secret\r\n",
            "data:^\n  mode: production\n",
            "stringData:^\n  cfg: |\n    user=a\n\n    pass=b\n  x: y\n\nmetadata:\n",
            r#"{"log":"data:^\r\n  a: cGFzcw==\r\n  b: \"q\"\r\n  c: YWRt\r\n","x":1}"#,
            r#""s":"{\"m\":\"data:^\\n  a: cGFzcw==\\n  b: \\\"x\\\"\\nkind: Secret\"}""#,
            &long,
        ] {
            assert_eq!(run_bytewise(t), run(t), "{t:?}");
        }
    }

    #[test]
    fn the_cap_ends_the_block() {
        let rest = String::from("\n  a: cGFzcw==") + &"\n  b: YWRt".repeat(100);
        let mut m = K8sMap::new(b"data:", 50);
        let mut at = 0;
        while let Step::Skip(n) | Step::Take(n) = m.step(&rest.as_bytes()[at..], true) {
            at += n;
        }
        assert_eq!(at, 6 + 50);
        assert!(m.capped());
    }
}
