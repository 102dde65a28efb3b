//! The one error type of `lsm-core`.
//!
//! `Corruption` (bytes that fail their checksum or grammar) is kept apart from `Io` (the OS
//! refused an operation) so that callers can tell "the disk said no" from "the disk lied".

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong inside the engine.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The OS refused an operation on `path`.
    #[error("I/O error during {op} on {}: {source}", path.display())]
    Io {
        /// The file or directory the operation touched.
        path: PathBuf,
        /// What the engine was doing (`"append"`, `"sync"`, `"rename"`, ...).
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk do not match their checksum or grammar.
    #[error("corruption in {} at offset {offset}: {reason}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset in the file where the damage was found.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// The directory exists but is not a Strata database.
    #[error("{} is not a Strata database: {reason}", path.display())]
    NotADatabase {
        /// The directory that was opened.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The database was written by a newer (or unknown) format version.
    #[error("{} uses format version {found}; this build supports up to {supported}", file.display())]
    UnsupportedVersion {
        /// The file carrying the version.
        file: PathBuf,
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Another process (or another handle in this one) holds the database lock.
    #[error("database at {} is locked by another process or handle", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A key is longer than the configured limit.
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// Length of the offending key.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A value is longer than the configured limit.
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// Length of the offending value.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An earlier write or background error made the database refuse writes; `cause` says why.
    #[error("database is read-only after an earlier failure: {cause}")]
    ReadOnly {
        /// The error that moved the database into read-only mode.
        cause: String,
    },
    /// The database has been closed.
    #[error("database is closed")]
    Closed,
    /// A keyspace id or name that does not exist (or was dropped).
    #[error("unknown keyspace {0}")]
    UnknownKeyspace(String),
    /// A keyspace with that name already exists.
    #[error("keyspace {0} already exists")]
    KeyspaceExists(String),
    /// A merge operator refused to fold a key's operands.
    #[error("merge failed: {0}")]
    MergeFailed(String),
    /// The caller passed an argument the engine cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// Builds an [`Error::Corruption`].
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, reason: impl Into<String>) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }

    /// A copy of this error for a second recipient (the followers of a failed write group).
    /// `std::io::Error` is not `Clone`, so an `Io` copy keeps its kind and message only.
    pub fn duplicate(&self) -> Error {
        match self {
            Error::Io { path, op, source } => Error::Io {
                path: path.clone(),
                op,
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Corruption {
                file,
                offset,
                reason,
            } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Error::NotADatabase { path, reason } => Error::NotADatabase {
                path: path.clone(),
                reason: reason.clone(),
            },
            Error::UnsupportedVersion {
                file,
                found,
                supported,
            } => Error::UnsupportedVersion {
                file: file.clone(),
                found: *found,
                supported: *supported,
            },
            Error::Locked { path } => Error::Locked { path: path.clone() },
            Error::KeyTooLarge { len, max } => Error::KeyTooLarge {
                len: *len,
                max: *max,
            },
            Error::ValueTooLarge { len, max } => Error::ValueTooLarge {
                len: *len,
                max: *max,
            },
            Error::ReadOnly { cause } => Error::ReadOnly {
                cause: cause.clone(),
            },
            Error::Closed => Error::Closed,
            Error::UnknownKeyspace(k) => Error::UnknownKeyspace(k.clone()),
            Error::KeyspaceExists(k) => Error::KeyspaceExists(k.clone()),
            Error::InvalidArgument(a) => Error::InvalidArgument(a.clone()),
            Error::MergeFailed(m) => Error::MergeFailed(m.clone()),
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }
}
