//! Unit tests of `/proc/<pid>/stat` parsing and output summaries.

use super::{ProcStat, last_lines, parse_proc_stat};

#[test]
fn proc_stat_is_parsed_even_when_the_name_has_spaces_and_parens() {
    let line = "1234 (we) ird) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
    assert_eq!(
        parse_proc_stat(line),
        Some(ProcStat {
            zombie: false,
            start_ticks: 98765
        })
    );
}

#[test]
fn zombies_are_recognised() {
    let line = "77 (sleep) Z 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0";
    assert_eq!(
        parse_proc_stat(line),
        Some(ProcStat {
            zombie: true,
            start_ticks: 555
        })
    );
}

#[test]
fn truncated_stat_is_not_trusted() {
    assert_eq!(parse_proc_stat("77 (sleep) S 1 77"), None);
}

#[test]
fn last_lines_skip_blank_lines_and_join_the_rest() {
    assert_eq!(last_lines("a\n\nb\n  c  \n\n", 2), "b | c");
    assert_eq!(last_lines("", 3), "");
}
