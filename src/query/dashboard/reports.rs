//! The report list (`/reports`), one report (`/reports/{id}`) and raw downloads.
//!
//! In: filters, range and cursor, or a report id. Out: a page of reports; one report with
//! its policies, warnings, source and DKIM result; the submission bytes as received.

use super::*;

pub(super) struct ReportRow {
    pub(super) id: i64,
    pub(super) href: String,
    pub(super) organization: String,
    pub(super) report_id: String,
    pub(super) start: String,
    pub(super) end: String,
    pub(super) received: String,
    pub(super) source: String,
    pub(super) successful: i64,
    pub(super) failed: i64,
    pub(super) domains: String,
    pub(super) warnings: usize,
}

#[derive(Template)]
#[template(path = "reports.html")]
pub(super) struct ReportsPage {
    pub(super) ctx: Ctx,
    pub(super) domain: String,
    pub(super) organization: String,
    pub(super) rows: Vec<ReportRow>,
    pub(super) next: Option<String>,
    pub(super) first_page: Option<String>,
}

pub(super) async fn reports_page(
    State(state): State<DashState>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    let domain = nonempty(&p.domain).map(str::to_owned);
    let organization = nonempty(&p.organization).map(str::to_owned);
    let filter = ReportFilter {
        domain: domain.clone(),
        organization: organization.clone(),
        range: Some(range.time_range()),
    };
    let page = state
        .store
        .list_reports(&filter, PAGE, nonempty(&p.cursor))
        .await?;
    let mut hidden = Vec::new();
    if let Some(d) = &domain {
        hidden.push(("domain".to_owned(), d.clone()));
    }
    if let Some(o) = &organization {
        hidden.push(("organization".to_owned(), o.clone()));
    }
    let keep: String = hidden
        .iter()
        .map(|(k, v)| format!("&{k}={}", enc(v)))
        .collect();
    let rows = page
        .items
        .iter()
        .map(|r| ReportRow {
            id: r.id,
            href: format!("/reports/{}?{}", r.id, range.qs),
            organization: short(&r.organization_name),
            report_id: short(&r.report_id),
            start: when(r.start),
            end: when(r.end),
            received: when(r.received_at),
            source: r.source.clone(),
            successful: r.successful_sessions,
            failed: r.failed_sessions,
            domains: short(&r.domains.join(", ")),
            warnings: r.warnings,
        })
        .collect();
    Ok(render(&ReportsPage {
        next: page
            .next_cursor
            .map(|c| format!("/reports?{}{keep}&cursor={}", range.qs, enc(&c))),
        first_page: nonempty(&p.cursor).map(|_| format!("/reports?{}{keep}", range.qs)),
        ctx: Ctx::page(
            "Reports".to_owned(),
            "reports",
            &state,
            &range,
            "/reports".to_owned(),
            hidden,
        )
        .with_alerts(open_alerts(&state).await),
        domain: domain.unwrap_or_default(),
        organization: organization.unwrap_or_default(),
        rows,
    }))
}

pub(super) struct DetailRow {
    pub(super) result_type: String,
    pub(super) sending_ip: String,
    pub(super) mx: String,
    pub(super) helo: String,
    pub(super) receiving_ip: String,
    pub(super) count: i64,
    pub(super) reason_code: String,
    pub(super) info: String,
}

pub(super) struct PolicyView {
    pub(super) policy_type: String,
    pub(super) domain: String,
    pub(super) domain_href: Option<String>,
    pub(super) lines: Vec<String>,
    pub(super) mx_host: String,
    pub(super) successful: i64,
    pub(super) failed: i64,
    pub(super) details: Vec<DetailRow>,
}

#[derive(Template)]
#[template(path = "report.html")]
pub(super) struct ReportPage {
    pub(super) ctx: Ctx,
    pub(super) id: i64,
    pub(super) organization: String,
    pub(super) report_id: String,
    pub(super) contact: String,
    pub(super) start: String,
    pub(super) end: String,
    pub(super) received: String,
    pub(super) source: String,
    pub(super) source_label: &'static str,
    pub(super) peer: String,
    pub(super) origin: String,
    pub(super) dkim: Option<String>,
    pub(super) envelope: String,
    pub(super) meta: Vec<(&'static str, String)>,
    pub(super) warnings: Vec<(String, String)>,
    pub(super) policies: Vec<PolicyView>,
    pub(super) normalized: String,
    pub(super) raw: Option<String>,
    pub(super) raw_note: String,
}

pub(super) fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "—".to_owned())
}

/// The DKIM outcome the SMTP intake records in the envelope
/// (`{"result", "aligned", "signing_domains", "detail"}`), in words.
pub(super) fn describe_dkim(value: &serde_json::Value) -> String {
    use serde_json::Value;
    let Value::Object(o) = value else {
        return match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    };
    let mut out = o
        .get("result")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    match o.get("aligned").and_then(Value::as_bool) {
        Some(true) => out.push_str(", aligned with the reporting domain"),
        Some(false) => out.push_str(", not aligned with the reporting domain"),
        None => {}
    }
    let domains: Vec<&str> = o
        .get("signing_domains")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !domains.is_empty() {
        out.push_str(&format!("; signed by d={}", domains.join(", d=")));
    }
    if let Some(detail) = o
        .get("detail")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        out.push_str(&format!(" ({detail})"));
    }
    out
}

