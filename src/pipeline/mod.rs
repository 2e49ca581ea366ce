//! The one entry point every intake calls: decode → parse → store.
//!
//! In: a [`Submission`] (raw bytes plus a typed [`Envelope`] saying where they came from).
//! Out: an [`IngestOutcome`] saying, per report found, whether it was stored or was a
//! duplicate, and per part that carried no valid report, the [`RejectCode`] it was
//! quarantined with. The outcome exists only after the store committed, so an intake may
//! acknowledge as soon as it has one.
//!
//! The pipeline owns the write model: intakes and the import command hold a [`Pipeline`]
//! and never the store's types. An intake that checks something between decoding and
//! committing (the SMTP intake's DKIM check) calls [`Pipeline::prepare`], adjusts the
//! [`Prepared`] submission through its methods, then [`Pipeline::commit`]s it; bulk
//! import queues many prepared submissions at once ([`Pipeline::queue_blocking`]).

mod budget;
mod outcome;
mod reject;
mod submission;

use std::io::Write;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub use budget::InflightBudget;
pub use outcome::{
    Acknowledgement, IngestOutcome, IngestRejection, IngestedReport, ReportOutcome, Verdict,
};
pub use reject::RejectCode;
pub use submission::{
    DkimOutcome, Envelope, HttpsEnvelope, ImportEnvelope, SmtpEnvelope, Submission,
};

use crate::decode::{self, Allowance, DecodeLimits};
use crate::parse::{self, ParseLimits};
use crate::report::{MessageMeta, Report, Source, Warning};
use crate::store::{self, CommitReceipt, NewRejection, NewReport, NewSubmission, RawBytes, Store};

/// Submissions at least this big are decoded on the blocking pool so a large gzip or
/// zip does not stall the async workers; smaller ones are cheaper to do inline.
const BLOCKING_THRESHOLD: usize = 256 * 1024;

/// Bounds on the work one submission, and all submissions at once, may cause.
#[derive(Debug, Clone)]
pub struct Limits {
    pub decode: DecodeLimits,
    pub parse: ParseLimits,
    /// Decompressed bytes all submissions being decoded may hold together
    /// (`--max-inflight-decompressed-bytes`).
    pub inflight_decompressed_bytes: u64,
    /// How long a submission waits for its share of that budget (5 s by default).
    pub inflight_wait: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            decode: DecodeLimits::default(),
            parse: ParseLimits::default(),
            // docs/ARCHITECTURE.md, "Limits": five submissions at the 50 MiB
            // decompressed limit at once, and hundreds of ordinary ones.
            inflight_decompressed_bytes: 256 * 1024 * 1024,
            inflight_wait: budget::WAIT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store could not commit: the sender should retry (503 / 451).
    #[error("store unavailable: {0}")]
    Store(#[from] store::StoreError),
    /// The in-flight decompression budget stayed full: the sender should retry (503 / 451).
    #[error("too many submissions are being decompressed at once; retry later")]
    Busy,
    #[error("internal error while decoding: {0}")]
    Task(String),
}

/// The pipeline an intake feeds: the store it commits to and the limits it decodes with.
/// Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    store: Store,
    limits: Limits,
    budget: InflightBudget,
}

