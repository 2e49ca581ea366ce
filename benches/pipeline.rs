//! Criterion benchmarks of the CPU side of the pipeline (decode + parse + raw
//! compression, everything before the commit) on our own sample reports.
//! Run: `cargo bench --bench pipeline`.

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::io::Write;
use tlsrptd::pipeline::{Envelope, ImportEnvelope, Limits, Submission, prepare};

fn submission(raw: &[u8]) -> Submission {
    Submission {
        envelope: Envelope::Import(ImportEnvelope {
            path: "bench".to_owned(),
            mbox_message: None,
        }),
        content_type: None,
        received_at: Utc::now(),
        raw: raw.to_vec(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip in memory");
    e.finish().expect("gzip in memory")
}

fn bench_prepare(c: &mut Criterion) {
    let json: &[u8] = include_bytes!("../sample-reports/microsoft-style-tlsa-sts.json");
    let gz = gzip(json);
    let eml: &[u8] = include_bytes!("../sample-reports/bigmail-style.eml");
    let limits = Limits::default();
    let mut group = c.benchmark_group("prepare");
    group.throughput(Throughput::Elements(1));
    for (name, raw) in [("json", json), ("json.gz", gz.as_slice()), ("eml", eml)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let prepared = prepare(&limits, submission(raw));
                assert_eq!(prepared.reports().count(), 1);
                prepared
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_prepare);
criterion_main!(benches);
