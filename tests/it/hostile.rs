//! Hostile input against the real binary (docs/security.md, "Hostile input"): bombs sent
//! all at once stay within the in-flight decompression budget, each kind of hostile
//! payload gets its documented refusal over HTTP and SMTP in bounded memory, and slow
//! connections do not keep a normal sender out. Peak memory is the child's `VmHWM`.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use crate::helpers::{gzip, report_json};
use crate::process::{Server, client, post, report_message, smtp_deliver};

const MIB: u64 = 1024;

/// 1 GiB of zeros, gzipped at the best level: about 1 MB on the wire.
fn gzip_bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            e.write_all(&zeros).unwrap();
        }
        e.finish().unwrap()
    })
}

fn sqlite_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (dir, url)
}

/// Posts an ordinary report as a sender does: again after a 503.
async fn post_until_accepted(client: &reqwest::Client, url: &str, body: Vec<u8>) -> u16 {
    for _ in 0..20 {
        let (status, _) = post(client, url, gzip(&body), "application/tlsrpt+gzip").await;
        if status != 503 {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    503
}

async fn deliver_until_accepted(server: std::net::SocketAddr, message: Vec<u8>) -> u16 {
    for _ in 0..20 {
        let code = smtp_deliver(server, &message).await.expect("SMTP session");
        if code != 451 {
            return code;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    451
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_bombs_stay_within_the_budget_and_ordinary_reports_are_stored() {
    let bomb = gzip_bomb();
    let (_dir, db) = sqlite_db();
    let server = Server::start(&db, &[]);
    let client = client();
    let url = server.url("/v1/reports");
    let baseline = server.rss_kib();

    let mut http = Vec::new();
    let mut smtp = Vec::new();
    let message = report_message(bomb, "bomb");
    for _ in 0..64 {
        let (client, url, body) = (client.clone(), url.clone(), bomb.to_vec());
        http.push(tokio::spawn(async move {
            post(&client, &url, body, "application/tlsrpt+gzip").await.0
        }));
        let (addr, message) = (server.smtp, message.clone());
        smtp.push(tokio::spawn(async move {
            smtp_deliver(addr, &message).await.expect("SMTP session")
        }));
    }
    // Ordinary reports sent while the bombs are being refused.
    let mut ordinary = Vec::new();
    for i in 0..8 {
        let (client, url) = (client.clone(), url.clone());
        let json = report_json(
            "calm.example",
            &format!("http-{i}"),
            20_000,
            &[("example.com", "sts", 10, 0, &[])],
        );
        ordinary.push(tokio::spawn(async move {
            post_until_accepted(&client, &url, json).await
        }));
        let json = report_json(
            "calm.example",
            &format!("smtp-{i}"),
            20_000,
            &[("example.com", "sts", 10, 0, &[])],
        );
        let addr = server.smtp;
        ordinary.push(tokio::spawn(async move {
            deliver_until_accepted(addr, report_message(&gzip(&json), &format!("calm-{i}"))).await
        }));
    }

    for answer in http {
        let status = answer.await.unwrap();
        assert!(
            status == 413 || status == 503,
            "a bomb over HTTP got {status}"
        );
    }
    for answer in smtp {
        let code = answer.await.unwrap();
        assert!(code == 552 || code == 451, "a bomb over SMTP got {code}");
    }
    for answer in ordinary {
        let code = answer.await.unwrap();
        assert!(code == 201 || code == 250, "an ordinary report got {code}");
    }
    let peak = server.peak_rss_kib();
    eprintln!(
        "64 + 64 concurrent bombs: peak RSS {} MiB (from {} MiB)",
        peak / MIB,
        baseline / MIB
    );
    assert!(peak < 512 * MIB, "peak RSS {} MiB", peak / MIB);
    // The burst's memory goes back to the system once it is over.
    let mut after = server.rss_kib();
    for _ in 0..50 {
        if after < 192 * MIB {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = server.rss_kib();
    }
    eprintln!("RSS after the burst: {} MiB", after / MIB);
    assert!(after < 192 * MIB, "RSS after the burst {} MiB", after / MIB);
}

/// A zip archive of `n` tiny entries.
fn zip_of(n: usize) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..n {
        zip.start_file(
            format!("r{i}.json"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(b"{}").unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A message whose multiparts nest `depth` deep.
fn mime_bomb(depth: usize) -> Vec<u8> {
    let mut m = String::from(
        "From: reports@sender.test\r\nTo: tlsrpt@reports.test\r\nSubject: nested\r\nMIME-Version: 1.0\r\n",
    );
    for i in 0..depth {
        m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    m.push_str("Content-Type: application/tlsrpt+json\r\n\r\n{}\r\n");
    for i in (0..depth).rev() {
        m.push_str(&format!("--b{i}--\r\n"));
    }
    m.into_bytes()
}

/// One hostile payload: its name, the bytes, the HTTP content type, the refusal code
/// expected over HTTP and the SMTP reply expected (for the same payload mailed as a
/// gzip attachment, or as the message itself).
struct Hostile {
    name: &'static str,
    http_body: Vec<u8>,
    content_type: &'static str,
    http_status: u16,
    /// The refusal's code, for a refusal.
    http_code: Option<&'static str>,
    smtp_message: Vec<u8>,
    smtp_code: u16,
}

fn hostile_inputs() -> Vec<Hostile> {
    let deep = [vec![b'['; 100_000], vec![b']'; 100_000]].concat();
    let long_string = {
        let text = "x".repeat(4 * 1024 * 1024);
        let report = report_json(
            "long.example",
            "long-1",
            20_000,
            &[("example.com", "sts", 1, 0, &[])],
        );
        let mut v: serde_json::Value = serde_json::from_slice(&report).unwrap();
        v["contact-info"] = serde_json::Value::String(text);
        serde_json::to_vec(&v).unwrap()
    };
    let invalid_utf8 = {
        let mut r = report_json(
            "utf8.example",
            "utf8-1",
            20_000,
            &[("example.com", "sts", 1, 0, &[])],
        );
        let at = r.windows(4).position(|w| w == b"utf8").unwrap();
        r[at] = 0xff;
        r[at + 1] = 0xfe;
        r
    };
    let zip = zip_of(5_000);
    let mime = mime_bomb(20_000);
    vec![
        Hostile {
            name: "gzip bomb",
            http_body: gzip_bomb().to_vec(),
            content_type: "application/tlsrpt+gzip",
            http_status: 413,
            http_code: Some("decompressed-too-large"),
            smtp_message: report_message(gzip_bomb(), "h-bomb"),
            smtp_code: 552,
        },
        Hostile {
            name: "100,000 nested arrays",
            http_body: deep.clone(),
            content_type: "application/tlsrpt+json",
            http_status: 400,
            http_code: Some("too-deep"),
            smtp_message: report_message(&gzip(&deep), "h-deep"),
            smtp_code: 550,
        },
        Hostile {
            // Cut to 64 KiB with a warning and stored: the documented handling.
            name: "a 4 MiB string",
            http_body: long_string.clone(),
            content_type: "application/tlsrpt+json",
            http_status: 201,
            http_code: None,
            smtp_message: report_message(&gzip(&long_string), "h-long"),
            smtp_code: 250,
        },
        Hostile {
            name: "invalid UTF-8",
            http_body: invalid_utf8.clone(),
            content_type: "application/tlsrpt+json",
            http_status: 400,
            http_code: Some("not-json"),
            smtp_message: report_message(&gzip(&invalid_utf8), "h-utf8"),
            smtp_code: 550,
        },
        Hostile {
            name: "a zip of 5,000 entries",
            http_body: zip.clone(),
            content_type: "application/zip",
            http_status: 400,
            http_code: Some("too-many-entries"),
            smtp_message: report_message(&zip, "h-zip"),
            smtp_code: 550,
        },
        Hostile {
            name: "multiparts nested 20,000 deep",
            http_body: mime.clone(),
            content_type: "message/rfc822",
            http_status: 400,
            http_code: Some("not-a-report"),
            smtp_message: mime,
            smtp_code: 550,
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_inputs_get_their_refusals_in_bounded_memory() {
    let inputs = hostile_inputs();
    let (_dir, db) = sqlite_db();
    let server = Server::start(&db, &[]);
    let client = client();
    let url = server.url("/v1/reports");
    for input in inputs {
        let (status, json) = post(&client, &url, input.http_body, input.content_type).await;
        assert_eq!(
            status, input.http_status,
            "{} over HTTP: {json}",
            input.name
        );
        if let Some(code) = input.http_code {
            assert_eq!(json["error"]["code"], code, "{}", input.name);
            assert!(
                json["quarantine_id"].as_i64().is_some(),
                "{} over HTTP is kept in quarantine: {json}",
                input.name
            );
        }
        let code = smtp_deliver(server.smtp, &input.smtp_message)
            .await
            .unwrap();
        assert_eq!(code, input.smtp_code, "{} over SMTP", input.name);
    }
    let peak = server.peak_rss_kib();
    eprintln!("hostile inputs: peak RSS {} MiB", peak / MIB);
    assert!(peak < 256 * MIB, "peak RSS {} MiB", peak / MIB);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_connections_do_not_keep_a_normal_sender_out() {
    use tokio::io::AsyncWriteExt;
    let (_dir, db) = sqlite_db();
    let server = Server::start(&db, &[]);
    let mut slow = Vec::new();
    for i in 0..250 {
        // HTTP: a header byte every two seconds.
        let addr = server.http;
        slow.push(tokio::spawn(async move {
            let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                return;
            };
            for b in format!("POST /v1/reports HTTP/1.1\r\nHost: slow{i}\r\n").bytes() {
                if s.write_all(&[b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }));
        // SMTP: connected, never a word.
        let addr = server.smtp;
        slow.push(tokio::spawn(async move {
            let s = tokio::net::TcpStream::connect(addr).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(s);
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let client = client();
    let json = report_json(
        "normal.example",
        "n-1",
        20_000,
        &[("example.com", "sts", 5, 0, &[])],
    );
    let started = std::time::Instant::now();
    let (status, _) = tokio::time::timeout(
        Duration::from_secs(10),
        post(
            &client,
            &server.url("/v1/reports"),
            gzip(&json),
            "application/tlsrpt+gzip",
        ),
    )
    .await
    .expect("HTTP answered within 10 s");
    assert_eq!(status, 201);
    let json = report_json(
        "normal.example",
        "n-2",
        20_000,
        &[("example.com", "sts", 5, 0, &[])],
    );
    let code = tokio::time::timeout(
        Duration::from_secs(10),
        smtp_deliver(server.smtp, &report_message(&gzip(&json), "normal")),
    )
    .await
    .expect("SMTP answered within 10 s")
    .unwrap();
    assert_eq!(code, 250);
    eprintln!(
        "with 500 slow connections open, a normal sender was served in {:?}",
        started.elapsed()
    );
    for task in slow {
        task.abort();
    }
}

/// A budget that could not hold one submission at the limit stops `serve` before it
/// opens anything, naming both flags.
#[test]
fn serve_refuses_a_budget_below_one_submission() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/t.db", dir.path().display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsrptd"))
        .args([
            "serve",
            "--posture-interval",
            "0",
            "--database",
            &database,
            "--no-smtp",
            "--http-plain",
        ])
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--max-decompressed-bytes", "10000000"])
        .args(["--max-inflight-decompressed-bytes", "15000000"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--max-inflight-decompressed-bytes")
            && stderr.contains("--max-decompressed-bytes"),
        "{stderr}"
    );
    assert!(!dir.path().join("t.db").exists(), "nothing opened");
}

/// When the in-flight budget stays full, a submission is answered "retry later" (503
/// `busy` with `Retry-After`, SMTP 451) and nothing is stored. Here the budget holds one
/// full grant and nobody waits for it: of 32 bombs at once over each intake, those that
/// find it taken are deferred, the others refused as too large.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_budget_answers_retry_later() {
    const LIMIT: u64 = 16 * 1024 * 1024;
    let mut app = crate::helpers::spawn_plain_app(crate::helpers::Db::Sqlite, |c| {
        c.limits.decode.max_decompressed_bytes = LIMIT;
        c.limits.inflight_decompressed_bytes = tlsrptd::decode::Allowance::full_grant(LIMIT);
        c.limits.inflight_wait = Duration::ZERO;
        c.smtp.no_smtp = false;
        c.smtp.smtp_recipients = vec![crate::process::RECIPIENT.to_owned()];
    })
    .await;
    let bomb = gzip_bomb();
    let message = report_message(bomb, "busy");
    let smtp_addr = app.smtp_addr.expect("SMTP listener");
    let http = client();
    let mut answers = Vec::new();
    for _ in 0..32 {
        let (http, url, body) = (http.clone(), app.url("/v1/reports"), bomb.to_vec());
        answers.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .header("content-type", "application/tlsrpt+gzip")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry_after = response.headers().contains_key("retry-after");
            let json: serde_json::Value = response.json().await.unwrap();
            (
                status,
                retry_after,
                json["error"]["code"].as_str().unwrap_or("").to_owned(),
            )
        }));
    }
    let mut smtp = Vec::new();
    for _ in 0..32 {
        let message = message.clone();
        smtp.push(tokio::spawn(async move {
            smtp_deliver(smtp_addr, &message).await.unwrap()
        }));
    }
    let mut busy = 0;
    for answer in answers {
        let (status, retry_after, code) = answer.await.unwrap();
        match status {
            503 => {
                assert!(retry_after, "503 without Retry-After");
                assert_eq!(code, "busy");
                busy += 1;
            }
            413 => assert_eq!(code, "decompressed-too-large"),
            other => panic!("a bomb got {other}"),
        }
    }
    let mut deferred = 0;
    for code in smtp {
        match code.await.unwrap() {
            451 => deferred += 1,
            552 => {}
            other => panic!("a bomb over SMTP got {other}"),
        }
    }
    eprintln!("budget full: {busy} of 32 posts answered 503, {deferred} of 32 messages 451");
    assert!(busy > 0, "no post found the budget full");
    assert!(deferred > 0, "no message found the budget full");
    let (_, rejections) = app.get_json("/api/v1/rejections?limit=1000").await;
    let kept = rejections["items"].as_array().map_or(0, Vec::len);
    assert_eq!(
        kept,
        64 - busy - deferred,
        "deferred submissions are not kept"
    );
    app.stop().await;
}