impl Pipeline {
    pub fn new(store: Store, limits: Limits) -> Self {
        let budget = InflightBudget::new(limits.inflight_decompressed_bytes);
        Pipeline {
            store,
            limits,
            budget,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes, parses and stores one submission. Returns after the commit.
    pub async fn ingest(&self, submission: Submission) -> Result<IngestOutcome, IngestError> {
        let prepared = self.prepare(submission).await?;
        self.commit(prepared).await
    }

    /// [`prepare`] from async code, within the in-flight budget: first with a small grant
    /// (inline for small submissions, on the blocking pool for big ones so a large gzip
    /// or zip does not stall the async workers); a submission that inflates beyond it is
    /// decoded again on the blocking pool with a grant of the whole limit. Fails with
    /// [`IngestError::Busy`] when the budget stays full for [`Limits::inflight_wait`].
    pub async fn prepare(&self, submission: Submission) -> Result<Prepared, IngestError> {
        let limit = self.limits.decode.max_decompressed_bytes;
        let blocking = submission.raw.len() >= BLOCKING_THRESHOLD;
        let submission = match self
            .prepare_within(submission, budget::FIRST_GRANT.min(limit), blocking)
            .await?
        {
            Attempt::Prepared(prepared) => return Ok(*prepared),
            Attempt::WantsMore(submission) => *submission,
        };
        metrics::counter!("tlsrpt_decode_regrants_total").increment(1);
        match self
            .prepare_within(submission, Allowance::full_grant(limit), true)
            .await?
        {
            Attempt::Prepared(prepared) => Ok(*prepared),
            // The full grant cannot run out before the limit; if it did, the
            // submission is too large all the same.
            Attempt::WantsMore(submission) => Ok(refused_too_large(&self.limits, *submission)),
        }
    }

    /// Reserves `bytes` of the budget and prepares with them; gives the submission back
    /// when it needs more than that.
    async fn prepare_within(
        &self,
        submission: Submission,
        bytes: u64,
        blocking: bool,
    ) -> Result<Attempt, IngestError> {
        let Some(grant) = self.budget.reserve(bytes, self.limits.inflight_wait).await else {
            metrics::counter!("tlsrpt_decode_busy_total").increment(1);
            return Err(IngestError::Busy);
        };
        let allowance = Allowance::new(self.limits.decode.max_decompressed_bytes, grant.bytes());
        if !blocking {
            return Ok(prepare_within(&self.limits, submission, &allowance));
        }
        let limits = self.limits.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            let large = grant.bytes() > budget::FIRST_GRANT;
            // Megabytes may be allocated and freed: they go back to the system at once,
            // so the budget bounds resident memory (src/alloc.rs).
            let purging = large.then(crate::alloc::purge_at_once);
            let prepared = prepare_within(&limits, submission, &allowance);
            if large {
                // Purge what was just freed before the grant lets another submission
                // take as much.
                crate::alloc::give_back_freed_memory();
            }
            drop(purging);
            drop(grant);
            prepared
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))?;
        Ok(prepared)
    }

    /// Commits a prepared submission; returns once it is durable.
    pub async fn commit(&self, prepared: Prepared) -> Result<IngestOutcome, IngestError> {
        let (submission, committing) = prepared.into_store();
        let receipt = self.store.commit(submission).await?;
        Ok(committing.finish(receipt))
    }

    /// Queues many prepared submissions from a thread outside the runtime (bulk import's
    /// reader threads), waiting while the store's queue is full. They may be split over
    /// several transactions; each outcome is as durable as [`commit`](Self::commit)'s once
    /// [`PendingBatch::wait`] returns. Must not be called from async code.
    pub fn queue_blocking(&self, batch: Vec<Prepared>) -> PendingBatch {
        let (submissions, committing): (Vec<_>, Vec<_>) =
            batch.into_iter().map(Prepared::into_store).unzip();
        PendingBatch {
            pending: self.store.queue_blocking(submissions),
            committing,
        }
    }

    /// Brings the store's read-side rollups up to date with everything committed so far
    /// (bulk writers call it before they exit, so they leave no folding behind). Reads are
    /// exact without it, only slower while many reports are unfolded.
    pub async fn settle(&self) -> Result<(), IngestError> {
        self.store.fold_rollups().await?;
        Ok(())
    }
}

/// Submissions queued with [`Pipeline::queue_blocking`].
pub struct PendingBatch {
    pending: Result<store::PendingCommit, store::StoreError>,
    committing: Vec<Committing>,
}

impl PendingBatch {
    /// One outcome per queued submission, in order, once the transactions holding them
    /// are durable.
    pub async fn wait(self) -> Vec<Result<IngestOutcome, IngestError>> {
        let results = match self.pending {
            Ok(pending) => pending.wait().await,
            // Queueing fails only when the writer is gone: every submission failed so.
            Err(_) => (0..self.committing.len())
                .map(|_| Err(store::StoreError::WriterGone))
                .collect(),
        };
        results
            .into_iter()
            .zip(self.committing)
            .map(|(result, committing)| Ok(committing.finish(result?)))
            .collect()
    }
}

/// A report the decoder and parser found, with where it was in the submission.
#[derive(Debug, Clone)]
struct FoundReport {
    report: Report,
    origin: String,
}

/// A part of a submission that carries no valid report.
#[derive(Debug, Clone)]
struct Refusal {
    origin: String,
    code: RejectCode,
    reason: String,
}

/// A submission decoded and parsed, not yet committed.
#[derive(Debug, Clone)]
pub struct Prepared {
    envelope: Envelope,
    content_type: Option<String>,
    received_at: DateTime<Utc>,
    meta: Option<MessageMeta>,
    raw: RawBytes,
    reports: Vec<FoundReport>,
    refusals: Vec<Refusal>,
}

