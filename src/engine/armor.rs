//! The block that follows a PEM/OpenSSH/PGP/PuTTY armor header.
//!
//! After a rule with `block = "armor"` matches a `-----BEGIN ... PRIVATE
//! KEY-----` header, [`Armor`] decides, byte by byte, how far the block goes.
//! It is a small state machine with bounded lookahead ([`LOOKAHEAD`] bytes),
//! so the redactor can run it over a stream in any chunking and stop exactly
//! where a whole-buffer run would. A key reaches logs in four shapes, and the
//! block follows each to its footer:
//!
//! - **real lines**, as the file has them;
//! - **escaped lines** inside a JSON string: `\n`, `\r\n`, `\\n` (a string
//!   inside a string) and `\/` are escapes, part of the body;
//! - **joined lines**: `echo $KEY` without quotes joins them with spaces,
//!   other tools with tabs; a JSON or Python list of the lines separates them
//!   with `","`, `", "`, `', '` (or `\",\"` inside a string);
//! - **indented lines**: a YAML block scalar or a pretty-printed JSON list,
//!   each line led by indentation (and a quote).
//!
//! # What keeps a block open, what ends it
//!
//! - A base64 run (`[A-Za-z0-9+/=]`) or an escape continues it.
//! - `-----END` … `-----` (a footer) ends it, included.
//! - A *separator* — spaces, tabs, quotes, commas, a `\` before a quote, and
//!   line breaks followed by indentation — continues it only if what follows
//!   is part of a key, judged on at most [`LOOKAHEAD`] bytes: the footer; a
//!   known armor header (`Proc-Type: `, `DEK-Info: `, `Comment: `, PuTTY's
//!   `Encryption: `…), after which the block takes everything up to a footer
//!   or a real line break; or a *word* (a base64 run with its escapes) that
//!   does not name something (`user":`, `user:`) and that is key-like: at
//!   least [`LONG_WORD`] bytes; or a short word that leads to the footer
//!   within two words (a body's last line, a tiny body, PGP's `=abcd`
//!   checksum); or, once the block has had a long word, a short word that
//!   no other word follows (a body's last line cut short).
//!   Otherwise the block ends *before* the separator: after a header that is
//!   only mentioned (`"-----BEGIN RSA PRIVATE KEY-----","user":"bob"`, `saw
//!   -----BEGIN RSA PRIVATE KEY----- in the config`) nothing else is taken.
//! - At a real line break, the block goes on if the next line is empty, a
//!   base64 line, a `Key: value` header line, the footer, or an indented
//!   line judged as after a separator; otherwise it ends before the break.
//! - Any other byte ends the block before it.
//! - After `max_bytes` the block ends, whatever follows (counted by callers):
//!   a body that runs on without its footer is redacted to the cap.
//!
//! Where a key cannot be told from text, the block fails closed, within
//! the line: a long word right after a header mention (`… KEY-----
//! configurationFileContents`) is taken, and a joined armor header takes
//! the rest of its line when no footer comes (PuTTY keys have none). Short
//! words are not taken after a mention, nor short words followed by more
//! words after a body (`… {body} and the rest`), as no PEM layout has them.

/// How far ahead the block looks to classify what follows a separator or
/// a line break.
pub const LOOKAHEAD: usize = 256;

/// A word of at least this many bytes after a separator is key material.
pub const LONG_WORD: usize = 16;

/// Longest separator run between two words (deep indentation included).
const MAX_SEP: usize = 128;

const FOOTER: &[u8] = b"-----END";

/// Armor header names (RFC 1421, RFC 4880, RFC 4716, PuTTY) that may follow
/// the header on the same line once the lines are joined.
const FIELDS: &[&[u8]] = &[
    b"Proc-Type: ",
    b"DEK-Info: ",
    b"Version: ",
    b"Comment: ",
    b"Hash: ",
    b"Charset: ",
    b"MessageID: ",
    b"Subject: ",
    b"Encryption: ",
    b"Public-Lines: ",
    b"Private-Lines: ",
    b"Private-MAC: ",
    b"Key-Derivation: ",
];

