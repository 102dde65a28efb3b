//! [`Slice`]: the cheap, shared byte string that reads return ([`Key`] and [`Value`] are
//! aliases of it). Cloning it bumps a reference count; it dereferences to `[u8]`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// An immutable, reference-counted byte string. Reads hand out slices of the engine's own
/// buffers, so a `get` does not copy the value.
///
/// ```
/// use kv_api::Slice;
/// let v = Slice::from("hello");
/// assert_eq!(&v[..], b"hello");
/// assert_eq!(v, "hello");
/// assert_eq!(v.len(), 5);
/// let copy = v.clone(); // no byte copy
/// assert_eq!(copy.to_vec(), b"hello".to_vec());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slice(Bytes);

/// A key returned by an iterator.
pub type Key = Slice;
/// A value returned by a read.
pub type Value = Slice;

impl Slice {
    /// Wraps `bytes` without copying.
    pub fn new(bytes: Bytes) -> Slice {
        Slice(bytes)
    }

    /// Copies `data` into a new slice.
    pub fn copy_from(data: &[u8]) -> Slice {
        Slice(Bytes::copy_from_slice(data))
    }

    /// The underlying [`Bytes`] (no copy).
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The bytes as a `&[u8]`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for Slice {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Slice {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for Slice {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl From<Bytes> for Slice {
    fn from(b: Bytes) -> Slice {
        Slice(b)
    }
}

impl From<Slice> for Bytes {
    fn from(s: Slice) -> Bytes {
        s.0
    }
}

impl From<Vec<u8>> for Slice {
    fn from(v: Vec<u8>) -> Slice {
        Slice(Bytes::from(v))
    }
}

impl From<Slice> for Vec<u8> {
    fn from(s: Slice) -> Vec<u8> {
        s.0.to_vec()
    }
}

impl From<&[u8]> for Slice {
    fn from(v: &[u8]) -> Slice {
        Slice::copy_from(v)
    }
}

impl<const N: usize> From<&[u8; N]> for Slice {
    fn from(v: &[u8; N]) -> Slice {
        Slice::copy_from(v)
    }
}

impl From<&str> for Slice {
    fn from(v: &str) -> Slice {
        Slice::copy_from(v.as_bytes())
    }
}

impl From<String> for Slice {
    fn from(v: String) -> Slice {
        Slice(Bytes::from(v.into_bytes()))
    }
}

impl PartialEq<[u8]> for Slice {
    fn eq(&self, other: &[u8]) -> bool {
        self.0[..] == *other
    }
}

impl PartialEq<&[u8]> for Slice {
    fn eq(&self, other: &&[u8]) -> bool {
        self.0[..] == **other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Slice {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.0[..] == other[..]
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Slice {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.0[..] == other[..]
    }
}

impl PartialEq<Vec<u8>> for Slice {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.0[..] == other[..]
    }
}

impl PartialEq<str> for Slice {
    fn eq(&self, other: &str) -> bool {
        self.0[..] == *other.as_bytes()
    }
}

impl PartialEq<&str> for Slice {
    fn eq(&self, other: &&str) -> bool {
        self.0[..] == *other.as_bytes()
    }
}

impl fmt::Debug for Slice {
    /// Printable ASCII as is, everything else as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"")?;
        for &b in self.0.iter() {
            match b {
                b'"' => write!(f, "\\\"")?,
                b'\\' => write!(f, "\\\\")?,
                0x20..=0x7e => write!(f, "{}", b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        write!(f, "\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_and_comparisons() {
        let s = Slice::from(vec![1u8, 2, 3]);
        assert_eq!(s, [1u8, 2, 3]);
        assert_eq!(s, &[1u8, 2, 3]);
        assert_eq!(s, vec![1u8, 2, 3]);
        assert_eq!(Vec::<u8>::from(s.clone()), vec![1, 2, 3]);
        assert_eq!(Bytes::from(s.clone()), Bytes::from_static(&[1, 2, 3]));
        let (a, b) = (Slice::from("a"), Slice::from("b"));
        assert!(a < b);
        assert!(Slice::default().is_empty());
        let b: &[u8] = s.borrow();
        assert_eq!(b, &[1, 2, 3]);
    }

    #[test]
    fn debug_escapes_non_printable_bytes() {
        let s = Slice::from(&b"a\"\\\x00\xff"[..]);
        assert_eq!(format!("{s:?}"), r#"b"a\"\\\x00\xff""#);
    }
}
