//! Microsoft's checksummed key formats: identifiable keys, common annotated
//! security keys (CASK) and Entra ID client secrets.
//!
//! Written from the formats as Microsoft's security-utilities project
//! (github.com/microsoft/security-utilities) describes them, and from the
//! Marvin32 hash as published (Niels Ferguson's Marvin, the string hash of
//! .NET); no code of either is copied here.
//!
//! - **Marvin32.** Two 32-bit lanes start as the low and high halves of a
//!   64-bit seed. Each 4-byte little-endian block of the input is added to
//!   the low lane and both lanes are mixed (xor, rotate by 20, add, rotate
//!   by 9, xor, rotate by 27, add, rotate by 19). The 0-3 bytes left over,
//!   little-endian, with `0x80` in the byte after them, are a last block,
//!   followed by one more mix. The 32-bit hash is the two lanes xor'ed.
//! - **Seeds.** A key kind's seed is an 8-character ASCII name read as a
//!   big-endian number (`Default0` for storage account keys, `Send0000` for
//!   a Service Bus send key...); a service may issue keys under several.
//! - **Identifiable keys.** Random bytes, then 3 bytes that make a fixed
//!   4-character signature when base64-encoded (`+ASt` for storage), then
//!   the 4-byte little-endian Marvin32 of everything before it. The key is
//!   written in base64 (URL-safe for Azure Functions), so the signature is
//!   always the 4 characters before the last 6 (padding aside), and the
//!   bits after the last byte are zero.
//! - **CASK keys** (84 characters): 60 bytes (52 random characters,
//!   `JQQJ99`, a date, platform and provider fields and a 4-character
//!   provider signature), then the first 3 bytes of the Marvin32 of those
//!   60 bytes under the seed `Default0`; the 88-character long form holds
//!   all 4. Derived keys (`JQQJ9D`) encode their checksum otherwise and do
//!   not verify here.
//! - **Entra ID client secrets** (`xxx8Q~...`): the last 3 characters are
//!   the first 3 digits of the Marvin32 (seed `AadPwd00`) of the characters
//!   before them, written most significant digit first in the secret's own
//!   66-character alphabet.
//!
//! A key that verifies is a real key's shape, whatever its entropy; the
//! chance that random text of a key's shape verifies is 2^-24 (CASK) or
//! 2^-32 per seed.

use super::validate::b64url_value;

/// A key kind's Marvin32 seed: its 8-character name, big-endian.
const fn seed(name: &[u8; 8]) -> u64 {
    u64::from_be_bytes(*name)
}

/// One identifiable-key family: its encoded signature and the seeds its
/// key kinds use (the first is what test keys are made with).
struct Family {
    signature: &'static [u8; 4],
    seeds: &'static [u64],
}

const MESSAGING: &[u64] = &[
    seed(b"Send0000"),
    seed(b"Listen00"),
    seed(b"Manage00"),
    seed(b"System00"),
    seed(b"Unknown0"),
];

/// A table row.
const fn family(signature: &'static [u8; 4], seeds: &'static [u64]) -> Family {
    Family { signature, seeds }
}

/// The families whose signature and seeds the security-utilities project
/// publishes.
const FAMILIES: &[Family] = &[
    family(b"+ASt", &[seed(b"Default0")]),
    family(
        b"ACDb",
        &[
            seed(b"MastRW00"),
            seed(b"MastRO00"),
            seed(b"SystRW00"),
            seed(b"SystRO00"),
            seed(b"SysAll00"),
            seed(b"Resour00"),
            seed(b"Encryp00"),
        ],
    ),
    family(b"+ABa", &[seed(b"AbAcct00")]),
    family(b"+AMC", &[seed(b"Classic0")]),
    family(
        b"APIM",
        &[
            seed(b"IoTHub00"),
            seed(b"Tenant00"),
            seed(b"Gatewy00"),
            seed(b"GitKey00"),
        ],
    ),
    family(b"+ASb", MESSAGING),
    family(b"+AEh", MESSAGING),
    family(b"+ARm", MESSAGING),
    family(
        b"AIoT",
        &[seed(b"IoTHub00"), seed(b"DpsKey00"), seed(b"Device00")],
    ),
    family(b"AzCa", &[seed(b"Access00")]),
    family(b"AzSe", &[seed(b"Query000"), seed(b"PAdmin00")]),
    family(b"+ACR", &[seed(b"ACRDflt0")]),
    family(
        b"AzFu",
        &[seed(b"Functi00"), seed(b"Master00"), seed(b"System00")],
    ),
    family(b"AZEG", &[seed(b"Default0")]),
];