impl Prepared {
    fn of(
        submission: Submission,
        meta: Option<MessageMeta>,
        reports: Vec<FoundReport>,
        refusals: Vec<Refusal>,
    ) -> Self {
        Prepared {
            raw: keep_raw(&submission.raw),
            envelope: submission.envelope,
            content_type: submission.content_type,
            received_at: submission.received_at,
            meta,
            reports,
            refusals,
        }
    }

    /// The reports found, in submission order.
    pub fn reports(&self) -> impl Iterator<Item = &Report> {
        self.reports.iter().map(|r| &r.report)
    }

    pub fn has_reports(&self) -> bool {
        !self.reports.is_empty()
    }

    /// The submission's bytes as received, restored from the copy that will be stored.
    pub fn original(&self) -> std::io::Result<Vec<u8>> {
        if self.raw.encoding == "identity" {
            return Ok(self.raw.data.clone());
        }
        let mut original = Vec::with_capacity(usize::try_from(self.raw.size).unwrap_or(0));
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(self.raw.data.as_slice()),
            &mut original,
        )?;
        Ok(original)
    }

    /// The headers of an emailed submission.
    pub fn meta(&self) -> Option<&MessageMeta> {
        self.meta.as_ref()
    }

    pub fn envelope_mut(&mut self) -> &mut Envelope {
        &mut self.envelope
    }

    /// Adds a warning to every report (they are stored, flagged).
    pub fn flag_reports(&mut self, warning: Warning) {
        for found in &mut self.reports {
            found.report.warnings.push(warning.clone());
        }
    }

    /// Refuses every report found: each goes to quarantine with `code` and `reason`.
    pub fn quarantine_reports(&mut self, code: RejectCode, reason: &str) {
        for found in std::mem::take(&mut self.reports) {
            self.refusals.push(Refusal {
                origin: found.origin,
                code,
                reason: reason.to_owned(),
            });
        }
    }

    /// The store's write model, and what describing the outcome will need after the
    /// commit. The envelope is serialized here, once.
    fn into_store(self) -> (NewSubmission, Committing) {
        let committing = Committing::of(&self);
        let source = self.envelope.source();
        let submission = NewSubmission {
            source,
            received_at: self.received_at,
            peer: self.envelope.peer_ip(),
            content_type: self.content_type,
            // Serializing our own plain structs cannot fail.
            envelope: serde_json::to_string(&self.envelope).unwrap_or_else(|_| "{}".to_owned()),
            meta: self.meta,
            raw: self.raw,
            reports: self
                .reports
                .into_iter()
                .map(|r| NewReport::new(r.report, r.origin))
                .collect(),
            rejections: self
                .refusals
                .into_iter()
                .map(|r| NewRejection {
                    origin: r.origin,
                    code: r.code.as_str().to_owned(),
                    reason: r.reason,
                })
                .collect(),
        };
        (submission, committing)
    }
}

/// What describing a submission's outcome needs once the store has committed it, taken
/// before the submission is handed to the store.
struct Committing {
    source: Source,
    size: i64,
    /// Per report: organization, report-id, origin, warnings.
    reports: Vec<(String, String, String, Vec<Warning>)>,
    refusals: Vec<Refusal>,
    /// Per report: (policy domain, successful, failed) of each policy.
    sessions: Vec<Vec<(String, i64, i64)>>,
}

impl Committing {
    fn of(prepared: &Prepared) -> Self {
        Committing {
            source: prepared.envelope.source(),
            size: prepared.raw.size,
            reports: prepared
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
            refusals: prepared.refusals.clone(),
            sessions: prepared
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
                .collect(),
        }
    }

