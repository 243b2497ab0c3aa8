//! The Date field a proxy adds to a response that came without one (RFC 9110 section 6.6.1),
//! in the IMF-fixdate format, computed from the system clock without a date library.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Appends `date: <now>\r\n`.
pub(crate) fn write_field(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    out.extend_from_slice(b"date: ");
    write_imf_fixdate(out, now);
    out.extend_from_slice(b"\r\n");
}

/// Appends the time `unix_seconds` after the epoch as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn write_imf_fixdate(out: &mut Vec<u8>, unix_seconds: u64) {
    let days = unix_seconds / 86_400;
    let seconds = unix_seconds % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm), with March as the first month so that
    // the leap day falls at the end of a year.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    // Writing into a vector cannot fail.
    let _ = write!(
        out,
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
    );
}

#[cfg(test)]
mod tests;