/// The CASK seed.
const CASK_SEED: u64 = seed(b"Default0");
/// The Entra ID client secret seed.
const ENTRA_SEED: u64 = seed(b"AadPwd00");
/// The alphabet Entra ID client secrets, and their checksum digits, use.
const ENTRA_ALPHABET: &[u8; 66] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890.-_~";

/// One round of Marvin's mixing of its two lanes.
fn mix(lo: &mut u32, hi: &mut u32) {
    *hi ^= *lo;
    *lo = lo.rotate_left(20);
    *lo = lo.wrapping_add(*hi);
    *hi = hi.rotate_left(9);
    *hi ^= *lo;
    *lo = lo.rotate_left(27);
    *lo = lo.wrapping_add(*hi);
    *hi = hi.rotate_left(19);
}

/// Marvin's two lanes after `data`: `(low, high)`.
fn marvin_lanes(seed: u64, data: &[u8]) -> (u32, u32) {
    let (mut lo, mut hi) = (seed as u32, (seed >> 32) as u32);
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        lo = lo.wrapping_add(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        mix(&mut lo, &mut hi);
    }
    let last = blocks
        .remainder()
        .iter()
        .rev()
        .fold(0x80u32, |acc, &b| (acc << 8) | u32::from(b));
    lo = lo.wrapping_add(last);
    mix(&mut lo, &mut hi);
    mix(&mut lo, &mut hi);
    (lo, hi)
}

/// The 32-bit Marvin hash of `data` under `seed`.
pub fn marvin32(seed: u64, data: &[u8]) -> u32 {
    let (lo, hi) = marvin_lanes(seed, data);
    lo ^ hi
}

/// Decodes unpadded base64 (either alphabet): the whole bytes, and the
/// bits after them (their value and count, under 8).
fn decode(s: &[u8]) -> Option<(Vec<u8>, u32, u32)> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        acc = (acc << 6 | u32::from(b64url_value(c)?)) & 0xFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some((out, acc & ((1 << bits) - 1), bits))
}

/// Decodes unpadded base64 whose bits past the last whole byte are zero,
/// as an encoder writes them; `None` otherwise.
fn decode_canonical(s: &[u8]) -> Option<Vec<u8>> {
    decode(s).and_then(|(out, rest, _)| (rest == 0).then_some(out))
}

/// Encodes `bytes` in base64 without padding, URL-safe when `url`.
fn encode(bytes: &[u8], url: bool) -> Vec<u8> {
    let alphabet: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8 | u32::from(b)) & 0xFFFF;
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(alphabet[((acc >> bits) & 63) as usize]);
        }
    }
    if bits > 0 {
        out.push(alphabet[((acc << (6 - bits)) & 63) as usize]);
    }
    out
}

fn trim_padding(key: &[u8]) -> &[u8] {
    let end = key.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    &key[..end]
}

/// The family whose signature stands 10 characters from the end of the
/// unpadded key.
fn family_of(trimmed: &[u8]) -> Option<&'static Family> {
    let at = trimmed.len().checked_sub(10)?;
    FAMILIES
        .iter()
        .find(|f| &trimmed[at..at + 4] == f.signature)
}

/// Whether `key` is an identifiable key of a known family whose checksum
/// holds under one of the family's seeds.
pub fn identifiable_key_verifies(key: &[u8]) -> bool {
    let trimmed = trim_padding(key);
    let Some(family) = family_of(trimmed) else {
        return false;
    };
    let Some(bytes) = decode_canonical(trimmed) else {
        return false;
    };
    let Some((body, check)) = bytes.split_last_chunk::<4>() else {
        return false;
    };
    let check = u32::from_le_bytes(*check);
    family.seeds.iter().any(|&s| marvin32(s, body) == check)
}

