//! Trace and span ids: fixed-size byte arrays, printed and parsed as lowercase hex.

use std::fmt;

/// A 16-byte W3C trace id. All zeroes is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// The invalid, all-zero trace id.
    pub const INVALID: TraceId = TraceId([0; 16]);

    /// Builds a trace id from a `u128` (big-endian, as the hex form reads).
    pub const fn from_u128(v: u128) -> TraceId {
        TraceId(v.to_be_bytes())
    }

    /// The id as a big-endian `u128`.
    pub const fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// Whether the id is not all zeroes.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 16]
    }

    /// The trace's randomness as the W3C Trace Context level 2 and OpenTelemetry sampling
    /// specifications define it: the least-significant 56 bits (the last 7 bytes), big-endian.
    pub fn randomness(&self) -> u64 {
        let mut b = [0u8; 8];
        b[1..].copy_from_slice(&self.0[9..]);
        u64::from_be_bytes(b)
    }

    /// The xxh3 hash of the 16 bytes: the one hash every routing and table lookup shares.
    pub fn hash64(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(&self.0)
    }

    /// Parses 32 hex digits.
    pub fn from_hex(s: &str) -> Option<TraceId> {
        let mut out = [0u8; 16];
        decode_hex(s, &mut out).then_some(TraceId(out))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// An 8-byte span id. All zeroes is invalid (and, as a parent id, means "no parent").
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl SpanId {
    /// The invalid, all-zero span id.
    pub const INVALID: SpanId = SpanId([0; 8]);

    /// Builds a span id from a `u64` (big-endian).
    pub const fn from_u64(v: u64) -> SpanId {
        SpanId(v.to_be_bytes())
    }

    /// The id as a big-endian `u64`.
    pub const fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    /// Whether the id is not all zeroes.
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 8]
    }

    /// Parses 16 hex digits.
    pub fn from_hex(s: &str) -> Option<SpanId> {
        let mut out = [0u8; 8];
        decode_hex(s, &mut out).then_some(SpanId(out))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn decode_hex(s: &str, out: &mut [u8]) -> bool {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return false;
    }
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    for (i, o) in out.iter_mut().enumerate() {
        match (nibble(s[2 * i]), nibble(s[2 * i + 1])) {
            (Some(h), Some(l)) => *o = h << 4 | l,
            _ => return false,
        }
    }
    true
}
