//! Checked times. Every time or date that comes from outside (a device's event, a
//! survey answer, a URL, a command line) is parsed here into a value inside the window
//! peakend works in, so later arithmetic (the next working day, a local midnight, a
//! day's end) can never overflow chrono's range and panic.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

/// The first and last years an event, visit or report date may fall in.
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2100;

/// 2000-01-01T00:00:00Z and 2101-01-01T00:00:00Z in ms since the epoch: a UTC window a
/// little wider than the local one, so any local time inside it converts both ways.
const FIRST_MS: i64 = 946_684_800_000 - 86_400_000;
const END_MS: i64 = 4_133_980_800_000 + 86_400_000;

fn window() -> String {
    format!("outside the years {FIRST_YEAR}–{LAST_YEAR}")
}

/// `date` if its year is in the window.
pub fn check_date(date: NaiveDate) -> Result<NaiveDate, String> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&date.year()) {
        Ok(date)
    } else {
        Err(format!("`{date}` is {}", window()))
    }
}

/// A visit or report date: `2024-03-15`, `2024/3/15` (Excel in China) or `2024.3.15`,
/// in the window.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let t = s.trim();
    let date = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
        .ok_or_else(|| format!("`{s}` is not a date (expected YYYY-MM-DD)"))?;
    check_date(date).map_err(|_| format!("`{s}` is {}", window()))
}

/// An RFC 3339 time with its offset (`2026-08-07T09:30:00+08:00`), in the window.
pub fn parse_instant(s: &str) -> Result<DateTime<FixedOffset>, String> {
    let t = s.trim();
    let at = DateTime::parse_from_rfc3339(t)
        .map_err(|_| format!("`{s}` is not an RFC 3339 time with an offset"))?;
    check_date(at.date_naive()).map_err(|_| format!("`{s}` is {}", window()))?;
    Ok(at)
}

/// A time in ms since the epoch, if it is in the window.
pub fn instant_from_millis(ms: i64) -> Option<DateTime<Utc>> {
    if (FIRST_MS..END_MS).contains(&ms) {
        DateTime::from_timestamp_millis(ms)
    } else {
        None
    }
}

/// A place's time zone: an IANA name (`Asia/Shanghai`, `Asia/Urumqi`) whose offsets
/// come from the zone database compiled into the binary. Day boundaries, working days
/// and KPI buckets of a hall are its zone's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(chrono_tz::Tz);

impl Zone {
    /// The zone of an org node that names none, and of none of its ancestors.
    pub const DEFAULT: Zone = Zone(chrono_tz::Tz::Asia__Shanghai);

