//! libFuzzer's entry to the fuzz target `config_toml`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("config_toml").expect("config_toml is in fuzz::TARGETS");
    (target.run)(data);
});
