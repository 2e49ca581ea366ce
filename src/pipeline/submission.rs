//! What an intake hands to the pipeline.
//!
//! In: the bytes an intake received and where they came from. Out: a [`Submission`] whose
//! [`Envelope`] is a typed struct per intake, serialized once when the submission is
//! committed (the JSON kept with it and shown on the report page).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::report::Source;

/// Everything an intake received, before any interpretation.
#[derive(Debug, Clone)]
pub struct Submission {
    pub envelope: Envelope,
    /// Declared media type (HTTP `Content-Type`); `None` lets the decoder sniff.
    pub content_type: Option<String>,
    pub received_at: DateTime<Utc>,
    pub raw: Vec<u8>,
}

impl Submission {
    pub fn source(&self) -> Source {
        self.envelope.source()
    }
}

/// Where a submission came from, as each intake knows it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Envelope {
    Https(HttpsEnvelope),
    Smtp(SmtpEnvelope),
    Import(ImportEnvelope),
}

impl Envelope {
    pub fn source(&self) -> Source {
        match self {
            Envelope::Https(_) => Source::Https,
            Envelope::Smtp(_) => Source::Smtp,
            Envelope::Import(_) => Source::Import,
        }
    }

    /// The peer's IP address, kept in its own column for the reports list.
    pub fn peer_ip(&self) -> Option<String> {
        let peer = match self {
            Envelope::Https(e) => e.peer,
            Envelope::Smtp(e) => e.peer,
            Envelope::Import(_) => return None,
        };
        Some(peer.ip().to_string())
    }
}

/// `POST /v1/reports`: the peer and the request headers that say what was sent.
#[derive(Debug, Clone, Serialize)]
pub struct HttpsEnvelope {
    pub peer: std::net::SocketAddr,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// An SMTP delivery: the session's envelope and TLS, and the DKIM check once done.
#[derive(Debug, Clone, Serialize)]
pub struct SmtpEnvelope {
    pub peer: std::net::SocketAddr,
    pub helo: String,
    /// The reverse path (empty for the null sender).
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// TLS version and cipher of the session, `None` in plaintext.
    pub tls: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dkim: Option<DkimOutcome>,
}

/// A file read by `tlsrptd import` (or written by the load generator).
#[derive(Debug, Clone, Serialize)]
pub struct ImportEnvelope {
    pub path: String,
    /// 1-based position of the message in an mbox file.
    pub mbox_message: Option<usize>,
}

/// The result of an RFC 8460 §3 DKIM check of an emailed report, kept in its envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkimOutcome {
    /// `pass`, `fail`, `none`, `temperror`, `permerror`, `policy` (passed, but with `l=`) or
    /// `off` (not checked).
    pub result: String,
    /// A passing signature without `l=` whose `d=` shares the organizational domain with the
    /// reporting side was found.
    pub aligned: bool,
    /// `d=` of all signatures seen, lowercased, in message order, deduplicated.
    pub signing_domains: Vec<String>,
    /// Why, in words.
    pub detail: String,
}

impl DkimOutcome {
    /// Whether the report counts: a passing signature without `l=` that is aligned.
    pub fn counts(&self) -> bool {
        self.result == "pass" && self.aligned
    }

    /// The outcome recorded when DKIM checking is off.
    pub fn off() -> Self {
        DkimOutcome {
            result: "off".to_string(),
            aligned: false,
            signing_domains: Vec::new(),
            detail: "off: DKIM checking is disabled".to_string(),
        }
    }
}