/// What the block does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The block continues through this many more bytes.
    Take(usize),
    /// The block ends here (before the byte at the current position).
    End,
    /// More input is needed to decide.
    NeedMore,
    /// Before the block's first byte: these bytes are not part of it (a
    /// [`super::yaml::K8sMap`] passes over its first entry's name).
    Skip(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Base64, escapes and separators (or the header's line).
    Body,
    /// An armor header's value: everything up to a line break or a footer.
    Field,
}

/// Block state: what kind of text it is in and how much it has taken.
#[derive(Debug, Clone)]
pub struct Armor {
    mode: Mode,
    /// Bytes taken so far.
    taken: usize,
    max_bytes: usize,
    /// The footer has been taken: the block is over.
    done: bool,
    /// Bytes of the base64 run being taken (reset at separators and line
    /// breaks, escaped or real).
    run: usize,
    /// A run of at least [`LONG_WORD`] bytes has been taken: this is a key
    /// body, and short words after it belong to it.
    body: bool,
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'"' | b'\'' | b',')
}

impl Armor {
    /// Whether the block stopped at its cap rather than at a footer or at
    /// a byte that cannot belong to it.
    pub fn capped(&self) -> bool {
        !self.done && self.taken >= self.max_bytes
    }

    /// A block that starts right after a header.
    pub fn new(max_bytes: usize) -> Armor {
        Armor {
            mode: Mode::Body,
            taken: 0,
            max_bytes,
            done: false,
            run: 0,
            body: false,
        }
    }

    /// Decides the next step for `rest`, the bytes from the current position
    /// to the end of the available input; `eof` says no more will come.
    pub fn step(&mut self, rest: &[u8], eof: bool) -> Step {
        let was_done = self.done;
        let step = self.decide(rest, eof);
        if let Step::Take(n) = step {
            // The footer may go past the cap: it is taken whole.
            let n = if self.done && !was_done {
                n
            } else {
                n.min(self.max_bytes - self.taken)
            };
            if n == 0 {
                return Step::End;
            }
            self.taken += n;
            return Step::Take(n);
        }
        step
    }

    /// The next step; state changes only on `Take`, so a `NeedMore` asks
    /// again with the same state and more bytes.
    fn decide(&mut self, rest: &[u8], eof: bool) -> Step {
        if self.done || self.taken >= self.max_bytes {
            return Step::End;
        }
        let Some(&b) = rest.first() else {
            return if eof { Step::End } else { Step::NeedMore };
        };
        match b {
            b'\r' if rest.get(1) == Some(&b'\n') => self.line_break(rest, 2, eof),
            b'\r' if rest.len() < 2 && !eof => Step::NeedMore,
            b'\n' => self.line_break(rest, 1, eof),
            b'-' => self.footer(rest, eof),
            _ if self.mode == Mode::Field => {
                let n = rest
                    .iter()
                    .position(|&c| matches!(c, b'\n' | b'\r' | b'-'))
                    .unwrap_or(rest.len());
                if n == 0 {
                    Step::End // a bare '\r' inside a field
                } else {
                    Step::Take(n)
                }
            }
            b'\\' => self.escape(rest, eof),
            _ if is_b64(b) => {
                let n = rest.iter().position(|&c| !is_b64(c)).unwrap_or(rest.len());
                self.run += n;
                self.body |= self.run >= LONG_WORD;
                Step::Take(n)
            }
            _ if is_sep(b) => self.joined(rest, eof),
            _ => Step::End,
        }
    }

    /// At a `-`: a footer ends the block (taken whole); inside a field any
    /// other dash is the field's; in the body it ends the block.
    fn footer(&mut self, rest: &[u8], eof: bool) -> Step {
        match footer_len(rest) {
            Some(Some(n)) => {
                self.done = true;
                Step::Take(n)
            }
            Some(None) if !eof => Step::NeedMore,
            _ if self.mode == Mode::Field => Step::Take(1),
            _ => Step::End,
        }
    }