/// Whether `key` is a (non-derived) CASK key whose checksum holds.
pub fn cask_key_verifies(key: &[u8]) -> bool {
    let n = match key.len() {
        84 => 3,
        88 if key.ends_with(b"==") => 4,
        _ => return false,
    };
    if key.get(52..58) != Some(b"JQQJ99".as_slice()) {
        return false;
    }
    let Some(bytes) = decode_canonical(trim_padding(key)) else {
        return false;
    };
    bytes.len() == 60 + n && marvin32(CASK_SEED, &bytes[..60]).to_le_bytes()[..n] == bytes[60..]
}

/// The Entra ID checksum digits of `text`: its Marvin32, most significant
/// base-66 digit first (no leading zeros), cut to 3.
fn entra_digits(text: &[u8]) -> Vec<u8> {
    let mut n = marvin32(ENTRA_SEED, text);
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(ENTRA_ALPHABET[(n % 66) as usize]);
        n /= 66;
    }
    digits.reverse();
    digits.truncate(3);
    digits
}

/// Whether `secret` is an Entra ID client secret with the `8Q~` marker
/// whose checksum holds.
pub fn entra_secret_verifies(secret: &[u8]) -> bool {
    if secret.len() < 9 || secret.get(3..6) != Some(b"8Q~".as_slice()) {
        return false;
    }
    let (text, check) = secret.split_at(secret.len() - 3);
    entra_digits(text) == check
}

/// What a test-key completion could not do (see [`complete_identifiable`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompletionError {
    /// The text before the placeholder ends in no known signature.
    #[error("the key before the checksum ends in no known signature")]
    UnknownSignature,
    /// The text before the placeholder is not a key of the format's shape.
    #[error("the key before the checksum has the wrong length or characters")]
    Shape,
}

/// Changes one character of a completion so that its checksum fails: the
/// second, wholly checksum bits in every layout.
fn spoil(mut out: Vec<u8>) -> Vec<u8> {
    out[1] = match out[1] {
        b'z' => b'a',
        b'Z' => b'A',
        b'9' => b'0',
        b'+' | b'-' | b'/' | b'_' => b'B',
        c => c + 1,
    };
    out
}

/// The run of base64 characters (URL-safe when `url`) that `text` ends in.
fn trailing_run(text: &[u8], url: bool) -> &[u8] {
    let member = |b: u8| {
        b.is_ascii_alphanumeric()
            || if url {
                b == b'-' || b == b'_'
            } else {
                b == b'+' || b == b'/'
            }
    };
    let start = text.iter().rposition(|&b| !member(b)).map_or(0, |i| i + 1);
    &text[start..]
}

/// For test fixtures: the 6 checksum characters (and `=` padding) that
/// complete the identifiable key `before` ends in (its random part and
/// signature), under the family's first seed; `bad` spoils the checksum.
pub fn complete_identifiable(
    before: &[u8],
    url: bool,
    bad: bool,
) -> Result<Vec<u8>, CompletionError> {
    let run = trailing_run(before, url);
    let chars = run.len() + 6;
    let nbytes = chars * 6 / 8;
    if run.len() < 10 || run.len() * 6 > (nbytes - 4) * 8 {
        return Err(CompletionError::Shape);
    }
    let family = FAMILIES
        .iter()
        .find(|f| run.ends_with(f.signature))
        .ok_or(CompletionError::UnknownSignature)?;
    // The signature's last bits share a byte with zero bits before the
    // checksum.
    let (mut bytes, rest, bits) = decode(run).ok_or(CompletionError::Shape)?;
    if bits > 0 {
        bytes.push((rest << (8 - bits)) as u8);
    }
    bytes.resize(nbytes - 4, 0);
    let check = marvin32(family.seeds[0], &bytes);
    bytes.extend_from_slice(&check.to_le_bytes());
    let mut out = encode(&bytes, url).split_off(run.len());
    if bad {
        out = spoil(out);
    }
    out.resize(out.len() + (4 - chars % 4) % 4, b'=');
    Ok(out)
}

