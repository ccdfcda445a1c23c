//! The site's clock: which local calendar day and which shift an instant falls
//! in, in the site's IANA time zone, correct across DST changes.
//!
//! Days run from local midnight to the next local midnight, so they are 23 or
//! 25 hours long on DST change days. Local times that do not exist (spring
//! forward) or happen twice (fall back) are resolved with jiff's "compatible"
//! disambiguation, the same rule as RFC 5545 and `java.time`: a time in a gap
//! moves forward by the gap's length, a repeated time takes its first (earlier)
//! occurrence. See docs/store.md.

use crate::error::{Error, Result};
use jiff::civil::{Date, Time};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{Timestamp, ToSpan};

/// One configured shift: `[[site.shifts]] name = "night", start = "22:00", end = "06:00"`.
/// Times are local wall-clock "HH:MM"; `end` at or before `start` means the shift
/// ends on the next day, and `end = "24:00"` means midnight at the end of the day.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftConfig {
    pub name: String,
    pub start: String,
    pub end: String,
}

/// A local calendar day: its date and the instants `[start_ms, end_ms)` (Unix ms).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DayWindow {
    /// "YYYY-MM-DD" in the site's time zone.
    pub date: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// One occurrence of a shift: `[start_ms, end_ms)` in Unix ms.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ShiftWindow {
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// A shift after validation: wall-clock start, and end as minutes after the start day's midnight
/// (more than 1440 when it ends the next day).
#[derive(Clone, Debug)]
struct Shift {
    name: String,
    start_min: i32,
    end_min: i32,
}

/// The site's time zone and shifts. Cheap to clone; no I/O after construction.
#[derive(Clone, Debug)]
pub struct SiteClock {
    tz: TimeZone,
    shifts: Vec<Shift>,
}

impl SiteClock {
    /// `timezone` is an IANA name ("Asia/Shanghai"). Zones come from the system's
    /// tzdata when it is installed, else from the copy compiled into the binary.
    pub fn new(timezone: &str, shifts: &[ShiftConfig]) -> Result<SiteClock> {
        Self::with_db(jiff::tz::db(), timezone, shifts)
    }

    pub(crate) fn with_db(
        db: &TimeZoneDatabase,
        timezone: &str,
        shifts: &[ShiftConfig],
    ) -> Result<SiteClock> {
        let tz = db.get(timezone).map_err(|_| {
            Error::config(format!(
                "site.timezone = {timezone:?} is not a known time zone: use an IANA name such as Europe/Berlin or Asia/Shanghai"
            ))
        })?;
        let shifts = validate_shifts(shifts)?;
        Ok(SiteClock { tz, shifts })
    }

    /// The IANA name of the site's zone.
    pub fn timezone(&self) -> &str {
        self.tz.iana_name().unwrap_or("UTC")
    }

    /// The local day called `date` ("2026-11-23"); `None` when it is not a date.
    pub fn day_of(&self, date: &str) -> Option<DayWindow> {
        let d: Date = date.parse().ok()?;
        Some(self.day(self.day_start_ms(d)))
    }

    /// Local wall-clock time of `at_ms` as "HH:MM".
    pub fn local_hhmm(&self, at_ms: i64) -> String {
        Timestamp::from_millisecond(at_ms)
            .map(|t| t.to_zoned(self.tz.clone()).strftime("%H:%M").to_string())
            .unwrap_or_default()
    }

    /// Local wall time of `at_ms`, e.g. "2026-11-24 00:01:42.480 CST" (clip overlays).
    pub fn local_time(&self, at_ms: i64) -> String {
        match jiff::Timestamp::from_millisecond(at_ms) {
            Ok(ts) => {
                let z = ts.to_zoned(self.tz.clone());
                format!(
                    "{}.{:03} {}",
                    z.strftime("%Y-%m-%d %H:%M:%S"),
                    at_ms.rem_euclid(1000),
                    z.strftime("%Z")
                )
            }
            Err(_) => String::new(),
        }
    }

