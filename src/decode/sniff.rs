//! Content sniffing: classify a byte string by its first bytes, never by its label.

/// What a byte string looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Gzip,
    Zip,
    Json,
    /// XML whose root is a DMARC `<feedback>` element (RFC 7489 aggregate report).
    DmarcXml,
    /// Other XML.
    Xml,
    Html,
    /// An RFC 5322 message (possibly with a leading mbox `From ` line).
    Mail,
    /// Base64 text that decodes to a gzip stream.
    Base64Gzip,
    Unknown,
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Gzip => "gzip",
            Kind::Zip => "zip",
            Kind::Json => "JSON",
            Kind::DmarcXml => "DMARC XML",
            Kind::Xml => "XML",
            Kind::Html => "HTML",
            Kind::Mail => "an email message",
            Kind::Base64Gzip => "base64 of gzip",
            Kind::Unknown => "unknown data",
        }
    }
}

/// How far into a document we look for `<feedback`: a DMARC report's root element
/// follows the XML declaration and maybe a comment, well within 4 KiB.
const XML_PEEK: usize = 4096;

/// Strip a UTF-8 BOM and leading ASCII whitespace.
pub(crate) fn trim_start(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

pub(crate) fn sniff(raw: &[u8]) -> Kind {
    if raw.starts_with(&[0x1f, 0x8b]) {
        return Kind::Gzip;
    }
    if raw.starts_with(b"PK\x03\x04") || raw.starts_with(b"PK\x05\x06") {
        return Kind::Zip;
    }
    let b = trim_start(raw);
    match b.first() {
        Some(b'{') | Some(b'[') => return Kind::Json,
        Some(b'<') => {
            let peek = &b[..b.len().min(XML_PEEK)];
            if contains_ci(peek, b"<feedback") {
                return Kind::DmarcXml;
            }
            if starts_with_ci(b, b"<!doctype html") || starts_with_ci(b, b"<html") {
                return Kind::Html;
            }
            return Kind::Xml;
        }
        _ => {}
    }
    if is_base64_gzip(b) {
        return Kind::Base64Gzip;
    }
    if looks_like_mail(raw) {
        return Kind::Mail;
    }
    Kind::Unknown
}

/// An RFC 5322 message starts with a header field `Name: value` (printable ASCII name
/// without spaces) or with an mbox `From ` separator line.
pub(crate) fn looks_like_mail(raw: &[u8]) -> bool {
    if raw.starts_with(b"From ") {
        return true;
    }
    let line_end = raw.iter().position(|&c| c == b'\n').unwrap_or(raw.len());
    let line = &raw[..line_end];
    match line.iter().position(|&c| c == b':') {
        Some(0) | None => false,
        Some(colon) => line[..colon].iter().all(|&c| (33..=126).contains(&c)),
    }
}

/// Base64 of a gzip stream starts with `H4sI` (1f 8b 08); the rest must be base64
/// alphabet, padding or whitespace.
fn is_base64_gzip(b: &[u8]) -> bool {
    b.starts_with(b"H4sI")
        && b.iter().all(|&c| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_')
                || c.is_ascii_whitespace()
        })
}

/// Decode standard or URL-safe base64, ignoring whitespace. `None` on a bad character.
pub(crate) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

pub(crate) fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

pub(crate) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The first bytes, printable-escaped, at most 40 characters: for error messages.
pub(crate) fn hint(raw: &[u8]) -> String {
    /// Long enough to recognise a format, short enough for a log line.
    const MAX: usize = 40;
    let mut s = String::new();
    for &c in raw {
        let piece = match c {
            b'\n' => "\\n".to_owned(),
            b'\r' => "\\r".to_owned(),
            b'\t' => "\\t".to_owned(),
            0x20..=0x7e => (c as char).to_string(),
            _ => format!("\\x{c:02x}"),
        };
        if s.len() + piece.len() > MAX {
            s.push('…');
            break;
        }
        s.push_str(&piece);
    }
    s
}
