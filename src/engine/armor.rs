//! The multi-line block that follows a PEM/OpenSSH/PGP armor header.
//!
//! After a rule with `block = "armor"` matches a `-----BEGIN ... PRIVATE
//! KEY-----` header, [`Armor`] decides, byte by byte, how far the block goes.
//! It is a small state machine with bounded lookahead, so the redactor can
//! run it over a stream in any chunking and stop exactly where a whole-buffer
//! run would:
//!
//! - on the header's own line and on body lines: base64 bytes and `\`
//!   (so `\n`, `\r\n` and `\/` escapes of JSON strings stay inside);
//! - at a `-----END` footer: the footer through its closing `-----` ends the
//!   block (included);
//! - at a real line break: the block goes on only if the next line is empty,
//!   a base64 line, a `Key: value` header line, or the footer (judged on at
//!   most [`LOOKAHEAD`] bytes); otherwise the block ends before the break;
//! - any other byte ends the block before it;
//! - after `max_bytes` the block ends, whatever follows (counted by callers).

/// How far ahead the block looks to classify the next line or a footer.
pub const LOOKAHEAD: usize = 128;

const FOOTER: &[u8] = b"-----END";

/// What the block does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The block continues through this many more bytes.
    Take(usize),
    /// The block ends here (before the byte at the current position).
    End,
    /// More input is needed to decide.
    NeedMore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A line of base64 (or the header's line).
    Body,
    /// A `Key: value` line: everything up to the line break.
    Field,
}

/// Block state: where it started and what kind of line it is in.
#[derive(Debug, Clone)]
pub struct Armor {
    mode: Mode,
    /// Bytes taken so far.
    taken: usize,
    max_bytes: usize,
    /// The footer has been taken: the block is over.
    done: bool,
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
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

    fn decide(&mut self, rest: &[u8], eof: bool) -> Step {
        if self.done || self.taken >= self.max_bytes {
            return Step::End;
        }
        let Some(&b) = rest.first() else {
            return if eof { Step::End } else { Step::NeedMore };
        };
        match b {
            b'\r' if rest.get(1) == Some(&b'\n') => {
                self.line_break(&rest[1..], eof).map_take(|n| n + 1)
            }
            b'\r' if rest.len() < 2 && !eof => Step::NeedMore,
            b'\n' => self.line_break(rest, eof),
            _ if self.mode == Mode::Field => {
                let n = rest
                    .iter()
                    .position(|&c| c == b'\n' || c == b'\r')
                    .unwrap_or(rest.len());
                if n == 0 {
                    Step::End // a bare '\r' inside a field line
                } else {
                    Step::Take(n)
                }
            }
            b'-' => match footer_len(rest) {
                Some(Some(n)) => {
                    // The footer is the block's last part.
                    self.done = true;
                    Step::Take(n)
                }
                Some(None) if !eof => Step::NeedMore,
                _ => Step::End,
            },
            _ if is_b64(b) || b == b'\\' => {
                let n = rest
                    .iter()
                    .position(|&c| !(is_b64(c) || c == b'\\'))
                    .unwrap_or(rest.len());
                Step::Take(n)
            }
            _ => Step::End,
        }
    }

    /// At a `\n` (rest[0]): continue only if the next line belongs.
    fn line_break(&mut self, rest: &[u8], eof: bool) -> Step {
        debug_assert_eq!(rest[0], b'\n');
        let next = &rest[1..];
        let line_end = memchr::memchr(b'\n', &next[..next.len().min(LOOKAHEAD)]);
        let line = match line_end {
            Some(i) => &next[..i],
            None if next.len() >= LOOKAHEAD || eof => &next[..next.len().min(LOOKAHEAD)],
            None => return Step::NeedMore,
        };
        let complete = line_end.is_some();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // A blank line (PGP puts one after its headers). At end of input
            // there is nothing left to protect.
            return if complete { Step::Take(1) } else { Step::End };
        }
        if line.starts_with(FOOTER) || (!complete && FOOTER.starts_with(line)) {
            self.mode = Mode::Body;
            return Step::Take(1);
        }
        if line.iter().all(|&c| is_b64(c)) {
            self.mode = Mode::Body;
            return Step::Take(1);
        }
        if is_field(line) {
            self.mode = Mode::Field;
            return Step::Take(1);
        }
        Step::End
    }
}

trait MapTake {
    fn map_take(self, f: impl FnOnce(usize) -> usize) -> Step;
}

impl MapTake for Step {
    fn map_take(self, f: impl FnOnce(usize) -> usize) -> Step {
        match self {
            Step::Take(n) => Step::Take(f(n)),
            s => s,
        }
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
            Step::End | Step::NeedMore => return at,
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
}
