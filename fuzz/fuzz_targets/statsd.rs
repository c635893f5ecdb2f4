#![no_main]
//! libFuzzer over [`treestat_fuzz_checks::statsd`] (the check and its model live there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| treestat_fuzz_checks::statsd::run(data));
