//! The value encoding kv-api owns, and the two engine hooks built on it: the TTL compaction
//! filter and the merge-operator adapter.
//!
//! Every value kv-api stores starts with a one-byte header tag:
//!
//! ```text
//! stored := PLAIN   (0x00) ‖ user value
//!         | EXPIRES (0x01) ‖ expires_at: u64 LE (ms since the Unix epoch) ‖ user value
//! ```
//!
//! Tags are written to disk: never renumber them; new tags take new numbers. A value whose
//! `expires_at <= now` is invisible to every read (also in snapshots and transactions: expiry
//! is judged against the clock at read time) and is removed when the engine rewrites it (the
//! [`TtlFilter`] compaction filter).
//!
//! Merge operands carry the time they were written instead:
//!
//! ```text
//! operand := written_at: u64 LE (ms since the Unix epoch) ‖ user operand
//! ```
//!
//! The engine hands operands only to the merge operator, wrapped in [`MergeAdapter`], which
//! folds with [`merge_stored`]: it strips the base value's header, walks the operands oldest
//! first, and when an operand was written at or after the base's expiry, the base (and the
//! operands folded onto it) had already expired then, so they are dropped and folding starts
//! again from nothing. The result keeps the expiry of the base it was folded onto (a counter
//! created with a TTL expires with everything added to it before the deadline), or none.
//! Because the decision uses write times, not the time of folding, a read, a transaction and
//! a compaction that fold the same operands at different times agree, and folding in steps
//! gives the result of folding at once.

use std::sync::Arc;

use bytes::Bytes;
use lsm_core::store::{CompactionFilter, FilterDecision};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::merge::MergeOperator;

/// Header tag of a value without expiry. Never renumber.
pub(crate) const TAG_PLAIN: u8 = 0x00;
/// Header tag of a value with an expiry time. Never renumber.
pub(crate) const TAG_EXPIRES: u8 = 0x01;
/// Longest header: tag + u64.
pub(crate) const MAX_HEADER: usize = 9;

/// A stored value split into its parts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    pub expires_at: Option<u64>,
    pub value: &'a [u8],
    /// Offset of `value` in the stored bytes.
    pub offset: usize,
}

impl Decoded<'_> {
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|t| t <= now_ms)
    }
}

/// Encodes a user value with an optional absolute expiry.
pub(crate) fn encode(value: &[u8], expires_at: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + MAX_HEADER);
    match expires_at {
        None => out.push(TAG_PLAIN),
        Some(t) => {
            out.push(TAG_EXPIRES);
            out.extend_from_slice(&t.to_le_bytes());
        }
    }
    out.extend_from_slice(value);
    out
}

/// Splits a stored value; describes what is wrong with a malformed one.
pub(crate) fn decode(stored: &[u8]) -> std::result::Result<Decoded<'_>, String> {
    match stored.first() {
        None => Err("empty stored value (no header byte)".into()),
        Some(&TAG_PLAIN) => Ok(Decoded {
            expires_at: None,
            value: &stored[1..],
            offset: 1,
        }),
        Some(&TAG_EXPIRES) => {
            let Some(t) = stored.get(1..MAX_HEADER) else {
                return Err(format!(
                    "expiring value of {} bytes is shorter than its 9-byte header",
                    stored.len()
                ));
            };
            let mut b = [0u8; 8];
            b.copy_from_slice(t);
            Ok(Decoded {
                expires_at: Some(u64::from_le_bytes(b)),
                value: &stored[MAX_HEADER..],
                offset: MAX_HEADER,
            })
        }
        Some(t) => Err(format!("unknown value header tag 0x{t:02x}")),
    }
}

/// The user value of `stored` as read at `now_ms` (`None` if expired), without copying.
pub(crate) fn decode_bytes(stored: Bytes, now_ms: u64) -> Result<Option<Bytes>> {
    let d = decode(&stored).map_err(Error::ValueEncoding)?;
    if d.is_expired(now_ms) {
        return Ok(None);
    }
    let off = d.offset;
    Ok(Some(stored.slice(off..)))
}

