//! The alerts page (`/alerts`) and the open-alert count in the navigation.
//!
//! In: an optional state filter. Out: open alerts first, then recent resolved ones, each
//! with its domain, rule, severity, what happened, the explanation and the fix.

use super::*;

/// Alerts listed on the page.
const ALERTS_LISTED: i64 = 200;

/// The count shown in the navigation; a store error shows none rather than failing the
/// page.
pub(super) async fn open_alerts(state: &DashState) -> i64 {
    match state.store.open_alerts().await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot count the open alerts");
            0
        }
    }
}

pub(super) struct AlertRow {
    pub(super) severity: String,
    pub(super) state: String,
    pub(super) domain: String,
    pub(super) domain_href: String,
    pub(super) rule: String,
    pub(super) subject: String,
    pub(super) summary: String,
    pub(super) explanation: String,
    pub(super) fix: String,
    pub(super) opened: String,
    pub(super) resolved: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
pub(super) struct AlertsPage {
    pub(super) ctx: Ctx,
    pub(super) open: Vec<AlertRow>,
    pub(super) resolved: Vec<AlertRow>,
}

pub(super) async fn alerts_page(
    State(state): State<DashState>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    let alerts = state.store.list_alerts("", "", ALERTS_LISTED).await?;
    let text = |v: &serde_json::Value, key: &str| {
        v.get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (open, resolved): (Vec<AlertRow>, Vec<AlertRow>) = alerts
        .into_iter()
        .map(|a| AlertRow {
            severity: a.severity.clone(),
            state: a.state.clone(),
            domain_href: format!("/domains/{}", enc(&a.domain)),
            domain: a.domain,
            rule: a.rule,
            subject: short(&a.subject),
            summary: a.summary,
            explanation: text(&a.detail, "explanation"),
            fix: text(&a.detail, "fix"),
            opened: when(a.opened_at),
            resolved: a.resolved_at.map(when).unwrap_or_default(),
        })
        .partition(|r| r.state == "open");
    let mut ctx = Ctx::page(
        "Alerts".to_owned(),
        "alerts",
        &state,
        &range,
        "/alerts".to_owned(),
        Vec::new(),
    )
    .with_alerts(open.len() as i64);
    ctx.show_range = false;
    Ok(render(&AlertsPage {
        ctx,
        open,
        resolved,
    }))
}
