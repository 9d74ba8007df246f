//! Offline checks a candidate secret must pass: entropy, placeholder stop
//! words, and named structural validators. None of them touches the network.
//!
//! Each validator is written from its format's public definition:
//!
//! - `luhn`: the ISO/IEC 7812 check digit of card numbers;
//! - `mod97`: the ISO 13616 IBAN check (country code and check digits moved
//!   to the end, letters as 10..35, the number mod 97 is 1);
//! - `github-crc32` / `npm-crc32`: GitHub's token format (github.blog,
//!   "Behind GitHub's new authentication token formats", 2021) and npm's
//!   (GitHub changelog 2021-09-23, "npm has a new access token format") end
//!   in a 6-character base62 CRC32 checksum. The exact definition used here
//!   is the one community implementations verified against real (revoked)
//!   tokens: CRC-32 (IEEE) of the random part between the `_` and the
//!   checksum, written in base62 with the alphabet `0-9A-Za-z`, most
//!   significant digit first, left-padded with `0` to 6 characters;
//! - `jwt`: the header segment is base64url JSON with an `"alg"` member;
//! - `basic-auth`: base64 that decodes to printable `user:password` text
//!   (Docker `auths` entries, `_auth` in `.npmrc`);
//! - `microsoft-identifiable`, `microsoft-cask`, `microsoft-entra`: the
//!   Marvin32 checksums of Microsoft's identifiable keys, common annotated
//!   security keys and Entra ID client secrets (Microsoft's
//!   security-utilities project; see [`super::identifiable`]).
//!
//! Every checksum has a `-fails` twin for the fallback rule that redacts,
//! with an entropy floor, what its primary rule's checksum rejects; and
//! `microsoft-checksum-fails` (none of the three verifies) lets a context
//! rule (`AccountKey=...`) leave a verified key to its own rule.

use super::identifiable::{cask_key_verifies, entra_secret_verifies, identifiable_key_verifies};

/// A named structural validator, as a rule file names it (`validator =
/// "luhn"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Validator {
    /// Luhn check digit over the decimal digits (card numbers).
    #[serde(rename = "luhn")]
    Luhn,
    /// Three base64url segments whose first decodes to a JSON object with `"alg"`.
    #[serde(rename = "jwt")]
    Jwt,
    /// GitHub / npm token checksum: the last 6 characters are the base62
    /// CRC32 of the random part after the prefix's `_`.
    #[serde(rename = "github-crc32", alias = "npm-crc32")]
    Crc32Base62,
    /// The same checksum, failing: the fallback rules for tokens whose
    /// checksum does not verify use it, so a valid token is one finding of
    /// its specific rule and never also one of the fallback.
    #[serde(rename = "github-crc32-fails", alias = "npm-crc32-fails")]
    Crc32Base62Fails,
    /// IBAN check digits (ISO 13616, ISO 7064 mod 97-10).
    #[serde(rename = "mod97")]
    Mod97,
    /// Base64 decoding to printable `user:password`.
    #[serde(rename = "basic-auth")]
    BasicAuth,
    /// A Microsoft identifiable key whose signature names a known family
    /// and whose Marvin32 checksum holds under one of its seeds.
    #[serde(rename = "microsoft-identifiable")]
    MicrosoftIdentifiable,
    /// The same check, failing (the fallback rule's).
    #[serde(rename = "microsoft-identifiable-fails")]
    MicrosoftIdentifiableFails,
    /// A common annotated security key (CASK) whose checksum holds.
    #[serde(rename = "microsoft-cask")]
    MicrosoftCask,
    /// The same check, failing (the fallback rule's).
    #[serde(rename = "microsoft-cask-fails")]
    MicrosoftCaskFails,
    /// An Entra ID client secret (`8Q~`) whose checksum holds.
    #[serde(rename = "microsoft-entra")]
    MicrosoftEntra,
    /// The same check, failing (the fallback rule's).
    #[serde(rename = "microsoft-entra-fails")]
    MicrosoftEntraFails,
    /// Not a Microsoft key whose checksum verifies (of any of the three
    /// formats): for context rules (`AccountKey=...`) that leave such a
    /// key to the rule that verified it, the more specific one.
    #[serde(rename = "microsoft-checksum-fails")]
    MicrosoftChecksumFails,
}

/// Every validator with the name a rule file gives it.
const NAMES: &[(Validator, &str)] = &[
    (Validator::Luhn, "luhn"),
    (Validator::Jwt, "jwt"),
    (Validator::Crc32Base62, "github-crc32"),
    (Validator::Crc32Base62Fails, "github-crc32-fails"),
    (Validator::Mod97, "mod97"),
    (Validator::BasicAuth, "basic-auth"),
    (Validator::MicrosoftIdentifiable, "microsoft-identifiable"),
    (
        Validator::MicrosoftIdentifiableFails,
        "microsoft-identifiable-fails",
    ),
    (Validator::MicrosoftCask, "microsoft-cask"),
    (Validator::MicrosoftCaskFails, "microsoft-cask-fails"),
    (Validator::MicrosoftEntra, "microsoft-entra"),
    (Validator::MicrosoftEntraFails, "microsoft-entra-fails"),
    (
        Validator::MicrosoftChecksumFails,
        "microsoft-checksum-fails",
    ),
];

