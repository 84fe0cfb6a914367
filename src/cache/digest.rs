//! Digests on disk: `graph::node::Digest` (32 bytes in memory, so the index costs no
//! allocation per digest and comparisons are of bytes) written as 64 lowercase hex
//! characters. Serde helpers for `#[serde(with = ...)]`, since `Digest` only serializes.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::graph::node::Digest;

/// The blake3 digest of `bytes`.
pub fn digest_bytes(bytes: &[u8]) -> Digest {
    Digest(*blake3::hash(bytes).as_bytes())
}

/// 64 lowercase hex characters (faster than `Digest::to_hex`, which formats per byte).
pub fn to_hex(digest: &Digest) -> String {
    blake3::Hash::from_bytes(digest.0).to_hex().to_string()
}

/// The value of each lowercase hex digit; `0xff` for any other byte.
const NIBBLE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The digest that `text` spells in 64 lowercase hex characters, if it does. A table
/// lookup per digit and one check at the end: the index parses 50,000 of these.
pub fn parse_hex(text: &str) -> Option<Digest> {
    let bytes: &[u8; 64] = text.as_bytes().try_into().ok()?;
    let mut out = [0; 32];
    let mut invalid = 0;
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        invalid |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    (invalid & 0xf0 == 0).then_some(Digest(out))
}

/// A `Digest` that deserializes too: the wire form of every helper below.
struct Hex(Digest);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(blake3::Hash::from_bytes(self.0.0).to_hex().as_str())
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl Visitor<'_> for HexVisitor {
            type Value = Hex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a digest of 64 lowercase hex characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Hex, E> {
                parse_hex(v)
                    .map(Hex)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(HexVisitor)
    }
}

/// `#[serde(with = "hex")]` for a `Digest`.
pub(crate) mod hex {
    use super::*;

    pub fn serialize<S: Serializer>(digest: &Digest, s: S) -> Result<S::Ok, S::Error> {
        Hex(*digest).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        Hex::deserialize(d).map(|h| h.0)
    }
}

/// `#[serde(with = "hex_option")]` for an `Option<Digest>`.
pub(crate) mod hex_option {
    use super::*;

    pub fn serialize<S: Serializer>(digest: &Option<Digest>, s: S) -> Result<S::Ok, S::Error> {
        digest.map(Hex).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Digest>, D::Error> {
        Option::<Hex>::deserialize(d).map(|h| h.map(|h| h.0))
    }
}

/// `#[serde(with = "hex_map")]` for a `BTreeMap<String, Digest>`.
pub(crate) mod hex_map {
    use super::*;

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Digest>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, v)| (k, Hex(*v))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Digest>, D::Error> {
        let map = BTreeMap::<String, Hex>::deserialize(d)?;
        Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_anything_else() {
        let d = digest_bytes(b"hello");
        assert_eq!(to_hex(&d), d.to_hex());
        assert_eq!(parse_hex(&to_hex(&d)), Some(d));
        for bad in [
            "",
            "../../etc/passwd",
            &"AB".repeat(32),
            &"a".repeat(63),
            &"g".repeat(64),
        ] {
            assert_eq!(parse_hex(bad), None, "{bad}");
        }
    }
}
