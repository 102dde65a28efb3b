//! Round-trip and damage tests for [`LogWriter`](super::LogWriter) and
//! [`LogReader`](super::LogReader).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::format::{BLOCK_SIZE, HEADER_LEN};
use super::{LogReader, LogWriter, TailPolicy};
use crate::error::{Error, Result};
use crate::fs::WritableFile;

/// A file in a shared vector that counts its `append` and `sync` calls.
#[derive(Clone, Default)]
struct SharedFile {
    inner: Arc<Mutex<(Vec<u8>, usize, usize)>>,
    path: PathBuf,
    fail_appends: bool,
}

impl SharedFile {
    fn new() -> SharedFile {
        SharedFile {
            path: PathBuf::from("test.log"),
            ..SharedFile::default()
        }
    }
    fn bytes(&self) -> Vec<u8> {
        self.inner.lock().unwrap().0.clone()
    }
    fn appends(&self) -> usize {
        self.inner.lock().unwrap().1
    }
    fn syncs(&self) -> usize {
        self.inner.lock().unwrap().2
    }
}

impl WritableFile for SharedFile {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        if self.fail_appends {
            return Err(Error::io(
                "append",
                &self.path,
                std::io::Error::other("full"),
            ));
        }
        let mut g = self.inner.lock().unwrap();
        g.0.extend_from_slice(data);
        g.1 += 1;
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        self.inner.lock().unwrap().2 += 1;
        Ok(())
    }
    fn len(&self) -> u64 {
        self.inner.lock().unwrap().0.len() as u64
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

fn write_log(records: &[Vec<u8>]) -> (Vec<u8>, Vec<u64>) {
    let file = SharedFile::new();
    let mut w = LogWriter::new(Box::new(file.clone()));
    let mut offsets = Vec::new();
    for r in records {
        offsets.push(w.len());
        w.add_record(r).unwrap();
    }
    (file.bytes(), offsets)
}

/// Records with their offsets, or the error that ended reading.
type ReadResult = Result<Vec<(u64, Vec<u8>)>>;

fn read_all(data: &[u8], policy: TailPolicy) -> (ReadResult, LogReader) {
    let mut r = LogReader::new(
        Bytes::copy_from_slice(data),
        PathBuf::from("test.log"),
        policy,
    );
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some((off, rec))) => out.push((off, rec.to_vec())),
            Ok(None) => return (Ok(out), r),
            Err(e) => return (Err(e), r),
        }
    }
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Records whose sizes hit the interesting block-boundary cases.
fn boundary_records() -> Vec<Vec<u8>> {
    let mut records = vec![
        payload(0, 1),
        payload(100, 2),
        // Fills the rest of block 0 exactly.
        payload(BLOCK_SIZE - HEADER_LEN * 3 - 100, 3),
        payload(0, 4),
        // Leaves 5 bytes in block 1: a trailer follows.
        payload(BLOCK_SIZE - HEADER_LEN * 2 - 5, 5),
        payload(10, 6),
        // Spans several blocks.
        payload(BLOCK_SIZE * 3 + 17, 7),
        payload(1, 8),
    ];
    // Leaves exactly HEADER_LEN bytes: the next record's FIRST fragment is empty.
    let used = write_log(&records).0.len() % BLOCK_SIZE;
    records.push(payload(BLOCK_SIZE - used - HEADER_LEN * 2, 9));
    records.push(payload(50, 10));
    records.push(payload(0, 11));
    records
}

#[test]
fn round_trip_across_block_boundaries() {
    let records = boundary_records();
    let (data, offsets) = write_log(&records);
    for policy in [
        TailPolicy::Strict,
        TailPolicy::TolerateTornTail,
        TailPolicy::StopAtDamage,
    ] {
        let (got, r) = read_all(&data, policy);
        let got = got.unwrap();
        assert_eq!(got.len(), records.len());
        for (i, (off, rec)) in got.iter().enumerate() {
            assert_eq!(rec, &records[i], "record {i}");
            // A record written into a trailer starts at the next block.
            let expected =
                if (BLOCK_SIZE as u64 - offsets[i] % BLOCK_SIZE as u64) < HEADER_LEN as u64 {
                    offsets[i].next_multiple_of(BLOCK_SIZE as u64)
                } else {
                    offsets[i]
                };
            assert_eq!(*off, expected, "offset of record {i}");
        }
        assert_eq!(r.torn_tail(), None);
        assert!(r.dropped().is_none());
        assert_eq!(r.valid_end(), data.len() as u64);
    }
    // The layout really exercised the cases it claims to.
    assert_eq!(offsets[3], BLOCK_SIZE as u64);
    assert_eq!(offsets[5] % BLOCK_SIZE as u64, (BLOCK_SIZE - 5) as u64);
    assert_eq!(
        BLOCK_SIZE as u64 - offsets[9] % BLOCK_SIZE as u64,
        HEADER_LEN as u64
    );
}

