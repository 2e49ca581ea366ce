//! Property tests of the decode and parse stages (docs/security.md, "Fuzzing"): arbitrary
//! bytes, and real reports (`sample-reports/` and, when present, `../shared/corpus`) with
//! random mutations, truncations and re-compressions, never panic, never hold or produce
//! more than the configured limits, and either decode and parse or give a typed
//! rejection; and the posture parsers take any text. `PROPTEST_CASES` sets the number
//! of cases (256 here by default; the longer run is in docs/security.md).

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use tlsrptd::decode::{self, Allowance, DecodeLimits};
use tlsrptd::parse::{self, ParseLimits};
use tlsrptd::pipeline::RejectCode;

/// Limits small enough that mutations and re-compressions reach them.
fn limits() -> (DecodeLimits, ParseLimits) {
    (
        DecodeLimits {
            max_decompressed_bytes: 256 * 1024,
            max_zip_entries: 4,
            max_payloads: 8,
        },
        ParseLimits {
            max_depth: 16,
            max_policies: 50,
            max_failure_details: 200,
            max_string_len: 512,
        },
    )
}

/// Every sample and corpus file, read once.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut files = Vec::new();
        collect(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-reports"),
            &mut files,
        );
        if let Some(corpus) = crate::helpers::corpus_dir() {
            collect(&corpus, &mut files);
        }
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read(f).ok())
            .filter(|b| !b.is_empty() && b.len() < 4 * 1024 * 1024)
            .collect()
    })
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("md" | "tsv")
        ) {
            out.push(path);
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![
                    Just(b'['),
                    Just(b'{'),
                    Just(b'"'),
                    Just(b'\\'),
                    Just(0xff),
                    any::<u8>()
                ],
                1..64
            )
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..256).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(mut data: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = data.len().max(1);
        match m {
            Mutation::Flip { at, byte } => {
                if !data.is_empty() {
                    data[at % len] = *byte;
                }
            }
            Mutation::Insert { at, bytes } => {
                let at = at % (data.len() + 1);
                data.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete { at, len: n } => {
                let at = at % len;
                let end = (at + n).min(data.len());
                if at < end {
                    data.drain(at..end);
                }
            }
            Mutation::Truncate { at } => data.truncate(at % len),
        }
    }
    data
}

#[derive(Debug, Clone, Copy)]
enum Wrap {
    None,
    Gzip,
    GzipTwice,
    Zip,
    TruncatedGzip,
    Base64Gzip,
}

fn wrap(data: Vec<u8>, how: Wrap) -> Vec<u8> {
    let gz = |d: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    match how {
        Wrap::None => data,
        Wrap::Gzip => gz(&data),
        Wrap::GzipTwice => gz(&gz(&data)),
        Wrap::Zip => {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            zip.start_file("report.json", zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(&data).unwrap();
            zip.finish().unwrap().into_inner()
        }
        Wrap::TruncatedGzip => {
            let g = gz(&data);
            g[..g.len() * 2 / 3].to_vec()
        }
        Wrap::Base64Gzip => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .encode(gz(&data))
                .into_bytes()
        }
    }
}

fn wrapping() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        Just(Wrap::None),
        Just(Wrap::Gzip),
        Just(Wrap::GzipTwice),
        Just(Wrap::Zip),
        Just(Wrap::TruncatedGzip),
        Just(Wrap::Base64Gzip),
    ]
}

fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("application/tlsrpt+gzip")),
        Just(Some("application/tlsrpt+json")),
        Just(Some("application/zip")),
        Just(Some("message/rfc822")),
        Just(Some("text/html; charset=utf-8")),
    ]
}

