//! Fuzz target `crl`: the body is `udap_server::fuzzing::crl`, which the corpus replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| udap_server::fuzzing::crl(data));