/// For test fixtures: the checksum characters that complete the CASK key
/// `before` ends in (its first 80 characters): 4, or with `long` the 6 and
/// `==` of the 88-character form; `bad` spoils the checksum.
pub fn complete_cask(before: &[u8], long: bool, bad: bool) -> Result<Vec<u8>, CompletionError> {
    let run = trailing_run(before, false);
    if run.len() < 80 || run[run.len() - 80..][52..58] != *b"JQQJ99" {
        return Err(CompletionError::Shape);
    }
    let bytes = decode_canonical(&run[run.len() - 80..]).ok_or(CompletionError::Shape)?;
    let mut all = bytes.clone();
    all.extend_from_slice(&marvin32(CASK_SEED, &bytes).to_le_bytes()[..if long { 4 } else { 3 }]);
    let mut out = encode(&all, false).split_off(80);
    if bad {
        out = spoil(out);
    }
    if long {
        out.extend_from_slice(b"==");
    }
    Ok(out)
}

/// For test fixtures: the 3 checksum characters that complete the Entra ID
/// client secret `before` ends in; `bad` spoils the checksum.
pub fn complete_entra(before: &[u8], bad: bool) -> Result<Vec<u8>, CompletionError> {
    let start = before
        .iter()
        .rposition(|&b| !ENTRA_ALPHABET.contains(&b))
        .map_or(0, |i| i + 1);
    let secret = &before[start..];
    if secret.get(3..6) != Some(b"8Q~".as_slice()) {
        return Err(CompletionError::Shape);
    }
    let out = entra_digits(secret);
    if out.len() < 3 {
        return Err(CompletionError::Shape);
    }
    Ok(if bad { spoil(out) } else { out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marvin_matches_published_vectors() {
        // Vectors of the .NET runtime's and other Marvin implementations'
        // test suites: the 64-bit state (high lane, low lane), and the
        // 32-bit hash.
        let lanes = |seed, data| {
            let (lo, hi) = marvin_lanes(seed, data);
            u64::from(hi) << 32 | u64::from(lo)
        };
        assert_eq!(lanes(0x004F_B61A_001B_DBCC, b""), 0x30ED_35C1_00CD_3C7D);
        assert_eq!(lanes(0xD53C_D9CE_CD08_93B7, b"abc"), 0x22C7_4339_4927_69BF);
        assert_eq!(marvin32(0xD53C_D9CE_CD08_93B7, b"abc"), 0x6BE0_2A86);
        assert_eq!(
            lanes(0x0DDD_DEEE_EFFF_F000, b"abcdefghijklmnopqrstuvwxyz"),
            0xA128_EB7E_7260_ACA2
        );
    }

    #[test]
    fn seeds_are_names_read_big_endian() {
        assert_eq!(seed(b"Default0"), 0x4465_6661_756C_7430);
        assert_eq!(seed(b"Send0000"), 0x5365_6E64_3030_3030);
    }

    #[test]
    fn base64_round_trips_and_refuses_stray_bits() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        for n in 0..40 {
            for url in [false, true] {
                let e = encode(&bytes[n..n + 40], url);
                assert_eq!(decode_canonical(&e).unwrap(), &bytes[n..n + 40]);
            }
        }
        // "QQ" is 'A' and 4 zero bits; "QR" has a stray bit set.
        assert_eq!(decode_canonical(b"QQ"), Some(b"A".to_vec()));
        assert_eq!(decode_canonical(b"QR"), None);
        assert_eq!(decode_canonical(b"QQ=="), None);
    }

    /// A key of `chars` characters (padding aside) ending in `signature`
    /// and its checksum, from repeated `fill`.
    fn make(fill: u8, chars: usize, signature: &[u8; 4], url: bool) -> Vec<u8> {
        let mut key = vec![fill; chars - 10];
        key.extend_from_slice(signature);
        let tail = complete_identifiable(&key, url, false).unwrap();
        key.extend_from_slice(&tail);
        key
    }

    #[test]
    fn every_family_verifies_under_each_seed_and_one_flip_fails() {
        for f in FAMILIES {
            for (chars, url) in [(86, false), (43, false), (52, false), (54, true)] {
                if url && !f.signature.iter().all(u8::is_ascii_alphanumeric) {
                    continue;
                }
                let key = make(b'c', chars, f.signature, url);
                assert!(
                    identifiable_key_verifies(&key),
                    "{}",
                    String::from_utf8_lossy(&key)
                );
                for i in 0..chars {
                    let mut bad = key.clone();
                    bad[i] = if bad[i] == b'd' { b'e' } else { b'd' };
                    assert!(!identifiable_key_verifies(&bad), "flip at {i}");
                }
            }
            // Every seed of the family verifies keys made with it.
            let mut body = vec![7u8; 57];
            body.extend_from_slice(
                &decode_canonical(&[f.signature.as_slice(), b"AA"].concat()).unwrap()[..3],
            );
            for &s in f.seeds {
                let mut bytes = body.clone();
                bytes.extend_from_slice(&marvin32(s, &body).to_le_bytes());
                assert!(identifiable_key_verifies(&encode(&bytes, false)));
            }
        }
        assert!(!identifiable_key_verifies(b"short"));
        assert!(!identifiable_key_verifies(&[b'A'; 88]));
    }

    #[test]
    fn completions_pad_and_spoil() {
        let key = make(b'Q', 86, b"+ASt", false);
        let tail = complete_identifiable(&key[..80], false, false).unwrap();
        assert_eq!(tail.len(), 8);
        assert!(tail.ends_with(b"==") && b"AQgw".contains(&tail[5]));
        let bad = complete_identifiable(&key[..80], false, true).unwrap();
        let mut spoilt = key[..80].to_vec();
        spoilt.extend_from_slice(&bad);
        assert!(!identifiable_key_verifies(&spoilt));
        assert_eq!(
            complete_identifiable(b"xxxxxxxxxxxxxxxxxxxxXXXX", false, false),
            Err(CompletionError::UnknownSignature)
        );
        assert_eq!(
            complete_identifiable(b"+ASt", false, false),
            Err(CompletionError::Shape)
        );
    }

    #[test]
    fn cask_keys_verify_in_both_forms() {
        let mut key = vec![b'a'; 52];
        key.extend_from_slice(b"JQQJ99BE");
        key.extend_from_slice(&[b'b'; 16]);
        key.extend_from_slice(b"TEST");
        for long in [false, true] {
            let mut k = key.clone();
            k.extend_from_slice(&complete_cask(&key, long, false).unwrap());
            assert_eq!(k.len(), if long { 88 } else { 84 });
            assert!(cask_key_verifies(&k));
            for i in 0..80 {
                let mut bad = k.clone();
                bad[i] = if bad[i] == b'c' { b'd' } else { b'c' };
                assert!(!cask_key_verifies(&bad), "flip at {i}");
            }
            let mut bad = key.clone();
            bad.extend_from_slice(&complete_cask(&key, long, true).unwrap());
            assert!(!cask_key_verifies(&bad));
        }
        let mut derived = key.clone();
        derived[57] = b'D';
        assert_eq!(
            complete_cask(&derived, false, false),
            Err(CompletionError::Shape)
        );
    }

    #[test]
    fn entra_secrets_verify() {
        let mut s = b"Ab38Q~".to_vec();
        s.extend_from_slice(b"k2Jd.8fQ_p0LmZx~1vBn4RtYq7WcE9hU0");
        let tail = complete_entra(&s, false).unwrap();
        s.extend_from_slice(&tail);
        assert!(entra_secret_verifies(&s));
        let n = s.len();
        s[n - 1] = if s[n - 1] == b'a' { b'b' } else { b'a' };
        assert!(!entra_secret_verifies(&s));
        assert!(!entra_secret_verifies(b"Ab37Q~abcdefgh"));
    }
}
