//! Fuzz target `metadata`: the body is `udap_server::fuzzing::metadata`, which the corpus replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| udap_server::fuzzing::metadata(data));