/// Absolute expiry for a TTL given now (saturating).
pub(crate) fn expiry(now_ms: u64, ttl: std::time::Duration) -> u64 {
    now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// Removes expired entries when the engine rewrites them.
pub(crate) struct TtlFilter {
    pub clock: Arc<dyn Clock>,
}

impl CompactionFilter for TtlFilter {
    fn name(&self) -> &str {
        "kv-api.ttl"
    }

    fn filter(&self, _key: &[u8], value: &[u8]) -> FilterDecision {
        match decode(value) {
            Ok(d) if d.is_expired(self.clock.now_millis()) => FilterDecision::Remove,
            // A malformed value is left for a reader to report, never silently dropped.
            _ => FilterDecision::Keep,
        }
    }
}

/// Length of an operand's timestamp.
const OPERAND_HEADER: usize = 8;

/// Encodes a merge operand written at `now_ms`.
pub(crate) fn encode_operand(operand: &[u8], now_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(operand.len() + OPERAND_HEADER);
    out.extend_from_slice(&now_ms.to_le_bytes());
    out.extend_from_slice(operand);
    out
}

/// Splits a stored operand into (written_at, user operand).
fn decode_operand(stored: &[u8]) -> std::result::Result<(u64, &[u8]), String> {
    let Some(t) = stored.get(..OPERAND_HEADER) else {
        return Err(format!(
            "merge operand of {} bytes is shorter than its 8-byte header",
            stored.len()
        ));
    };
    let mut b = [0u8; OPERAND_HEADER];
    b.copy_from_slice(t);
    Ok((u64::from_le_bytes(b), &stored[OPERAND_HEADER..]))
}

/// Folds stored operands (oldest first) onto a stored base; returns the stored result. See the
/// module doc for the expiry rule.
pub(crate) fn merge_stored(
    op: &dyn MergeOperator,
    key: &[u8],
    existing: Option<&[u8]>,
    operands: &[&[u8]],
) -> std::result::Result<Vec<u8>, String> {
    let (mut base, mut expires_at) = match existing {
        None => (None, None),
        Some(stored) => {
            let d = decode(stored)?;
            (Some(d.value), d.expires_at)
        }
    };
    let mut raw: Vec<&[u8]> = Vec::with_capacity(operands.len());
    for o in operands {
        let (written_at, operand) = decode_operand(o)?;
        if expires_at.is_some_and(|e| e <= written_at) {
            base = None;
            expires_at = None;
            raw.clear();
        }
        raw.push(operand);
    }
    let merged = op.full_merge(key, base, &raw)?;
    Ok(encode(&merged, expires_at))
}

/// Presents a user [`MergeOperator`] to the engine, translating both encodings.
pub(crate) struct MergeAdapter {
    pub op: Arc<dyn MergeOperator>,
}

impl lsm_core::store::MergeOperator for MergeAdapter {
    fn name(&self) -> &str {
        self.op.name()
    }

    fn full_merge(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> std::result::Result<Vec<u8>, String> {
        merge_stored(&*self.op, key, existing, operands)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::merge::U64Add;
    use lsm_core::store::MergeOperator as _;

    #[test]
    fn round_trips_both_tags_and_empty_values() {
        for (v, exp) in [
            (&b""[..], None),
            (&b"x"[..], None),
            (&b""[..], Some(0)),
            (&b"hello"[..], Some(u64::MAX)),
        ] {
            let enc = encode(v, exp);
            assert_eq!(enc.len(), v.len() + if exp.is_some() { 9 } else { 1 });
            let d = decode(&enc).unwrap();
            assert_eq!((d.value, d.expires_at), (v, exp));
        }
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        assert!(decode(b"").is_err());
        assert!(decode(&[TAG_EXPIRES, 1, 2, 3]).is_err());
        assert!(decode(&[0x7f, 1]).unwrap_err().contains("0x7f"));
        assert!(matches!(
            decode_bytes(Bytes::from_static(&[9]), 0),
            Err(Error::ValueEncoding(_))
        ));
    }

    #[test]
    fn expiry_is_inclusive_of_the_deadline() {
        let enc = Bytes::from(encode(b"v", Some(100)));
        assert_eq!(
            decode_bytes(enc.clone(), 99).unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(decode_bytes(enc, 100).unwrap(), None);
        assert_eq!(
            expiry(u64::MAX - 1, std::time::Duration::from_secs(1)),
            u64::MAX
        );
    }

    #[test]
    fn ttl_filter_removes_only_expired_values() {
        let clock = ManualClock::new(50);
        let f = TtlFilter {
            clock: Arc::new(clock.clone()),
        };
        assert_eq!(f.filter(b"k", &encode(b"v", None)), FilterDecision::Keep);
        assert_eq!(
            f.filter(b"k", &encode(b"v", Some(60))),
            FilterDecision::Keep
        );
        clock.set(60);
        assert_eq!(
            f.filter(b"k", &encode(b"v", Some(60))),
            FilterDecision::Remove
        );
        assert_eq!(f.filter(b"k", b""), FilterDecision::Keep, "malformed: keep");
    }

    #[test]
    fn merges_strip_headers_and_follow_the_base_expiry() {
        let a = MergeAdapter {
            op: Arc::new(U64Add),
        };
        let n = |v: u64| v.to_le_bytes();
        let at = |t: u64, v: u64| encode_operand(&n(v), t);
        let (o1, o2) = (at(0, 1), at(0, 1));
        let plain = a.full_merge(b"k", None, &[&o1, &o2]).unwrap();
        assert_eq!(plain, encode(&n(2), None));
        let base = encode(&n(10), Some(100));
        let before = at(99, 1);
        let out = a.full_merge(b"k", Some(&base), &[&before]).unwrap();
        assert_eq!(out, encode(&n(11), Some(100)), "keeps the expiry");
        let after = at(100, 5);
        let out = a.full_merge(b"k", Some(&base), &[&before, &after]).unwrap();
        assert_eq!(
            out,
            encode(&n(5), None),
            "an operand after the expiry starts afresh"
        );
        // Folding in two steps gives the same result.
        let step = a.full_merge(b"k", Some(&base), &[&before]).unwrap();
        assert_eq!(a.full_merge(b"k", Some(&step), &[&after]).unwrap(), out);
        assert!(a.full_merge(b"k", Some(&[0x42]), &[&o1]).is_err());
        assert!(a.full_merge(b"k", None, &[b"short"]).is_err());
    }
}
