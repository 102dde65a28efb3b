//! cargo-fuzz target: see `lsm_core::fuzzing::sst_footer` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lsm_core::fuzzing::sst_footer(data);
});