    /// Describes the committed submission, and counts and logs it.
    fn finish(self, receipt: CommitReceipt) -> IngestOutcome {
        let Committing {
            source,
            size,
            reports,
            refusals,
            sessions,
        } = self;
        let outcomes: Vec<ReportOutcome> = receipt
            .reports
            .iter()
            .map(|r| match r {
                store::ReportOutcome::Stored { id } => ReportOutcome::Stored { id: *id },
                store::ReportOutcome::Duplicate { id } => ReportOutcome::Duplicate { id: *id },
            })
            .collect();
        // Per-domain session counters, for reports stored now (duplicates count once).
        for (outcome, policies) in outcomes.iter().zip(&sessions) {
            if outcome.is_stored() {
                for (domain, ok, failed) in policies {
                    crate::telemetry::count_policy_sessions(
                        domain,
                        (*ok).max(0) as u64,
                        (*failed).max(0) as u64,
                    );
                }
            }
        }
        let outcome = IngestOutcome {
            submission_id: receipt.submission_id,
            reports: reports
                .into_iter()
                .zip(outcomes)
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
            rejections: refusals
                .into_iter()
                .zip(receipt.quarantine_ids)
                .map(|(r, quarantine_id)| IngestRejection {
                    origin: r.origin,
                    code: r.code,
                    reason: r.reason,
                    quarantine_id,
                })
                .collect(),
        };
        let verdict = outcome.verdict();
        metrics::counter!("tlsrpt_received_bytes_total", "intake" => source.as_str())
            .increment(size.max(0) as u64);
        metrics::counter!("tlsrpt_submissions_total", "intake" => source.as_str(), "outcome" => verdict.as_str())
            .increment(1);
        for r in &outcome.rejections {
            metrics::counter!("tlsrpt_rejections_total", "reason" => r.code.as_str()).increment(1);
        }
        // Bulk imports would drown the log in one line per file; network intakes log each.
        if source == Source::Import {
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

/// Everything up to the commit: decode, parse, keep the raw bytes. Pure CPU work; bulk
/// import runs it on its reader threads, the benchmarks call it directly. The whole
/// decompression limit is available (no in-flight budget: import bounds its own
/// concurrency).
pub fn prepare(limits: &Limits, submission: Submission) -> Prepared {
    let allowance = Allowance::whole(limits.decode.max_decompressed_bytes);
    match prepare_within(limits, submission, &allowance) {
        Attempt::Prepared(prepared) => *prepared,
        Attempt::WantsMore(submission) => refused_too_large(limits, *submission),
    }
}

/// What one try at preparing within an allowance gave.
enum Attempt {
    Prepared(Box<Prepared>),
    /// Decoding stopped at the allowance's grant, below its limit: the submission is
    /// given back unjudged, to be tried with a larger grant.
    WantsMore(Box<Submission>),
}

/// [`prepare`] within `allowance`.
fn prepare_within(limits: &Limits, submission: Submission, allowance: &Allowance) -> Attempt {
    let mut reports = Vec::new();
    let mut refusals = Vec::new();
    let mut meta = None;
    let decoded = decode::decode_within(
        &submission.raw,
        submission.content_type.as_deref(),
        &limits.decode,
        allowance,
    );
    if allowance.wants_more() {
        return Attempt::WantsMore(Box::new(submission));
    }
    match decoded {
        Err(e) => refusals.push(Refusal {
            origin: "submission".to_owned(),
            code: RejectCode::from(&e),
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
                        reports.push(FoundReport {
                            report,
                            origin: payload.origin,
                        });
                    }
                    Err(e) => refusals.push(Refusal {
                        origin: payload.origin,
                        code: RejectCode::from(&e),
                        reason: e.to_string(),
                    }),
                }
            }
            for failure in decoded.failures {
                refusals.push(Refusal {
                    origin: failure.origin,
                    code: RejectCode::from(&failure.error),
                    reason: failure.error.to_string(),
                });
            }
            if reports.is_empty() && refusals.is_empty() {
                refusals.push(Refusal {
                    origin: "submission".to_owned(),
                    code: RejectCode::NoReport,
                    reason: "the submission carries no TLS-RPT report".to_owned(),
                });
            }
        }
    }
    Attempt::Prepared(Box::new(Prepared::of(submission, meta, reports, refusals)))
}

/// A submission whose decoding asked for more than the whole decompression limit.
fn refused_too_large(limits: &Limits, submission: Submission) -> Prepared {
    let error = decode::DecodeError::TooLarge {
        what: "the decompressed submission".to_owned(),
        limit: limits.decode.max_decompressed_bytes,
    };
    let refusal = Refusal {
        origin: "submission".to_owned(),
        code: RejectCode::from(&error),
        reason: error.to_string(),
    };
    Prepared::of(submission, None, Vec::new(), vec![refusal])
}

/// A policy without `policy-domain` (Postfix's `no-policy-found`) belongs to the domain
/// the message says it reports on.
fn fill_policy_domain(report: &mut Report, meta: Option<&MessageMeta>) {
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
