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