    /// At a `\` in the body: a run of backslashes and the escaped byte.
    fn escape(&mut self, rest: &[u8], eof: bool) -> Step {
        let k = rest.iter().position(|&c| c != b'\\').unwrap_or(rest.len());
        let Some(&c) = rest.get(k) else {
            // Only backslashes so far: wait for the escaped byte, within the
            // lookahead; a flood of them is body.
            return if eof || k >= LOOKAHEAD {
                Step::Take(k)
            } else {
                Step::NeedMore
            };
        };
        match c {
            // An escaped quote closes a string: a separator.
            b'"' | b'\'' => self.joined(rest, eof),
            // An escaped line break (or tab) starts a line: an armor header
            // may follow.
            b'n' | b'r' | b't' => {
                // Judged within the lookahead, like every other decision.
                let full = eof || rest.len() >= LOOKAHEAD;
                let after = &rest[k + 1..rest.len().min(LOOKAHEAD).max(k + 1)];
                match known_field(after, full) {
                    None => Step::NeedMore,
                    Some(field) => {
                        self.run = 0;
                        if field {
                            self.mode = Mode::Field;
                        }
                        Step::Take(k + 1)
                    }
                }
            }
            _ => {
                self.run += k + 1;
                Step::Take(k + 1)
            }
        }
    }

    /// At a real line break of `nl` bytes (`\n` or `\r\n`): continue only
    /// if the next line belongs.
    fn line_break(&mut self, rest: &[u8], nl: usize, eof: bool) -> Step {
        let next = &rest[nl..];
        let line_end = memchr::memchr(b'\n', &next[..next.len().min(LOOKAHEAD)]);
        let line = match line_end {
            Some(i) => &next[..i],
            None if next.len() >= LOOKAHEAD || eof => &next[..next.len().min(LOOKAHEAD)],
            None => return Step::NeedMore,
        };
        let complete = line_end.is_some();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let take = |a: &mut Armor, mode| {
            a.mode = mode;
            a.run = 0;
            Step::Take(nl)
        };
        if line.is_empty() {
            // A blank line (PGP puts one after its headers). At end of input
            // there is nothing left to protect.
            return if complete {
                take(self, self.mode)
            } else {
                Step::End
            };
        }
        if line.starts_with(FOOTER) || (!complete && FOOTER.starts_with(line)) {
            return take(self, Mode::Body);
        }
        if line.iter().all(|&c| is_b64(c)) {
            return take(self, Mode::Body);
        }
        if is_field(line) {
            return take(self, Mode::Field);
        }
        if is_sep(line[0]) {
            // An indented (or quoted) line: judged as after a separator.
            self.mode = Mode::Body;
            return self.joined(rest, eof);
        }
        Step::End
    }

    /// At a separator: take it if a part of a key follows (see the module
    /// docs), else end the block before it.
    fn joined(&mut self, rest: &[u8], eof: bool) -> Step {
        let full = eof || rest.len() >= LOOKAHEAD;
        let w = &rest[..rest.len().min(LOOKAHEAD)];
        let Some(s) = sep_len(w, full) else {
            return Step::NeedMore;
        };
        if s == 0 || s > MAX_SEP {
            return Step::End;
        }
        match self.follows(&w[s..], full) {
            None => Step::NeedMore,
            Some(Follows::Nothing) => Step::End,
            Some(next) => {
                self.run = 0;
                if next == Follows::Field {
                    self.mode = Mode::Field;
                }
                Step::Take(s)
            }
        }
    }

    /// What the bytes after a separator are; `None` when `w` (the lookahead
    /// window, final if `full`) is too short to tell.
    fn follows(&self, w: &[u8], full: bool) -> Option<Follows> {
        if starts_footer(w, full)? {
            return Some(Follows::Body);
        }
        if known_field(w, full)? {
            return Some(Follows::Field);
        }
        let n = word_len(w, full)?;
        if n == 0 || names_key(&w[n..], full)? {
            return Some(Follows::Nothing);
        }
        if n >= LONG_WORD
            || reaches_footer(&w[n..], full, 1)?
            || (self.body && last_word(&w[n..], full)?)
        {
            Some(Follows::Body)
        } else {
            Some(Follows::Nothing)
        }
    }
}

/// What follows a separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follows {
    /// Body (a key-like word or the footer).
    Body,
    /// A known armor header.
    Field,
    /// Not a key: the block ends before the separator.
    Nothing,
}

