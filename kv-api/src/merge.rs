//! Merge operators: read-free updates (`merge(key, operand)`) folded into the value on read and
//! in compaction, registered per keyspace through [`crate::KeyspaceOptions::merge_operator`]
//! (or [`crate::Options::merge_operator`] for the default keyspace).
//!
//! An operator sees *user* values: kv-api strips its own value header (see "Value encoding" in
//! the [crate docs](crate)) before calling it and adds it back afterwards, so operators never
//! deal with TTL encoding. A value with an expiry that has passed is handed to the operator as absent.
//!
//! Merge operators are not persisted: register the same operator for a keyspace at every open,
//! or reads of keys holding merge operands fail.

/// Folds merge operands into a value. Folding must compose: `full_merge(full_merge(v, a), b)`
/// equals `full_merge(v, a, b)`, because compaction may fold some operands into a value early
/// and a later read folds the rest.
///
/// ```
/// use kv_api::merge::MergeOperator;
///
/// /// Appends operands, comma separated.
/// struct Append;
/// impl MergeOperator for Append {
///     fn name(&self) -> &str { "append" }
///     fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]])
///         -> Result<Vec<u8>, String> {
///         let mut out = existing.map(<[u8]>::to_vec).unwrap_or_default();
///         for op in operands {
///             if !out.is_empty() { out.push(b','); }
///             out.extend_from_slice(op);
///         }
///         Ok(out)
///     }
/// }
/// assert_eq!(Append.full_merge(b"k", Some(b"a"), &[b"b", b"c"]).unwrap(), b"a,b,c");
/// ```
pub trait MergeOperator: Send + Sync + 'static {
    /// A stable name, for diagnostics.
    fn name(&self) -> &str;
    /// Folds `operands` (oldest first) onto `existing` (`None` if the key is absent, deleted or
    /// expired). An `Err` reaches the reader as [`crate::Error::MergeFailed`].
    fn full_merge(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Result<Vec<u8>, String>;
}

/// A wrapping `u64` counter: values and operands are 8-byte little-endian integers; an absent
/// value counts as 0.
///
/// ```
/// use kv_api::merge::U64Add;
/// use kv_api::{Db, KeyspaceOptions, Options};
///
/// let dir = tempfile::tempdir()?;
/// let db = Db::open_with(dir.path(), Options::new().merge_operator(U64Add))?;
/// db.merge(b"hits", 1u64.to_le_bytes())?;
/// db.merge(b"hits", 41u64.to_le_bytes())?;
/// assert_eq!(U64Add::decode(&db.get(b"hits")?.unwrap()), Some(42));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct U64Add;

impl U64Add {
    /// Reads a counter value (`None` unless it is exactly 8 bytes).
    pub fn decode(v: &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(v.try_into().ok()?))
    }

    /// Encodes a counter value or operand.
    pub fn encode(n: u64) -> [u8; 8] {
        n.to_le_bytes()
    }
}

impl MergeOperator for U64Add {
    fn name(&self) -> &str {
        "kv-api.u64-add"
    }

    fn full_merge(
        &self,
        _key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Result<Vec<u8>, String> {
        let parse = |b: &[u8]| {
            U64Add::decode(b).ok_or_else(|| format!("not a u64 counter: {} bytes", b.len()))
        };
        let mut total = match existing {
            Some(e) => parse(e)?,
            None => 0,
        };
        for op in operands {
            total = total.wrapping_add(parse(op)?);
        }
        Ok(total.to_le_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_add_folds_and_rejects_bad_widths() {
        let one = 1u64.to_le_bytes();
        let max = u64::MAX.to_le_bytes();
        assert_eq!(
            U64Add.full_merge(b"k", None, &[&one, &one]).unwrap(),
            2u64.to_le_bytes()
        );
        assert_eq!(
            U64Add.full_merge(b"k", Some(&max), &[&one]).unwrap(),
            0u64.to_le_bytes(),
            "wraps"
        );
        assert!(U64Add.full_merge(b"k", Some(b"abc"), &[&one]).is_err());
        assert!(U64Add.full_merge(b"k", None, &[b"x"]).is_err());
        assert_eq!(U64Add.full_merge(b"k", None, &[]).unwrap(), [0; 8]);
    }
}