/// Decodes and parses `raw` within the small limits and checks every bound; a grant
/// below the full one is tried first, as the pipeline does.
fn check(raw: &[u8], content_type: Option<&str>) -> Result<(), TestCaseError> {
    let (dl, pl) = limits();
    let limit = dl.max_decompressed_bytes;
    for grant in [16 * 1024, Allowance::full_grant(limit)] {
        let allowance = Allowance::new(limit, grant);
        let decoded = decode::decode_within(raw, content_type, &dl, &allowance);
        prop_assert!(
            allowance.produced() <= limit,
            "produced {}",
            allowance.produced()
        );
        prop_assert!(
            allowance.held() <= grant,
            "held {} of {grant}",
            allowance.held()
        );
        if allowance.wants_more() {
            prop_assert!(
                grant < Allowance::full_grant(limit),
                "the full grant ran out"
            );
            continue;
        }
        match decoded {
            Err(e) => {
                let _code = RejectCode::from(&e);
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(decoded) => {
                prop_assert!(decoded.payloads.len() <= dl.max_payloads);
                for payload in &decoded.payloads {
                    prop_assert!(payload.json.len() as u64 <= limit);
                    match parse::parse_report(&payload.json, &pl) {
                        Ok(report) => {
                            prop_assert!(report.policies.len() <= pl.max_policies);
                            prop_assert!(report.organization_name.len() <= pl.max_string_len);
                            prop_assert!(report.report_id.len() <= pl.max_string_len);
                            for p in &report.policies {
                                prop_assert!(p.failure_details.len() <= pl.max_failure_details);
                                prop_assert!(
                                    p.policy_string.iter().all(|s| s.len() <= pl.max_string_len)
                                );
                            }
                        }
                        Err(e) => {
                            let _code = RejectCode::from(&e);
                            prop_assert!(!e.to_string().is_empty());
                        }
                    }
                }
            }
        }
        break;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_are_decoded_or_refused(
        raw in prop::collection::vec(any::<u8>(), 0..4096),
        ct in content_type(),
    ) {
        check(&raw, ct)?;
    }

    /// DNS TXT records and policy files come from whoever runs the domain: the posture
    /// parsers give a record or a finding with a code and a fix, never a panic.
    #[test]
    fn posture_parsers_take_any_text(
        records in prop::collection::vec(
            prop_oneof![
                "v=TLSRPTv1[;, =a-z:@./0-9 ]{0,80}",
                "v=STSv1[;, =a-zA-Z0-9]{0,60}",
                ".{0,80}",
            ],
            0..4,
        ),
        body in prop_oneof![
            "(version|mode|mx|max_age|x)[: ]{0,2}[a-zA-Z0-9.*: \r\n-]{0,200}",
            ".{0,300}",
        ],
    ) {
        use tlsrptd::posture::{policy, records};
        for result in [
            records::tlsrpt("example.com", &records).err(),
            records::sts("example.com", &records).err(),
            policy::parse("example.com", &body).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(!result.code.is_empty() && !result.fix.is_empty());
        }
        if let Ok(p) = policy::parse("example.com", &body) {
            prop_assert!(p.max_age <= policy::MAX_AGE_LIMIT);
            let _ = policy::mx_mismatches("example.com", &p, &["mx.example.com".to_owned()]);
        }
    }

    #[test]
    fn mutated_reports_are_decoded_or_refused(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 0..6),
        how in wrapping(),
        ct in content_type(),
    ) {
        let seeds = seeds();
        prop_assume!(!seeds.is_empty());
        let data = apply(seeds[seed.index(seeds.len())].clone(), &mutations);
        check(&wrap(data, how), ct)?;
    }
}

/// Each wrapping of each seed, unmutated: the real reports themselves stay within bounds
/// and the gzip and zip forms decode like the plain one.
#[test]
fn every_seed_in_every_wrapping_stays_within_bounds() {
    let seeds = seeds();
    assert!(seeds.len() >= 20, "sample-reports/ has the seeds");
    for seed in seeds {
        for how in [
            Wrap::None,
            Wrap::Gzip,
            Wrap::GzipTwice,
            Wrap::Zip,
            Wrap::TruncatedGzip,
            Wrap::Base64Gzip,
        ] {
            check(&wrap(seed.clone(), how), None).unwrap();
        }
    }
}
