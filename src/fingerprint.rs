//! Keyed fingerprints: HMAC-SHA256 of a secret under a key with an id.
//!
//! A plain hash of a low-entropy secret (a PIN, a short password) can be
//! brute-forced; a keyed one cannot without the key. The key id travels with
//! every fingerprint so a rotated key ("epoch") is visible in alerts and in
//! `hmac`-style replacements.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key is too short to be a key.
    #[error("HMAC key is {0} bytes; at least 16 are required")]
    TooShort(usize),
    /// The key id has characters that would break labels.
    #[error("key id must be 1 to 32 ASCII letters, digits, '-' or '_'")]
    BadKeyId,
    /// No randomness was available for an ephemeral key.
    #[error("cannot read random bytes for an ephemeral key")]
    Random(#[source] std::io::Error),
}

/// An HMAC key and its id. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct Fingerprinter {
    mac: HmacSha256,
    key_id: String,
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("Fingerprinter")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Fingerprinter {
    /// A fingerprinter from key bytes (surrounding whitespace is trimmed, so
    /// a key file may end in a newline).
    pub fn new(key: &[u8], key_id: &str) -> Result<Fingerprinter, Error> {
        let key = key.trim_ascii();
        if key.len() < 16 {
            return Err(Error::TooShort(key.len()));
        }
        let id_ok = !key_id.is_empty()
            && key_id.len() <= 32
            && key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(Error::BadKeyId);
        }
        let mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
        Ok(Fingerprinter {
            mac,
            key_id: key_id.to_string(),
        })
    }

    /// A fingerprinter with a random key from the OS, id `eph`: stable within
    /// one process only.
    pub fn ephemeral() -> Result<Fingerprinter, Error> {
        use std::io::Read;
        let mut key = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut key))
            .map_err(Error::Random)?;
        Fingerprinter::new(&key, "eph")
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// An incremental fingerprint computation.
    pub fn start(&self) -> Hasher {
        Hasher {
            mac: self.mac.clone(),
            key_id: self.key_id.clone(),
        }
    }

    /// The fingerprint of `secret`.
    pub fn fingerprint(&self, secret: &[u8]) -> Fingerprint {
        let mut h = self.start();
        h.update(secret);
        h.finish()
    }
}

/// An HMAC in progress, for secrets that arrive over several reads.
#[derive(Clone)]
pub struct Hasher {
    mac: HmacSha256,
    key_id: String,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// Feeds more secret bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.mac.update(bytes);
    }

    /// The fingerprint of everything fed.
    pub fn finish(self) -> Fingerprint {
        let out = self.mac.finalize().into_bytes();
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&out[..16]);
        Fingerprint {
            key_id: self.key_id,
            digest,
        }
    }
}

/// A keyed fingerprint: the first 128 bits of HMAC-SHA256, and the key id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The id of the key that made it.
    pub key_id: String,
    /// Truncated HMAC-SHA256.
    pub digest: [u8; 16],
}

impl Fingerprint {
    /// The digest as 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first 8 hex digits, for `hmac`-style replacement tokens.
    pub fn short(&self) -> String {
        self.hex()[..8].to_string()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key_id, self.hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_stable_and_key_dependent() {
        let a = Fingerprinter::new(b"0123456789abcdef0123", "k1").unwrap();
        let b = Fingerprinter::new(b"0123456789abcdef0124", "k2").unwrap();
        assert_eq!(a.fingerprint(b"1234"), a.fingerprint(b"1234"));
        assert_ne!(a.fingerprint(b"1234"), a.fingerprint(b"1235"));
        assert_ne!(a.fingerprint(b"1234").digest, b.fingerprint(b"1234").digest);
        let mut h = a.start();
        h.update(b"12");
        h.update(b"34");
        assert_eq!(h.finish(), a.fingerprint(b"1234"));
        assert!(a.fingerprint(b"x").to_string().starts_with("k1:"));
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(matches!(
            Fingerprinter::new(b"short\n", "k"),
            Err(Error::TooShort(5))
        ));
        assert!(matches!(
            Fingerprinter::new(b"0123456789abcdef", "k 1"),
            Err(Error::BadKeyId)
        ));
        assert!(!format!(
            "{:?}",
            Fingerprinter::new(b"0123456789abcdefSECRET", "k").unwrap()
        )
        .contains("SECRET"));
    }
}
