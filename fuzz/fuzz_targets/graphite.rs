#![no_main]
//! libFuzzer over [`treestat_fuzz_checks::graphite`] (the check and its model live there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| treestat_fuzz_checks::graphite::run(data));
