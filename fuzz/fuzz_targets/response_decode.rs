#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ksef_fuzz::response_decode(data));
