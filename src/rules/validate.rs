//! Offline checks a candidate secret must pass: entropy, placeholder stop
//! words, and named structural validators. None of them touches the network.

/// A named structural validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    /// Luhn check digit over the decimal digits (card numbers).
    Luhn,
    /// Three base64url segments whose first decodes to a JSON object with `"alg"`.
    Jwt,
}

impl Validator {
    /// Parses a validator name as written in a rule file.
    pub fn parse(name: &str) -> Option<Validator> {
        match name {
            "luhn" => Some(Validator::Luhn),
            "jwt" => Some(Validator::Jwt),
            _ => None,
        }
    }

    /// Whether `secret` passes.
    pub fn check(self, secret: &[u8]) -> bool {
        match self {
            Validator::Luhn => luhn(secret),
            Validator::Jwt => jwt(secret),
        }
    }
}

/// Shannon entropy of `s` in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether `haystack` contains `needle`, ASCII case-insensitively.
pub fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack.len() >= needle.len()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn luhn(s: &[u8]) -> bool {
    let digits: Vec<u32> = s
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|&b| u32::from(b - b'0'))
        .collect();
    if digits.len() < 12 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

fn b64url_value(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'-' | b'+' => 62,
        b'_' | b'/' => 63,
        _ => return None,
    })
}

/// Decodes unpadded base64url (or standard base64) into bytes.
pub fn b64url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let s = s
        .strip_suffix(b"==")
        .or_else(|| s.strip_suffix(b"="))
        .unwrap_or(s);
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &b in s {
        acc = (acc << 6) | u32::from(b64url_value(b)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn jwt(s: &[u8]) -> bool {
    let mut parts = s.split(|&b| b == b'.');
    let Some(header) = parts.next().and_then(b64url_decode) else {
        return false;
    };
    let header = header.trim_ascii();
    header.starts_with(b"{") && header.ends_with(b"}") && contains_ignore_case(header, b"\"alg\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_orders_inputs() {
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(entropy(b"Zx9Lq2Vb7Tn4Rk8Hm1Wc") > 4.0);
    }

    #[test]
    fn luhn_accepts_test_card_numbers() {
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(!luhn(b"4111 1111 1111 1112"));
    }

    #[test]
    fn jwt_needs_a_json_header_with_alg() {
        // {"alg":"HS256","typ":"JWT"} in base64url, then arbitrary parts.
        assert!(jwt(
            b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2ln"
        ));
        // {"typ":"JWT"} has no alg.
        assert!(!jwt(b"eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.c2ln"));
        assert!(!jwt(b"eyJ!!!.x.y"));
    }
}
