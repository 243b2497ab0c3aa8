//! libFuzzer's entry to the fuzz target `api_json`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("api_json").expect("api_json is in fuzz::TARGETS");
    (target.run)(data);
});
