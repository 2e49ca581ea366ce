//! Daily and weekly digests: one email per digest and period with each domain's
//! sessions, failure rate, readiness verdict and open alerts.
//!
//! In: the digests of the [`AlertConfig`], the store and the time. Out: each digest due
//! and not yet sent for its period, sent through its email channel's relay and recorded
//! (`digests_sent`), so it goes out once per period across nodes and restarts. A digest
//! that could not be sent is tried again on the next look.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::config::{AlertConfig, ChannelKind, Digest, DigestEvery};
use super::send::{Mail, send_mail};
use crate::store::{Store, StoreError, TimeRange};

/// The days a digest summarises: `from` included, `to` excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The period a digest covers at `now` and when it is due: `(period key, due at, the
/// range it summarises)`; `None` before the first due time of the period.
pub fn due(digest: &Digest, now: DateTime<Utc>) -> Option<(String, DateTime<Utc>, Span)> {
    let today: NaiveDate = now.date_naive();
    let at = |day: NaiveDate| {
        day.and_hms_opt(digest.hour, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(now)
    };
    let (key, due_at, days) = match digest.every {
        DigestEvery::Daily => (today.to_string(), at(today), 1),
        DigestEvery::Weekly(weekday) => {
            let back =
                (7 + today.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
            let day = today - Duration::days(i64::from(back));
            let week = day.iso_week();
            (format!("{}-W{:02}", week.year(), week.week()), at(day), 7)
        }
    };
    (now >= due_at).then(|| {
        let end = due_at
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(now, |t| t.and_utc());
        (
            key,
            due_at,
            Span {
                from: end - Duration::days(days),
                to: end,
            },
        )
    })
}

fn percent(rate: f64) -> String {
    format!("{:.2} %", rate * 100.0)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Sends the digests due at `now` and not yet sent; how many went out.
pub async fn send_due(
    store: &Store,
    config: &AlertConfig,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut sent = 0;
    for digest in &config.digests {
        let Some((period, _, range)) = due(digest, now) else {
            continue;
        };
        if store.digest_sent(&digest.name, &period).await? {
            continue;
        }
        let Some(channel) = config.channel(&digest.channel) else {
            continue;
        };
        let ChannelKind::Email(email) = &channel.kind else {
            continue;
        };
        let (domains, verdicts, alerts) = tokio::join!(
            store.list_domains(TimeRange::new(range.from, range.to)),
            store.readiness_verdicts(),
            store.list_alerts("", "open", i64::from(crate::store::MAX_PAGE)),
        );
        let (domains, verdicts, alerts) = (domains?, verdicts?, alerts?);
        let mut open: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for a in &alerts {
            open.entry(a.domain.as_str())
                .or_default()
                .push(a.summary.as_str());
        }
        let wanted = |d: &str| digest.domains.is_empty() || digest.domains.iter().any(|x| x == d);
        let mut plain = format!(
            "TLS reporting digest, {} to {} (UTC)\n\n",
            range.from.date_naive(),
            (range.to - Duration::days(1)).date_naive()
        );
        let mut rows = String::new();
        for d in domains.iter().filter(|d| wanted(&d.domain)) {
            let sessions = d.successful_sessions + d.failed_sessions;
            let verdict = verdicts.get(&d.domain).map_or("not judged", String::as_str);
            let alerts = open.get(d.domain.as_str()).cloned().unwrap_or_default();
            plain.push_str(&format!(
                "{}: {sessions} sessions, {} failed ({}); enforce readiness: {verdict}; open alerts: {}\n",
                d.domain,
                d.failed_sessions,
                percent(d.failure_rate),
                alerts.len()
            ));
            for a in &alerts {
                plain.push_str(&format!("  - {a}\n"));
            }
            rows.push_str(&format!(
                "<tr><th>{}</th><td>{sessions}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&d.domain),
                d.failed_sessions,
                percent(d.failure_rate),
                escape(verdict),
                alerts.iter().map(|a| escape(a)).collect::<Vec<_>>().join("<br>")
            ));
        }
        if rows.is_empty() {
            plain.push_str("No reports in this period.\n");
        }
        let html = format!(
            "<p>TLS reporting digest, {} to {} (UTC)</p><table><thead><tr><th>Domain</th><th>Sessions</th><th>Failed</th><th>Failure rate</th><th>Enforce readiness</th><th>Open alerts</th></tr></thead><tbody>{rows}</tbody></table>",
            range.from.date_naive(),
            (range.to - Duration::days(1)).date_naive()
        );
        let mail = Mail {
            to: &digest.to,
            subject: format!("[tlsrptd] {} digest {period}", digest.name),
            plain,
            html,
        };
        match send_mail(email, channel.timeout, &mail).await {
            Ok(()) => {
                store
                    .mark_digest_sent(&digest.name, &period, now.timestamp())
                    .await?;
                sent += 1;
            }
            Err(e) => {
                tracing::warn!(digest = %digest.name, error = %e, "digest not sent; trying again later");
                metrics::counter!("tlsrpt_notifications_failed_total", "channel" => digest.channel.clone())
                    .increment(1);
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(every: DigestEvery) -> Digest {
        Digest {
            name: "d".into(),
            channel: "mail".into(),
            to: vec![],
            every,
            hour: 7,
            domains: vec![],
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn daily_digests_are_due_from_their_hour_and_cover_the_day_before() {
        let d = digest(DigestEvery::Daily);
        assert!(due(&d, at("2026-12-05T06:59:59Z")).is_none());
        let (key, due_at, range) = due(&d, at("2026-12-05T07:00:00Z")).unwrap();
        assert_eq!(key, "2026-12-05");
        assert_eq!(due_at, at("2026-12-05T07:00:00Z"));
        assert_eq!(
            (range.from, range.to),
            (at("2026-12-04T00:00:00Z"), at("2026-12-05T00:00:00Z"))
        );
    }

    #[test]
    fn weekly_digests_are_due_on_their_weekday_and_cover_the_week_before() {
        let d = digest(DigestEvery::Weekly(chrono::Weekday::Mon));
        // Saturday 2026-12-05: the week's digest went out on Monday 2026-11-30.
        let (key, due_at, range) = due(&d, at("2026-12-05T12:00:00Z")).unwrap();
        assert_eq!(key, "2026-W49");
        assert_eq!(due_at, at("2026-11-30T07:00:00Z"));
        assert_eq!(
            (range.from, range.to),
            (at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z"))
        );
        // Monday before 07:00: not yet this week's.
        assert!(due(&d, at("2026-12-07T06:00:00Z")).is_none());
        assert_eq!(due(&d, at("2026-12-07T07:00:00Z")).unwrap().0, "2026-W50");
    }
}
