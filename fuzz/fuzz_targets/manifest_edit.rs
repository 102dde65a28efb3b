//! cargo-fuzz target: see `lsm_core::fuzzing::manifest_edit` for what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lsm_core::fuzzing::manifest_edit(data);
});