#[test]
fn fragments_never_straddle_blocks() {
    let (data, _) = write_log(&boundary_records());
    let mut pos = 0;
    while pos < data.len() {
        let left = BLOCK_SIZE - pos % BLOCK_SIZE;
        if left < HEADER_LEN {
            assert!(data[pos..pos + left.min(data.len() - pos)]
                .iter()
                .all(|&b| b == 0));
            pos += left;
            continue;
        }
        let len = u16::from_le_bytes([data[pos + 4], data[pos + 5]]) as usize;
        assert!(pos % BLOCK_SIZE + HEADER_LEN + len <= BLOCK_SIZE);
        pos += HEADER_LEN + len;
    }
    assert_eq!(pos, data.len());
}

#[test]
fn one_append_per_call() {
    let file = SharedFile::new();
    let mut w = LogWriter::new(Box::new(file.clone()));
    let big = payload(BLOCK_SIZE * 2, 3);
    let recs: Vec<&[u8]> = vec![b"a", &big, b"", b"tail"];
    w.add_records(&recs).unwrap();
    assert_eq!(file.appends(), 1);
    w.add_records(&[]).unwrap();
    assert_eq!(file.appends(), 1);
    w.add_record(&big).unwrap();
    assert_eq!(file.appends(), 2);
    w.sync().unwrap();
    assert_eq!(file.syncs(), 1);
    let (got, _) = read_all(&file.bytes(), TailPolicy::Strict);
    let got: Vec<Vec<u8>> = got.unwrap().into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        got,
        vec![b"a".to_vec(), big.clone(), vec![], b"tail".to_vec(), big]
    );
}

#[test]
fn writer_resumes_block_layout_of_an_existing_file() {
    let file = SharedFile::new();
    let mut w = LogWriter::new(Box::new(file.clone()));
    w.add_record(&payload(BLOCK_SIZE - 20, 1)).unwrap();
    drop(w);
    let mut w = LogWriter::new(Box::new(file.clone()));
    w.add_record(&payload(100, 2)).unwrap();
    let (got, _) = read_all(&file.bytes(), TailPolicy::Strict);
    assert_eq!(got.unwrap().len(), 2);
}

#[test]
fn failed_append_poisons_writer() {
    let mut file = SharedFile::new();
    file.fail_appends = true;
    let mut w = LogWriter::new(Box::new(file.clone()));
    assert!(w.add_record(b"x").is_err());
    assert!(w.add_record(b"y").is_err());
    assert!(w.sync().is_err());
    assert_eq!(file.syncs(), 0);
}

#[test]
fn empty_and_zero_filled_logs_are_empty() {
    for data in [
        vec![],
        vec![0u8; 3],
        vec![0u8; 100],
        vec![0u8; BLOCK_SIZE + 9],
    ] {
        let (got, r) = read_all(&data, TailPolicy::Strict);
        assert!(got.unwrap().is_empty());
        assert_eq!(r.torn_tail(), None);
    }
    // Complete records followed by a zero-filled tail.
    let (mut data, _) = write_log(&[payload(10, 1), payload(20, 2)]);
    data.resize(data.len() + 4000, 0);
    let (got, r) = read_all(&data, TailPolicy::Strict);
    assert_eq!(got.unwrap().len(), 2);
    assert_eq!(r.torn_tail(), None);

    // A record whose later blocks were never written (zero-filled) is a torn tail.
    let (data, offsets) = write_log(&[payload(10, 1), payload(BLOCK_SIZE * 2, 2)]);
    let mut zeroed = data.clone();
    zeroed[BLOCK_SIZE..].fill(0);
    let (got, r) = read_all(&zeroed, TailPolicy::TolerateTornTail);
    assert_eq!(got.unwrap().len(), 1);
    assert_eq!(r.torn_tail(), Some(offsets[1]));
    let (got, _) = read_all(&zeroed, TailPolicy::Strict);
    assert!(got.unwrap_err().is_corruption());
}

