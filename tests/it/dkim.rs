//! DKIM end to end: messages signed with mail-auth's DKIM signer and a test ed25519 key,
//! verified through real DNS queries against [`TestDns`] serving that key on loopback.

use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use ring::signature::{Ed25519KeyPair, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::dns::TestDns;
use tlsrptd::intake::smtp::dkim::{
    DkimDecision, DkimMode, DkimOutcome, DkimVerifier, decide, reporting_domains,
};

const SELECTOR: &str = "sel";

const MESSAGE: &str = "From: TLS Reports <tlsrpt@reporter.example>\r\n\
To: tlsrpt@receiver.example\r\n\
Subject: Report Domain: receiver.example Submitter: reporter.example Report-ID: <1@reporter.example>\r\n\
TLS-Report-Domain: receiver.example\r\n\
TLS-Report-Submitter: reporter.example\r\n\
Date: Fri, 27 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <1@reporter.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain\r\n\
\r\n\
This is a report.\r\n";

pub(crate) struct Key {
    pkcs8: Vec<u8>,
    record: String,
}

pub(crate) fn ed25519_key() -> Key {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = base64::engine::general_purpose::STANDARD.encode(pair.public_key().as_ref());
    Key {
        pkcs8: pkcs8.as_ref().to_vec(),
        record: format!("v=DKIM1; k=ed25519; p={public}"),
    }
}

pub(crate) fn sign(key: &Key, domain: &str, message: &str, body_length: bool) -> String {
    let signer = DkimSigner::from_key(Ed25519Key::from_pkcs8_der(&key.pkcs8).unwrap())
        .domain(domain)
        .selector(SELECTOR)
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .body_length(body_length);
    let signature = signer.sign(message.as_bytes()).unwrap();
    format!("{}{}", signature.to_header(), message)
}

/// A name server publishing the same key for reporter.example and other.example.
pub(crate) async fn dns(key: &Key) -> TestDns {
    TestDns::start(vec![
        (
            format!("{SELECTOR}._domainkey.reporter.example"),
            key.record.clone(),
        ),
        (
            format!("{SELECTOR}._domainkey.other.example"),
            key.record.clone(),
        ),
    ])
    .await
}

fn reporter() -> Vec<String> {
    reporting_domains(
        Some("TLS Reports <tlsrpt@reporter.example>"),
        Some("mailto:tlsrpt@reporter.example"),
        Some("reporter.example"),
    )
}

fn assert_modes(outcome: &DkimOutcome) {
    assert_eq!(decide(DkimMode::Off, outcome), DkimDecision::Accept);
    if outcome.counts() {
        assert_eq!(decide(DkimMode::Enforce, outcome), DkimDecision::Accept);
        assert_eq!(decide(DkimMode::Record, outcome), DkimDecision::Accept);
    } else {
        match decide(DkimMode::Enforce, outcome) {
            DkimDecision::Quarantine(reason) => {
                assert!(reason.contains(&outcome.result), "{reason}")
            }
            other => panic!("expected quarantine, got {other:?}"),
        }
        assert_eq!(
            decide(DkimMode::Record, outcome),
            DkimDecision::AcceptFlagged
        );
    }
}

#[tokio::test]
async fn dkim_passing_aligned_signature_counts() {
    let key = ed25519_key();
    let server = dns(&key).await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let signed = sign(&key, "reporter.example", MESSAGE, false);
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert_eq!(outcome.result, "pass", "{outcome:?}");
    assert!(outcome.aligned, "{outcome:?}");
    assert!(outcome.counts());
    assert_eq!(outcome.signing_domains, vec!["reporter.example"]);
    assert!(
        outcome.detail.contains("aligned with"),
        "{}",
        outcome.detail
    );
    assert_modes(&outcome);

    // a subdomain signer shares the organizational domain
    let server = TestDns::start(vec![(
        format!("{SELECTOR}._domainkey.mail.reporter.example"),
        key.record.clone(),
    )])
    .await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let signed = sign(&key, "mail.reporter.example", MESSAGE, false);
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert!(outcome.counts(), "{outcome:?}");
}

/// Test-only RSA-2048 key (generated for these tests, not used anywhere else).
const RSA_PKCS8_B64: &str = concat!(
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCjlJIlEUiBFxFNC7RQdZUayNOLUEDx5vIhDYVhq9DguquU",
    "vhToh2GJYrGMLtLQIqUp1HcMlj3UCAl57NapAxdOuWH/cDKfnuWlg0XLn+YAsHOPL4qTY1MppiYuKLyLr98KeDHxuNuYl3Th",
    "dAOqD+foCca2vzkWI3QHnEfxHsaBfTQgb6n6yGSO+1uLByWnxDGz5UWN/h6zzVuGbcUFqRQEDW1qGVpJ9EKSshdQxxczGVIC",
    "M3Ll4bhZ7DdMy7E5WGYe0pnfoqYUnAJYUTto92Xy+O6TvU046r2i3dhKLogXA5y3BfMwNn1G1kBYg8tdRaUA5ZhAFK/1xQ6+",
    "kkhBFRVDAgMBAAECggEARgrx4QlbgFr+P31JgkI2zDc9zaNZi7sV5m1Btaa6U9/aZGBX15FQhGFMIPhTsGeFTTn6l9slMksW",
    "s6xj5g66xiy+9391Tb/eGVbyZdRbyePEN4Vl0uJu06CfLJio0y9FU9hPmm9LKDWCCJ+CiikxZbv56HpM2Vvo7PFQJMDGwt7I",
    "FZ00edM5+Xd3QCoE4hu2wEplX/K6hyckghiNWPMm9tQzVLt1RjDfeNKxD4pp/yom4ZpJOQk8OstRrF0KnqoJAQDG5etva5Jq",
    "dvkh2hwk4uAzMK11+S5DropOQLB+JCPEs4bpsWXGi8heDuvtsp5dVLuFR9Cbp9OZE8JBwZVogQKBgQDYN5g3S3iKTWQBTwal",
    "wvRZsu+lFbJGMGb1I+jvMOgdU+xPBl7oBFykRMOiRr+zHBiCnxh98JONjpvvOZIGlueDX2EUFwsYv2fRNcLhQ9c/uwozYIgu",
    "Ml5u6GmHVPGDmOlPhMd1KekRr4bz+lsvtGbcxnOoihhyBPAJD52Dx1yXowKBgQDBraRcO9JhoU+tp8Pzu20S9E4VSqCXROUB",
    "3C/tOeILDMlkztbfXSCbdf8nF9O+ImMK3nzai5HPKnw68P2TZIdUm3vjB20CkWo3SgrnxaXcMB0XjL/jnOx9LG7V3bHxtl9C",
    "24vAA9zGM4k6h8a8CkNed+yLdX05ELanXGufM6Xl4QKBgQCakNOt47PeGoj9LoMwCHgpj3Mlbqcs6fkQEYW5SBsGrDHoJEPA",
    "VS3s+INqBG2SGumipx0ZGtxAe8wZbexn7YS/M3XwqLB0FpCezHHuG1NK6ejW5ZE0hSlg26Bk8GJekvdmsyLrLPTCgdpVm4mI",
    "Rsyp0uxndaEYEVOPBqyxwdj9RQKBgAo76a5x/sjn5DTx43nSko3o2ONpIRk9K7iwcNvhLh+VWmL4RwRggGOWlZf0O10VphQh",
    "84j8zQScYxoeN9f8/OWsnZw+fTUgh/NJ90+N8xiydicTaeRWG2z11xl38HosP9ZhkX3g9l6GxJ6SJB81j5/DSH2KBMbqKiyn",
    "xowQB5khAoGAYCQZbHBIqdRHcBtK4+y/vLk83WP3DUR/cOjaOpdPSkjgAw5PUK/f4EABFzIAOHDwLTidLHsY0sLxzZbGSDln",
    "tK2cbvQczGFPFQGcT8XgnH/OqzsupkTD/WeEFqdxw3XgB/O+H686da7bhNulZ8Mj4f7pAOf2OzDVzeVaNG/a1FM=",
);

const RSA_PUBLIC_B64: &str = concat!(
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAo5SSJRFIgRcRTQu0UHWVGsjTi1BA8ebyIQ2FYavQ4LqrlL4U6Idh",
    "iWKxjC7S0CKlKdR3DJY91AgJeezWqQMXTrlh/3Ayn57lpYNFy5/mALBzjy+Kk2NTKaYmLii8i6/fCngx8bjbmJd04XQDqg/n",
    "6AnGtr85FiN0B5xH8R7GgX00IG+p+shkjvtbiwclp8Qxs+VFjf4es81bhm3FBakUBA1tahlaSfRCkrIXUMcXMxlSAjNy5eG4",
    "Wew3TMuxOVhmHtKZ36KmFJwCWFE7aPdl8vjuk71NOOq9ot3YSi6IFwOctwXzMDZ9RtZAWIPLXUWlAOWYQBSv9cUOvpJIQRUV",
    "QwIDAQAB",
);

#[tokio::test]
async fn dkim_rsa_key_passes() {
    // a 2048-bit RSA key: a ~400-byte TXT record split into several character-strings
    let b64 = base64::engine::general_purpose::STANDARD;
    let der = b64.decode(RSA_PKCS8_B64).unwrap();
    let server = TestDns::start(vec![(
        format!("{SELECTOR}._domainkey.reporter.example"),
        format!("v=DKIM1; k=rsa; p={RSA_PUBLIC_B64}"),
    )])
    .await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let signer = DkimSigner::from_key(
        RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)))
            .unwrap(),
    )
    .domain("reporter.example")
    .selector(SELECTOR)
    .headers(["From", "To", "Subject"]);
    let signed = format!(
        "{}{}",
        signer.sign(MESSAGE.as_bytes()).unwrap().to_header(),
        MESSAGE
    );
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert!(outcome.counts(), "{outcome:?}");
}

