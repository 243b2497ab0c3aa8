//! Tests of the force-quorum record that tells a survivor from the node left behind.

use super::{FORCED_MARKER, forced_entry, write_marker};

#[test]
fn forced_entry_reads_what_force_quorum_wrote_and_refuses_anything_else() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    assert_eq!(forced_entry(dir.path()).expect("no record"), None);
    write_marker(dir.path(), FORCED_MARKER, 7, 42).expect("write the record");
    assert_eq!(forced_entry(dir.path()).expect("the record"), Some((7, 42)));
    std::fs::write(dir.path().join(FORCED_MARKER), "7").expect("truncate the record");
    let error = forced_entry(dir.path()).expect_err("a damaged record is an error");
    assert!(
        error.to_string().contains("is not `<term> <index>`"),
        "{error}"
    );
}
