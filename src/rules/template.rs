//! Token-shaped test text, made at load time.
//!
//! Rule examples and test fixtures need strings shaped like real secrets, but
//! a repository full of `ghp_...` literals looks like it leaks (and trips
//! every scanner that reads it). So examples write `ghp_{{alnum:36}}`, and the
//! placeholder is filled with deterministic pseudo-random text seeded by the
//! example's name. In an expected output `{{N}}` repeats the N-th (1-based)
//! placeholder value of the input.
//!
//! Classes: `alnum`, `upper`, `lower`, `upperdigit`, `lowerdigit`, `digit`,
//! `hex`, `HEX`, `b64`, `b64url`, `base32`, `bech32`, `alpha`.
//!
//! Checksummed classes, so that examples of rules with a validator are valid
//! (and their `...bad` twins, one character off, are not):
//!
//! - `crc62` / `crc62bad`: `len` base62 characters whose last 6 are the
//!   base62 CRC32 of the others (GitHub and npm tokens: `ghp_{{crc62:36}}`);
//! - `luhn` / `luhnbad`: `len` digits whose last is the Luhn check digit of
//!   every digit since the start of the run of digits, spaces and `-` that
//!   the placeholder continues (`4{{digit:3}} {{digit:4}} {{digit:4}} {{luhn:4}}`);
//! - `iban` / `ibanbad`: an IBAN of `len` characters (22: DE, 18: NL,
//!   27: FR, 20: AT) with its mod-97 check digits;
//! - `msid` / `msidbad` (base64), `msidurl` / `msidurlbad` (URL-safe):
//!   the 6 checksum characters, and the `=` padding, that complete the
//!   Microsoft identifiable key the text before ends in (random part and
//!   signature: `{{b64:76}}+ASt{{msid:6}}`), under the first seed of the
//!   signature's family (see [`super::identifiable`]);
//! - `cask` / `caskbad`: the checksum that completes the CASK key whose
//!   first 80 characters the text before ends in, 4 characters, or with
//!   length 8 the long form's 6 and `==`;
//! - `entra` / `entrabad`: the 3 checksum characters that complete the
//!   Entra ID client secret (`xxx8Q~...`) the text before ends in.

/// Why a template could not be expanded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// `{{` without a matching `}}`.
    #[error("unterminated placeholder at byte {0}")]
    Unterminated(usize),
    /// A placeholder with an unknown class or a bad length.
    #[error("bad placeholder {{{{{0}}}}}")]
    Bad(String),
    /// `{{N}}` refers to a placeholder the input does not have.
    #[error("back-reference {{{{{0}}}}} has no placeholder to refer to")]
    NoSuchPlaceholder(usize),
}

fn alphabet(class: &str) -> Option<&'static [u8]> {
    Some(match class {
        "alnum" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "alpha" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "upper" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "lower" => b"abcdefghijklmnopqrstuvwxyz",
        "upperdigit" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "lowerdigit" => b"abcdefghijklmnopqrstuvwxyz0123456789",
        "digit" => b"0123456789",
        "hex" => b"0123456789abcdef",
        "HEX" => b"0123456789ABCDEF",
        "b64" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        "b64url" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        "base32" => b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        "bech32" => b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
        _ => return None,
    })
}

/// A small deterministic generator (SplitMix64): good enough spread for
/// fixtures, no dependency, identical on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from arbitrary bytes (e.g. a rule id and index).
    pub fn from_seed(seed: &[u8]) -> Rng {
        // FNV-1a folds the seed into 64 bits.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in seed {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `n` bytes drawn from `class` (see the module docs), or `None` for an
    /// unknown class.
    pub fn string(&mut self, class: &str, n: usize) -> Option<String> {
        let a = alphabet(class)?;
        let s = (0..n)
            .map(|_| char::from(a[(self.next_u64() % a.len() as u64) as usize]))
            .collect();
        Some(s)
    }
}

