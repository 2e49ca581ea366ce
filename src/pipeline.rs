//! The one entry point every intake calls: decode → parse → store.
//!
//! In: a [`Submission`] (raw bytes plus where they came from). Out: an [`IngestOutcome`]
//! saying, per report found, whether it was stored or was a duplicate, and per part that
//! carried no valid report, why it was quarantined. The outcome exists only after the
//! store committed, so an intake may acknowledge as soon as it has one.

use std::io::Write;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::decode::{self, DecodeLimits};
use crate::parse::{self, ParseLimits};
use crate::report::{Submission, Warning};
use crate::store::{
    CommitReceipt, NewRejection, NewReport, NewSubmission, RawBytes, ReportOutcome, Store,
    StoreError,
};

/// Submissions at least this big are decoded on the blocking pool so a large gzip or
/// zip does not stall the async workers; smaller ones are cheaper to do inline.
const BLOCKING_THRESHOLD: usize = 256 * 1024;

/// Bounds on the work one submission may cause.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub decode: DecodeLimits,
    pub parse: ParseLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store could not commit: the sender should retry (503 / 451).
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
    #[error("internal error while decoding: {0}")]
    Task(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestedReport {
    pub organization_name: String,
    pub report_id: String,
    pub origin: String,
    #[serde(flatten)]
    pub outcome: ReportOutcome,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestRejection {
    pub origin: String,
    pub code: String,
    pub reason: String,
    pub quarantine_id: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestOutcome {
    pub submission_id: Option<i64>,
    pub reports: Vec<IngestedReport>,
    pub rejections: Vec<IngestRejection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// At least one new report stored, nothing rejected.
    Stored,
    /// Every report was already stored, nothing rejected.
    Duplicate,
    /// Some reports taken, some parts quarantined.
    Partial,
    /// No report taken; everything quarantined.
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Stored => "stored",
            Verdict::Duplicate => "duplicate",
            Verdict::Partial => "partial",
            Verdict::Rejected => "rejected",
        }
    }
}

impl IngestOutcome {
    pub fn verdict(&self) -> Verdict {
        let stored = self
            .reports
            .iter()
            .any(|r| matches!(r.outcome, ReportOutcome::Stored { .. }));
        match (self.reports.is_empty(), self.rejections.is_empty()) {
            (true, _) => Verdict::Rejected,
            (false, false) => Verdict::Partial,
            (false, true) if stored => Verdict::Stored,
            (false, true) => Verdict::Duplicate,
        }
    }

    /// The first rejection's reason, for replies that carry one line.
    pub fn first_reason(&self) -> Option<&IngestRejection> {
        self.rejections.first()
    }
}

/// Decodes, parses and stores one submission. Returns after the commit.
pub async fn ingest(
    store: &Store,
    limits: &Limits,
    submission: Submission,
) -> Result<IngestOutcome, IngestError> {
    let prepared = prepare_off_thread(limits, submission).await?;
    commit_prepared(store, prepared).await
}

/// [`prepare`] from async code: inline for small submissions, on the blocking pool for
/// big ones so a large gzip or zip does not stall the async workers.
pub async fn prepare_off_thread(
    limits: &Limits,
    submission: Submission,
) -> Result<NewSubmission, IngestError> {
    if submission.raw.len() < BLOCKING_THRESHOLD {
        return Ok(prepare(limits, submission));
    }
    let limits = limits.clone();
    tokio::task::spawn_blocking(move || prepare(&limits, submission))
        .await
        .map_err(|e| IngestError::Task(e.to_string()))
}

/// The asynchronous half of [`ingest`]: commits a prepared submission and describes the
/// outcome.
pub async fn commit_prepared(
    store: &Store,
    prepared: NewSubmission,
) -> Result<IngestOutcome, IngestError> {
    let committing = Committing::of(&prepared);
    let receipt = store.commit(prepared).await?;
    Ok(committing.finish(receipt))
}

/// What describing a submission's outcome needs once the store has committed it, taken
/// before the submission is handed to the store. Bulk import queues many submissions at
/// once ([`Store::queue_blocking`]) and finishes each with this.
pub struct Committing {
    source: crate::report::Source,
    size: i64,
    summary: Summary,
    /// Per report: (policy domain, successful, failed) of each policy.
    sessions: Vec<Vec<(String, i64, i64)>>,
}

impl Committing {
    pub fn of(prepared: &NewSubmission) -> Self {
        let sessions = prepared
            .reports
            .iter()
            .map(|r| {
                r.report
                    .policies
                    .iter()
                    .map(|p| {
                        (
                            p.policy_domain.clone().unwrap_or_default(),
                            p.total_successful,
                            p.total_failed,
                        )
                    })
                    .collect()
            })
            .collect();
        Committing {
            source: prepared.source,
            size: prepared.raw.size,
            summary: Summary::of(prepared),
            sessions,
        }
    }

    /// Describes the committed submission, and counts and logs it.
    pub fn finish(self, receipt: CommitReceipt) -> IngestOutcome {
        let Committing {
            source,
            size,
            summary,
            sessions,
        } = self;
        // Per-domain session counters, for reports stored now (duplicates count once).
        for (outcome, policies) in receipt.reports.iter().zip(&sessions) {
            if matches!(outcome, ReportOutcome::Stored { .. }) {
                for (domain, ok, failed) in policies {
                    metrics::counter!("tlsrpt_policy_sessions_total", "domain" => domain.clone(), "result" => "successful")
                        .increment((*ok).max(0) as u64);
                    metrics::counter!("tlsrpt_policy_sessions_total", "domain" => domain.clone(), "result" => "failed")
                        .increment((*failed).max(0) as u64);
                }
            }
        }
        let outcome = summary.with_receipt(receipt);
        let verdict = outcome.verdict();
        metrics::counter!("tlsrpt_received_bytes_total", "intake" => source.as_str())
            .increment(size.max(0) as u64);
        metrics::counter!("tlsrpt_submissions_total", "intake" => source.as_str(), "outcome" => verdict.as_str())
            .increment(1);
        for r in &outcome.rejections {
            metrics::counter!("tlsrpt_rejections_total", "reason" => r.code.clone()).increment(1);
        }
        // Bulk imports would drown the log in one line per file; network intakes log each.
        if source == crate::report::Source::Import {
            tracing::debug!(
                intake = source.as_str(),
                bytes = size,
                outcome = verdict.as_str(),
                "submission ingested"
            );
            return outcome;
        }
        tracing::info!(
            intake = source.as_str(),
            bytes = size,
            outcome = verdict.as_str(),
            reports = outcome.reports.len(),
            rejected = outcome.rejections.len(),
            "submission ingested"
        );
        outcome
    }
}

/// The synchronous half of [`ingest`]: everything up to the commit. Public for the
/// benchmarks.
pub fn prepare(limits: &Limits, submission: Submission) -> NewSubmission {
    let mut reports = Vec::new();
    let mut rejections = Vec::new();
    let mut meta = None;
    match decode::decode(
        &submission.raw,
        submission.content_type.as_deref(),
        &limits.decode,
    ) {
        Err(e) => rejections.push(NewRejection {
            origin: "submission".to_owned(),
            code: e.code().to_owned(),
            reason: e.to_string(),
        }),
        Ok(decoded) => {
            meta = decoded.meta;
            for payload in decoded.payloads {
                match parse::parse_report(&payload.json, &limits.parse) {
                    Ok(mut report) => {
                        let mut warnings = payload.warnings;
                        warnings.append(&mut report.warnings);
                        report.warnings = warnings;
                        fill_policy_domain(&mut report, meta.as_ref());
                        reports.push(NewReport {
                            report,
                            origin: payload.origin,
                        });
                    }
                    Err(e) => rejections.push(NewRejection {
                        origin: payload.origin,
                        code: e.code().to_owned(),
                        reason: e.to_string(),
                    }),
                }
            }
            for failure in decoded.failures {
                rejections.push(NewRejection {
                    origin: failure.origin,
                    code: failure.error.code().to_owned(),
                    reason: failure.error.to_string(),
                });
            }
            if reports.is_empty() && rejections.is_empty() {
                rejections.push(NewRejection {
                    origin: "submission".to_owned(),
                    code: "no-report".to_owned(),
                    reason: "the submission carries no TLS-RPT report".to_owned(),
                });
            }
        }
    }
    let raw = keep_raw(&submission.raw);
    NewSubmission {
        source: submission.source,
        received_at: submission.received_at,
        peer: submission.peer,
        content_type: submission.content_type,
        envelope: submission.envelope.to_string(),
        meta,
        raw,
        reports,
        rejections,
    }
}

/// A policy without `policy-domain` (Postfix's `no-policy-found`) belongs to the domain
/// the message says it reports on.
fn fill_policy_domain(
    report: &mut crate::report::Report,
    meta: Option<&crate::report::MessageMeta>,
) {
    let Some(domain) = meta
        .and_then(|m| m.tls_report_domain.as_deref())
        .map(crate::report::normalize_domain)
        .filter(|d| !d.is_empty())
    else {
        return;
    };
    for (i, policy) in report.policies.iter_mut().enumerate() {
        if policy.policy_domain.is_none() {
            policy.policy_domain = Some(domain.clone());
            report.warnings.push(Warning::new(
                "policy-domain-from-header",
                format!("policies[{i}]: policy-domain taken from the TLS-Report-Domain header ({domain})"),
            ));
        }
    }
}

/// Keeps the original bytes compressed: bodies that already are gzip or zip are stored as
/// they came, anything else is gzipped (fast level: this runs once per submission on the
/// hot path, and JSON compresses well even at level 1).
fn keep_raw(raw: &[u8]) -> RawBytes {
    let sha256 = hex::encode(Sha256::digest(raw));
    let already_compressed = raw.starts_with(&[0x1f, 0x8b]) || raw.starts_with(b"PK\x03\x04");
    let gzipped = if already_compressed {
        None
    } else {
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len() / 4 + 64),
            flate2::Compression::fast(),
        );
        encoder.write_all(raw).and_then(|_| encoder.finish()).ok()
    };
    match gzipped {
        Some(data) => RawBytes {
            size: raw.len() as i64,
            sha256,
            encoding: "gzip",
            data,
        },
        None => RawBytes {
            size: raw.len() as i64,
            sha256,
            encoding: "identity",
            data: raw.to_vec(),
        },
    }
}

