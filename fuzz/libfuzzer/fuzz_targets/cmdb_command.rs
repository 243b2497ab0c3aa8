//! libFuzzer's entry to the fuzz target `cmdb_command`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("cmdb_command").expect("cmdb_command is in fuzz::TARGETS");
    (target.run)(data);
});
