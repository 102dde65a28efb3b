//! The write-ahead log: a block-framed log of checksummed records, and the write batches that
//! are its records.
//!
//! * [`format`](mod@format): the shared framing constants (block size, fragment header,
//!   fragment types).
//! * [`writer`]: [`LogWriter`], which frames records into 32 KiB blocks.
//! * [`reader`]: [`LogReader`], which reassembles records and classifies damage (torn tail vs
//!   damage in the middle) for crash recovery.
//! * [`batch`]: [`WriteBatch`], the public unit of atomic writes and the WAL record payload.
//!
//! The same log framing carries the manifest's version edits (see [`crate::manifest`]).

pub mod batch;
pub mod format;
pub mod reader;
pub mod writer;

pub use batch::{BatchOp, WriteBatch};
pub use reader::{Damage, LogReader, TailPolicy};
pub use writer::LogWriter;

#[cfg(test)]
mod log_tests;
