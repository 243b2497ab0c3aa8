//! libFuzzer's entry to the fuzz target `ocf_meta_data`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("ocf_meta_data").expect("ocf_meta_data is in fuzz::TARGETS");
    (target.run)(data);
});
