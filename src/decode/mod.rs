//! Decode stage: turn one submission into the JSON payloads it carries.
//!
//! In: the raw submission bytes and the declared media type, if any (HTTP
//! `Content-Type`; `None` for SMTP and import). Out: [`Decoded`] — the JSON payloads
//! with where each came from ("body", "part 2 (…json.gz)", "zip entry report.json"),
//! the headers of an emailed report, and the report-looking parts that failed — or a
//! [`DecodeError`] saying why nothing could be extracted.
//!
//! Bytes are sniffed before any label is trusted (mislabelled bodies are decoded with
//! a `media-type-mismatch` warning). Layers: RFC 5322 message (`mime.rs`), gzip
//! (`gzip.rs`, multi-member, trailing bytes tolerated), zip (`zip.rs`), base64 text of a
//! gzip. Every decompression is bounded by [`DecodeLimits`] and charged to an
//! [`Allowance`]. JSON is not interpreted
//! here beyond noticing a cut-off document; that is the parse stage's job.

mod allowance;
mod gzip;
mod mime;
mod sniff;
mod zip;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use crate::report::{MessageMeta, Warning};
pub use allowance::Allowance;
use sniff::Kind;

/// Bounds on the work one submission may cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Most bytes one submission may decompress or decode, all layers and parts counted
    /// together; the memory its buffers take is bounded by its [`Allowance`]'s grant.
    pub max_decompressed_bytes: u64,
    pub max_zip_entries: usize,
    pub max_payloads: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            // docs/ARCHITECTURE.md, "Limits": a decompressed report is at most 50 MiB. Real daily reports of
            // even the largest senders are a few MiB; this stops gzip/zip bombs.
            max_decompressed_bytes: 50 * 1024 * 1024,
            // docs/ARCHITECTURE.md, "Limits": zip archives hold at most 16 entries. A report zip holds one
            // file; 16 leaves room for odd senders while bounding per-entry overhead.
            max_zip_entries: 16,
            // One message normally carries one report (a few senders batch some domains);
            // 64 payloads bounds total work at 64 × the decompressed limit per message.
            max_payloads: 64,
        }
    }
}

/// What one submission decoded to.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Headers of an emailed report; `None` for a bare body.
    pub meta: Option<MessageMeta>,
    pub payloads: Vec<Payload>,
    /// Report-looking parts that could not be decoded; the other parts still count.
    pub failures: Vec<PartFailure>,
}

/// One JSON document to hand to the parse stage.
#[derive(Debug, Clone)]
pub struct Payload {
    pub json: Vec<u8>,
    /// Where it came from, e.g. `body`, `part 2 (x.json.gz)`, `zip entry report.json`.
    pub origin: String,
    pub warnings: Vec<Warning>,
}

/// A part that looked like a report but could not be decoded.
#[derive(Debug)]
pub struct PartFailure {
    pub origin: String,
    pub error: DecodeError,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the submission is empty")]
    Empty,
    #[error("the gzip data is corrupt ({0})")]
    BadGzip(String),
    #[error("the data is cut off before its end ({0}); the sender should resend it")]
    Truncated(String),
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("the zip archive is unreadable ({0})")]
    BadZip(String),
    #[error("the zip archive has {entries} entries, more than the limit of {limit}")]
    TooManyEntries { entries: usize, limit: usize },
    #[error(
        "this is a DMARC aggregate report (RFC 7489), not a TLS-RPT report; send it to the DMARC rua address"
    )]
    DmarcAggregateReport,
    #[error(
        "this is a DMARC failure report (RFC 7489 / RFC 6591 ARF), not a TLS-RPT report; send it to the DMARC ruf address"
    )]
    DmarcFailureReport,
    #[error("this is an abuse/feedback report (ARF, RFC 5965), not a TLS-RPT report")]
    AbuseReport,
    #[error("not a TLS-RPT report: {0}")]
    NotAReport(String),
    #[error(
        "the message carries no TLS-RPT report: no application/tlsrpt+gzip or application/tlsrpt+json part ({0})"
    )]
    NoReport(String),
    #[error("unsupported media type {0}: send application/tlsrpt+gzip or application/tlsrpt+json")]
    UnsupportedMediaType(String),
}