/// Expands the placeholders of an example's `input` and its expected `output`.
pub fn expand_pair(seed: &str, input: &str, output: &str) -> Result<(String, String), Error> {
    let mut rng = Rng::from_seed(seed.as_bytes());
    let mut values = Vec::new();
    let input = expand(input, |p, before| {
        let (class, len) = p.split_once(':').ok_or_else(|| Error::Bad(p.into()))?;
        let len: usize = len.parse().map_err(|_| Error::Bad(p.into()))?;
        if len == 0 || len > 1 << 20 {
            return Err(Error::Bad(p.into()));
        }
        let v = match checksummed(&mut rng, class, len, before) {
            Some(v) => v.ok_or_else(|| Error::Bad(p.into()))?,
            None => rng.string(class, len).ok_or_else(|| Error::Bad(p.into()))?,
        };
        values.push(v.clone());
        Ok(v)
    })?;
    let output = expand(output, |p, _| {
        let n: usize = p.parse().map_err(|_| Error::Bad(p.into()))?;
        n.checked_sub(1)
            .and_then(|i| values.get(i))
            .cloned()
            .ok_or(Error::NoSuchPlaceholder(n))
    })?;
    Ok((input, output))
}

/// Expands a single template (no back-references) with a seed.
pub fn expand_one(seed: &str, template: &str) -> Result<String, Error> {
    expand_pair(seed, template, "").map(|(i, _)| i)
}

/// Fills the checksummed classes: `None` for any other class, `Some(None)`
/// for a bad length or a text before that the class cannot complete.
fn checksummed(rng: &mut Rng, class: &str, len: usize, before: &str) -> Option<Option<String>> {
    let (base, bad) = match class.strip_suffix("bad") {
        Some(b) => (b, true),
        None => (class, false),
    };
    let v = match base {
        "crc62" | "luhn" | "iban" => digits(rng, base, len, before)?,
        "msid" | "msidurl" | "cask" | "entra" => completion(base, len, before, bad),
        _ => return None,
    };
    let Some(mut v) = v else {
        return Some(None);
    };
    if bad && !matches!(base, "msid" | "msidurl" | "cask" | "entra") {
        // Change one character so the checksum no longer holds: the check
        // character itself for Luhn and CRC, a check digit for IBAN.
        let i = if base == "iban" { 3 } else { v.len() - 1 };
        v[i] = match v[i] {
            b'9' => b'0',
            b'z' => b'a',
            b'Z' => b'A',
            c => c + 1,
        };
    }
    Some(String::from_utf8(v).ok())
}

/// The Microsoft checksum classes (their `bad` twins spoil the checksum
/// themselves); `None` for a bad length or text before.
fn completion(base: &str, len: usize, before: &str, bad: bool) -> Option<Vec<u8>> {
    use super::identifiable::{complete_cask, complete_entra, complete_identifiable};
    let before = before.as_bytes();
    match (base, len) {
        ("msid", 6) => complete_identifiable(before, false, bad).ok(),
        ("msidurl", 6) => complete_identifiable(before, true, bad).ok(),
        ("cask", 4 | 8) => complete_cask(before, len == 8, bad).ok(),
        ("entra", 3) => complete_entra(before, bad).ok(),
        _ => None,
    }
}

