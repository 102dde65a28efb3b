//! [`LogWriter`]: frames records into the block format of [`super::format`].
//!
//! All fragments of one call are encoded into a reused buffer and handed to the file in a single
//! `append`, so a group commit of many batches costs one write system call (and, if asked, one
//! `sync`). A failed `append` or `sync` poisons the writer: the file may now end in a partial
//! record, or the kernel may have dropped dirty pages, and appending more would turn a torn
//! tail into damage in the middle of the log. The owner must start a new log instead.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fs::WritableFile;

use super::format::{encode_fragment, FragmentType, BLOCK_SIZE, HEADER_LEN};

/// Capacity above which the encode buffer is released after a call, so that one huge record
/// does not pin its size in memory for the life of the log.
const MAX_RETAINED_BUFFER: usize = 1 << 20;

/// Appends records to a log file.
pub struct LogWriter {
    file: Box<dyn WritableFile>,
    /// Offset inside the current block where the next fragment starts.
    block_offset: usize,
    buf: Vec<u8>,
    /// Set after an I/O failure; every later call fails.
    poisoned: bool,
}

impl LogWriter {
    /// Wraps `file`, continuing the block layout from its current length.
    pub fn new(file: Box<dyn WritableFile>) -> LogWriter {
        let block_offset = (file.len() % BLOCK_SIZE as u64) as usize;
        LogWriter {
            file,
            block_offset,
            buf: Vec::new(),
            poisoned: false,
        }
    }

    /// Appends one record (which may be empty).
    pub fn add_record(&mut self, payload: &[u8]) -> Result<()> {
        self.add_records(&[payload])
    }

    /// Appends every record of `payloads`, in order, with a single `append` on the file (none
    /// when `payloads` is empty).
    pub fn add_records(&mut self, payloads: &[&[u8]]) -> Result<()> {
        self.check_poisoned("append")?;
        if payloads.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        let mut block_offset = self.block_offset;
        for payload in payloads {
            block_offset = encode_record(&mut self.buf, block_offset, payload);
        }
        let result = self.file.append(&self.buf);
        if self.buf.capacity() > MAX_RETAINED_BUFFER {
            self.buf = Vec::new();
        }
        match result {
            Ok(()) => {
                self.block_offset = block_offset;
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    /// Makes every record appended so far durable.
    pub fn sync(&mut self) -> Result<()> {
        self.check_poisoned("sync")?;
        let result = self.file.sync();
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Bytes in the file, including any that were there when the writer was made.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// True when the file holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    fn check_poisoned(&self, op: &'static str) -> Result<()> {
        if self.poisoned {
            return Err(Error::io(
                op,
                self.file.path(),
                std::io::Error::other("an earlier append or sync on this log failed"),
            ));
        }
        Ok(())
    }
}

/// Encodes one record starting at `block_offset`; returns the block offset after it.
fn encode_record(buf: &mut Vec<u8>, mut block_offset: usize, payload: &[u8]) -> usize {
    let mut rest = payload;
    let mut first = true;
    // A do-while: an empty record still produces one (empty) FULL fragment.
    loop {
        let left = BLOCK_SIZE - block_offset;
        if left < HEADER_LEN {
            buf.resize(buf.len() + left, 0);
            block_offset = 0;
        }
        let avail = BLOCK_SIZE - block_offset - HEADER_LEN;
        let n = rest.len().min(avail);
        let last = n == rest.len();
        let ty = match (first, last) {
            (true, true) => FragmentType::Full,
            (true, false) => FragmentType::First,
            (false, false) => FragmentType::Middle,
            (false, true) => FragmentType::Last,
        };
        encode_fragment(buf, ty, &rest[..n]);
        block_offset += HEADER_LEN + n;
        rest = &rest[n..];
        first = false;
        if last {
            return block_offset;
        }
    }
}