/// Decode one submission. `content_type` is the declared media type (parameters
/// allowed); it is only a hint: the bytes are sniffed first.
pub fn decode(
    raw: &[u8],
    content_type: Option<&str>,
    limits: &DecodeLimits,
) -> Result<Decoded, DecodeError> {
    decode_within(
        raw,
        content_type,
        limits,
        &Allowance::whole(limits.max_decompressed_bytes),
    )
}

/// [`decode`] charging every buffer it fills to `allowance`. When the allowance's grant
/// runs out before its limit, decoding stops with `TooLarge` and
/// [`Allowance::wants_more`] says so: the caller may retry with a larger grant.
pub fn decode_within(
    raw: &[u8],
    content_type: Option<&str>,
    limits: &DecodeLimits,
    allowance: &Allowance,
) -> Result<Decoded, DecodeError> {
    if sniff::trim_start(raw).is_empty() {
        return Err(DecodeError::Empty);
    }
    let kind = sniff::sniff(raw);
    let declared = content_type.map(media_type);
    let mismatch = match declared.as_deref() {
        None | Some("") | Some("application/octet-stream") => None,
        Some(ct) => {
            let expected: &[Kind] = match ct {
                "application/tlsrpt+gzip" | "application/gzip" | "application/x-gzip" => {
                    &[Kind::Gzip]
                }
                "application/tlsrpt+json" | "application/tlsrpt" | "application/json" => {
                    &[Kind::Json]
                }
                "application/zip" | "application/tlsrpt+zip" | "application/x-zip-compressed" => {
                    &[Kind::Zip]
                }
                "message/rfc822" => &[Kind::Mail],
                _ => {
                    if matches!(kind, Kind::Unknown | Kind::Html | Kind::Xml) {
                        return Err(DecodeError::UnsupportedMediaType(ct.to_owned()));
                    }
                    &[]
                }
            };
            (!expected.contains(&kind)).then(|| {
                Warning::new(
                    "media-type-mismatch",
                    format!("declared {ct} but the body is {}", kind.describe()),
                )
            })
        }
    };
    let mut decoded = if kind == Kind::Mail {
        mime::decode_message(raw, limits, allowance)?
    } else {
        Decoded {
            meta: None,
            payloads: decode_blob(Cow::Borrowed(raw), kind, "body", 0, limits, allowance)?,
            failures: Vec::new(),
        }
    };
    if let Some(w) = mismatch {
        for p in &mut decoded.payloads {
            p.warnings.push(w.clone());
        }
    }
    Ok(decoded)
}

/// Lower-case `type/subtype` without parameters.
fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// How many container layers (gzip, zip, base64) may wrap the JSON: zip → gzip → JSON
/// is the deepest shape seen from real senders; deeper nesting is not a report.
const MAX_DEPTH: usize = 2;

