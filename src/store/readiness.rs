//! What enforce readiness is judged on (src/watch/readiness/), and the verdicts the
//! schedule keeps for the overview (migration 0010).
//!
//! In: a domain and a time range (Unix seconds). Out: its sessions per UTC day,
//! organization and policy (with the policy's text); its failed sessions per day, organization, receiving
//! MX, sending IP and result type; and the stored verdicts. Each
//! read is one grouped statement over the policies' covering index (and, for the
//! failures, each policy's details by key), so a domain's reads do not grow with other
//! domains' reports.

use std::collections::HashMap;

use super::{Backend, Store, StoreError};

/// Floor division, so days before 1970 are right too (as the time series).
macro_rules! day_of {
    ($column:literal) => {
        concat!(
            "(",
            $column,
            " - ((",
            $column,
            " % 86400) + 86400) % 86400) / 86400"
        )
    };
}

/// Grouped first, then each group's policy text joined (a domain has one or two).
const DAYS: &str = concat!(
    "SELECT g.day, g.organization_name, g.policy_type, g.policy_text, t.policy_string, \
    g.successful, g.failed FROM (SELECT ",
    day_of!("start_at"),
    " AS day, organization_name, policy_type, policy_text, \
    CAST(SUM(total_successful) AS BIGINT) AS successful, \
    CAST(SUM(total_failed) AS BIGINT) AS failed \
    FROM policies WHERE policy_domain = $1 AND start_at >= $2 AND start_at < $3 \
    GROUP BY 1, 2, 3, 4) g LEFT JOIN policy_texts t ON t.id = g.policy_text"
);

const FAILURES: &str = concat!(
    "SELECT ",
    day_of!("p.start_at"),
    " AS day, p.organization_name, fd.receiving_mx_hostname, fd.sending_mta_ip, \
    fd.result_type, CAST(SUM(fd.failed_session_count) AS BIGINT) \
    FROM policies p JOIN failure_details fd ON fd.policy_row = p.id \
    WHERE p.policy_domain = $1 AND p.start_at >= $2 AND p.start_at < $3 \
    GROUP BY 1, 2, 3, 4, 5"
);

const SAVE: &str = "INSERT INTO readiness_latest (domain, verdict, evaluated_at) VALUES ($1, $2, $3) \
    ON CONFLICT (domain) DO UPDATE SET verdict = excluded.verdict, evaluated_at = excluded.evaluated_at";

const VERDICTS: &str = "SELECT domain, verdict FROM readiness_latest";

/// Sessions of one UTC day from one organization under one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySessions {
    /// Days since 1970-01-01.
    pub day: i64,
    pub organization: String,
    pub policy_type: String,
    /// Names the policy text (`policy_texts`).
    pub policy_text: i64,
    /// Its lines (`None` if the text is missing).
    pub policy_lines: Option<Vec<String>>,
    pub successful: i64,
    pub failed: i64,
}

/// Failed sessions of one UTC day, by organization, receiving MX, sending IP and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFailures {
    pub day: i64,
    pub organization: String,
    pub receiving_mx: Option<String>,
    pub sending_ip: Option<String>,
    pub result_type: String,
    pub failed: i64,
}

impl Store {
    /// `domain`'s sessions in `[from, to)` by day, organization and policy.
    pub async fn sessions_by_day(
        &self,
        domain: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<DaySessions>, StoreError> {
        type Row = (i64, String, String, i64, Option<String>, i64, i64);
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(DAYS)
                .bind(domain)
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(
                |(day, organization, policy_type, policy_text, text, successful, failed)| {
                    let policy_lines = text
                        .map(|json| serde_json::from_str(&json))
                        .transpose()
                        .map_err(|e| {
                            StoreError::Corrupt(format!("policy text {policy_text}: {e}"))
                        })?;
                    Ok(DaySessions {
                        day,
                        organization,
                        policy_type,
                        policy_text,
                        policy_lines,
                        successful,
                        failed,
                    })
                },
            )
            .collect()
    }

    /// `domain`'s failed sessions in `[from, to)` by day, organization, receiving MX,
    /// sending IP and result type.
    pub async fn failures_by_day(
        &self,
        domain: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<DayFailures>, StoreError> {
        type Row = (i64, String, Option<String>, Option<String>, String, i64);
        let rows: Vec<Row> = on_pool!(self, |pool| {
            sqlx::query_as(FAILURES)
                .bind(domain)
                .bind(from)
                .bind(to)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(day, organization, receiving_mx, sending_ip, result_type, failed)| DayFailures {
                    day,
                    organization,
                    receiving_mx,
                    sending_ip,
                    result_type,
                    failed,
                },
            )
            .collect())
    }

    /// Keeps `domain`'s latest verdict (the overview's column).
    pub async fn save_readiness(
        &self,
        domain: &str,
        verdict: &str,
        evaluated_at: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(SAVE)
                .bind(domain)
                .bind(verdict)
                .bind(evaluated_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every judged domain's latest verdict.
    pub async fn readiness_verdicts(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(VERDICTS).fetch_all(pool).await?
        });
        Ok(rows.into_iter().collect())
    }
}
