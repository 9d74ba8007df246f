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
    let input = expand(input, |p| {
        let (class, len) = p.split_once(':').ok_or_else(|| Error::Bad(p.into()))?;
        let len: usize = len.parse().map_err(|_| Error::Bad(p.into()))?;
        if len == 0 || len > 1 << 20 {
            return Err(Error::Bad(p.into()));
        }
        let v = rng.string(class, len).ok_or_else(|| Error::Bad(p.into()))?;
        values.push(v.clone());
        Ok(v)
    })?;
    let output = expand(output, |p| {
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

fn expand(
    text: &str,
    mut fill: impl FnMut(&str) -> Result<String, Error>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or(Error::Unterminated(offset + i))?;
        out.push_str(&fill(&after[..j])?);
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
}