    /// The local calendar day containing `at_ms` (Unix ms).
    pub fn day(&self, at_ms: i64) -> DayWindow {
        let mut date = self.local_date(at_ms);
        // The local date nearly always gives the window directly; the loop only
        // matters in zones whose clocks once jumped back across midnight.
        loop {
            let (start, end) = (self.day_start_ms(date), self.day_start_ms(next_day(date)));
            if at_ms < start {
                date = prev_day(date);
            } else if at_ms >= end {
                date = next_day(date);
            } else {
                return DayWindow {
                    date: date.to_string(),
                    start_ms: start,
                    end_ms: end,
                };
            }
        }
    }

    /// The shift containing `at_ms`, if any. A shift crossing midnight that
    /// contains `at_ms` after midnight started on the previous local day.
    pub fn shift(&self, at_ms: i64) -> Option<ShiftWindow> {
        let today = self.local_date(at_ms);
        for day in [today, prev_day(today)] {
            for s in &self.shifts {
                let start_ms = self.wall_ms(day, s.start_min);
                let end_ms = self.wall_ms(day, s.end_min);
                if start_ms <= at_ms && at_ms < end_ms {
                    return Some(ShiftWindow {
                        name: s.name.clone(),
                        start_ms,
                        end_ms,
                    });
                }
            }
        }
        None
    }

    fn local_date(&self, at_ms: i64) -> Date {
        // Out-of-range instants (beyond ±9999 years) clamp: they are bugs upstream, not site times.
        let ts = Timestamp::from_millisecond(at_ms).unwrap_or(if at_ms < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        ts.to_zoned(self.tz.clone()).date()
    }

    /// First instant of local `date` (midnight, or the end of a gap that swallowed it).
    fn day_start_ms(&self, date: Date) -> i64 {
        self.wall_ms(date, 0)
    }

    /// The instant of wall time `minutes` after `date`'s midnight (may exceed one day).
    fn wall_ms(&self, date: Date, minutes: i32) -> i64 {
        let days = minutes.div_euclid(1440);
        let rem = minutes.rem_euclid(1440);
        let date = date.checked_add(days.days()).unwrap_or(date);
        let time = Time::new((rem / 60) as i8, (rem % 60) as i8, 0, 0).expect("minute of day");
        self.tz
            .to_ambiguous_timestamp(date.to_datetime(time))
            .compatible()
            .map(|ts| ts.as_millisecond())
            .unwrap_or(if days < 0 { i64::MIN } else { i64::MAX })
    }
}

fn next_day(d: Date) -> Date {
    d.tomorrow().unwrap_or(d)
}

fn prev_day(d: Date) -> Date {
    d.yesterday().unwrap_or(d)
}

/// Parses "HH:MM" into minutes after midnight; `allow_24` admits "24:00".
fn parse_hhmm(s: &str, allow_24: bool) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if allow_24 => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn validate_shifts(shifts: &[ShiftConfig]) -> Result<Vec<Shift>> {
    let mut out: Vec<Shift> = Vec::with_capacity(shifts.len());
    for (i, c) in shifts.iter().enumerate() {
        let key = format!("site.shifts[{i}]");
        if c.name.trim().is_empty() {
            return Err(Error::config(format!(
                "{key}.name is empty: give the shift a name such as \"early\""
            )));
        }
        let bad = |field: &str, value: &str| {
            Error::config(format!(
                "{key}.{field} = {value:?} of shift {:?} is not a time: use 24-hour \"HH:MM\" such as \"06:00\"",
                c.name
            ))
        };
        let start = parse_hhmm(&c.start, false).ok_or_else(|| bad("start", &c.start))?;
        let mut end = parse_hhmm(&c.end, true).ok_or_else(|| bad("end", &c.end))?;
        if end <= start {
            end += 1440; // crosses midnight (or lasts a full day when end == start)
        }
        if let Some(prev) = out.iter().find(|s| s.name == c.name) {
            return Err(Error::config(format!(
                "{key}.name = {:?} is used by two shifts: give each shift its own name",
                prev.name
            )));
        }
        // Overlap on the 24-hour circle of wall time: two shifts sharing a minute.
        for s in &out {
            let overlaps = [-1440, 0, 1440]
                .iter()
                .any(|off| start + off < s.end_min && s.start_min < end + off);
            if overlaps {
                return Err(Error::config(format!(
                    "{key}: shift {:?} ({}–{}) overlaps shift {:?}: make shifts end where the next begins",
                    c.name, c.start, c.end, s.name
                )));
            }
        }
        out.push(Shift {
            name: c.name.clone(),
            start_min: start,
            end_min: end,
        });
    }
    Ok(out)
}

/// Unix milliseconds of a wall-clock time (0 before 1970).
pub fn unix_ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn shift(name: &str, start: &str, end: &str) -> ShiftConfig {
        ShiftConfig {
            name: name.into(),
            start: start.into(),
            end: end.into(),
        }
    }

