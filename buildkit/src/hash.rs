//! The one stable hash of the workspace: 64-bit FNV-1a. Names and keys built from it (cache
//! keys, tags, cache references, the lock's Dockerfile hash) must not change between runs,
//! platforms or versions, so it is written out here rather than taken from `std`. It is not a
//! security boundary.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

fn feed<'a>(mut state: u64, bytes: impl IntoIterator<Item = &'a u8>) -> u64 {
    for &b in bytes {
        state ^= u64::from(b);
        state = state.wrapping_mul(PRIME);
    }
    state
}

/// FNV-1a of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    feed(OFFSET, bytes)
}

/// FNV-1a of the concatenation of `parts`, without concatenating them.
pub fn fnv1a_of<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    parts.into_iter().fold(OFFSET, feed)
}

/// FNV-1a over length-prefixed fields, so that no two sequences of fields give the same input
/// (`"ab", "c"` is not `"a", "bc"`). The first field names the kind of thing hashed.
#[derive(Debug, Clone)]
pub struct Hasher(u64);

impl Hasher {
    /// A hasher whose first field is `kind`.
    pub fn new(kind: &str) -> Hasher {
        let mut h = Hasher(OFFSET);
        h.field(kind);
        h
    }

    /// Adds one field: its length (8 bytes, little-endian), then its bytes.
    pub fn field(&mut self, s: &str) -> &mut Self {
        self.0 = feed(self.0, (s.len() as u64).to_le_bytes().iter().chain(s.as_bytes()));
        self
    }

    /// The hash so far.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// The hash as 16 hex digits.
    pub fn finish(self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_of_parts_is_the_hash_of_their_concatenation() {
        assert_eq!(fnv1a_of([&b"foo"[..], b"", b"bar"]), fnv1a(b"foobar"));
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fields_are_length_prefixed_fnv1a() {
        let mut bytes = Vec::new();
        for field in ["RUN", "ab", "c"] {
            bytes.extend((field.len() as u64).to_le_bytes());
            bytes.extend(field.as_bytes());
        }
        let mut h = Hasher::new("RUN");
        h.field("ab").field("c");
        assert_eq!(h.value(), fnv1a(&bytes));
        assert_eq!(h.clone().finish(), format!("{:016x}", fnv1a(&bytes)));
        let mut other = Hasher::new("RUN");
        other.field("a").field("bc");
        assert_ne!(h.value(), other.value());
    }
}
