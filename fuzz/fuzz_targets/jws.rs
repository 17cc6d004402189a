//! Fuzz target `jws`: the body is `udap_server::fuzzing::jws`, which the corpus replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| udap_server::fuzzing::jws(data));
