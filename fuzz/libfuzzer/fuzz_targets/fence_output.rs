//! libFuzzer's entry to the fuzz target `fence_output`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("fence_output").expect("fence_output is in fuzz::TARGETS");
    (target.run)(data);
});
