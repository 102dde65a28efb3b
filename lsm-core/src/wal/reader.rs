//! [`LogReader`]: reassembles the records of a whole log file and classifies damage.
//!
//! Recovery has to tell two kinds of damage apart, because they mean different things:
//!
//! * **Torn tail**: the log simply stops early. A crash interrupted the last `append` (or the
//!   OS never wrote its pages), so the unfinished record was never acknowledged as durable and
//!   dropping it is correct. Recognised when
//!   - a fragment header runs past end of file,
//!   - the file ends (or turns into zero bytes up to its end) inside a record whose `FIRST`
//!     fragment was read but whose `LAST` fragment was not, or
//!   - a fragment's payload runs past end of file, or it fails its checksum, or has an unknown
//!     type, and **no** fragment anywhere later in the file verifies.
//!
//!   [`TailPolicy::TolerateTornTail`] and [`TailPolicy::StopAtDamage`] end the log quietly and
//!   report the offset where the unfinished record began through [`LogReader::torn_tail`];
//!   [`TailPolicy::Strict`] returns `Error::Corruption` naming the damaged fragment's offset.
//!
//! * **Damage in the middle**: a fragment fails its checksum or has an unknown type (or is a
//!   zero-filled hole, or claims a length that overruns its block or the file) and some later
//!   fragment *does* verify; or the fragment sequence is broken (`MIDDLE`/`LAST` without a `FIRST`,
//!   `FIRST`/`FULL` while a record is still open). Data the writer finished was lost, so this
//!   is `Error::Corruption` naming the exact offset of the offending fragment, unless the
//!   reader was made with [`TailPolicy::StopAtDamage`]: then the log ends there and
//!   [`LogReader::dropped`] describes what was given up.
//!
//! * **Zero bytes**: block trailers (fewer than `HEADER_LEN` bytes at the end of a block) are
//!   skipped without being inspected. If everything from a header position to end of file is
//!   zero (a file system that extended the file but never wrote the data), the log ends there
//!   cleanly under every policy, unless a record was open, which makes it a torn tail.
//!
//! "Some later fragment verifies" is decided by scanning forward from the byte after the bad
//! fragment: first the rest of its block, then every later block boundary (where a header must
//! start), then the inside of every later block, stopping at the first header whose type,
//! bounds and checksum are all valid. A value that itself contains log-formatted bytes can make
//! a torn tail look like damage in the middle; that errs on the side of refusing to open rather
//! than silently dropping acknowledged data.
//!
//! Unsynced appends can also be torn *out of order* by some file systems (a later page written,
//! an earlier one not); such a log shows damage in the middle even though nothing acknowledged
//! as durable was lost. Recovery that accepts that risk uses [`TailPolicy::StopAtDamage`].

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{Error, Result};

use super::format::{decode_header, fragment_checksum, FragmentType, BLOCK_SIZE, HEADER_LEN};

/// How a [`LogReader`] treats damage at the end and in the middle of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailPolicy {
    /// Every kind of damage, including a torn tail, is `Error::Corruption`.
    Strict,
    /// A torn tail ends the log quietly; damage in the middle is `Error::Corruption`.
    TolerateTornTail,
    /// A torn tail ends the log quietly; damage in the middle also ends the log, reported by
    /// [`LogReader::dropped`].
    StopAtDamage,
}

/// What a [`TailPolicy::StopAtDamage`] reader gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// File offset of the first byte not returned: the start of the record that contained the
    /// damage (or of the damaged fragment if no record was open).
    pub offset: u64,
    /// Bytes from `offset` to end of file, all ignored (later intact records included).
    pub bytes_dropped: u64,
    /// What was wrong, naming the exact offset where the damage was detected.
    pub reason: String,
}

/// A record being reassembled from `FIRST`/`MIDDLE` fragments.
struct Open {
    start: usize,
    data: Vec<u8>,
}

