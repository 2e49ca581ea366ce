//! The overview page (`/`): every policy domain with its sessions, failure rate and trend.
//!
//! In: the range and sort order. Out: one table row per domain, failures first; the trends
//! of the first rows come from one grouped query, whatever the number of domains.

use super::*;

pub(super) struct DomainRow {
    pub(super) domain: String,
    pub(super) href: String,
    pub(super) sessions: i64,
    pub(super) failed: i64,
    pub(super) rate: f64,
    pub(super) rate_text: String,
    pub(super) reporters: i64,
    pub(super) reports: i64,
    pub(super) last_report: String,
    pub(super) last_report_iso: String,
    pub(super) health: &'static str,
    pub(super) spark: Option<Chart>,
    /// The latest posture check's state; `None` before the first check.
    pub(super) posture: Option<Badge>,
    /// The latest readiness verdict the schedule judged; `None` before it has.
    pub(super) readiness: Option<VerdictBadge>,
    /// No report for the domain for 72 hours and more (an open `no-reports` alert).
    pub(super) silent: bool,
}

pub(super) struct SortLink {
    pub(super) label: &'static str,
    pub(super) key: &'static str,
    pub(super) href: String,
    pub(super) aria: &'static str,
    pub(super) arrow: &'static str,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub(super) struct OverviewPage {
    pub(super) ctx: Ctx,
    pub(super) rows: Vec<DomainRow>,
    pub(super) columns: Vec<SortLink>,
    pub(super) failing: usize,
    /// `Host` of the request (with port), for the HTTPS reporting URL.
    pub(super) host: String,
    /// `Host` without the port, for the `mailto:` address.
    pub(super) mail_host: String,
    /// Whether any report is stored at all (outside the range too).
    pub(super) has_any: bool,
}

pub(super) const SORT_KEYS: &[(&str, &str)] = &[
    ("domain", "Domain"),
    ("sessions", "Sessions"),
    ("rate", "Failure rate"),
    ("failed", "Failed sessions"),
    ("reporters", "Reporters"),
    ("last", "Last report"),
];

