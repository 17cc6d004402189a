//! Fuzz target `scope`: the body is `udap_server::fuzzing::scope`, which the corpus replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| udap_server::fuzzing::scope(data));
