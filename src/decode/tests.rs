use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

const REPORT: &str = r#"{"organization-name":"Test Sender","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},"contact-info":"tlsrpt@sender.test","report-id":"t-1","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"harbor.test"},"summary":{"total-successful-session-count":3,"total-failure-session-count":0}}]}"#;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            s.push('\n');
        }
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (j, &b)| n | (u32::from(b) << (16 - 8 * j)));
        for k in 0..4 {
            if k <= c.len() {
                s.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = ::zip::write::SimpleFileOptions::default()
        .compression_method(::zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn ok(raw: &[u8], ct: Option<&str>) -> Decoded {
    match decode(raw, ct, &DecodeLimits::default()) {
        Ok(d) => d,
        Err(e) => panic!("expected payloads, got {}: {e}", e.code()),
    }
}

fn err(raw: &[u8], ct: Option<&str>) -> DecodeError {
    match decode(raw, ct, &DecodeLimits::default()) {
        Ok(d) => panic!("expected an error, got {} payloads", d.payloads.len()),
        Err(e) => e,
    }
}

fn codes(p: &Payload) -> Vec<&str> {
    p.warnings.iter().map(|w| w.code.as_str()).collect()
}

#[test]
fn empty_input() {
    assert_eq!(err(b"", None).code(), "empty");
    assert_eq!(err(b" \r\n", None).code(), "empty");
}

#[test]
fn raw_json_with_bom() {
    let mut raw = b"\xEF\xBB\xBF\n ".to_vec();
    raw.extend_from_slice(REPORT.as_bytes());
    let d = ok(&raw, Some("application/tlsrpt+json"));
    assert_eq!(d.payloads.len(), 1);
    assert_eq!(d.payloads[0].origin, "body");
    assert!(d.payloads[0].warnings.is_empty());
    assert!(d.meta.is_none());
}

#[test]
fn gzip_body() {
    let d = ok(&gz(REPORT.as_bytes()), Some("application/tlsrpt+gzip"));
    assert_eq!(d.payloads[0].json, REPORT.as_bytes());
    assert!(d.payloads[0].warnings.is_empty());
}

#[test]
fn multi_member_gzip() {
    let (a, b) = REPORT.split_at(50);
    let mut raw = gz(a.as_bytes());
    raw.extend(gz(b.as_bytes()));
    let d = ok(&raw, None);
    assert_eq!(d.payloads[0].json, REPORT.as_bytes());
    assert!(d.payloads[0].warnings.is_empty());
}

#[test]
fn gzip_trailing_garbage_is_a_warning() {
    let mut raw = gz(REPORT.as_bytes());
    raw.extend_from_slice(b"\0\0\0garbage\n");
    let d = ok(&raw, None);
    assert_eq!(d.payloads[0].json, REPORT.as_bytes());
    assert_eq!(codes(&d.payloads[0]), ["gzip-trailing-bytes"]);
}

#[test]
fn truncated_gzip() {
    let raw = gz(REPORT.as_bytes());
    let e = err(&raw[..raw.len() / 2], None);
    assert!(matches!(e.code(), "truncated" | "bad-gzip"), "{}", e.code());
}

#[test]
fn gzip_bomb_is_too_large() {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..60 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024);
    assert_eq!(err(&bomb, None).code(), "decompressed-too-large");
    // Smaller limit, same input: the bound is the configured one.
    let limits = DecodeLimits {
        max_decompressed_bytes: 1000,
        ..DecodeLimits::default()
    };
    match decode(&gz(&[b' '; 1001]), None, &limits) {
        Err(e) => assert_eq!(e.code(), "decompressed-too-large"),
        Ok(_) => panic!("expected too-large"),
    }
}

#[test]
fn zip_with_json_entry() {
    let raw = zip_of(&[
        ("dir/report.json", REPORT.as_bytes()),
        ("readme.txt", b"hello"),
    ]);
    let d = ok(&raw, Some("application/zip"));
    assert_eq!(d.payloads.len(), 1);
    assert_eq!(d.payloads[0].origin, "zip entry report.json");
}

#[test]
fn zip_with_too_many_entries() {
    let names: Vec<String> = (0..17).map(|i| format!("r{i}.json")).collect();
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), REPORT.as_bytes()))
        .collect();
    assert_eq!(err(&zip_of(&entries), None).code(), "too-many-entries");
}