/// The raw submission as text when it is (or gunzips to) UTF-8, cut at [`RAW_INLINE`].
pub(super) fn raw_text(bytes: &[u8]) -> (Option<String>, String) {
    let mut data = bytes.to_vec();
    let mut note = format!("{} bytes as received", bytes.len());
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let limit = (RAW_INLINE + 1) as u64;
        match flate2::read::MultiGzDecoder::new(bytes)
            .take(limit)
            .read_to_end(&mut out)
        {
            Ok(_) => {
                note = format!("{} bytes gzip, shown decompressed", bytes.len());
                data = out;
            }
            Err(_) => return (None, format!("{} bytes of unreadable gzip", bytes.len())),
        }
    }
    let cut = data.len() > RAW_INLINE;
    data.truncate(RAW_INLINE);
    let text = String::from_utf8_lossy(&data).into_owned();
    if text.contains('\u{0}') {
        return (None, format!("{note}; binary, use the download link"));
    }
    if cut {
        note.push_str(&format!("; first {RAW_INLINE} bytes shown"));
    }
    (Some(text), note)
}

pub(super) async fn report_page(
    State(state): State<DashState>,
    Path(id): Path<i64>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    let stored: StoredReport = state
        .store
        .get_report(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("Report {id}")))?;
    let raw = state.store.get_report_raw(id).await?;
    let (raw, raw_note) = match &raw {
        Some(r) => raw_text(&r.bytes),
        None => (None, "not kept".to_owned()),
    };
    let r = &stored.report;
    let dkim = stored.envelope.get("dkim").map(describe_dkim);
    let mut meta = Vec::new();
    if let Some(m) = &stored.meta {
        for (label, value) in [
            ("From", &m.from),
            ("Subject", &m.subject),
            ("Message-ID", &m.message_id),
            ("TLS-Report-Domain", &m.tls_report_domain),
            ("TLS-Report-Submitter", &m.tls_report_submitter),
        ] {
            if let Some(v) = value {
                meta.push((label, v.clone()));
            }
        }
    }
    let policies = r
        .policies
        .iter()
        .map(|pol| PolicyView {
            policy_type: pol.policy_type.clone(),
            domain: opt(&pol.policy_domain),
            domain_href: pol
                .policy_domain
                .as_deref()
                .map(|d| format!("/domains/{}?{}", enc(d), range.qs)),
            lines: pol.policy_string.clone(),
            mx_host: pol.mx_host.join(", "),
            successful: pol.total_successful,
            failed: pol.total_failed,
            details: pol
                .failure_details
                .iter()
                .map(|d| DetailRow {
                    result_type: d.result_type.clone(),
                    sending_ip: opt(&d.sending_mta_ip),
                    mx: opt(&d.receiving_mx_hostname),
                    helo: opt(&d.receiving_mx_helo),
                    receiving_ip: opt(&d.receiving_ip),
                    count: d.failed_session_count,
                    reason_code: opt(&d.failure_reason_code),
                    info: opt(&d.additional_information),
                })
                .collect(),
        })
        .collect();
    let source_label = match stored.source.as_str() {
        "smtp" => "SMTP (emailed report)",
        "https" => "HTTPS (POST /v1/reports)",
        "import" => "import (tlsrptd import)",
        _ => "other",
    };
    Ok(render(&ReportPage {
        ctx: Ctx::page(
            format!("Report {id}"),
            "reports",
            &state,
            &range,
            "/reports".to_owned(),
            Vec::new(),
        )
        .with_alerts(open_alerts(&state).await),
        id,
        organization: r.organization_name.clone(),
        report_id: r.report_id.clone(),
        contact: opt(&r.contact_info),
        start: when(r.start),
        end: when(r.end),
        received: when(stored.received_at),
        source: stored.source.clone(),
        source_label,
        peer: opt(&stored.peer),
        origin: stored.origin.clone(),
        dkim,
        envelope: serde_json::to_string_pretty(&stored.envelope).unwrap_or_default(),
        meta,
        warnings: r
            .warnings
            .iter()
            .map(|w| (w.code.clone(), w.detail.clone()))
            .collect(),
        policies,
        normalized: serde_json::to_string_pretty(r).unwrap_or_default(),
        raw,
        raw_note,
    }))
}

pub(super) fn download(bytes: Vec<u8>, name: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

pub(super) async fn report_raw(
    State(state): State<DashState>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let raw = state
        .store
        .get_report_raw(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("Report {id}")))?;
    Ok(download(raw.bytes, format!("report-{id}.raw")))
}

pub(super) async fn submission_raw(
    State(state): State<DashState>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let raw = state
        .store
        .get_submission_raw(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("Submission {id}")))?;
    Ok(download(raw.bytes, format!("submission-{id}.raw")))
}
