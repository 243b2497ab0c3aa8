//! libFuzzer's entry to the fuzz target `lb_chunk_size`: its `fuzz::TARGETS` entry's function.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = fuzz::target("lb_chunk_size").expect("lb_chunk_size is in fuzz::TARGETS");
    (target.run)(data);
});