#[test]
fn zip_of_dmarc_xml() {
    let raw = zip_of(&[(
        "x.xml",
        b"<?xml version=\"1.0\"?>\n<feedback><report_metadata/></feedback>",
    )]);
    assert_eq!(err(&raw, None).code(), "dmarc-aggregate-report");
    assert_eq!(
        err(&gz(b"<feedback></feedback>"), None).code(),
        "dmarc-aggregate-report"
    );
}

#[test]
fn mislabelled_body_is_decoded_with_warning() {
    let d = ok(REPORT.as_bytes(), Some("application/tlsrpt+gzip"));
    assert_eq!(codes(&d.payloads[0]), ["media-type-mismatch"]);
    let d = ok(
        &gz(REPORT.as_bytes()),
        Some("application/tlsrpt+json; charset=utf-8"),
    );
    assert_eq!(codes(&d.payloads[0]), ["media-type-mismatch"]);
    let d = ok(&gz(REPORT.as_bytes()), Some("application/octet-stream"));
    assert!(d.payloads[0].warnings.is_empty());
}

#[test]
fn unsupported_media_type() {
    let e = err(b"<html><body>hi</body></html>", Some("text/html"));
    assert_eq!(e.code(), "unsupported-media-type");
    assert_eq!(
        err(b"\x89PNG\r\n\x1a\n", Some("image/png")).code(),
        "unsupported-media-type"
    );
}

#[test]
fn unknown_bytes_are_not_a_report_with_hint() {
    let e = err(b"\x00\x01hello", None);
    assert_eq!(e.code(), "not-a-report");
    assert!(e.to_string().contains("\\x00\\x01hello"), "{e}");
}

#[test]
fn truncated_json() {
    assert_eq!(err(&REPORT.as_bytes()[..80], None).code(), "truncated");
}

#[test]
fn base64_text_of_gzip() {
    let text = b64(&gz(REPORT.as_bytes()));
    let d = ok(text.as_bytes(), None);
    assert_eq!(d.payloads[0].json, REPORT.as_bytes());
    assert_eq!(codes(&d.payloads[0]), ["base64-body"]);
}

#[test]
fn bigmail_style_email() {
    let d = ok(
        include_bytes!("../../sample-reports/bigmail-style.eml"),
        None,
    );
    assert_eq!(d.payloads.len(), 1);
    assert_eq!(
        d.payloads[0].origin,
        "part 2 (bigmail.test!harbor.test!1772323200!1772409599!001.json.gz)"
    );
    assert!(d.payloads[0].warnings.is_empty());
    let meta = d.meta.unwrap();
    assert_eq!(meta.tls_report_domain.as_deref(), Some("harbor.test"));
    assert_eq!(meta.tls_report_submitter.as_deref(), Some("bigmail.test"));
    assert_eq!(
        meta.from.as_deref(),
        Some("noreply-smtp-tls-reporting@bigmail.test")
    );
    assert_eq!(
        meta.subject.as_deref(),
        Some(
            "Report Domain: harbor.test Submitter: bigmail.test Report-ID: <2026.03.01T00.00.00Z+harbor.test@bigmail.test>"
        )
    );
    assert_eq!(
        meta.message_id.as_deref(),
        Some("0000000000001a2b3c@bigmail.test")
    );
}

#[test]
fn bluecorp_style_email_html_first_part_and_description() {
    let d = ok(
        include_bytes!("../../sample-reports/bluecorp-style.eml"),
        None,
    );
    assert_eq!(d.payloads.len(), 1);
    assert!(d.payloads[0].origin.contains("133999999999999999.json.gz"));
    let meta = d.meta.unwrap();
    assert_eq!(
        meta.message_id.as_deref(),
        Some("a1b2c3d4@reports.harbor.test")
    );
}

#[test]
fn unterminated_multipart_with_mbox_line() {
    let d = ok(
        include_bytes!("../../sample-reports/postbox-unterminated.eml"),
        None,
    );
    assert_eq!(d.payloads.len(), 1);
    assert!(d.payloads[0].warnings.is_empty());
    assert_eq!(d.meta.unwrap().from.as_deref(), Some("tlsrpt@postbox.test"));
}