#[test]
fn truncation_at_every_offset_is_a_torn_tail() {
    let records = vec![
        payload(5, 1),
        payload(0, 2),
        payload(40, 3),
        payload(200, 4),
        payload(3, 5),
    ];
    let (data, offsets) = write_log(&records);
    let ends: Vec<usize> = offsets[1..]
        .iter()
        .map(|&o| o as usize)
        .chain([data.len()])
        .collect();
    for cut in 0..=data.len() {
        let complete = ends.iter().filter(|&&e| e <= cut).count();
        let (got, r) = read_all(&data[..cut], TailPolicy::TolerateTornTail);
        let got = got.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let got: Vec<Vec<u8>> = got.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, records[..complete], "cut at {cut}");
        if ends.contains(&cut) || cut == 0 {
            assert_eq!(r.torn_tail(), None, "cut at {cut}");
        } else {
            assert_eq!(r.torn_tail(), Some(offsets[complete]), "cut at {cut}");
            let (strict, _) = read_all(&data[..cut], TailPolicy::Strict);
            assert!(strict.unwrap_err().is_corruption(), "cut at {cut}");
        }
    }
}

#[test]
fn truncation_inside_a_multi_block_record() {
    let records = vec![payload(30, 1), payload(BLOCK_SIZE * 2, 2)];
    let (data, offsets) = write_log(&records);
    for cut in [
        BLOCK_SIZE - 1,
        BLOCK_SIZE,
        BLOCK_SIZE + 3,
        BLOCK_SIZE + HEADER_LEN,
        BLOCK_SIZE * 2,
        data.len() - 1,
    ] {
        let (got, r) = read_all(&data[..cut], TailPolicy::TolerateTornTail);
        assert_eq!(got.unwrap().len(), 1, "cut at {cut}");
        assert_eq!(r.torn_tail(), Some(offsets[1]));
    }
}

fn corrupt(data: &[u8], offset: usize) -> Vec<u8> {
    let mut d = data.to_vec();
    d[offset] ^= 0x40;
    d
}

#[test]
fn flipped_byte_in_the_middle_is_corruption_at_its_fragment() {
    let records = vec![payload(50, 1), payload(60, 2), payload(70, 3)];
    let (data, offsets) = write_log(&records);
    for at in [
        offsets[1] as usize,                  // checksum
        offsets[1] as usize + 4,              // length
        offsets[1] as usize + 5,              // length, now past end of file
        offsets[1] as usize + 6,              // type
        offsets[1] as usize + HEADER_LEN + 9, // payload
    ] {
        let bad = corrupt(&data, at);
        for policy in [TailPolicy::Strict, TailPolicy::TolerateTornTail] {
            let (got, _) = read_all(&bad, policy);
            match got.unwrap_err() {
                Error::Corruption { file, offset, .. } => {
                    assert_eq!(file, Path::new("test.log"));
                    assert_eq!(offset, offsets[1], "flip at {at}");
                }
                e => panic!("unexpected {e}"),
            }
        }
        let (got, r) = read_all(&bad, TailPolicy::StopAtDamage);
        let got = got.unwrap();
        assert_eq!(got, vec![(0, records[0].clone())]);
        let d = r.dropped().unwrap();
        assert_eq!(d.offset, offsets[1]);
        assert_eq!(d.bytes_dropped, data.len() as u64 - offsets[1]);
        assert!(d.reason.contains(&offsets[1].to_string()), "{}", d.reason);
    }
}

#[test]
fn flipped_byte_in_the_last_record_is_a_torn_tail() {
    let records = vec![payload(50, 1), payload(60, 2)];
    let (data, offsets) = write_log(&records);
    let bad = corrupt(&data, data.len() - 3);
    let (got, r) = read_all(&bad, TailPolicy::TolerateTornTail);
    assert_eq!(got.unwrap().len(), 1);
    assert_eq!(r.torn_tail(), Some(offsets[1]));
    let (got, _) = read_all(&bad, TailPolicy::Strict);
    assert!(got.unwrap_err().is_corruption());
}

