//! Documents on a real S3-compatible server: moto's, run on this machine by
//! the test. Two `carego serve` processes share the bucket as servers behind
//! a load balancer do: one stores a document's content, the other serves it.
//! A refused upload (over the size limit, after a part has been sent to S3)
//! and one the client abandons midway leave no object and no unfinished
//! multipart upload behind; documents left at the bucket's root by a Carego
//! that dropped the URL's prefix stop `serve` at start. These need moto's server, so `cargo test` skips
//! them (ignored, not passed); `.ci/s3` installs it from PyPI and runs them.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

use crate::{
    cli::{carego, data_dir, http, http_with, interrupt, json_of, serve, status_of},
    documents::pdf,
    helpers::PASSWORD,
};

const BUCKET: &str = "carego-documents";
const MIB: usize = 1024 * 1024;

/// moto's S3 server on a loopback port of its own; killed when dropped.
struct Moto {
    addr: String,
    _child: Child,
}

impl Moto {
    async fn start() -> Self {
        let server = std::env::var("CAREGO_TEST_MOTO_SERVER").expect(
            "CAREGO_TEST_MOTO_SERVER names moto's `moto_server` (`pip install 'moto[server]'`); .ci/s3 sets it",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&addr).await.is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {addr} in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { addr, _child: child }
    }

    /// The bucket's object keys and its unfinished multipart uploads, from
    /// S3's own listings.
    async fn contents(&self) -> (Vec<String>, usize) {
        let (_, listing) = exchange(&self.addr, "GET", &format!("/{BUCKET}?list-type=2"), "", &[]).await;
        let listing = String::from_utf8(listing).unwrap();
        let keys =
            listing.split("<Key>").skip(1).map(|k| k.split("</Key>").next().unwrap().to_owned()).collect();
        let (_, uploads) = exchange(&self.addr, "GET", &format!("/{BUCKET}?uploads"), "", &[]).await;
        (keys, String::from_utf8(uploads).unwrap().matches("<Upload>").count())
    }
}

