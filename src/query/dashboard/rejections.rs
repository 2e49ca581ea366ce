//! The rejections page (`/rejections`): quarantined submissions and why.
//!
//! In: a cursor. Out: a page of quarantined submissions with their reasons and raw bytes.

use super::*;

pub(super) struct RejectionRow {
    pub(super) received: String,
    pub(super) source: String,
    pub(super) peer: String,
    pub(super) origin: String,
    pub(super) code: String,
    pub(super) reason: String,
    pub(super) raw_href: String,
}

#[derive(Template)]
#[template(path = "rejections.html")]
pub(super) struct RejectionsPage {
    pub(super) ctx: Ctx,
    pub(super) rows: Vec<RejectionRow>,
    pub(super) next: Option<String>,
}

pub(super) async fn rejections_page(
    State(state): State<DashState>,
    Query(p): Query<Params>,
) -> Result<Response, PageError> {
    let range = Range::from_params(&p);
    let page = state
        .store
        .list_rejections(PAGE, nonempty(&p.cursor))
        .await?;
    let rows = page
        .items
        .iter()
        .map(|r| RejectionRow {
            received: when(r.received_at),
            source: r.source.clone(),
            peer: opt(&r.peer),
            origin: short(&r.origin),
            code: r.reason_code.clone(),
            reason: r.reason.clone(),
            raw_href: format!("/submissions/{}/raw", r.submission_id),
        })
        .collect();
    let mut ctx = Ctx::page(
        "Rejections".to_owned(),
        "rejections",
        &state,
        &range,
        "/rejections".to_owned(),
        Vec::new(),
    )
    .with_alerts(open_alerts(&state).await);
    ctx.show_range = false;
    Ok(render(&RejectionsPage {
        ctx,
        rows,
        next: page
            .next_cursor
            .map(|c| format!("/rejections?cursor={}", enc(&c))),
    }))
}