#[test]
fn damage_in_a_later_fragment_of_a_record() {
    // Record 1 spans blocks 0..2; damage its MIDDLE fragment, record 2 follows intact.
    let records = vec![payload(10, 1), payload(BLOCK_SIZE * 2, 2), payload(10, 3)];
    let (data, offsets) = write_log(&records);
    let bad = corrupt(&data, BLOCK_SIZE + HEADER_LEN + 5);
    let (got, _) = read_all(&bad, TailPolicy::TolerateTornTail);
    match got.unwrap_err() {
        Error::Corruption { offset, .. } => assert_eq!(offset, BLOCK_SIZE as u64),
        e => panic!("unexpected {e}"),
    }
    let (got, r) = read_all(&bad, TailPolicy::StopAtDamage);
    assert_eq!(got.unwrap().len(), 1);
    assert_eq!(r.dropped().unwrap().offset, offsets[1]);
}

#[test]
fn damaged_block_start_found_by_later_block() {
    // Zero out the whole second block: the third block's first header still verifies.
    let records: Vec<Vec<u8>> = (0..12).map(|i| payload(9000, i)).collect();
    let (mut data, _) = write_log(&records);
    data[BLOCK_SIZE..BLOCK_SIZE * 2].fill(0);
    let (got, _) = read_all(&data, TailPolicy::TolerateTornTail);
    match got.unwrap_err() {
        Error::Corruption { offset, .. } => assert_eq!(offset, BLOCK_SIZE as u64),
        e => panic!("unexpected {e}"),
    }
}

#[test]
fn fragment_sequence_errors_are_damage() {
    use super::format::{encode_fragment, FragmentType};
    let mut middle_first = Vec::new();
    encode_fragment(&mut middle_first, FragmentType::Full, b"ok");
    encode_fragment(&mut middle_first, FragmentType::Middle, b"orphan");
    encode_fragment(&mut middle_first, FragmentType::Full, b"after");
    let (got, _) = read_all(&middle_first, TailPolicy::TolerateTornTail);
    match got.unwrap_err() {
        Error::Corruption { offset, .. } => assert_eq!(offset, 9),
        e => panic!("unexpected {e}"),
    }

    let mut first_first = Vec::new();
    encode_fragment(&mut first_first, FragmentType::First, b"one");
    encode_fragment(&mut first_first, FragmentType::First, b"two");
    encode_fragment(&mut first_first, FragmentType::Last, b"!");
    let (got, _) = read_all(&first_first, TailPolicy::Strict);
    match got.unwrap_err() {
        Error::Corruption { offset, .. } => assert_eq!(offset, 10),
        e => panic!("unexpected {e}"),
    }
    let (got, r) = read_all(&first_first, TailPolicy::StopAtDamage);
    assert!(got.unwrap().is_empty());
    let d = r.dropped().unwrap();
    assert_eq!((d.offset, d.bytes_dropped), (0, first_first.len() as u64));

    // A FIRST with no LAST at end of file is a torn tail.
    let mut open_at_eof = Vec::new();
    encode_fragment(&mut open_at_eof, FragmentType::Full, b"ok");
    encode_fragment(&mut open_at_eof, FragmentType::First, b"one");
    encode_fragment(&mut open_at_eof, FragmentType::Middle, b"two");
    let (got, r) = read_all(&open_at_eof, TailPolicy::TolerateTornTail);
    assert_eq!(got.unwrap().len(), 1);
    assert_eq!(r.torn_tail(), Some(9));
}

#[test]
fn garbage_tail_is_torn_and_reader_stays_done() {
    let (mut data, _) = write_log(&[payload(10, 1), payload(10, 2)]);
    let end = data.len() as u64;
    data.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x01, 0x00, 0x09, 1, 2, 3]);
    let (got, mut r) = read_all(&data, TailPolicy::TolerateTornTail);
    assert_eq!(got.unwrap().len(), 2);
    assert_eq!(r.torn_tail(), Some(end));
    assert_eq!(r.valid_end(), end);
    assert!(r.next_record().unwrap().is_none());
}
