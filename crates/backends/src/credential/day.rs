//! `expires=YYYY-MM-DD` as a day number (days since 1970-01-01, UTC), the unit shadow(5) and
//! [`crate::shadow::expiry::today`] use.
//!
//! Hand-written with std only: one calendar conversion does not justify a date crate in the
//! backends (none is a direct dependency), and the arithmetic is Howard Hinnant's well-known
//! `days_from_civil`, checked here against known dates and a round trip.

/// The day number of `text`, which must be exactly `YYYY-MM-DD` and a real date.
pub fn parse(text: &str) -> Result<i64, String> {
    let bad = || format!("expires={text:?} is not a date written YYYY-MM-DD");
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let digits = &text[range];
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse().map_err(|_| bad())
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("expires={text:?} is no such day"));
    }
    Ok(days_from_civil(year, month, day))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian `year-month-day` (Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn known_days() {
        assert_eq!(parse("1970-01-01").unwrap(), 0);
        assert_eq!(parse("1970-01-02").unwrap(), 1);
        assert_eq!(parse("2000-03-01").unwrap(), 11_017);
        assert_eq!(parse("2024-02-29").unwrap(), 19_782);
        assert_eq!(parse("2026-11-30").unwrap(), 20_787);
        assert_eq!(parse("1969-12-31").unwrap(), -1);
    }

    #[test]
    fn consecutive_days_are_consecutive_numbers() {
        let mut expected = parse("1999-12-31").unwrap();
        for year in 2000..2005 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    expected += 1;
                    assert_eq!(parse(&format!("{year:04}-{month:02}-{day:02}")).unwrap(), expected);
                }
            }
        }
    }

    #[test]
    fn refuses_other_forms_and_impossible_days() {
        for bad in ["2026-1-01", "2026/01/01", "20260101", "2026-01-01T00:00", "+202-01-01", "2026-00-10"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        for bad in ["2026-02-29", "2100-02-29", "2026-04-31", "2026-13-01", "2026-01-00", "2026-01-32"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("2000-02-29").is_ok());
    }
}
