//! RFC 5322 layer: find every TLS-RPT part of an emailed report (mail-parser 0.11),
//! and say what the message is when it carries none.

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::sniff::{self, Kind};
use std::borrow::Cow;

use super::{Allowance, DecodeError, DecodeLimits, Decoded, PartFailure, decode_blob};
use crate::report::{MessageMeta, Warning};

/// Media types that name a TLS-RPT report whatever the file name.
const TLSRPT_TYPES: &[&str] = &[
    "application/tlsrpt+gzip",
    "application/tlsrpt+json",
    "application/tlsrpt",
    "application/tlsrpt+zip",
];

/// Generic media types that carry a report only when the file name says so.
const GENERIC_TYPES: &[&str] = &[
    "application/octet-stream",
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "application/x-zip-compressed",
    "application/json",
    "text/plain",
];

const REPORT_EXTENSIONS: &[&str] = &[".json", ".json.gz", ".gz", ".zip"];

pub(crate) fn decode_message(
    raw: &[u8],
    limits: &DecodeLimits,
    allowance: &Allowance,
) -> Result<Decoded, DecodeError> {
    // An mbox export starts with a `From ` separator line that is not a header.
    let body = if raw.starts_with(b"From ") {
        match raw.iter().position(|&c| c == b'\n') {
            Some(i) => &raw[i + 1..],
            None => &[][..],
        }
    } else {
        raw
    };
    let message = MessageParser::default().parse(body).ok_or_else(|| {
        DecodeError::NotAReport(format!(
            "unreadable email message (starts with \"{}\")",
            sniff::hint(raw)
        ))
    })?;

    let text = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|v| !v.is_empty())
    };
    let meta = MessageMeta {
        tls_report_domain: text("TLS-Report-Domain"),
        tls_report_submitter: text("TLS-Report-Submitter"),
        from: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned),
        subject: message.subject().map(str::to_owned),
        message_id: message.message_id().map(str::to_owned),
    };

    let root_multipart = message
        .parts
        .first()
        .is_some_and(|p| matches!(p.body, PartType::Multipart(_)));
    let mut decoded = Decoded {
        meta: Some(meta),
        payloads: Vec::new(),
        failures: Vec::new(),
    };
    let mut dmarc = false;
    let mut truncated_extra = 0usize;
    let mut attachments = 0usize;
    for (idx, part) in message.parts.iter().enumerate() {
        if matches!(part.body, PartType::Multipart(_)) || (idx == 0 && root_multipart) {
            continue;
        }
        let ctype = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            // RFC 2045 §5.2: no Content-Type means text/plain.
            .unwrap_or_else(|| "text/plain".to_owned())
            .to_ascii_lowercase();
        // Some senders (Microsoft) give the file name only in Content-Description.
        let name = part
            .attachment_name()
            .or_else(|| part.content_description())
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        let lname = name.as_deref().unwrap_or("").to_ascii_lowercase();
        if name.is_some() || (!ctype.starts_with("text/") && !ctype.starts_with("multipart/")) {
            attachments += 1;
        }
        let strong = TLSRPT_TYPES.contains(&ctype.as_str());
        let weak = GENERIC_TYPES.contains(&ctype.as_str())
            && REPORT_EXTENSIONS.iter().any(|ext| lname.ends_with(ext));
        let data = part.contents();
        let origin = match &name {
            Some(n) => format!("part {idx} ({n})"),
            None => format!("part {idx}"),
        };
        if !(strong || weak) {
            // Not a report part; look only for a DMARC aggregate report to name it.
            if matches!(part.body, PartType::Binary(_) | PartType::InlineBinary(_))
                || ctype.ends_with("/xml")
            {
                let kind = sniff::sniff(data);
                if matches!(kind, Kind::Gzip | Kind::Zip | Kind::DmarcXml)
                    && matches!(
                        decode_blob(Cow::Borrowed(data), kind, &origin, 0, limits, allowance),
                        Err(DecodeError::DmarcAggregateReport)
                    )
                {
                    dmarc = true;
                }
            }
            continue;
        }
        let mut kind = sniff::sniff(data);
        if kind == Kind::Unknown && !data.is_empty() && ctype == "application/tlsrpt+gzip" {
            // Let the gzip layer say precisely what is wrong.
            kind = Kind::Gzip;
        }
        match decode_blob(Cow::Borrowed(data), kind, &origin, 0, limits, allowance) {
            Ok(payloads) => {
                for mut p in payloads {
                    if decoded.payloads.len() >= limits.max_payloads {
                        truncated_extra += 1;
                        continue;
                    }
                    if let Some(w) = label_mismatch(&ctype, kind, &origin) {
                        p.warnings.push(w);
                    }
                    decoded.payloads.push(p);
                }
            }
            Err(DecodeError::DmarcAggregateReport) => dmarc = true,
            Err(error) => decoded.failures.push(PartFailure { origin, error }),
        }
    }
    if truncated_extra > 0
        && let Some(last) = decoded.payloads.last_mut()
    {
        last.warnings.push(Warning::new(
            "too-many-payloads",
            format!(
                "{truncated_extra} report(s) beyond the limit of {} per message ignored",
                limits.max_payloads
            ),
        ));
    }
    if !decoded.payloads.is_empty() {
        return Ok(decoded);
    }
    if !decoded.failures.is_empty() {
        let first = decoded.failures.remove(0);
        return Err(first.error);
    }
    if dmarc {
        return Err(DecodeError::DmarcAggregateReport);
    }

    // No report part: say what the message is.
    let root_type = message.content_type();
    let report_type = root_type
        .and_then(|ct| ct.attribute("report-type"))
        .unwrap_or("")
        .to_ascii_lowercase();
    let feedback_part = message.parts.iter().find(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("feedback-report"))
        })
    });
    if report_type == "feedback-report" || feedback_part.is_some() {
        let fb = feedback_part.map(|p| p.contents()).unwrap_or(b"");
        if sniff::contains_ci(fb, b"auth-failure") || sniff::contains_ci(fb, b"dmarc") {
            return Err(DecodeError::DmarcFailureReport);
        }
        return Err(DecodeError::AbuseReport);
    }
    let subject = message.subject().unwrap_or("(none)");
    if report_type == "tlsrpt" || attachments > 0 {
        return Err(DecodeError::NoReport(format!("Subject: {subject}")));
    }
    Err(DecodeError::NotAReport(format!(
        "the message carries no application/tlsrpt part: it looks like plain mail (Subject: {subject})"
    )))
}

/// A part whose label disagrees with its bytes (e.g. `application/tlsrpt+gzip` holding
/// plain JSON) is decoded anyway, with a warning.
fn label_mismatch(ctype: &str, kind: Kind, origin: &str) -> Option<Warning> {
    let ok = match ctype {
        "application/tlsrpt+gzip" | "application/gzip" | "application/x-gzip" => kind == Kind::Gzip,
        "application/tlsrpt+json" | "application/tlsrpt" | "application/json" => kind == Kind::Json,
        "application/tlsrpt+zip" | "application/zip" | "application/x-zip-compressed" => {
            kind == Kind::Zip
        }
        _ => true,
    };
    (!ok).then(|| {
        Warning::new(
            "media-type-mismatch",
            format!("{origin} is labelled {ctype} but is {}", kind.describe()),
        )
    })
}
