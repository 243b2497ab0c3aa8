//! Known instants render as RFC 9110's examples and the calendar's corner cases.

use super::write_imf_fixdate;

fn check(unix_seconds: u64, expected: &str) {
    let mut out = Vec::new();
    write_imf_fixdate(&mut out, unix_seconds);
    assert_eq!(String::from_utf8_lossy(&out), expected, "{unix_seconds}");
}

#[test]
fn the_epoch_and_the_rfc_example() {
    check(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    check(784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT");
}

#[test]
fn leap_days_and_year_ends() {
    check(951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT");
    check(951_868_800, "Wed, 01 Mar 2000 00:00:00 GMT");
    check(4_102_444_799, "Thu, 31 Dec 2099 23:59:59 GMT");
    // 2100 is not a leap year.
    check(4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT");
    check(1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT");
    check(1_795_219_200, "Sat, 21 Nov 2026 00:00:00 GMT");
}
