//! cargo-fuzz target: see `lsm_core::fuzzing::op_sequence` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lsm_core::fuzzing::op_sequence(data);
});
