//! libFuzzer's entry to the fuzz target `app_protocol`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("app_protocol").expect("app_protocol is in fuzz::TARGETS");
    (target.run)(data);
});
