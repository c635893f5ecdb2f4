#![no_main]
//! libFuzzer over [`treestat_fuzz_checks::log_format_compile`] (the check and its model live there).

libfuzzer_sys::fuzz_target!(|data: &[u8]| treestat_fuzz_checks::log_format_compile::run(data));
