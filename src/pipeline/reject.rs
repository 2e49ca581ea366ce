//! The one vocabulary of refusals, shared by every intake.
//!
//! In: a decode or parse error, or an intake's own reason to refuse (DKIM, size).
//! Out: a [`RejectCode`] with its stable name (stored with quarantined submissions, shown
//! in the API and metrics), the HTTP status the HTTPS intake answers and the SMTP reply
//! code the SMTP intake answers. The mapping sits here, beside each other, so the two
//! intakes cannot disagree; the README's "HTTP intake answers" table documents it.

use serde::Serialize;

use crate::decode::DecodeError;
use crate::parse::ParseError;

/// Why a submission, or one part of it, carries no valid report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// The submission is empty.
    Empty,
    /// A gzip stream is corrupt.
    BadGzip,
    /// A compressed stream or message ends early.
    Truncated,
    /// Decompressed data would exceed `--max-decompressed-bytes`.
    DecompressedTooLarge,
    /// A zip archive is corrupt.
    BadZip,
    /// A zip archive has more entries than `--max-zip-entries`.
    TooManyEntries,
    DmarcAggregateReport,
    DmarcFailureReport,
    AbuseReport,
    /// Something else than a report (plain mail, HTML, an image).
    NotAReport,
    /// A message or body with no report in it.
    NoReport,
    /// A media type that is not a report, and the body is not one either.
    UnsupportedMediaType,
    /// The payload is not JSON.
    NotJson,
    /// JSON nested deeper than `--max-json-depth`.
    TooDeep,
    /// JSON that is a DMARC report.
    DmarcReport,
    /// JSON that does not follow the RFC 8460 schema.
    NotTlsrptSchema,
    MissingField,
    InvalidField,
    /// A report with more policies or failure details than the parser takes; the body
    /// itself may be small, so this is a 400, not a 413.
    ReportTooLarge,
    /// The request body is over `--http-max-body-bytes` (never read, so not kept).
    BodyTooLarge,
    /// The SMTP message is over `--smtp-max-message-bytes` (never read, so not kept).
    MessageTooLarge,
    /// An emailed report without a passing, aligned DKIM signature (RFC 8460 §3).
    Dkim,
}

impl RejectCode {
    /// The stable name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::Empty => "empty",
            RejectCode::BadGzip => "bad-gzip",
            RejectCode::Truncated => "truncated",
            RejectCode::DecompressedTooLarge => "decompressed-too-large",
            RejectCode::BadZip => "bad-zip",
            RejectCode::TooManyEntries => "too-many-entries",
            RejectCode::DmarcAggregateReport => "dmarc-aggregate-report",
            RejectCode::DmarcFailureReport => "dmarc-failure-report",
            RejectCode::AbuseReport => "abuse-report",
            RejectCode::NotAReport => "not-a-report",
            RejectCode::NoReport => "no-report",
            RejectCode::UnsupportedMediaType => "unsupported-media-type",
            RejectCode::NotJson => "not-json",
            RejectCode::TooDeep => "too-deep",
            RejectCode::DmarcReport => "dmarc-report",
            RejectCode::NotTlsrptSchema => "not-tlsrpt-schema",
            RejectCode::MissingField => "missing-field",
            RejectCode::InvalidField => "invalid-field",
            RejectCode::ReportTooLarge => "report-too-large",
            RejectCode::BodyTooLarge => "body-too-large",
            RejectCode::MessageTooLarge => "message-too-large",
            RejectCode::Dkim => "dkim",
        }
    }

    /// The HTTPS intake's status: 413 only when a byte limit was hit, 415 for a media
    /// type that is not a report, 400 for everything else a sender must fix.
    pub fn http_status(self) -> http::StatusCode {
        match self {
            RejectCode::DecompressedTooLarge
            | RejectCode::BodyTooLarge
            | RejectCode::MessageTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            RejectCode::UnsupportedMediaType => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }

    /// The SMTP intake's reply code and enhanced status code (RFC 3463): 552 5.3.4 when a
    /// size limit was hit, 550 5.7.1 for a DKIM failure (delivery not authorized), 550
    /// 5.6.0 (bad content) for everything else. `intake/smtp/replies.rs` writes the text.
    pub fn smtp_reply(self) -> (u16, &'static str) {
        match self {
            RejectCode::DecompressedTooLarge
            | RejectCode::BodyTooLarge
            | RejectCode::MessageTooLarge => (552, "5.3.4"),
            RejectCode::Dkim => (550, "5.7.1"),
            _ => (550, "5.6.0"),
        }
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RejectCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl From<&DecodeError> for RejectCode {
    fn from(e: &DecodeError) -> Self {
        match e {
            DecodeError::Empty => RejectCode::Empty,
            DecodeError::BadGzip(_) => RejectCode::BadGzip,
            DecodeError::Truncated(_) => RejectCode::Truncated,
            DecodeError::TooLarge { .. } => RejectCode::DecompressedTooLarge,
            DecodeError::BadZip(_) => RejectCode::BadZip,
            DecodeError::TooManyEntries { .. } => RejectCode::TooManyEntries,
            DecodeError::DmarcAggregateReport => RejectCode::DmarcAggregateReport,
            DecodeError::DmarcFailureReport => RejectCode::DmarcFailureReport,
            DecodeError::AbuseReport => RejectCode::AbuseReport,
            DecodeError::NotAReport(_) => RejectCode::NotAReport,
            DecodeError::NoReport(_) => RejectCode::NoReport,
            DecodeError::UnsupportedMediaType(_) => RejectCode::UnsupportedMediaType,
        }
    }
}

impl From<&ParseError> for RejectCode {
    fn from(e: &ParseError) -> Self {
        match e {
            ParseError::NotJson { .. } => RejectCode::NotJson,
            ParseError::TooDeep { .. } => RejectCode::TooDeep,
            ParseError::NotAReport(_) => RejectCode::NotAReport,
            ParseError::DmarcReport => RejectCode::DmarcReport,
            ParseError::NotTlsrptSchema(_) => RejectCode::NotTlsrptSchema,
            ParseError::MissingField { .. } => RejectCode::MissingField,
            ParseError::InvalidField { .. } => RejectCode::InvalidField,
            ParseError::TooLarge { .. } => RejectCode::ReportTooLarge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits_and_report_size_are_told_apart() {
        let body = RejectCode::BodyTooLarge;
        let report = RejectCode::from(&ParseError::TooLarge {
            what: "policies".into(),
            count: 10_001,
            limit: 10_000,
        });
        assert_eq!(report, RejectCode::ReportTooLarge);
        assert_ne!(body.as_str(), report.as_str());
        assert_eq!(body.http_status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(report.http_status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(body.smtp_reply().0, 552);
        assert_eq!(report.smtp_reply(), (550, "5.6.0"));
        assert_eq!(
            RejectCode::from(&DecodeError::TooLarge {
                what: "gzip".into(),
                limit: 1
            })
            .http_status(),
            http::StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            RejectCode::UnsupportedMediaType.http_status(),
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