/// Length of the separator run at the start of `w`: spaces, tabs, quotes,
/// commas, backslashes before a quote, and real line breaks. `None` if it
/// may go on past the end of a window that is not `full`.
fn sep_len(w: &[u8], full: bool) -> Option<usize> {
    let more = |i| if full { Some(i) } else { None };
    let mut i = 0;
    while i <= MAX_SEP {
        let Some(&b) = w.get(i) else { return more(i) };
        match b {
            b'\n' => i += 1,
            _ if is_sep(b) => i += 1,
            b'\r' => match w.get(i + 1) {
                Some(b'\n') => i += 2,
                Some(_) => return Some(i),
                None => return more(i),
            },
            b'\\' => {
                let k = w[i..].iter().position(|&c| c != b'\\');
                match k.map(|k| (k, w[i + k])) {
                    Some((k, b'"' | b'\'')) => i += k + 1,
                    Some(_) => return Some(i),
                    None => return more(i),
                }
            }
            _ => return Some(i),
        }
    }
    Some(i)
}

/// Length of the word at the start of `w`: base64 and escapes, up to a
/// backslash run that escapes a quote (a separator). `None` if it may go on
/// past the end of a window that is not `full`.
fn word_len(w: &[u8], full: bool) -> Option<usize> {
    let mut i = 0;
    while let Some(&b) = w.get(i) {
        if is_b64(b) {
            i += 1;
        } else if b == b'\\' {
            let k = w[i..].iter().position(|&c| c != b'\\');
            match k.map(|k| w[i + k]) {
                Some(b'"' | b'\'') => return Some(i),
                Some(_) => i += k.expect("matched") + 1,
                None if full => return Some(w.len()),
                None => return None,
            }
        } else {
            return Some(i);
        }
    }
    full.then_some(i)
}

/// Whether the bytes after a word make it a name (`user":`, `user\":`,
/// `user :`) rather than a value.
fn names_key(w: &[u8], full: bool) -> Option<bool> {
    let n = w
        .iter()
        .take(MAX_SEP)
        .position(|&c| !matches!(c, b'"' | b'\'' | b'\\' | b' ' | b'\t'));
    match n {
        Some(n) => Some(w[n] == b':'),
        None if full || w.len() >= MAX_SEP => Some(false),
        None => None,
    }
}

/// Whether `w` starts with `-----END`.
fn starts_footer(w: &[u8], full: bool) -> Option<bool> {
    if w.len() >= FOOTER.len() {
        Some(w.starts_with(FOOTER))
    } else if !full && FOOTER.starts_with(w) {
        None
    } else {
        Some(false)
    }
}

/// Whether `w` starts with a known armor header name and `": "`.
fn known_field(w: &[u8], full: bool) -> Option<bool> {
    let mut pending = false;
    for name in FIELDS {
        if w.starts_with(name) {
            return Some(true);
        }
        pending |= w.len() < name.len() && name.starts_with(w);
    }
    if pending && !full {
        None
    } else {
        Some(false)
    }
}

/// After a word: whether no other word follows it behind a separator (it
/// ends the joined run: a body's short last line, cut short).
fn last_word(w: &[u8], full: bool) -> Option<bool> {
    let s = sep_len(w, full)?;
    if s > MAX_SEP {
        return Some(true);
    }
    Some(word_len(&w[s..], full)? == 0)
}

/// After a short word: whether the footer comes next, possibly after up to
/// `words` more short words, each behind a separator.
fn reaches_footer(mut w: &[u8], full: bool, mut words: usize) -> Option<bool> {
    loop {
        let s = sep_len(w, full)?;
        if starts_footer(&w[s..], full)? {
            return Some(true);
        }
        if s == 0 || s > MAX_SEP || words == 0 {
            return Some(false);
        }
        w = &w[s..];
        let n = word_len(w, full)?;
        if n == 0 || n >= LONG_WORD {
            return Some(false);
        }
        words -= 1;
        w = &w[n..];
    }
}

