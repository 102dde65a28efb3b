//! Feeds arbitrary bytes to the WAL reader and the batch decoder: they must return records or
//! errors, never panic. Run: `cargo fuzz run -s none wal_records` (see docs/testing.md).
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use lsm_core::wal::{LogReader, TailPolicy, WriteBatch};

fuzz_target!(|data: &[u8]| {
    for policy in [TailPolicy::Strict, TailPolicy::TolerateTornTail, TailPolicy::StopAtDamage] {
        let mut r = LogReader::new(bytes::Bytes::copy_from_slice(data), PathBuf::from("fuzz.log"), policy);
        while let Ok(Some((offset, rec))) = r.next_record() {
            if let Ok(b) = WriteBatch::from_bytes(rec.to_vec(), &PathBuf::from("fuzz.log"), offset) {
                for op in b.iter() {
                    let _ = op;
                }
            }
        }
    }
});
