//! libFuzzer's entry to the fuzz target `cmdb_entry`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("cmdb_entry").expect("cmdb_entry is in fuzz::TARGETS");
    (target.run)(data);
});