/// What we need from a prepared submission to describe the outcome after the commit.
struct Summary {
    reports: Vec<(String, String, String, Vec<Warning>)>,
    rejections: Vec<(String, String, String)>,
}

impl Summary {
    fn of(s: &NewSubmission) -> Self {
        Summary {
            reports: s
                .reports
                .iter()
                .map(|r| {
                    (
                        r.report.organization_name.clone(),
                        r.report.report_id.clone(),
                        r.origin.clone(),
                        r.report.warnings.clone(),
                    )
                })
                .collect(),
            rejections: s
                .rejections
                .iter()
                .map(|r| (r.origin.clone(), r.code.clone(), r.reason.clone()))
                .collect(),
        }
    }

    fn with_receipt(self, receipt: CommitReceipt) -> IngestOutcome {
        IngestOutcome {
            submission_id: receipt.submission_id,
            reports: self
                .reports
                .into_iter()
                .zip(receipt.reports)
                .map(
                    |((organization_name, report_id, origin, warnings), outcome)| IngestedReport {
                        organization_name,
                        report_id,
                        origin,
                        outcome,
                        warnings,
                    },
                )
                .collect(),
            rejections: self
                .rejections
                .into_iter()
                .zip(receipt.quarantine_ids)
                .map(|((origin, code, reason), quarantine_id)| IngestRejection {
                    origin,
                    code,
                    reason,
                    quarantine_id,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn raw_json_is_gzipped_and_restorable() {
        let body = br#"{"organization-name":"x"}"#.repeat(50);
        let kept = keep_raw(&body);
        assert_eq!(kept.encoding, "gzip");
        assert_eq!(kept.size, body.len() as i64);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(kept.data.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        assert_eq!(kept.sha256, hex::encode(Sha256::digest(&body)));
    }

    #[test]
    fn gzip_bodies_are_kept_as_they_came() {
        let body = [0x1f, 0x8b, 8, 0, 1, 2, 3];
        let kept = keep_raw(&body);
        assert_eq!(kept.encoding, "identity");
        assert_eq!(kept.data, body);
    }
}