    fn three_shifts() -> Vec<ShiftConfig> {
        vec![
            shift("early", "06:00", "14:00"),
            shift("late", "14:00", "22:00"),
            shift("night", "22:00", "06:00"),
        ]
    }

    /// Both the system tzdata and the copy compiled into the binary, so a host
    /// without the `tzdata` package gives the same answers.
    fn clocks(zone: &str) -> Vec<SiteClock> {
        let bundled = TimeZoneDatabase::bundled();
        vec![
            SiteClock::new(zone, &three_shifts()).unwrap(),
            SiteClock::with_db(&bundled, zone, &three_shifts()).unwrap(),
        ]
    }

    #[test]
    fn clock_shanghai_day_rolls_at_local_midnight_1600_utc() {
        for c in clocks("Asia/Shanghai") {
            let d = c.day(ms("2026-11-23T15:59:59.999Z"));
            assert_eq!(d.date, "2026-11-23");
            assert_eq!(d.start_ms, ms("2026-11-22T16:00:00Z"));
            assert_eq!(d.end_ms, ms("2026-11-23T16:00:00Z"));
            let d = c.day(ms("2026-11-23T16:00:00Z"));
            assert_eq!(d.date, "2026-11-24");
            assert_eq!(d.start_ms, ms("2026-11-23T16:00:00Z"));
            assert_eq!(d.end_ms - d.start_ms, 24 * 3_600_000);
        }
    }

    #[test]
    fn clock_berlin_spring_forward_day_is_23_hours() {
        for c in clocks("Europe/Berlin") {
            // 2026-03-29: 02:00 CET jumps to 03:00 CEST.
            let d = c.day(ms("2026-03-29T12:00:00Z"));
            assert_eq!(d.date, "2026-03-29");
            assert_eq!(d.start_ms, ms("2026-03-28T23:00:00Z"));
            assert_eq!(d.end_ms, ms("2026-03-29T22:00:00Z"));
            assert_eq!(d.end_ms - d.start_ms, 23 * 3_600_000);
            // The last millisecond belongs to the 29th, the next to the 30th.
            assert_eq!(c.day(d.end_ms - 1).date, "2026-03-29");
            assert_eq!(c.day(d.end_ms).date, "2026-03-30");
        }
    }

    #[test]
    fn clock_berlin_fall_back_day_is_25_hours() {
        for c in clocks("Europe/Berlin") {
            // 2026-10-25: 03:00 CEST falls back to 02:00 CET.
            let d = c.day(ms("2026-10-25T01:30:00Z"));
            assert_eq!(d.date, "2026-10-25");
            assert_eq!(d.start_ms, ms("2026-10-24T22:00:00Z"));
            assert_eq!(d.end_ms, ms("2026-10-25T23:00:00Z"));
            assert_eq!(d.end_ms - d.start_ms, 25 * 3_600_000);
            assert_eq!(c.day(d.start_ms - 1).date, "2026-10-24");
        }
    }

