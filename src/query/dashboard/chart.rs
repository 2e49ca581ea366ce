//! Server-side SVG charts: daily stacked bars of successful and failed sessions.
//!
//! In: a gap-free daily series. Out: a [`Chart`] with pre-formatted coordinates that the
//! templates draw; no JavaScript, nothing loaded from elsewhere.

use super::*;

/// One stacked day bar; coordinates are pre-formatted for the SVG.
pub(super) struct Bar {
    pub(super) x: String,
    pub(super) w: String,
    pub(super) ok_y: String,
    pub(super) ok_h: String,
    pub(super) fail_y: String,
    pub(super) fail_h: String,
    pub(super) title: String,
}

pub(super) struct Tick {
    pub(super) pos: String,
    pub(super) label: String,
}

pub(super) struct Chart {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) plot_left: u32,
    pub(super) plot_bottom: u32,
    pub(super) plot_right: u32,
    pub(super) bars: Vec<Bar>,
    pub(super) yticks: Vec<Tick>,
    pub(super) xticks: Vec<Tick>,
    pub(super) description: String,
}

/// Which series a chart stacks.
#[derive(Clone, Copy)]
pub(super) enum Series {
    /// Successful (bottom) and failed (top) sessions.
    Both,
    /// Failed sessions only, on their own scale.
    Failed,
}

pub(super) fn build_chart(
    days: &[DayCounts],
    series: Series,
    width: u32,
    height: u32,
    axes: bool,
) -> Chart {
    let (left, right, top, bottom) = if axes {
        (56.0, width as f64 - 8.0, 10.0, height as f64 - 24.0)
    } else {
        (0.0, width as f64, 1.0, height as f64)
    };
    let value = |d: &DayCounts| -> (i64, i64) {
        match series {
            Series::Both => (d.successful_sessions.max(0), d.failed_sessions.max(0)),
            Series::Failed => (0, d.failed_sessions.max(0)),
        }
    };
    let max = days
        .iter()
        .map(|d| {
            let (ok, failed) = value(d);
            ok.saturating_add(failed)
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let n = days.len().max(1) as f64;
    let slot = (right - left) / n;
    let gap = if slot > 3.0 { slot * 0.2 } else { 0.0 };
    let scale = (bottom - top) / max as f64;
    let f = |v: f64| format!("{v:.2}");
    // A trend over a long range comes in buckets of several days (see
    // `Store::domain_trends`); bars and words then name the bucket's first and last day.
    let step = match days {
        [a, b, ..] => (b.day - a.day).num_days().max(1),
        _ => 1,
    };
    let span = |d: &DayCounts| match d.day.checked_add_days(chrono::Days::new(step as u64 - 1)) {
        Some(last) if step > 1 => format!("{} to {last}", d.day),
        _ => d.day.to_string(),
    };
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (ok, failed) = value(d);
            let ok_h = ok as f64 * scale;
            let fail_h = failed as f64 * scale;
            Bar {
                x: f(left + i as f64 * slot + gap / 2.0),
                w: f((slot - gap).max(0.5)),
                ok_y: f(bottom - ok_h),
                ok_h: f(ok_h),
                fail_y: f(bottom - ok_h - fail_h),
                fail_h: f(fail_h),
                // Sparklines (no axes) show no per-bar tooltip; skip the text.
                title: if axes {
                    format!(
                        "{}: {} successful, {} failed",
                        span(d),
                        d.successful_sessions,
                        d.failed_sessions
                    )
                } else {
                    String::new()
                },
            }
        })
        .collect();
    let (yticks, xticks) = if axes {
        let yticks = [0, max / 2, max]
            .iter()
            .map(|&v| Tick {
                pos: f(bottom - v as f64 * scale),
                label: v.to_string(),
            })
            .collect();
        let mut idx = vec![0, days.len().saturating_sub(1)];
        if days.len() > 2 {
            idx.insert(1, days.len() / 2);
        }
        idx.dedup();
        let xticks = idx
            .into_iter()
            .filter_map(|i| days.get(i).map(|d| (i, d)))
            .map(|(i, d)| Tick {
                pos: f(left + (i as f64 + 0.5) * slot),
                label: d.day.format("%b %d").to_string(),
            })
            .collect();
        (yticks, xticks)
    } else {
        (Vec::new(), Vec::new())
    };
    let ok_total: i64 = days.iter().map(|d| d.successful_sessions).sum();
    let failed_total: i64 = days.iter().map(|d| d.failed_sessions).sum();
    let worst = days
        .iter()
        .filter(|d| d.failed_sessions > 0)
        .max_by_key(|d| d.failed_sessions);
    let description = match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!(
            "Sessions per {} from {} to {}: {ok_total} successful and {failed_total} failed in total{}.",
            if step > 1 {
                format!("{step} UTC days")
            } else {
                "UTC day".to_owned()
            },
            a.day,
            span(b).rsplit(' ').next().unwrap_or_default(),
            match worst {
                Some(w) => format!(
                    "; most failures {} {} ({})",
                    if step > 1 { "in" } else { "on" },
                    span(w),
                    w.failed_sessions
                ),
                None => String::new(),
            }
        ),
        _ => "No days in range.".to_owned(),
    };
    Chart {
        width,
        height,
        plot_left: left as u32,
        plot_bottom: bottom as u32,
        plot_right: right as u32,
        bars,
        yticks,
        xticks,
        description,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(d: u32, ok: i64, failed: i64) -> DayCounts {
        DayCounts {
            day: NaiveDate::from_ymd_opt(2024, 10, d).expect("date"),
            successful_sessions: ok,
            failed_sessions: failed,
        }
    }

    #[test]
    fn buckets_of_several_days_are_named_by_their_first_and_last_day() {
        let chart = build_chart(&[day(1, 5, 0), day(4, 3, 2)], Series::Both, 720, 220, true);
        assert_eq!(
            chart.bars[1].title,
            "2024-10-04 to 2024-10-06: 3 successful, 2 failed"
        );
        assert!(
            chart
                .description
                .starts_with("Sessions per 3 UTC days from 2024-10-01 to 2024-10-06"),
            "{}",
            chart.description
        );
        let daily = build_chart(&[day(1, 5, 0), day(2, 3, 2)], Series::Both, 720, 220, true);
        assert_eq!(daily.bars[1].title, "2024-10-02: 3 successful, 2 failed");
        assert!(
            daily
                .description
                .contains("most failures on 2024-10-02 (2)")
        );
    }
}