pub(super) async fn overview(
    State(state): State<DashState>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    // The list, the trends and the posture states are independent reads: run them side
    // by side.
    let (domains, trends, postures, verdicts, silent) = tokio::join!(
        state.store.list_domains(range.time_range()),
        state
            .store
            .domain_trends(range.time_range(), SPARKLINE_POINTS),
        state.store.posture_states(),
        state.store.readiness_verdicts(),
        state
            .store
            .list_alerts("", "open", i64::from(crate::store::MAX_PAGE)),
    );
    // Domains gone quiet: marked, and listed even when the range holds none of their
    // reports, so a domain whose reports stopped does not drop off the page.
    let silent: std::collections::BTreeSet<String> = silent?
        .into_iter()
        .filter(|a| a.rule == "no-reports")
        .map(|a| a.domain)
        .collect();
    let domains = domains?;
    let postures = postures?;
    let verdicts = verdicts?;
    let sort = nonempty(&p.sort)
        .filter(|s| SORT_KEYS.iter().any(|(k, _)| k == s))
        .unwrap_or("failed");
    let default_dir = if sort == "domain" { "asc" } else { "desc" };
    let dir = match nonempty(&p.dir) {
        Some("asc") => "asc",
        Some("desc") => "desc",
        _ => default_dir,
    };
    let mut rows: Vec<DomainRow> = domains
        .into_iter()
        .map(|d| {
            let sessions = d.successful_sessions.saturating_add(d.failed_sessions);
            DomainRow {
                href: format!("/domains/{}?{}", enc(&d.domain), range.qs),
                domain: d.domain.clone(),
                sessions,
                failed: d.failed_sessions,
                rate: d.failure_rate,
                rate_text: pct(d.failure_rate),
                reporters: d.organizations,
                reports: d.reports,
                last_report: when(d.last_report_at),
                last_report_iso: d.last_report_at.to_rfc3339(),
                health: health_class(d.failed_sessions, d.failure_rate),
                spark: None,
                posture: postures
                    .get(&crate::posture::domain::normalize(&d.domain).unwrap_or_default())
                    .map(|state| Badge::of(state)),
                readiness: verdicts.get(&d.domain).map(|v| VerdictBadge::of(v)),
                silent: silent.contains(&d.domain),
            }
        })
        .collect();
    for domain in &silent {
        if rows.iter().any(|r| &r.domain == domain) {
            continue;
        }
        rows.push(DomainRow {
            href: format!("/domains/{}?{}", enc(domain), range.qs),
            domain: domain.clone(),
            sessions: 0,
            failed: 0,
            rate: 0.0,
            rate_text: "—".to_owned(),
            reporters: 0,
            reports: 0,
            last_report: "none in this range".to_owned(),
            last_report_iso: String::new(),
            health: "warn",
            spark: None,
            posture: postures
                .get(&crate::posture::domain::normalize(domain).unwrap_or_default())
                .map(|state| Badge::of(state)),
            readiness: verdicts.get(domain).map(|v| VerdictBadge::of(v)),
            silent: true,
        });
    }
    // Domains with failures first whatever the column, then the chosen order.
    rows.sort_by(|a, b| {
        let key = match sort {
            "domain" => a.domain.cmp(&b.domain),
            "sessions" => a.sessions.cmp(&b.sessions),
            "rate" => a.rate.total_cmp(&b.rate),
            "reporters" => a.reporters.cmp(&b.reporters),
            "last" => a.last_report_iso.cmp(&b.last_report_iso),
            _ => a.failed.cmp(&b.failed),
        };
        let key = if dir == "desc" { key.reverse() } else { key };
        (b.failed > 0)
            .cmp(&(a.failed > 0))
            .then(key)
            .then_with(|| a.domain.cmp(&b.domain))
    });
    // Trends of the first rows, from one query over every domain.
    let mut series: std::collections::HashMap<String, Vec<DayCounts>> =
        trends?.into_iter().collect();
    for row in rows.iter_mut().take(SPARKLINES) {
        if let Some(days) = series.remove(&row.domain) {
            row.spark = Some(build_chart(&days, Series::Both, 120, 28, false));
        }
    }
    let columns = SORT_KEYS
        .iter()
        .map(|&(key, label)| {
            let active = key == sort;
            let next_dir = if active {
                if dir == "asc" { "desc" } else { "asc" }
            } else if key == "domain" {
                "asc"
            } else {
                "desc"
            };
            SortLink {
                label,
                key,
                href: format!("/?{}&sort={key}&dir={next_dir}", range.qs),
                aria: match (active, dir) {
                    (false, _) => "none",
                    (true, "asc") => "ascending",
                    (true, _) => "descending",
                },
                arrow: match (active, dir) {
                    (false, _) => "",
                    (true, "asc") => " ▲",
                    (true, _) => " ▼",
                },
            }
        })
        .collect();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(short)
        .unwrap_or_else(|| "reports.example.com".to_owned());
    let failing = rows.iter().filter(|r| r.failed > 0).count();
    let mail_host = strip_port(&host).to_owned();
    let has_any = !rows.is_empty()
        || !state
            .store
            .list_reports(&ReportFilter::default(), 1, None)
            .await?
            .items
            .is_empty();
    Ok(render(&OverviewPage {
        ctx: Ctx::page(
            "Overview".to_owned(),
            "overview",
            &state,
            &range,
            "/".to_owned(),
            Vec::new(),
        )
        .with_alerts(open_alerts(&state).await),
        rows,
        columns,
        failing,
        host,
        mail_host,
        has_any,
    }))
}

/// `host:port` -> `host` (`[::1]:8080` -> `[::1]`); anything else unchanged.
pub(super) fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}
