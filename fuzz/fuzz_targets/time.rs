#![no_main]
//! libFuzzer over [`treestat_fuzz_checks::time`] (the check and its model live there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| treestat_fuzz_checks::time::run(data));
