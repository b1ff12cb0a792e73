//! Clients that stall halfway through a request body lose their connection after the body
//! timeout, so a few slow clients cannot hold every connection slot.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use llmbo_local::LocalBedrock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_millis(500);

/// Sends headers and half a body, then nothing: the server answers and closes within the
/// timeout (and a margin), and then serves the next client on its only slot.
#[tokio::test]
async fn a_stalled_control_plane_body_is_cut_and_the_slot_freed() {
    let local = LocalBedrock::builder()
        .max_connections(1)
        .body_timeout(TIMEOUT)
        .start()
        .await
        .unwrap();
    let address = local
        .endpoint_url()
        .trim_start_matches("http://")
        .to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(
            b"POST /model-invocation-job HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jobName\":",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut answer))
        .await
        .expect("the server closes the stalled connection")
        .unwrap();
    assert!(started.elapsed() >= TIMEOUT, "{:?}", started.elapsed());
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestTimeout"), "{answer}");
    // The one slot is free again.
    let listed = tokio::time::timeout(
        Duration::from_secs(10),
        bedrock(&local).list_model_invocation_jobs().send(),
    )
    .await
    .expect("the next client is served");
    assert!(listed.is_ok(), "{listed:?}");
}

/// The same for an S3 PUT whose body stalls after its first bytes.
#[tokio::test]
async fn a_stalled_s3_body_is_cut_and_the_slot_freed() {
    let local = LocalBedrock::builder()
        .max_connections(1)
        .body_timeout(TIMEOUT)
        .start()
        .await
        .unwrap();
    // The SDK's own stalled-stream protection off: the server must cut the body itself.
    let config = aws_sdk_s3::config::Builder::from(&local.sdk_config())
        .force_path_style(true)
        .stalled_stream_protection(aws_sdk_s3::config::StalledStreamProtectionConfig::disabled())
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    sender
        .send(Ok(bytes::Bytes::from_static(b"first bytes")))
        .await
        .unwrap();
    let stream = futures_stream(receiver);
    let body = ByteStream::from_body_1_x(http_body_util::StreamBody::new(stream));
    let started = Instant::now();
    let put = tokio::time::timeout(
        Duration::from_secs(15),
        client
            .put_object()
            .bucket(local.bucket())
            .key("slow.txt")
            .content_length(1000)
            .body(body)
            .send(),
    )
    .await
    .expect("the stalled PUT ends");
    let err = put.expect_err("a stalled body is not stored");
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(400), "{err:?}");
    assert!(started.elapsed() >= TIMEOUT);
    drop(sender);
    let listed = tokio::time::timeout(
        Duration::from_secs(10),
        client.list_objects_v2().bucket(local.bucket()).send(),
    )
    .await
    .expect("the next client is served")
    .unwrap();
    assert!(
        listed
            .contents()
            .iter()
            .all(|o| o.key() != Some("slow.txt"))
    );
}

/// The receiver as a stream of body frames (never ends while the sender lives).
fn futures_stream(
    mut receiver: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>>
+ Send
+ Sync
+ 'static {
    struct Frames(tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>);
    impl futures_core::Stream for Frames {
        type Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            self.0
                .poll_recv(cx)
                .map(|item| item.map(|r| r.map(http_body::Frame::data)))
        }
    }
    let _ = &mut receiver;
    Frames(receiver)
}