/// One HTTP/1.1 exchange on a connection of its own: the status and the
/// body's bytes (de-chunked). `pieces` are sent chunked, one chunk each.
async fn exchange(addr: &str, method: &str, path: &str, headers: &str, pieces: &[&[u8]]) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let framing = if pieces.is_empty() { "content-length: 0\r\n" } else { "transfer-encoding: chunked\r\n" };
    let head =
        format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}{framing}connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    if !pieces.is_empty() {
        for piece in pieces {
            // The server may answer and close before the body is all sent
            // (a refusal): what it said is read below either way.
            if stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await.is_err()
                || stream.write_all(piece).await.is_err()
                || stream.write_all(b"\r\n").await.is_err()
            {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let body = raw[split + 4..].to_vec();
    (status, if head.contains("transfer-encoding: chunked") { dechunk(&body) } else { body })
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n").expect("a chunk size");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line + 2..line + 2 + size]);
        body = &body[line + 2 + size + 2..];
    }
}

#[tokio::test]
#[ignore = "needs moto's S3 server: .ci/s3 installs it and runs these"]
async fn two_servers_share_documents_on_s3_and_refused_uploads_leave_nothing_there() {
    let moto = Moto::start().await;
    let (created, _) = exchange(&moto.addr, "PUT", &format!("/{BUCKET}"), "", &[]).await;
    assert_eq!(created, 200, "the bucket is created");

    let dir = data_dir("s3");
    std::fs::create_dir_all(&dir).unwrap();
    let start_cmd = || {
        let mut cmd = carego(&dir);
        cmd.env("CAREGO_STORAGE_URL", format!("s3://{BUCKET}/carego"))
            .env("AWS_ENDPOINT", format!("http://{}", moto.addr))
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "carego-test")
            .env("AWS_SECRET_ACCESS_KEY", "carego-test")
            .env("AWS_REGION", "us-east-1")
            .env("CAREGO_DOCUMENT_LIMIT_BYTES", (7 * MIB).to_string());
        cmd
    };
    // Documents at the bucket's root, where Carego wrote them before it
    // applied the URL's prefix: serve refuses to start rather than find
    // none of them, and says how to move them.
    let stray = "/carego-documents/facilities/f/documents/d/upload";
    let length = "content-length: 8\r\n";
    let mut put = TcpStream::connect(&moto.addr).await.unwrap();
    put.write_all(
        format!("PUT {stray} HTTP/1.1\r\nhost: {}\r\n{length}connection: close\r\n\r\n%PDF-1.7", moto.addr)
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    put.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let out = start_cmd().arg("serve").output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("documents lie at the bucket's root") && stderr.contains("aws s3 mv"),
        "{stderr}"
    );
    // moto refuses an anonymous DELETE; it checks that credentials are named, not the signature.
    let signed = "authorization: AWS4-HMAC-SHA256 Credential=carego-test/20261205/us-east-1/s3/aws4_request, \
                  SignedHeaders=host, Signature=00\r\n";
    assert_eq!(exchange(&moto.addr, "DELETE", stray, signed, &[]).await.0, 204);

    let start = || serve(start_cmd());
    let (first, a) = start().await;
    let (second, b) = start().await;

    let login = format!(r#"{{"email":"nurse@sunrise.example","password":"{PASSWORD}"}}"#);
    let nurse = json_of(&http(&a, "POST", "/api/v1/auth/login", &login).await);
    let bearer = format!("authorization: Bearer {}\r\n", nurse["accessToken"].as_str().expect("a token"));
    let patients = json_of(&http_with(&a, "GET", "/api/v1/patients", &bearer, "").await);
    let patient = patients["items"][0]["id"].as_str().expect("a patient").to_owned();
    let document = |title: &str| {
        let (a, bearer, patient) = (a.clone(), bearer.clone(), patient.clone());
        let body = format!(r#"{{"id":"{}","kind":"lab_result","title":"{title}"}}"#, uuid::Uuid::new_v4());
        async move {
            let made =
                http_with(&a, "POST", &format!("/api/v1/patients/{patient}/documents"), &bearer, &body).await;
            assert_eq!(status_of(&made), 201, "{made}");
            json_of(&made)["id"].as_str().unwrap().to_owned()
        }
    };
    let content = |id: &str| format!("/api/v1/documents/{id}/content");
    let upload_headers = format!("{bearer}content-type: application/pdf\r\n");

    // Stored through one server in two parts (S3's parts are 5 MiB), served
    // by the other, byte for byte.
    let bytes = pdf(6 * MIB + 123, 7);
    let pieces: Vec<&[u8]> = bytes.chunks(256 * 1024).collect();
    let stored = document("Blood panel").await;
    let (status, answer) = exchange(&a, "PUT", &content(&stored), &upload_headers, &pieces).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let sha256 = hex::encode(Sha256::digest(&bytes));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&answer).unwrap()["sha256"], sha256);
    let (keys, unfinished) = moto.contents().await;
    assert_eq!((keys.len(), unfinished), (1, 0), "one object, nothing unfinished: {keys:?}");
    assert!(keys[0].starts_with("carego/facilities/") && keys[0].contains(&stored), "{keys:?}");
    let (status, downloaded) = exchange(&b, "GET", &content(&stored), &bearer, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(hex::encode(Sha256::digest(&downloaded)), sha256, "the other server serves it intact");

    // Over the limit after a whole part has gone to S3: 413, the multipart
    // upload aborted, nothing left.
    let too_large = pdf(12 * MIB, 8);
    let pieces: Vec<&[u8]> = too_large.chunks(256 * 1024).collect();
    let refused = document("Too large").await;
    let (status, answer) = exchange(&a, "PUT", &content(&refused), &upload_headers, &pieces).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(moto.contents().await, (keys.clone(), 0), "the refused upload left nothing");

    // A client that stops midway (5.5 MiB of the 6.5 it announced, within
    // the limit, then gone): once the server notices, nothing is left either.
    let abandoned = document("Abandoned").await;
    let mut stream = TcpStream::connect(&b).await.unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nhost: {b}\r\n{upload_headers}content-length: {}\r\nconnection: close\r\n\r\n",
        content(&abandoned),
        6 * MIB + MIB / 2
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&pdf(5 * MIB + MIB / 2, 9)).await.unwrap();
    // Its first part is on S3 by now, in an upload not yet finished.
    let deadline = Instant::now() + Duration::from_secs(20);
    while moto.contents().await.1 != 1 {
        assert!(Instant::now() < deadline, "the upload's first part never reached S3");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = moto.contents().await;
        if now == (keys.clone(), 0) {
            break;
        }
        assert!(Instant::now() < deadline, "the abandoned upload left {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pending =
        json_of(&http_with(&a, "GET", &format!("/api/v1/documents/{abandoned}"), &bearer, "").await);
    assert_eq!(pending["status"], "pending", "{pending}");

    assert!(interrupt(second).await.success());
    assert!(interrupt(first).await.success());
    let _ = std::fs::remove_dir_all(&dir);
}
