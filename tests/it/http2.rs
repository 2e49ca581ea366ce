//! HTTP/2 answers like HTTP/1.1: refusals arrive as a status with its JSON body, then
//! the stream ends cleanly (no reset before the response).

use crate::helpers::{Db, spawn_app};

fn h2_client(app: &crate::helpers::TestApp) -> reqwest::Client {
    let cert = reqwest::Certificate::from_der(&app.certificate).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(cert)
        .resolve("localhost", app.addr)
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

#[tokio::test]
async fn http2_body_over_the_limit_gets_413_with_its_json() {
    let mut app = spawn_app(Db::Sqlite, |c| c.http.max_body_bytes = 1024).await;
    let client = h2_client(&app);
    let big = vec![b'{'; 8 * 1024 * 1024];

    // Declared too large: refused before any body byte is read.
    let response = client
        .post(app.url("/v1/reports"))
        .header("content-type", "application/tlsrpt+json")
        .body(big.clone())
        .send()
        .await
        .expect("an answer, not a stream error");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 413);
    let json: serde_json::Value = response.json().await.expect("the JSON body");
    assert_eq!(json["error"]["code"], "body-too-large", "{json}");

    // Streamed without a length: refused once the limit is passed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..512).map(|_| Ok(vec![b' '; 16 * 1024])).collect();
    let response = client
        .post(app.url("/v1/reports"))
        .header("content-type", "application/tlsrpt+json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("an answer, not a stream error");
    assert_eq!(response.status(), 413);
    let json: serde_json::Value = response.json().await.expect("the JSON body");
    assert_eq!(json["error"]["code"], "body-too-large", "{json}");
    app.stop().await;
}

/// Over HTTP/2 a refusal comes after the whole upload was read (and dropped): answered
/// mid-upload, clients such as curl end their stream short of its `content-length`, a
/// protocol error that loses the answer. Seen from the client: every chunk of its body
/// was taken before the 413 arrived.
#[tokio::test]
async fn http2_refusal_waits_for_the_upload_to_end() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mut app = spawn_app(Db::Sqlite, |c| c.http.max_body_bytes = 1024).await;
    let client = h2_client(&app);
    const CHUNKS: usize = 512;
    const CHUNK: usize = 16 * 1024;
    for declared in [true, false] {
        let taken = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&taken);
        let stream = futures_util::stream::iter((0..CHUNKS).map(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(vec![b' '; CHUNK])
        }));
        let mut request = client
            .post(app.url("/v1/reports"))
            .header("content-type", "application/tlsrpt+json")
            .body(reqwest::Body::wrap_stream(stream));
        if declared {
            request = request.header("content-length", (CHUNKS * CHUNK).to_string());
        }
        let response = request.send().await.expect("an answer");
        assert_eq!(response.status(), 413, "declared length: {declared}");
        assert_eq!(
            taken.load(Ordering::SeqCst),
            CHUNKS,
            "declared length {declared}: the whole upload went out before the answer"
        );
        let json: serde_json::Value = response.json().await.expect("the JSON body");
        assert_eq!(json["error"]["code"], "body-too-large");
    }
    app.stop().await;
}

/// A rate-limited sender over HTTP/2 gets its 429, `Retry-After` and JSON body too, after
/// its upload.
#[tokio::test]
async fn http2_rate_limit_answers_429_with_its_json() {
    let mut app = spawn_app(Db::Sqlite, |c| {
        c.http.rate_limit = 1;
        c.http.rate_burst = 1;
    })
    .await;
    let client = h2_client(&app);
    let post = || {
        client
            .post(app.url("/v1/reports"))
            .header("content-type", "application/tlsrpt+json")
            .body(vec![b' '; 4 * 1024 * 1024])
            .send()
    };
    let first = post().await.expect("an answer");
    assert_eq!(
        first.status(),
        400,
        "the burst of one: read and refused as not JSON"
    );
    let second = post().await.expect("an answer, not a stream error");
    assert_eq!(second.version(), reqwest::Version::HTTP_2);
    assert_eq!(second.status(), 429);
    assert!(second.headers().contains_key("retry-after"));
    let json: serde_json::Value = second.json().await.expect("the JSON body");
    assert_eq!(json["error"]["code"], "rate-limited", "{json}");
    app.stop().await;
}

/// A sender whose body stalls past `--http-body-timeout` over HTTP/2 gets the 408 status
/// and its JSON body, not a reset.
#[tokio::test]
async fn http2_stalled_body_gets_408_with_its_json() {
    let mut app = spawn_app(Db::Sqlite, |c| {
        c.http.body_timeout = std::time::Duration::from_secs(1)
    })
    .await;
    let client = h2_client(&app);
    // One chunk, then nothing until long after the timeout.
    let stream = futures_util::stream::unfold(0u8, |step| async move {
        if step == 0 {
            Some((
                Ok::<_, std::io::Error>(b"{\"organization-name\":".to_vec()),
                1,
            ))
        } else {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            None
        }
    });
    let response = client
        .post(app.url("/v1/reports"))
        .header("content-type", "application/tlsrpt+json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("an answer, not a stream error");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 408);
    let json: serde_json::Value = response.json().await.expect("the JSON body");
    assert_eq!(json["error"]["code"], "body-timeout", "{json}");
    app.stop().await;
}