impl Validator {
    /// The name a rule file gives it.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("", |&(_, n)| n)
    }

    /// Whether this is the failing twin of a checksum, which fallback rules
    /// use to catch what their primary rule's checksum rejects.
    pub fn is_fallback(self) -> bool {
        matches!(
            self,
            Validator::Crc32Base62Fails
                | Validator::MicrosoftIdentifiableFails
                | Validator::MicrosoftCaskFails
                | Validator::MicrosoftEntraFails
                | Validator::MicrosoftChecksumFails
        )
    }

    /// Whether `secret` passes.
    pub fn check(self, secret: &[u8]) -> bool {
        match self {
            Validator::Luhn => luhn(secret),
            Validator::Jwt => jwt(secret),
            Validator::Crc32Base62 => crc32_base62_token(secret),
            Validator::Crc32Base62Fails => !crc32_base62_token(secret),
            Validator::Mod97 => iban_mod97(secret),
            Validator::BasicAuth => basic_auth(secret),
            Validator::MicrosoftIdentifiable => identifiable_key_verifies(secret),
            Validator::MicrosoftIdentifiableFails => !identifiable_key_verifies(secret),
            Validator::MicrosoftCask => cask_key_verifies(secret),
            Validator::MicrosoftCaskFails => !cask_key_verifies(secret),
            Validator::MicrosoftEntra => entra_secret_verifies(secret),
            Validator::MicrosoftEntraFails => !entra_secret_verifies(secret),
            Validator::MicrosoftChecksumFails => {
                !(identifiable_key_verifies(secret)
                    || cask_key_verifies(secret)
                    || entra_secret_verifies(secret))
            }
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
    sum.is_multiple_of(10)
}

/// The value of a base64 character, standard or URL-safe alike.
pub(super) fn b64url_value(b: u8) -> Option<u8> {
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

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as in zlib.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = (crc >> 8) ^ CRC32_TABLE[usize::from(crc as u8 ^ b)];
    }
    !crc
}

