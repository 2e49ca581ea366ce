//! What the pipeline answers an intake, once the store has committed.
//!
//! In: the store's receipt for a committed submission. Out: an [`IngestOutcome`] — per
//! report found, stored or duplicate with its id; per part without a valid report, the
//! [`RejectCode`] and quarantine id — and its [`Verdict`], worked out here only.

use serde::Serialize;

use super::RejectCode;
use crate::report::Warning;

/// What became of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ReportOutcome {
    /// Committed now, with this id.
    Stored { id: i64 },
    /// The same (organization, report-id) was stored before, with this id.
    Duplicate { id: i64 },
}

impl ReportOutcome {
    pub fn id(self) -> i64 {
        match self {
            ReportOutcome::Stored { id } | ReportOutcome::Duplicate { id } => id,
        }
    }

    pub fn is_stored(self) -> bool {
        matches!(self, ReportOutcome::Stored { .. })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestedReport {
    pub organization_name: String,
    pub report_id: String,
    /// Where in the submission the report was found (e.g. `part 2 (x.json.gz)`).
    pub origin: String,
    #[serde(flatten)]
    pub outcome: ReportOutcome,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestRejection {
    pub origin: String,
    pub code: RejectCode,
    pub reason: String,
    pub quarantine_id: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestOutcome {
    pub submission_id: Option<i64>,
    pub reports: Vec<IngestedReport>,
    pub rejections: Vec<IngestRejection>,
}

/// The outcome of a submission (or of a file of several, for import) in one word.
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
    /// The verdict over reports and rejections, however many submissions they came from.
    pub fn of(reports: impl IntoIterator<Item = ReportOutcome>, rejections: usize) -> Verdict {
        let mut any = false;
        let mut stored = false;
        for r in reports {
            any = true;
            stored |= r.is_stored();
        }
        match (any, rejections == 0) {
            (false, _) => Verdict::Rejected,
            (true, false) => Verdict::Partial,
            (true, true) if stored => Verdict::Stored,
            (true, true) => Verdict::Duplicate,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Stored => "stored",
            Verdict::Duplicate => "duplicate",
            Verdict::Partial => "partial",
            Verdict::Rejected => "rejected",
        }
    }
}

/// How an intake acknowledges a submission that was not wholly rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledgement {
    /// Something new was committed: HTTP 201, SMTP 250 "stored"; the first new report's id.
    Stored(i64),
    /// Only reports stored before: HTTP 200, SMTP 250 "duplicate"; the first one's id.
    Duplicate(i64),
}

impl IngestOutcome {
    pub fn verdict(&self) -> Verdict {
        Verdict::of(
            self.reports.iter().map(|r| r.outcome),
            self.rejections.len(),
        )
    }

    /// What to acknowledge, or `None` when nothing was taken (answer with
    /// [`first_rejection`](Self::first_rejection) instead).
    pub fn acknowledgement(&self) -> Option<Acknowledgement> {
        if let Some(stored) = self.reports.iter().find(|r| r.outcome.is_stored()) {
            return Some(Acknowledgement::Stored(stored.outcome.id()));
        }
        self.reports
            .first()
            .map(|r| Acknowledgement::Duplicate(r.outcome.id()))
    }

    /// The first rejection, for replies that carry one reason.
    pub fn first_rejection(&self) -> Option<&IngestRejection> {
        self.rejections.first()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let stored = ReportOutcome::Stored { id: 1 };
        let dup = ReportOutcome::Duplicate { id: 2 };
        assert_eq!(Verdict::of([stored, dup], 0), Verdict::Stored);
        assert_eq!(Verdict::of([dup], 0), Verdict::Duplicate);
        assert_eq!(Verdict::of([dup], 1), Verdict::Partial);
        assert_eq!(Verdict::of([], 1), Verdict::Rejected);
        assert_eq!(Verdict::of([], 0), Verdict::Rejected);
    }

    #[test]
    fn acknowledgement_names_the_first_new_report() {
        let report = |outcome| IngestedReport {
            organization_name: String::new(),
            report_id: String::new(),
            origin: String::new(),
            outcome,
            warnings: vec![],
        };
        let outcome = IngestOutcome {
            submission_id: Some(1),
            reports: vec![
                report(ReportOutcome::Duplicate { id: 3 }),
                report(ReportOutcome::Stored { id: 9 }),
            ],
            rejections: vec![],
        };
        assert_eq!(outcome.acknowledgement(), Some(Acknowledgement::Stored(9)));
        let only_dup = IngestOutcome {
            reports: vec![report(ReportOutcome::Duplicate { id: 3 })],
            ..outcome
        };
        assert_eq!(
            only_dup.acknowledgement(),
            Some(Acknowledgement::Duplicate(3))
        );
    }
}
