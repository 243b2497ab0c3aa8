//! libFuzzer's entry to the fuzz target `lb_request`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("lb_request").expect("lb_request is in fuzz::TARGETS");
    (target.run)(data);
});
