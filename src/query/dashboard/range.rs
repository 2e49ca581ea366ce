//! The date range every page takes from its query string.
//!
//! In: `days=N` or `from=..&to=..` (UTC days). Out: a [`Range`]: `[from, to)` instants for
//! the store, the query string that keeps it in links, and what the range picker shows.

use super::*;

/// Every query parameter any page takes; unknown ones are ignored.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Params {
    pub(super) days: Option<String>,
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) sort: Option<String>,
    pub(super) dir: Option<String>,
    pub(super) domain: Option<String>,
    pub(super) organization: Option<String>,
    pub(super) cursor: Option<String>,
}

pub(super) fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A date (`2024-10-01`) or an RFC 3339 timestamp, as a UTC day.
pub(super) fn parse_day(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(value)
                .ok()
                .map(|t| t.with_timezone(&Utc).date_naive())
        })
}

pub(super) fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The chosen range: whole UTC days `[first, last]`, as `[from, to)` instants.
pub(super) struct Range {
    pub(super) from: DateTime<Utc>,
    pub(super) to: DateTime<Utc>,
    /// `days=N` for a preset, `from=..&to=..` for a custom range (already encoded).
    pub(super) qs: String,
    pub(super) days: Option<u32>,
    pub(super) from_input: String,
    pub(super) to_input: String,
    pub(super) label: String,
    pub(super) error: Option<String>,
}

impl Range {
    pub(super) fn from_params(p: &Params) -> Range {
        let today = Utc::now().date_naive();
        let mut error = None;
        if nonempty(&p.from).is_some() || nonempty(&p.to).is_some() {
            let first = nonempty(&p.from).map(parse_day);
            let last = nonempty(&p.to).map(parse_day);
            match (first, last) {
                (Some(None), _) | (_, Some(None)) => {
                    error = Some("Dates must look like 2024-10-01.".to_owned())
                }
                (first, last) => {
                    let last = last.flatten().unwrap_or(today);
                    let first = first.flatten().unwrap_or_else(|| {
                        last.checked_sub_days(Days::new(u64::from(DEFAULT_DAYS - 1)))
                            .unwrap_or(NaiveDate::MIN)
                    });
                    if first > last {
                        error = Some("The start date is after the end date.".to_owned());
                    } else if (last - first).num_days() >= i64::from(MAX_DAYS) {
                        error = Some(format!("Ranges are limited to {MAX_DAYS} days."));
                    } else if let Some(end) = last.checked_add_days(Days::new(1)) {
                        return Range {
                            from: midnight(first),
                            to: midnight(end),
                            qs: format!("from={first}&to={last}"),
                            days: None,
                            from_input: first.to_string(),
                            to_input: last.to_string(),
                            label: format!("{first} to {last} (UTC)"),
                            error: None,
                        };
                    }
                }
            }
        }
        let days = nonempty(&p.days)
            .and_then(|d| d.parse::<u32>().ok())
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .unwrap_or(DEFAULT_DAYS);
        let first = today
            .checked_sub_days(Days::new(u64::from(days - 1)))
            .unwrap_or(NaiveDate::MIN);
        let end = today
            .checked_add_days(Days::new(1))
            .unwrap_or(NaiveDate::MAX);
        Range {
            from: midnight(first),
            to: midnight(end),
            qs: format!("days={days}"),
            days: Some(days),
            from_input: first.to_string(),
            to_input: today.to_string(),
            label: format!("last {days} days ({first} to {today}, UTC)"),
            error,
        }
    }

    pub(super) fn time_range(&self) -> TimeRange {
        TimeRange::new(self.from, self.to)
    }
}
