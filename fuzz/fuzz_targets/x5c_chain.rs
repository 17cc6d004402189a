//! Fuzz target `x5c_chain`: the body is `udap_server::fuzzing::x5c_chain`, which the corpus replay test also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| udap_server::fuzzing::x5c_chain(data));