/// The CRC of each byte value, one byte at a time (a token is checked on
/// every GitHub and npm token a request or line holds).
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The base62 alphabet of GitHub and npm token checksums.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` in base62 ([`BASE62`]), most significant digit first, left-padded
/// with `0` to 6 characters (6 digits hold any u32).
pub fn base62_6(mut n: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// A GitHub- or npm-style token (`prefix_` + random + 6-character base62
/// CRC32 of the random part) whose checksum holds. Without a `_` the whole
/// input is taken as random part and checksum.
fn crc32_base62_token(s: &[u8]) -> bool {
    let body = match s.iter().rposition(|&b| b == b'_') {
        Some(i) => &s[i + 1..],
        None => s,
    };
    if body.len() < 7 || !body.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (random, check) = body.split_at(body.len() - 6);
    base62_6(crc32(random)) == check
}

/// ISO 13616 IBAN check: two letters, two check digits, up to 30
/// alphanumerics (spaces allowed between groups); rearranged and read as a
/// number with A=10..Z=35, it is 1 mod 97.
fn iban_mod97(s: &[u8]) -> bool {
    let chars: Vec<u8> = s
        .iter()
        .filter(|&&b| b != b' ')
        .map(u8::to_ascii_uppercase)
        .collect();
    if chars.len() < 15 || chars.len() > 34 {
        return false;
    }
    if !chars[..2].iter().all(u8::is_ascii_uppercase)
        || !chars[2..4].iter().all(u8::is_ascii_digit)
        || !chars.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(c - b'A') + 10) % 97;
        }
    }
    rem == 1
}

/// The two IBAN check digits for `country` and `bban` (ISO 7064 mod 97-10).
pub fn iban_check_digits(country: &[u8; 2], bban: &[u8]) -> [u8; 2] {
    let mut rem = 0u32;
    for &c in bban.iter().chain(country.iter()).chain(b"00") {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            rem = (rem * 100 + u32::from(c - b'A') + 10) % 97;
        }
    }
    let check = 98 - rem;
    [b'0' + (check / 10) as u8, b'0' + (check % 10) as u8]
}

/// The Luhn check digit that completes `digits` (which holds no check digit
/// yet); non-digits are ignored.
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .filter(|b| b.is_ascii_digit())
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                // These positions are doubled once the check digit is appended.
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
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// Standard base64 (padding optional) that decodes to printable ASCII
/// `user:password` with a non-empty password.
/// A standard base64 value as Kubernetes writes a Secret's data: whole
/// 4-character groups (the last may end in `=` or `==`), holding an
/// uppercase letter (base64 of text almost always does; the words of a
/// ConfigMap's values mostly do not).
pub fn base64_value(s: &[u8]) -> bool {
    let body = s.strip_suffix(b"==").or(s.strip_suffix(b"=")).unwrap_or(s);
    s.len().is_multiple_of(4)
        && !body.is_empty()
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && body.iter().any(u8::is_ascii_uppercase)
}

fn basic_auth(s: &[u8]) -> bool {
    if s.iter().any(|&b| b == b'-' || b == b'_') {
        return false;
    }
    let Some(text) = b64url_decode(s) else {
        return false;
    };
    let printable = text.iter().all(|&b| (0x20..0x7f).contains(&b));
    printable
        && text
            .iter()
            .position(|&b| b == b':')
            .is_some_and(|i| i + 1 < text.len())
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

    /// Every single-character corruption of `good` fails `check`.
    fn corruptions_fail(good: &[u8], alphabet: &[u8], check: impl Fn(&[u8]) -> bool) {
        assert!(check(good), "{}", String::from_utf8_lossy(good));
        for i in 0..good.len() {
            for &c in alphabet {
                if c == good[i] {
                    continue;
                }
                let mut bad = good.to_vec();
                bad[i] = c;
                assert!(
                    !check(&bad),
                    "corrupting byte {i} to {:?} still passes",
                    char::from(c)
                );
            }
        }
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        // The CRC-32/ISO-HDLC check value of "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // And zlib's (through flate2) on every length up to 300 and every
        // byte value.
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + i / 256) as u8).collect();
        for n in 0..=data.len() {
            let mut z = flate2::Crc::new();
            z.update(&data[..n]);
            assert_eq!(crc32(&data[..n]), z.sum(), "length {n}");
        }
    }

    #[test]
    fn base62_is_padded_most_significant_first() {
        assert_eq!(&base62_6(0), b"000000");
        assert_eq!(&base62_6(61), b"00000z");
        assert_eq!(&base62_6(62), b"000010");
        assert_eq!(&base62_6(0xCBF4_3926), b"3jZRME");
        assert_eq!(&base62_6(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn github_style_checksums_verify_and_corruption_fails() {
        let random = b"zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ";
        let mut tok = b"ghp_".to_vec();
        tok.extend_from_slice(random);
        tok.extend_from_slice(&base62_6(crc32(random)));
        assert_eq!(tok.len(), 40);
        corruptions_fail(&tok[4..], BASE62, crc32_base62_token);
        assert!(crc32_base62_token(&tok));
        let mut npm = b"npm_".to_vec();
        npm.extend_from_slice(&tok[4..]);
        assert!(crc32_base62_token(&npm));
        assert!(!crc32_base62_token(b"ghp_short"));
        assert!(!crc32_base62_token(
            b"ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        ));
    }

    #[test]
    fn iban_check_digits_follow_iso_13616() {
        // The worked example of ISO 13616 / the ECBS: GB82 WEST 1234 5698 7654 32.
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(iban_mod97(b"GB82 WEST 1234 5698 7654 32"));
        assert_eq!(&iban_check_digits(b"GB", b"WEST12345698765432"), b"82");
        corruptions_fail(b"GB82WEST12345698765432", b"0123456789", iban_mod97);
        assert!(!iban_mod97(b"GB82WEST1234"));
    }

    #[test]
    fn luhn_check_digits_complete_numbers() {
        assert_eq!(luhn_check_digit(b"411111111111111"), b'1');
        assert_eq!(luhn_check_digit(b"7992739871"), b'3');
        corruptions_fail(b"4111111111111111", b"0123456789", luhn);
    }

    /// Reads a validator name as a rule file's deserializer does.
    fn parse(name: &str) -> Option<Validator> {
        use serde::de::{value::Error, IntoDeserializer};
        use serde::Deserialize;
        Validator::deserialize(IntoDeserializer::<Error>::into_deserializer(name)).ok()
    }

    #[test]
    fn every_validator_has_a_name_that_parses_back() {
        for &(v, n) in NAMES {
            assert_eq!(v.name(), n);
            assert_eq!(parse(n), Some(v));
        }
        assert_eq!(parse("npm-crc32"), Some(Validator::Crc32Base62));
        assert_eq!(parse("nope"), None);
    }

    #[test]
    fn base64_value_needs_whole_groups_and_an_uppercase_letter() {
        assert!(base64_value(b"cGFzc3dvcmQ="));
        assert!(base64_value(b"YQ=="));
        assert!(base64_value(b"YWRtaW4x"));
        assert!(!base64_value(b"production"));
        assert!(!base64_value(b"staging1"));
        assert!(!base64_value(b"1024"));
        assert!(!base64_value(b"YQ=a"));
        assert!(!base64_value(b"===="));
    }

    #[test]
    fn basic_auth_needs_user_colon_password() {
        // "user:pass" and "user:" in base64.
        assert!(basic_auth(b"dXNlcjpwYXNz"));
        assert!(!basic_auth(b"dXNlcjo="));
        // "hello world" has no colon.
        assert!(!basic_auth(b"aGVsbG8gd29ybGQ="));
        assert!(!basic_auth(b"not base64!"));
    }
}