/// Decode a non-message byte string already classified as `kind`. Owned data (the
/// output of a layer) becomes the payload without a copy.
pub(crate) fn decode_blob(
    data: Cow<'_, [u8]>,
    kind: Kind,
    origin: &str,
    depth: usize,
    limits: &DecodeLimits,
    allowance: &Allowance,
) -> Result<Vec<Payload>, DecodeError> {
    let nested = |what: &str| {
        DecodeError::NotAReport(format!(
            "{origin}: {what} nested too deeply inside gzip/zip layers"
        ))
    };
    match kind {
        Kind::Json => {
            check_json(&data, origin)?;
            let json = match data {
                Cow::Owned(json) => json,
                Cow::Borrowed(bytes) => {
                    allowance.charge(bytes.len() as u64, "the JSON body")?;
                    bytes.to_vec()
                }
            };
            Ok(vec![Payload {
                json,
                origin: origin.to_owned(),
                warnings: Vec::new(),
            }])
        }
        Kind::Gzip => {
            if depth >= MAX_DEPTH {
                return Err(nested("gzip"));
            }
            let (out, warnings) = gzip::gunzip(&data, allowance)?;
            let inner = sniff::sniff(&out);
            if inner != Kind::Json && inner != Kind::DmarcXml {
                return Err(DecodeError::NotAReport(format!(
                    "{origin}: the gzip content is {}, not JSON (starts with \"{}\")",
                    inner.describe(),
                    sniff::hint(&out)
                )));
            }
            let mut payloads =
                decode_blob(Cow::Owned(out), inner, origin, depth + 1, limits, allowance)?;
            for p in &mut payloads {
                p.warnings.extend(warnings.iter().cloned());
            }
            Ok(payloads)
        }
        Kind::Base64Gzip => {
            if depth >= MAX_DEPTH {
                return Err(nested("base64"));
            }
            let text = sniff::trim_start(&data);
            // Base64 decodes to three bytes per four characters.
            allowance.charge(text.len() as u64 / 4 * 3 + 3, "base64 text")?;
            let bin = sniff::base64_decode(text)
                .ok_or_else(|| DecodeError::NotAReport(format!("{origin}: invalid base64 text")))?;
            let mut payloads = decode_blob(
                Cow::Owned(bin),
                Kind::Gzip,
                origin,
                depth + 1,
                limits,
                allowance,
            )?;
            for p in &mut payloads {
                p.warnings.push(Warning::new(
                    "base64-body",
                    format!("{origin} was base64 text of a gzip stream"),
                ));
            }
            Ok(payloads)
        }
        Kind::Zip => {
            if depth >= MAX_DEPTH {
                return Err(nested("zip"));
            }
            let entries = zip::unzip(&data, limits, allowance)?;
            let mut payloads = Vec::new();
            let mut dmarc = false;
            let mut first_err = None;
            for e in entries {
                let ek = sniff::sniff(&e.data);
                let lname = e.name.to_ascii_lowercase();
                let wanted = matches!(ek, Kind::Json | Kind::Gzip | Kind::DmarcXml)
                    || lname.ends_with(".json")
                    || lname.ends_with(".json.gz");
                if !wanted {
                    continue;
                }
                let eorigin = if origin == "body" {
                    format!("zip entry {}", e.name)
                } else {
                    format!("{origin} zip entry {}", e.name)
                };
                match decode_blob(
                    Cow::Owned(e.data),
                    ek,
                    &eorigin,
                    depth + 1,
                    limits,
                    allowance,
                ) {
                    Ok(p) => payloads.extend(p),
                    Err(DecodeError::DmarcAggregateReport) => dmarc = true,
                    Err(err) => {
                        first_err.get_or_insert(err);
                    }
                }
            }
            if !payloads.is_empty() {
                return Ok(payloads);
            }
            if dmarc {
                return Err(DecodeError::DmarcAggregateReport);
            }
            Err(first_err.unwrap_or_else(|| {
                DecodeError::NotAReport(format!("{origin}: the zip archive holds no JSON file"))
            }))
        }
        Kind::DmarcXml => Err(DecodeError::DmarcAggregateReport),
        Kind::Xml | Kind::Html | Kind::Mail | Kind::Unknown => {
            Err(DecodeError::NotAReport(format!(
                "{origin} looks like {} (starts with \"{}\")",
                kind.describe(),
                sniff::hint(&data)
            )))
        }
    }
}

/// A JSON document cut off before its end is reported here as `truncated`; every other
/// JSON problem is left to the parse stage, which can say more about it.
fn check_json(data: &[u8], origin: &str) -> Result<(), DecodeError> {
    match serde_json::from_slice::<serde::de::IgnoredAny>(data) {
        Err(e) if e.is_eof() => Err(DecodeError::Truncated(format!(
            "{origin}: JSON ends early at line {}",
            e.line()
        ))),
        _ => Ok(()),
    }
}