#[tokio::test]
async fn dkim_body_altered_fails() {
    let key = ed25519_key();
    let server = dns(&key).await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let signed = sign(&key, "reporter.example", MESSAGE, false)
        .replace("This is a report.", "This is a forged report.");
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert_eq!(outcome.result, "fail", "{outcome:?}");
    assert!(!outcome.aligned);
    assert!(!outcome.counts());
    assert!(outcome.detail.contains("body hash"), "{}", outcome.detail);
    assert_modes(&outcome);
}

#[tokio::test]
async fn dkim_header_altered_fails() {
    let key = ed25519_key();
    let server = dns(&key).await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let signed =
        sign(&key, "reporter.example", MESSAGE, false).replace("Report-ID: <1@", "Report-ID: <2@");
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert_eq!(outcome.result, "fail", "{outcome:?}");
    assert!(!outcome.counts());
    assert_modes(&outcome);
}

#[tokio::test]
async fn dkim_unsigned_is_none() {
    let key = ed25519_key();
    let server = dns(&key).await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let outcome = verifier.verify(MESSAGE.as_bytes(), &reporter()).await;
    assert_eq!(outcome.result, "none", "{outcome:?}");
    assert!(!outcome.aligned);
    assert!(!outcome.counts());
    assert!(outcome.signing_domains.is_empty());
    assert!(
        outcome.detail.contains("no DKIM signature"),
        "{}",
        outcome.detail
    );
    assert_modes(&outcome);
}

