//! Status texts: bounded and escaped where they enter, kept per node, gone when stale.

use super::*;

#[test]
fn texts_are_escaped_and_cut() {
    assert_eq!(bounded("serving 3 clients"), "serving 3 clients");
    assert_eq!(bounded("two\nlines\u{1b}[31m"), "two\\nlines\\u{1b}[31m");
    let long = "x".repeat(500);
    let shown = bounded(&long);
    assert_eq!(shown.chars().count(), STATUS_TEXT_CHARS_MAX);
    assert!(shown.ends_with('…'));
}

#[test]
fn a_nodes_report_replaces_its_last_and_goes_stale() {
    let book = StatusTexts::default();
    let report = |texts: &[(&str, &str)]| StatusTextReport {
        node_id: 2,
        texts: texts
            .iter()
            .map(|(id, text)| (id.to_string(), text.to_string()))
            .collect(),
    };
    let web = ResourceId("web".into());
    book.record(&report(&[("web", "serving")]), BootMs(1_000));
    assert_eq!(
        book.text(&web, NodeId(2), BootMs(1_500)).as_deref(),
        Some("serving")
    );
    assert_eq!(book.text(&web, NodeId(3), BootMs(1_500)), None);
    book.record(&report(&[]), BootMs(2_000));
    assert_eq!(book.text(&web, NodeId(2), BootMs(2_000)), None, "replaced");
    book.record(&report(&[("web", "draining")]), BootMs(3_000));
    assert_eq!(book.text(&web, NodeId(2), BootMs(13_001)), None, "stale");
}