/// `Key: value` with a short alphanumeric-and-dash key (`Proc-Type`, `DEK-Info`,
/// `Comment`, `Version`).
fn is_field(line: &[u8]) -> bool {
    let Some(colon) = line.iter().take(32).position(|&c| c == b':') else {
        return false;
    };
    colon > 0
        && line[0].is_ascii_alphabetic()
        && line[..colon]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        && line.get(colon + 1) == Some(&b' ')
}

/// At a `-`: `Some(Some(n))` for a complete footer of `n` bytes,
/// `Some(None)` if `rest` may still become one, `None` if it cannot.
fn footer_len(rest: &[u8]) -> Option<Option<usize>> {
    let head = &rest[..rest.len().min(FOOTER.len())];
    if !FOOTER.starts_with(head) {
        return None;
    }
    if rest.len() < FOOTER.len() {
        return Some(None);
    }
    // "-----END" [A-Z0-9 ]{0,40} "-----"
    let mut i = FOOTER.len();
    while i < rest.len() && i < FOOTER.len() + 41 {
        let c = rest[i];
        if c == b'-' {
            return if rest.len() < i + 5 {
                Some(None)
            } else if &rest[i..i + 5] == b"-----" {
                Some(Some(i + 5))
            } else {
                None
            };
        }
        if !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' ') {
            return None;
        }
        i += 1;
    }
    if i >= FOOTER.len() + 41 {
        None
    } else {
        Some(None)
    }
}