/// The check-digit classes: `crc62`, `luhn`, `iban`.
fn digits(rng: &mut Rng, base: &str, len: usize, before: &str) -> Option<Option<Vec<u8>>> {
    use super::validate::{base62_6, crc32, iban_check_digits, luhn_check_digit};
    Some(Some(match base {
        "crc62" => {
            if len < 7 {
                return Some(None);
            }
            let random = rng.string("alnum", len - 6).expect("known class");
            let mut v = random.clone().into_bytes();
            v.extend_from_slice(&base62_6(crc32(random.as_bytes())));
            v
        }
        "luhn" => {
            let mut v = rng
                .string("digit", len - 1)
                .expect("known class")
                .into_bytes();
            let start = before
                .bytes()
                .rposition(|b| !(b.is_ascii_digit() || b == b' ' || b == b'-'))
                .map_or(0, |i| i + 1);
            let mut all = before.as_bytes()[start..].to_vec();
            all.extend_from_slice(&v);
            v.push(luhn_check_digit(&all));
            v
        }
        "iban" => {
            let (country, bban): (&[u8; 2], String) = match len {
                22 => (b"DE", rng.string("digit", 18).expect("known class")),
                18 => (
                    b"NL",
                    rng.string("upper", 4).expect("known class")
                        + &rng.string("digit", 10).expect("known class"),
                ),
                27 => (b"FR", rng.string("digit", 23).expect("known class")),
                20 => (b"AT", rng.string("digit", 16).expect("known class")),
                _ => return Some(None),
            };
            let mut v = country.to_vec();
            v.extend_from_slice(&iban_check_digits(country, bban.as_bytes()));
            v.extend_from_slice(bban.as_bytes());
            v
        }
        _ => return None,
    }))
}

fn expand(
    text: &str,
    mut fill: impl FnMut(&str, &str) -> Result<String, Error>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or(Error::Unterminated(offset + i))?;
        let v = fill(&after[..j], &out)?;
        out.push_str(&v);
        offset += i + 2 + j + 2;
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_deterministic_and_shaped() {
        let (a, _) = expand_pair("x", "ghp_{{alnum:36}}!", "").unwrap();
        let (b, _) = expand_pair("x", "ghp_{{alnum:36}}!", "").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 4 + 36 + 1);
        assert!(a[4..40].bytes().all(|c| c.is_ascii_alphanumeric()));
        let (c, _) = expand_pair("y", "ghp_{{alnum:36}}!", "").unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn back_references_repeat_input_values() {
        let (i, o) = expand_pair("s", "a={{hex:8}} b={{digit:4}}", "b={{2}} a={{1}}").unwrap();
        assert_eq!(o, format!("b={} a={}", &i[13..17], &i[2..10]));
    }

    #[test]
    fn errors_are_reported() {
        assert_eq!(expand_one("s", "{{alnum:3"), Err(Error::Unterminated(0)));
        assert!(matches!(expand_one("s", "{{nope:3}}"), Err(Error::Bad(_))));
        assert!(matches!(
            expand_pair("s", "x", "{{1}}"),
            Err(Error::NoSuchPlaceholder(1))
        ));
    }

    #[test]
    fn checksummed_classes_pass_their_validators_and_bad_twins_fail() {
        use crate::rules::Validator;
        let (crc, luhn, iban) = (Validator::Crc32Base62, Validator::Luhn, Validator::Mod97);
        for seed in ["a", "b", "c", "d"] {
            let t = expand_one(seed, "ghp_{{crc62:36}}").unwrap();
            assert_eq!(t.len(), 40);
            assert!(crc.check(t.as_bytes()), "{t}");
            assert!(!crc.check(expand_one(seed, "ghp_{{crc62bad:36}}").unwrap().as_bytes()));
            let c = expand_one(seed, "4{{digit:3}} {{digit:4}} {{digit:4}} {{luhn:4}}").unwrap();
            assert!(luhn.check(c.as_bytes()), "{c}");
            let c = expand_one(seed, "card 5{{luhnbad:15}}").unwrap();
            assert!(!luhn.check(c.as_bytes()), "{c}");
            for n in [18, 20, 22, 27] {
                let i = expand_one(seed, &format!("{{{{iban:{n}}}}}")).unwrap();
                assert_eq!(i.len(), n);
                assert!(iban.check(i.as_bytes()), "{i}");
                let b = expand_one(seed, &format!("{{{{ibanbad:{n}}}}}")).unwrap();
                assert!(!iban.check(b.as_bytes()), "{b}");
            }
        }
        assert!(matches!(expand_one("s", "{{iban:5}}"), Err(Error::Bad(_))));
    }
}
