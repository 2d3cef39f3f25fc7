//! A schedule's cron expression read in its time zone: checked when a definition is stored,
//! and asked for its firing times by `serve` (EventBridge Scheduler does that on AWS).

use croner::parser::{CronParser, Seconds};
use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A checked cron expression and time zone.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: Cron,
    tz: TimeZone,
    /// True when the expression has a leading seconds field.
    with_seconds: bool,
}

impl CronSchedule {
    /// Five fields as crontab has them, or six with a leading seconds field; an IANA zone,
    /// spelled as the tz database spells it (EventBridge Scheduler takes no other).
    /// The error says what is wrong in words a user can act on.
    pub fn parse(expression: &str, tz: &str) -> Result<Self, String> {
        let tz = zone(tz)?;
        let fields = expression.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "cron {expression:?} has {fields} fields; give 5 (minute hour day-of-month month day-of-week)"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|e| format!("cron {expression:?}: {e}"))?;
        Ok(CronSchedule {
            cron,
            tz,
            with_seconds: fields == 6,
        })
    }

    pub fn with_seconds(&self) -> bool {
        self.with_seconds
    }

    /// The first firing strictly after `unix` (seconds since the epoch).
    pub fn next_after(&self, unix: u64) -> Option<u64> {
        let from = self.at(unix)?;
        let next = self.cron.find_next_occurrence(&from, false).ok()?;
        u64::try_from(next.timestamp().as_second()).ok()
    }

    /// The last firing at or before `unix`.
    pub fn last_at_or_before(&self, unix: u64) -> Option<u64> {
        let from = self.at(unix)?;
        let last = self.cron.find_previous_occurrence(&from, true).ok()?;
        u64::try_from(last.timestamp().as_second()).ok()
    }

    fn at(&self, unix: u64) -> Option<Zoned> {
        let at = Timestamp::from_second(i64::try_from(unix).ok()?).ok()?;
        Some(at.to_zoned(self.tz.clone()))
    }
}

/// The zone named exactly `name`. The database's own lookup ignores case; a name in
/// another case is refused with its right spelling, since AWS would refuse it later.
fn zone(name: &str) -> Result<TimeZone, String> {
    let unknown =
        || format!("unknown time zone {name:?}; use an IANA name such as Europe/Berlin or UTC");
    let tz = TimeZone::get(name).map_err(|_| unknown())?;
    match tz.iana_name() {
        Some(spelled) if spelled == name => Ok(tz),
        Some(spelled) => Err(format!(
            "unknown time zone {name:?}; did you mean {spelled:?}?"
        )),
        None => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(rfc3339: &str) -> u64 {
        rfc3339.parse::<Timestamp>().unwrap().as_second() as u64
    }

    #[test]
    fn a_daily_time_keeps_to_the_wall_clock_across_dst() {
        let s = CronSchedule::parse("30 2 * * *", "Europe/Berlin").unwrap();
        // Spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST, so 02:30 does not exist
        // that day; the firing is not lost but happens as the clock jumps, at 03:00 CEST.
        let before = unix("2026-03-28T02:00:00+01:00");
        assert_eq!(
            s.next_after(before),
            Some(unix("2026-03-28T02:30:00+01:00"))
        );
        let skipped_day = s.next_after(unix("2026-03-28T02:30:00+01:00"));
        assert_eq!(skipped_day, Some(unix("2026-03-29T03:00:00+02:00")));
        assert_eq!(
            s.next_after(skipped_day.unwrap()),
            Some(unix("2026-03-30T02:30:00+02:00"))
        );
        // Fall back: 2026-10-25 03:00 CEST becomes 02:00 CET, and 02:30 happens twice;
        // a daily schedule fires once that day.
        let s = CronSchedule::parse("30 2 * * *", "Europe/Berlin").unwrap();
        let first = s.next_after(unix("2026-10-25T00:00:00+02:00")).unwrap();
        let second = s.next_after(first).unwrap();
        assert_eq!(first, unix("2026-10-25T02:30:00+02:00"));
        assert_eq!(second, unix("2026-10-26T02:30:00+01:00"), "once that day");
        // The same expression in UTC is an hour or two away from Berlin's.
        let utc = CronSchedule::parse("30 2 * * *", "UTC").unwrap();
        assert_eq!(
            utc.next_after(unix("2026-07-01T00:00:00Z")),
            Some(unix("2026-07-01T02:30:00Z"))
        );
        assert_eq!(
            s.next_after(unix("2026-07-01T00:00:00Z")),
            Some(unix("2026-07-01T00:30:00Z")),
            "02:30 in Berlin in summer is 00:30 UTC"
        );
    }

    #[test]
    fn bad_expressions_and_zones_say_what_is_wrong() {
        assert!(CronSchedule::parse("0 3 * * *", "Mars/Olympus")
            .unwrap_err()
            .contains("unknown time zone"));
        assert_eq!(
            CronSchedule::parse("0 3 * * *", "europe/berlin").unwrap_err(),
            r#"unknown time zone "europe/berlin"; did you mean "Europe/Berlin"?"#
        );
        assert!(CronSchedule::parse("0 3 * * *", "").is_err());
        assert!(CronSchedule::parse("0 3 * * *", "../../etc/passwd").is_err());
        assert!(CronSchedule::parse("0 3 * *", "UTC")
            .unwrap_err()
            .contains("4 fields"));
        assert!(CronSchedule::parse("61 3 * * *", "UTC").is_err());
        assert!(CronSchedule::parse("*/5 * * * * *", "UTC")
            .unwrap()
            .with_seconds());
    }

    #[test]
    fn previous_and_next_bracket_a_time() {
        let s = CronSchedule::parse("*/15 * * * *", "UTC").unwrap();
        let t = unix("2026-01-01T10:07:00Z");
        assert_eq!(s.last_at_or_before(t), Some(unix("2026-01-01T10:00:00Z")));
        assert_eq!(s.next_after(t), Some(unix("2026-01-01T10:15:00Z")));
        assert_eq!(
            s.last_at_or_before(unix("2026-01-01T10:15:00Z")),
            Some(unix("2026-01-01T10:15:00Z"))
        );
    }
}