/// Runs a block over a whole buffer: the block's length from `rest[0]`.
pub fn block_len(rest: &[u8], max_bytes: usize) -> usize {
    let mut a = Armor::new(max_bytes);
    let mut at = 0;
    loop {
        match a.step(&rest[at..], true) {
            Step::Take(n) => at += n,
            Step::End | Step::NeedMore | Step::Skip(_) => return at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_lines_to_footer() {
        let t = b"\nQUJD\nREVG==\n-----END RSA PRIVATE KEY-----\nnext line\n";
        let n = block_len(t, 1000);
        assert_eq!(&t[n..], b"\nnext line\n");
    }

    #[test]
    fn escaped_lines_stop_at_quote() {
        let t = br#"\nQUJD\nREVG\n-----END PRIVATE KEY-----\n","x":1"#;
        let n = block_len(t, 1000);
        assert_eq!(&t[n..], br#"\n","x":1"#);
        let t = br#"\nQUJD\nREVG","x":1"#;
        assert_eq!(&t[block_len(t, 1000)..], br#"","x":1"#);
    }

    #[test]
    fn a_log_line_after_the_body_ends_the_block() {
        let t = b"\nQUJD\nNov 21 10:00:00 web-01 sshd[1]: hello\n";
        let n = block_len(t, 1000);
        assert_eq!(&t[n..], b"\nNov 21 10:00:00 web-01 sshd[1]: hello\n");
    }

    #[test]
    fn header_fields_and_crlf() {
        let t = b"\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,00FF\r\n\r\nQUJD\r\n-----END RSA PRIVATE KEY-----\r\nafter";
        let n = block_len(t, 1000);
        assert_eq!(&t[n..], b"\r\nafter");
    }

    #[test]
    fn cap_and_need_more() {
        let t = b"\nQUJDQUJDQUJD\n";
        assert_eq!(block_len(t, 5), 5);
        let mut a = Armor::new(100);
        assert_eq!(a.step(b"\nQUJD", false), Step::NeedMore);
        assert_eq!(a.step(b"-----EN", false), Step::NeedMore);
        assert_eq!(a.step(b"-----EX", false), Step::End);
    }

    /// What `block_len` leaves of `t` after the block.
    fn after(t: &[u8], max: usize) -> &[u8] {
        &t[block_len(t, max)..]
    }

    const W: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"; // 32 base64 bytes

    #[test]
    fn joined_words_run_to_the_footer() {
        let t = format!(" {W}\t{W} YQ== -----END PRIVATE KEY----- rest");
        assert_eq!(after(t.as_bytes(), 1000), b" rest");
        let t = format!(r#"\",\"{W}\",\"YQ==\",\"-----END PRIVATE KEY-----\"]"#);
        assert_eq!(after(t.as_bytes(), 1000), br#"\"]"#);
    }

    #[test]
    fn a_joined_body_without_footer_is_capped() {
        let body = format!(" {W}").repeat(40);
        let t = format!("{body} more");
        assert_eq!(block_len(t.as_bytes(), 500), 500);
        let mut a = Armor::new(500);
        let mut at = 0;
        while let Step::Take(n) = a.step(&t.as_bytes()[at..], true) {
            at += n;
        }
        assert!(a.capped());
        // A short last word after the body is body too (a tail cut short),
        // up to a byte no joined form has; words after it are not.
        let t = format!(" {W} ab (truncated)");
        assert_eq!(after(t.as_bytes(), 1000), b" (truncated)");
    }

    #[test]
    fn a_header_mention_takes_nothing_after_it() {
        for t in [
            &br#"","user":"bob"}"#[..],
            br#"\",\"user\":\"bob\"}"#,
            b" user: bob",
            b" in the config file, see docs",
            b" is not allowed\nnext",
            b" ab cd ef -----END PRIVATE KEY-----",
            b" https://example.com/key",
        ] {
            assert_eq!(after(t, 1000), t, "{}", String::from_utf8_lossy(t));
        }
        // A long word is taken (fail closed), and nothing past it.
        let t = b" configurationFileContents was read";
        assert_eq!(after(t, 1000), b" was read");
        let t = format!(" {W} {W} and some text");
        assert_eq!(after(t.as_bytes(), 1000), b" and some text");
        // Short words that lead to the footer: a tiny body, PGP's checksum.
        let t = b" YWJj =AbCd -----END PGP PRIVATE KEY BLOCK----- x";
        assert_eq!(after(t, 1000), b" x");
    }

    #[test]
    fn joined_armor_headers_run_to_the_footer() {
        let t = format!(
            " Proc-Type: 4,ENCRYPTED DEK-Info: AES-128-CBC,00FF {W} -----END RSA PRIVATE KEY----- x"
        );
        assert_eq!(after(t.as_bytes(), 1000), b" x");
        let t = format!(
            r#"\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n{W}\n-----END RSA PRIVATE KEY-----\n","#
        );
        assert_eq!(after(t.as_bytes(), 1000), br#"\n","#);
        // PuTTY has no footer: the joined key runs to the end of its line.
        let t = format!(
            " Encryption: none Comment: ci Public-Lines: 1 {W} Private-MAC: 00ff\nnext line"
        );
        assert_eq!(after(t.as_bytes(), 1000), b"\nnext line");
    }

    #[test]
    fn indented_lines_continue_the_block() {
        let t = format!("\n    {W}\n    YQ==\n    -----END RSA PRIVATE KEY-----\n  port: 1\n");
        assert_eq!(after(t.as_bytes(), 1000), b"\n  port: 1\n");
        let t = format!("\",\r\n  \"{W}\",\r\n  \"-----END RSA PRIVATE KEY-----\"\r\n]");
        assert_eq!(after(t.as_bytes(), 1000), b"\"\r\n]");
        // A header alone, then a pretty-printed key: nothing taken.
        let t = b"\",\n  \"user\": \"bob\"\n}";
        assert_eq!(after(t, 1000), t);
    }

    #[test]
    fn separators_wait_for_what_follows() {
        let mut a = Armor::new(1000);
        assert_eq!(a.step(b" ", false), Step::NeedMore);
        assert_eq!(a.step(b"\",\"QUJD", false), Step::NeedMore);
        assert_eq!(a.step(b"\",\"QUJD\":", false), Step::End);
        assert_eq!(a.step(b" Proc-Ty", false), Step::NeedMore);
        assert_eq!(a.step(b" -----EN", false), Step::NeedMore);
        assert_eq!(a.step(b"\\", false), Step::NeedMore);
        let long = format!(" {W}");
        assert_eq!(a.step(long.as_bytes(), false), Step::NeedMore);
        assert_eq!(a.step(format!("{long} ").as_bytes(), false), Step::NeedMore);
        assert_eq!(a.step(format!("{long} Q").as_bytes(), false), Step::Take(1));
    }
}