    pub fn parse(name: &str) -> Result<Zone, String> {
        name.trim()
            .parse::<chrono_tz::Tz>()
            .map(Zone)
            .map_err(|_| format!("`{name}` is not an IANA time zone (such as Asia/Shanghai)"))
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The UTC offset in force at an instant (ms).
    pub fn offset_at(&self, at_ms: i64) -> FixedOffset {
        use chrono::{Offset, TimeZone};
        match DateTime::from_timestamp_millis(at_ms) {
            Some(t) => self.0.offset_from_utc_datetime(&t.naive_utc()).fix(),
            None => FixedOffset::east_opt(0).expect("UTC"),
        }
    }

    /// The UTC offset of a local date (at its noon: a day that changes offset at night
    /// is taken at its daytime offset, which is when halls are open).
    pub fn offset_on(&self, date: NaiveDate) -> FixedOffset {
        use chrono::{Offset, TimeZone};
        let noon = date.and_hms_opt(12, 0, 0).expect("noon exists");
        self.0
            .offset_from_local_datetime(&noon)
            .earliest()
            .map(|o| o.fix())
            .unwrap_or_else(|| self.offset_at(noon.and_utc().timestamp_millis()))
    }

    /// An instant in this zone's local time.
    pub fn local(&self, at_ms: i64) -> Option<DateTime<FixedOffset>> {
        DateTime::from_timestamp_millis(at_ms).map(|t| t.with_timezone(&self.offset_at(at_ms)))
    }

    /// An instant as people read it in lists: `2026-08-07 09:30`, local; empty when
    /// out of range.
    pub fn minute_text(&self, at_ms: i64) -> String {
        self.local(at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone::DEFAULT
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Zone::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_outside_the_window_are_refused() {
        assert!(parse_date("2024-03-15").is_ok());
        assert!(parse_date("2000-01-01").is_ok());
        assert!(parse_date("2100-12-31").is_ok());
        for bad in [
            "1999-12-31",
            "2101-01-01",
            "0000-01-01",
            "9999-12-31",
            "+99999-01-01",
        ] {
            let e = parse_date(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert_eq!(
            parse_date("9999-01-01").unwrap_err(),
            "`9999-01-01` is outside the years 2000–2100"
        );
    }

    #[test]
    fn instants_outside_the_window_are_refused() {
        assert!(parse_instant("2026-08-07T09:30:00+08:00").is_ok());
        for bad in [
            "9999-12-31T23:59:59+08:00",
            "0000-01-01T00:00:00Z",
            "+99999-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
        assert!(instant_from_millis(8_210_266_876_799_999).is_none());
        assert!(instant_from_millis(i64::MIN).is_none());
        assert!(instant_from_millis(1_786_065_540_000).is_some());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::ops::day::AlertId;

    proptest! {
        /// No string makes a date, time or alert id parser panic; what they accept is
        /// inside the window.
        #[test]
        fn parsers_never_panic(s in any::<String>()) {
            if let Ok(d) = parse_date(&s) {
                prop_assert!((FIRST_YEAR..=LAST_YEAR).contains(&d.year()));
            }
            if let Ok(t) = parse_instant(&s) {
                prop_assert!((FIRST_YEAR..=LAST_YEAR).contains(&t.year()));
            }
            let _ = AlertId::parse(&s);
        }

        #[test]
        fn alert_ids_with_any_time_never_panic(
            hall in "[a-z][a-z0-9-]{0,8}",
            kind in "(care_due|pre_processing|kiosk_overdue|x)",
            subject in "[^~]{0,6}",
            ms in any::<i64>(),
        ) {
            if let Ok(id) = AlertId::parse(&format!("{hall}~{kind}~{subject}~{ms}")) {
                prop_assert!(instant_from_millis(id.raised_at).is_some());
                prop_assert_eq!(id.raised_at, ms);
            }
        }

        #[test]
        fn dates_in_any_spelling_never_panic(
            y in any::<i32>(), m in any::<u32>(), d in any::<u32>(), sep in "[-/.]",
        ) {
            let _ = parse_date(&format!("{y}{sep}{m}{sep}{d}"));
            let _ = parse_instant(&format!("{y:04}-{m:02}-{d:02}T00:00:00+08:00"));
        }
    }
}

#[cfg(test)]
mod zone_tests {
    use super::*;

    #[test]
    fn zones_give_their_own_midnights() {
        let shanghai = Zone::parse("Asia/Shanghai").unwrap();
        let urumqi = Zone::parse("Asia/Urumqi").unwrap();
        let london = Zone::parse("Europe/London").unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        assert_eq!(shanghai.offset_on(d).local_minus_utc(), 8 * 3600);
        assert_eq!(urumqi.offset_on(d).local_minus_utc(), 6 * 3600);
        // Summer time in London in August, not in January.
        assert_eq!(london.offset_on(d).local_minus_utc(), 3600);
        let jan = NaiveDate::from_ymd_opt(2026, 1, 7).unwrap();
        assert_eq!(london.offset_on(jan).local_minus_utc(), 0);
        assert_eq!(Zone::default(), shanghai);
        assert!(
            Zone::parse("Mars/Olympus")
                .unwrap_err()
                .contains("Mars/Olympus")
        );
        assert_eq!(Zone::parse(" Asia/Urumqi ").unwrap().name(), "Asia/Urumqi");
    }
}