#[tokio::test]
async fn dkim_missing_key_is_permerror() {
    let key = ed25519_key();
    let server = TestDns::start(vec![]).await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let signed = sign(&key, "reporter.example", MESSAGE, false);
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert_eq!(outcome.result, "permerror", "{outcome:?}");
    assert!(!outcome.counts());
    assert_modes(&outcome);
}

#[tokio::test]
async fn dkim_body_length_tag_does_not_count() {
    let key = ed25519_key();
    let server = dns(&key).await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let signed = sign(&key, "reporter.example", MESSAGE, true);
    assert!(signed.contains(" l=") || signed.contains(";l="), "{signed}");
    // content appended past the signed length still verifies: the reason l= is refused
    let signed = format!("{signed}Appended by an attacker.\r\n");
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert_eq!(outcome.result, "policy", "{outcome:?}");
    assert!(!outcome.aligned);
    assert!(!outcome.counts());
    assert!(outcome.detail.contains("l= tag"), "{}", outcome.detail);
    assert_modes(&outcome);
}

#[tokio::test]
async fn dkim_misaligned_domain_does_not_count() {
    let key = ed25519_key();
    let server = dns(&key).await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let signed = sign(&key, "other.example", MESSAGE, false);
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert_eq!(outcome.result, "pass", "{outcome:?}");
    assert!(!outcome.aligned);
    assert!(!outcome.counts());
    assert_eq!(outcome.signing_domains, vec!["other.example"]);
    assert!(
        outcome.detail.contains("d=other.example")
            && outcome.detail.contains("organizational domain"),
        "{}",
        outcome.detail
    );
    assert_modes(&outcome);
}

#[tokio::test]
async fn dkim_one_good_signature_among_others_counts() {
    let key = ed25519_key();
    let server = dns(&key).await;
    let verifier = DkimVerifier::with_nameserver(server.addr).unwrap();
    let inner = sign(&key, "reporter.example", MESSAGE, false);
    let signed = sign(&key, "other.example", &inner, false);
    let outcome = verifier.verify(signed.as_bytes(), &reporter()).await;
    assert!(outcome.counts(), "{outcome:?}");
    assert_eq!(
        outcome.signing_domains,
        vec!["other.example", "reporter.example"]
    );
}