    #[test]
    fn clock_night_shift_after_midnight_started_the_previous_day() {
        for c in clocks("Asia/Shanghai") {
            // 02:00 local on the 24th is inside the night shift of the 23rd.
            let s = c.shift(ms("2026-11-23T18:00:00Z")).unwrap();
            assert_eq!(s.name, "night");
            assert_eq!(s.start_ms, ms("2026-11-23T14:00:00Z")); // 22:00 local, 23rd
            assert_eq!(s.end_ms, ms("2026-11-23T22:00:00Z")); // 06:00 local, 24th
                                                              // 23:00 local on the 23rd: same shift occurrence.
            assert_eq!(c.shift(ms("2026-11-23T15:00:00Z")).unwrap(), s);
            // 06:00 local sharp belongs to the early shift.
            let e = c.shift(ms("2026-11-23T22:00:00Z")).unwrap();
            assert_eq!(e.name, "early");
            assert_eq!(e.end_ms - e.start_ms, 8 * 3_600_000);
        }
    }

    #[test]
    fn clock_night_shift_over_berlin_fall_back_lasts_9_hours() {
        for c in clocks("Europe/Berlin") {
            let s = c.shift(ms("2026-10-25T01:30:00Z")).unwrap();
            assert_eq!(s.name, "night");
            assert_eq!(s.start_ms, ms("2026-10-24T20:00:00Z")); // 22:00 CEST
            assert_eq!(s.end_ms, ms("2026-10-25T05:00:00Z")); // 06:00 CET
        }
    }

    #[test]
    fn clock_no_shift_outside_configured_hours() {
        let c = SiteClock::new("Asia/Shanghai", &[shift("day", "08:00", "17:00")]).unwrap();
        assert_eq!(c.shift(ms("2026-11-23T12:00:00Z")), None); // 20:00 local
        assert_eq!(c.shift(ms("2026-11-23T01:00:00Z")).unwrap().name, "day"); // 09:00 local
        let c = SiteClock::new("UTC", &[]).unwrap();
        assert_eq!(c.shift(0), None);
        assert_eq!(c.day(0).date, "1970-01-01");
    }

    #[test]
    fn clock_shift_ending_at_24_00_ends_at_midnight() {
        let c = SiteClock::new("UTC", &[shift("late", "16:00", "24:00")]).unwrap();
        let s = c.shift(ms("2026-11-23T23:59:59Z")).unwrap();
        assert_eq!(s.end_ms, ms("2026-11-24T00:00:00Z"));
        assert_eq!(c.shift(ms("2026-11-24T00:00:00Z")), None);
    }

    #[test]
    fn clock_invalid_zone_name_is_a_config_error_naming_it() {
        let e = SiteClock::new("Asia/Shangai", &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        let msg = e.to_string();
        assert!(msg.contains("\"Asia/Shangai\""), "{msg}");
        assert!(msg.contains("IANA name such as Europe/Berlin"), "{msg}");
    }

    #[test]
    fn clock_bad_shift_time_is_a_config_error_naming_shift_and_value() {
        for bad in ["6:00", "25:00", "06:60", "0600", "06:00:00", "24:00"] {
            let e = SiteClock::new("UTC", &[shift("early", bad, "14:00")]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            let msg = e.to_string();
            assert!(
                msg.contains("\"early\"") && msg.contains(&format!("{bad:?}")),
                "{msg}"
            );
            assert!(msg.contains("site.shifts[0].start"), "{msg}");
        }
    }

    #[test]
    fn clock_overlapping_or_duplicate_shifts_are_config_errors() {
        let e = SiteClock::new(
            "UTC",
            &[
                shift("night", "22:00", "06:00"),
                shift("early", "05:00", "14:00"),
            ],
        )
        .unwrap_err();
        assert!(e.to_string().contains("overlaps shift \"night\""), "{e}");
        let e = SiteClock::new(
            "UTC",
            &[shift("a", "06:00", "14:00"), shift("a", "14:00", "22:00")],
        )
        .unwrap_err();
        assert!(e.to_string().contains("used by two shifts"), "{e}");
    }
}
