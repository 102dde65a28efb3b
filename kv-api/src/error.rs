//! The one error type of `kv-api`.
//!
//! Engine errors arrive as [`lsm_core::Error`] and are folded in by [`From`]: the variants a
//! caller is expected to match (closed database, size limits, keyspaces, merge failures) get
//! their own variant here, everything else (I/O, corruption, read-only mode, ...) is kept whole
//! in [`Error::Storage`].
//!
//! Transaction outcomes that a caller should retry — [`Error::Conflict`], [`Error::Deadlock`]
//! and [`Error::LockTimeout`] — are distinct variants; [`Error::is_retryable`] says yes to
//! exactly those.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `kv-api`.
///
/// ```
/// use kv_api::Error;
/// assert!(Error::Conflict.is_retryable());
/// assert!(!Error::Closed.is_retryable());
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine failed (I/O, corruption, read-only after an earlier failure, ...).
    #[error(transparent)]
    Storage(lsm_core::Error),
    /// The database was closed (by [`crate::Db::close`]) and refuses every operation.
    #[error("database is closed")]
    Closed,
    /// A key is longer than [`crate::Options::max_key_size`].
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// Length of the offending key.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A value (or merge operand) is longer than [`crate::Options::max_value_size`].
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// Length of the offending value.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// No keyspace of that name exists.
    #[error("unknown keyspace {0:?}")]
    UnknownKeyspace(String),
    /// [`crate::Db::create_keyspace`] found a keyspace of that name.
    #[error("keyspace {0:?} already exists")]
    KeyspaceExists(String),
    /// The keyspace behind this handle was dropped.
    #[error("keyspace {0:?} was dropped")]
    KeyspaceDropped(String),
    /// `merge` on a keyspace without a merge operator.
    #[error("keyspace {0:?} has no merge operator (register one in its options)")]
    NoMergeOperator(String),
    /// A merge operator refused to fold a key's operands.
    #[error("merge failed: {0}")]
    MergeFailed(String),
    /// An optimistic transaction lost: a key it wrote (or, under `Serializable`, read) was
    /// committed by someone else after its snapshot. Retry the whole transaction.
    #[error("transaction conflict: a key it depends on was changed by a concurrent commit")]
    Conflict,
    /// A pessimistic lock wait would close a cycle in the wait-for graph; this transaction was
    /// chosen as the victim and rolled back. Retry the whole transaction.
    #[error("deadlock: this transaction was chosen as the victim and rolled back")]
    Deadlock,
    /// A lock was not granted within the lock timeout. The transaction stays usable.
    #[error("lock wait timed out")]
    LockTimeout,
    /// The transaction was already committed or rolled back.
    #[error("transaction already finished")]
    TransactionFinished,
    /// `rollback_to_savepoint` without a savepoint.
    #[error("no savepoint to roll back to")]
    NoSavepoint,
    /// A stored value does not carry a valid kv-api header.
    #[error("malformed stored value: {0}")]
    ValueEncoding(String),
    /// A backup directory is damaged or inconsistent.
    #[error("backup at {}: {reason}", path.display())]
    Backup {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The OS refused a file operation of kv-api itself (backups, restores).
    #[error("I/O error during {op} on {}: {source}", path.display())]
    Io {
        /// What kv-api was doing.
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The caller passed an argument that cannot be accepted.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// True for the errors that mean "run the whole transaction again":
    /// [`Error::Conflict`], [`Error::Deadlock`] and [`Error::LockTimeout`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Conflict | Error::Deadlock | Error::LockTimeout)
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn backup(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Backup {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<lsm_core::Error> for Error {
    fn from(e: lsm_core::Error) -> Self {
        match e {
            lsm_core::Error::Closed => Error::Closed,
            lsm_core::Error::KeyTooLarge { len, max } => Error::KeyTooLarge { len, max },
            lsm_core::Error::ValueTooLarge { len, max } => Error::ValueTooLarge { len, max },
            lsm_core::Error::UnknownKeyspace(k) => Error::UnknownKeyspace(k),
            lsm_core::Error::KeyspaceExists(k) => Error::KeyspaceExists(k),
            lsm_core::Error::MergeFailed(m) => Error::MergeFailed(m),
            lsm_core::Error::InvalidArgument(a) => Error::InvalidArgument(a),
            other => Error::Storage(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_matchable_variants() {
        assert!(matches!(
            Error::from(lsm_core::Error::Closed),
            Error::Closed
        ));
        assert!(matches!(
            Error::from(lsm_core::Error::KeyTooLarge { len: 3, max: 2 }),
            Error::KeyTooLarge { len: 3, max: 2 }
        ));
        let io = lsm_core::Error::io("sync", "/x", std::io::Error::other("boom"));
        match Error::from(io) {
            Error::Storage(e) => assert!(e.to_string().contains("boom")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_transaction_outcomes_are_retryable() {
        for e in [Error::Conflict, Error::Deadlock, Error::LockTimeout] {
            assert!(e.is_retryable(), "{e}");
        }
        for e in [
            Error::Closed,
            Error::TransactionFinished,
            Error::UnknownKeyspace("x".into()),
            Error::InvalidArgument("x".into()),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
    }
}
