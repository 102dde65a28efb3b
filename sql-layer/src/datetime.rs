//! Calendar arithmetic for DATE (days since 1970-01-01) and TIMESTAMP (microseconds since
//! 1970-01-01 00:00:00, no time zone): parsing, formatting and field extraction. Proleptic
//! Gregorian calendar, years 1..=9999 (the range the text formats can express).

use crate::error::{Error, Result};

/// Microseconds per day.
pub const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since 1970-01-01 of a civil date (no validation).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn bad(text: &str) -> Error {
    Error::DateTime(format!("\"{text}\""))
}

fn num(s: &str, text: &str) -> Result<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 9 {
        return Err(bad(text));
    }
    s.parse().map_err(|_| bad(text))
}

fn parse_date_part(s: &str, text: &str) -> Result<i64> {
    let mut parts = s.splitn(3, '-');
    let (y, m, d) = match (parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d)) => (num(y, text)?, num(m, text)?, num(d, text)?),
        _ => return Err(bad(text)),
    };
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) {
        return Err(bad(text));
    }
    let (m, d) = (m as u32, d as u32);
    if d == 0 || d > days_in_month(y, m) {
        return Err(bad(text));
    }
    Ok(days_from_civil(y, m, d))
}

/// Parses `YYYY-MM-DD` (a trailing time part is accepted and ignored, as PostgreSQL does).
pub fn parse_date(text: &str) -> Result<i32> {
    let t = text.trim();
    let date = t.split([' ', 'T']).next().unwrap_or("");
    if date.len() < t.len() {
        parse_timestamp(t)?;
    }
    Ok(parse_date_part(date, text)? as i32)
}

/// Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]]`.
pub fn parse_timestamp(text: &str) -> Result<i64> {
    let t = text.trim();
    let (date, time) = match t.find([' ', 'T']) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    let days = parse_date_part(date, text)?;
    let mut micros = 0i64;
    if !time.is_empty() {
        let mut hms = time.splitn(3, ':');
        let h = num(hms.next().unwrap_or(""), text)?;
        let mi = num(hms.next().ok_or_else(|| bad(text))?, text)?;
        let (s, frac) = match hms.next() {
            Some(sec) => match sec.split_once('.') {
                Some((s, f)) => (num(s, text)?, f),
                None => (num(sec, text)?, ""),
            },
            None => (0, ""),
        };
        if h > 24 || mi > 59 || s > 60 || (h == 24 && (mi > 0 || s > 0)) {
            return Err(bad(text));
        }
        let mut f = 0i64;
        if !frac.is_empty() {
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(text));
            }
            let digits: String = frac.chars().chain("000000".chars()).take(6).collect();
            f = digits.parse().map_err(|_| bad(text))?;
        }
        micros = ((h * 60 + mi) * 60 + s) * 1_000_000 + f;
    }
    Ok(days * MICROS_PER_DAY + micros)
}

/// `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(days));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (fraction only when non-zero, trailing zeros trimmed).
pub fn format_timestamp(ts: i64) -> String {
    let days = ts.div_euclid(MICROS_PER_DAY);
    let rem = ts.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / 1_000_000;
    let frac = rem % 1_000_000;
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s
}

/// A date/time field of a timestamp, for `EXTRACT` / `date_part`.
pub fn extract(field: &str, ts: i64) -> Option<f64> {
    let days = ts.div_euclid(MICROS_PER_DAY);
    let rem = ts.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let v = match field {
        "year" | "years" => y as f64,
        "month" | "months" => f64::from(m),
        "day" | "days" => f64::from(d),
        "hour" | "hours" => (rem / 3_600_000_000) as f64,
        "minute" | "minutes" => (rem / 60_000_000 % 60) as f64,
        "second" | "seconds" => (rem % 60_000_000) as f64 / 1e6,
        "dow" => (days + 4).rem_euclid(7) as f64,
        "doy" => (days - days_from_civil(y, 1, 1) + 1) as f64,
        "quarter" => f64::from((m - 1) / 3 + 1),
        "epoch" => ts as f64 / 1e6,
        _ => return None,
    };
    Some(v)
}

/// Adds `months` calendar months to a day number, clamping the day to the month's length.
pub fn add_months(days: i64, months: i64) -> Result<i64> {
    let (y, m, d) = civil_from_days(days);
    let total = y * 12 + i64::from(m) - 1 + months;
    let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    if !(1..=9999).contains(&ny) {
        return Err(Error::DateTime("date out of range".into()));
    }
    Ok(days_from_civil(ny, nm, d.min(days_in_month(ny, nm))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-719_162i64, -1, 0, 1, 59, 365, 10_957, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn parse_and_format() {
        assert_eq!(format_date(parse_date("2024-02-29").unwrap()), "2024-02-29");
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2023-13-01").is_err());
        assert!(parse_date("hello").is_err());
        assert!(parse_date("2023-1-1x").is_err());
        let ts = parse_timestamp("2024-01-02 03:04:05.25").unwrap();
        assert_eq!(format_timestamp(ts), "2024-01-02 03:04:05.25");
        assert_eq!(
            format_timestamp(parse_timestamp("1969-12-31T23:59:59").unwrap()),
            "1969-12-31 23:59:59"
        );
        assert!(parse_timestamp("2024-01-02 25:00:00").is_err());
        assert_eq!(
            extract("dow", parse_timestamp("2024-06-09").unwrap()),
            Some(0.0)
        );
        assert_eq!(
            extract("doy", parse_timestamp("2024-02-01").unwrap()),
            Some(32.0)
        );
    }

    #[test]
    fn months_clamp() {
        let jan31 = days_from_civil(2024, 1, 31);
        assert_eq!(
            civil_from_days(add_months(jan31, 1).unwrap()),
            (2024, 2, 29)
        );
        assert_eq!(
            civil_from_days(add_months(jan31, -2).unwrap()),
            (2023, 11, 30)
        );
    }
}