/// Reads the records of one log file, held entirely in memory.
pub struct LogReader {
    data: Bytes,
    path: PathBuf,
    policy: TailPolicy,
    /// Offset of the next header to read.
    pos: usize,
    done: bool,
    valid_end: u64,
    torn_tail: Option<u64>,
    dropped: Option<Damage>,
}

impl LogReader {
    /// A reader over `data`, the whole contents of the log at `path`.
    pub fn new(data: Bytes, path: PathBuf, tail: TailPolicy) -> LogReader {
        LogReader {
            data,
            path,
            policy: tail,
            pos: 0,
            done: false,
            valid_end: 0,
            torn_tail: None,
            dropped: None,
        }
    }

    /// The next record and the offset of its first fragment; `Ok(None)` at the end of the log.
    /// After an error or the end of the log every later call returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<(u64, Bytes)>> {
        if self.done {
            return Ok(None);
        }
        let mut open: Option<Open> = None;
        let len = self.data.len();
        loop {
            let in_block = self.pos % BLOCK_SIZE;
            if BLOCK_SIZE - in_block < HEADER_LEN {
                self.pos += BLOCK_SIZE - in_block;
                continue;
            }
            let at = self.pos;
            let cut = open.as_ref().map_or(at, |o| o.start);
            if at >= len {
                return match open {
                    Some(o) => self.torn(
                        cut,
                        at,
                        format!(
                            "record at offset {} has no LAST fragment before end of file",
                            o.start
                        ),
                    ),
                    None => self.finish(),
                };
            }
            let rest = &self.data[at..];
            let Some(h) = decode_header(rest) else {
                if rest.iter().all(|&b| b == 0) && open.is_none() {
                    return self.finish();
                }
                return self.torn(cut, at, "fragment header cut off by end of file".into());
            };
            let Some(ty) = FragmentType::from_u8(h.ty) else {
                if rest.iter().all(|&b| b == 0) {
                    return match open {
                        Some(_) => {
                            self.torn(cut, at, "record cut off by a zero-filled tail".into())
                        }
                        None => self.finish(),
                    };
                }
                return self.bad_fragment(cut, at, format!("unknown fragment type {}", h.ty));
            };
            if in_block + HEADER_LEN + h.length > BLOCK_SIZE {
                let reason = format!("fragment length {} overruns its block", h.length);
                return self.bad_fragment(cut, at, reason);
            }
            let end = at + HEADER_LEN + h.length;
            if end > len {
                // A torn append leaves nothing valid after its last header, so an intact
                // fragment later means this length was damaged instead.
                let reason = "fragment payload runs past end of file".into();
                return self.bad_fragment(cut, at, reason);
            }
            let payload = &self.data[at + HEADER_LEN..end];
            if fragment_checksum(h.ty, payload) != h.checksum {
                return self.bad_fragment(cut, at, "fragment checksum mismatch".into());
            }
            match (ty, open.as_mut()) {
                (FragmentType::Full, None) => {
                    self.pos = end;
                    self.valid_end = end as u64;
                    return Ok(Some((at as u64, self.data.slice(at + HEADER_LEN..end))));
                }
                (FragmentType::First, None) => {
                    open = Some(Open {
                        start: at,
                        data: payload.to_vec(),
                    });
                }
                (FragmentType::Middle, Some(o)) => o.data.extend_from_slice(payload),
                (FragmentType::Last, Some(o)) => {
                    o.data.extend_from_slice(payload);
                    let start = o.start as u64;
                    let record = std::mem::take(&mut o.data);
                    self.pos = end;
                    self.valid_end = end as u64;
                    return Ok(Some((start, Bytes::from(record))));
                }
                (FragmentType::Full | FragmentType::First, Some(o)) => {
                    let reason = format!(
                        "{ty:?} fragment while the record at offset {} is unfinished",
                        o.start
                    );
                    return self.damage(cut, at, reason);
                }
                (FragmentType::Middle | FragmentType::Last, None) => {
                    return self.damage(cut, at, format!("{ty:?} fragment without a FIRST"));
                }
            }
            self.pos = end;
        }
    }

    /// Where the unfinished record of a tolerated torn tail began, if the log had one.
    pub fn torn_tail(&self) -> Option<u64> {
        self.torn_tail
    }

    /// What a [`TailPolicy::StopAtDamage`] reader dropped, if it met damage in the middle.
    pub fn dropped(&self) -> Option<&Damage> {
        self.dropped.as_ref()
    }

    /// Offset just past the last fragment of the last record returned.
    pub fn valid_end(&self) -> u64 {
        self.valid_end
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn finish(&mut self) -> Result<Option<(u64, Bytes)>> {
        self.done = true;
        Ok(None)
    }

    /// The log ends early at `cut`; the damage was detected at `at`.
    fn torn(&mut self, cut: usize, at: usize, reason: String) -> Result<Option<(u64, Bytes)>> {
        self.done = true;
        match self.policy {
            TailPolicy::Strict => Err(Error::corruption(
                &self.path,
                at as u64,
                format!("torn tail: {reason}"),
            )),
            TailPolicy::TolerateTornTail | TailPolicy::StopAtDamage => {
                self.torn_tail = Some(cut as u64);
                Ok(None)
            }
        }
    }

    /// Intact data was lost at `at`; records from `cut` on are not returned.
    fn damage(&mut self, cut: usize, at: usize, reason: String) -> Result<Option<(u64, Bytes)>> {
        self.done = true;
        match self.policy {
            TailPolicy::Strict | TailPolicy::TolerateTornTail => {
                Err(Error::corruption(&self.path, at as u64, reason))
            }
            TailPolicy::StopAtDamage => {
                self.dropped = Some(Damage {
                    offset: cut as u64,
                    bytes_dropped: (self.data.len() - cut) as u64,
                    reason: format!("{reason} (at offset {at})"),
                });
                Ok(None)
            }
        }
    }

    /// A fragment at `at` failed verification: damage in the middle if anything later verifies,
    /// otherwise a torn tail.
    fn bad_fragment(
        &mut self,
        cut: usize,
        at: usize,
        reason: String,
    ) -> Result<Option<(u64, Bytes)>> {
        match self.valid_fragment_after(at) {
            Some(next) => {
                let reason = format!("{reason}; an intact fragment follows at offset {next}");
                self.damage(cut, at, reason)
            }
            None => self.torn(cut, at, reason),
        }
    }

    /// The offset of the first verifying fragment header after `at`, if any.
    fn valid_fragment_after(&self, at: usize) -> Option<usize> {
        let len = self.data.len();
        let first_boundary = (at / BLOCK_SIZE + 1) * BLOCK_SIZE;
        // The rest of the damaged block.
        if let Some(p) = (at + 1..first_boundary.min(len)).find(|&p| self.verifies_at(p)) {
            return Some(p);
        }
        // Every later block starts with a header unless the writer never reached it.
        let boundaries = (first_boundary..len).step_by(BLOCK_SIZE);
        if let Some(p) = boundaries.clone().find(|&p| self.verifies_at(p)) {
            return Some(p);
        }
        // The insides of later blocks, in case their first fragments are damaged too.
        boundaries
            .flat_map(|b| b + 1..(b + BLOCK_SIZE).min(len))
            .find(|&p| self.verifies_at(p))
    }

    /// True if a complete fragment that passes every check starts at `p`.
    fn verifies_at(&self, p: usize) -> bool {
        let in_block = p % BLOCK_SIZE;
        if BLOCK_SIZE - in_block < HEADER_LEN {
            return false;
        }
        let Some(h) = self.data.get(p..).and_then(decode_header) else {
            return false;
        };
        if FragmentType::from_u8(h.ty).is_none() || in_block + HEADER_LEN + h.length > BLOCK_SIZE {
            return false;
        }
        let start = p + HEADER_LEN;
        match self.data.get(start..start + h.length) {
            Some(payload) => fragment_checksum(h.ty, payload) == h.checksum,
            None => false,
        }
    }
}