#[test]
fn raw_json_part() {
    let d = ok(
        include_bytes!("../../sample-reports/raw-json-part.eml"),
        None,
    );
    assert_eq!(d.payloads.len(), 1);
    assert!(d.payloads[0].json.starts_with(b"{"));
}

#[test]
fn octet_stream_with_json_gz_name() {
    let d = ok(
        include_bytes!("../../sample-reports/octet-stream-json-gz.eml"),
        None,
    );
    assert_eq!(d.payloads.len(), 1);
}

#[test]
fn two_reports_in_one_message() {
    let d = ok(
        include_bytes!("../../sample-reports/two-reports.eml"),
        Some("message/rfc822"),
    );
    assert_eq!(d.payloads.len(), 2);
    assert!(d.payloads.iter().all(|p| p.warnings.is_empty()));
}

#[test]
fn max_payloads_ignores_extra_with_warning() {
    let limits = DecodeLimits {
        max_payloads: 1,
        ..DecodeLimits::default()
    };
    let d = decode(
        include_bytes!("../../sample-reports/two-reports.eml"),
        None,
        &limits,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.payloads.len(), 1);
    assert_eq!(codes(&d.payloads[0]), ["too-many-payloads"]);
}

#[test]
fn non_report_emails_are_classified() {
    let cases: [(&[u8], &str); 4] = [
        (
            include_bytes!("../../sample-reports/dmarc-aggregate-zip.eml"),
            "dmarc-aggregate-report",
        ),
        (
            include_bytes!("../../sample-reports/arf-abuse.eml"),
            "abuse-report",
        ),
        (
            include_bytes!("../../sample-reports/arf-dmarc-failure.eml"),
            "dmarc-failure-report",
        ),
        (
            include_bytes!("../../sample-reports/plain-mail.eml"),
            "not-a-report",
        ),
    ];
    for (raw, code) in cases {
        assert_eq!(err(raw, None).code(), code);
    }
    let e = err(include_bytes!("../../sample-reports/plain-mail.eml"), None);
    assert!(
        e.to_string().contains("Cron <root@host> backup done"),
        "{e}"
    );
}

#[test]
fn single_part_report_message() {
    let raw = format!(
        "From: a@sender.test\r\nSubject: r\r\nMIME-Version: 1.0\r\nContent-Type: application/tlsrpt+json\r\n\r\n{REPORT}\r\n"
    );
    let d = ok(raw.as_bytes(), None);
    assert_eq!(d.payloads.len(), 1);
}

#[test]
fn bad_gzip_part_is_a_failure_and_other_parts_still_count() {
    let bad = b64(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-not-deflate");
    let good = b64(&gz(REPORT.as_bytes()));
    let raw = format!(
        "From: a@sender.test\nSubject: r\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=tlsrpt; boundary=X\n\n--X\nContent-Type: application/tlsrpt+gzip; name=a.json.gz\nContent-Transfer-Encoding: base64\n\n{bad}\n--X\nContent-Type: application/tlsrpt+gzip; name=b.json.gz\nContent-Transfer-Encoding: base64\n\n{good}\n--X--\n"
    );
    let d = ok(raw.as_bytes(), None);
    assert_eq!(d.payloads.len(), 1);
    assert_eq!(d.failures.len(), 1);
    assert_eq!(d.failures[0].origin, "part 1 (a.json.gz)");
    // Only the bad part: its error is the message's error.
    let only_bad = format!(
        "From: a@sender.test\nSubject: r\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=tlsrpt; boundary=X\n\n--X\nContent-Type: application/tlsrpt+gzip; name=a.json.gz\nContent-Transfer-Encoding: base64\n\n{bad}\n--X--\n"
    );
    assert!(matches!(
        err(only_bad.as_bytes(), None).code(),
        "bad-gzip" | "truncated"
    ));
}

#[test]
fn unlabelled_json_part_is_not_a_report() {
    let raw = format!(
        "From: a@sender.test\nSubject: r\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=X\n\n--X\nContent-Type: text/plain\n\nhi\n--X\nContent-Type: application/json\n\n{REPORT}\n--X--\n"
    );
    assert_eq!(err(raw.as_bytes(), None).code(), "no-report");
}

/// The stable code an error is stored and answered with.
trait Code {
    fn code(&self) -> &'static str;
}

impl Code for crate::decode::DecodeError {
    fn code(&self) -> &'static str {
        crate::pipeline::RejectCode::from(self).as_str()
    }
}
