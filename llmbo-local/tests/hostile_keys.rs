//! Keys that try to leave their bucket (`..`, `.`, their percent-encoded forms, backslashes,
//! NUL) never reach another bucket or a side file: each is refused with S3's 400 or stored
//! literally, and the other bucket's object is exactly as it was. Driven with aws-sdk-s3.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use llmbo_local::LocalBedrock;

const SECRET: &str = "the other bucket's secret";

async fn setup() -> (LocalBedrock, aws_sdk_s3::Client) {
    let local = LocalBedrock::start().await.unwrap();
    local.add_bucket("bucket-a", local.region()).unwrap();
    let client = s3(&local);
    client
        .put_object()
        .bucket("bucket-a")
        .key("secret.txt")
        .body(ByteStream::from_static(SECRET.as_bytes()))
        .send()
        .await
        .unwrap();
    (local, client)
}

async fn secret_is_intact(client: &aws_sdk_s3::Client) {
    let body = client
        .get_object()
        .bucket("bucket-a")
        .key("secret.txt")
        .send()
        .await
        .expect("bucket-a's object is still there")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], SECRET.as_bytes());
}

const HOSTILE: [&str; 9] = [
    "../bucket-a/secret.txt",
    "x/../../bucket-a/secret.txt",
    "./../bucket-a/secret.txt",
    "%2e%2e/bucket-a/secret.txt",
    "..%2fbucket-a%2fsecret.txt",
    "..\\bucket-a\\secret.txt",
    "x/..",
    "a\0b",
    "..",
];

#[tokio::test]
async fn no_key_reaches_another_bucket() {
    let (local, client) = setup().await;
    let bucket = local.bucket().to_owned();
    for key in HOSTILE {
        // A read never shows the other bucket's bytes.
        if let Ok(got) = client.get_object().bucket(&bucket).key(key).send().await {
            let body = got.body.collect().await.unwrap().into_bytes();
            assert_ne!(&body[..], SECRET.as_bytes(), "GET {key:?} read bucket-a");
        }
        if let Ok(head) = client.head_object().bucket(&bucket).key(key).send().await {
            assert_ne!(
                head.content_length(),
                Some(SECRET.len() as i64),
                "HEAD {key:?} saw bucket-a's object"
            );
        }
        // A write or delete never touches it.
        let _ = client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from_static(b"overwritten"))
            .send()
            .await;
        secret_is_intact(&client).await;
        let _ = client.delete_object().bucket(&bucket).key(key).send().await;
        secret_is_intact(&client).await;
        let _ = client
            .copy_object()
            .bucket(&bucket)
            .key("copied.txt")
            .copy_source(format!("{bucket}/{key}"))
            .send()
            .await;
        if let Ok(got) = client
            .get_object()
            .bucket(&bucket)
            .key("copied.txt")
            .send()
            .await
        {
            let body = got.body.collect().await.unwrap().into_bytes();
            assert_ne!(
                &body[..],
                SECRET.as_bytes(),
                "COPY from {key:?} read bucket-a"
            );
        }
        let _ = client
            .copy_object()
            .bucket(&bucket)
            .key(key)
            .copy_source(format!("{bucket}/copied.txt"))
            .send()
            .await;
        secret_is_intact(&client).await;
        if let Ok(upload) = client
            .create_multipart_upload()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
        {
            let _ = client
                .abort_multipart_upload()
                .bucket(&bucket)
                .key(key)
                .upload_id(upload.upload_id().unwrap_or_default())
                .send()
                .await;
        }
        secret_is_intact(&client).await;
    }
    // A batch delete of the same keys leaves it too.
    let objects: Vec<_> = HOSTILE
        .iter()
        .map(|key| {
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key(*key)
                .build()
                .unwrap()
        })
        .collect();
    let _ = client
        .delete_objects()
        .bucket(&bucket)
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .build()
                .unwrap(),
        )
        .send()
        .await;
    secret_is_intact(&client).await;
    // No side file of llmbo-local's (its names start with a dot) can be read as an object.
    for key in ["../.bucket-a", "../.tmp"] {
        assert!(
            client
                .get_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .is_err()
        );
    }
}

/// A key with a `..` segment is refused with S3's 400, not folded: `x/../y.txt` is not
/// `y.txt`.
#[tokio::test]
async fn dot_segments_are_refused_not_folded() {
    let (local, client) = setup().await;
    let bucket = local.bucket().to_owned();
    client
        .put_object()
        .bucket(&bucket)
        .key("y.txt")
        .body(ByteStream::from_static(b"y"))
        .send()
        .await
        .unwrap();
    let folded = client
        .get_object()
        .bucket(&bucket)
        .key("x/../y.txt")
        .send()
        .await;
    let err = folded.expect_err("x/../y.txt is not y.txt");
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(400), "{err:?}");
    let put = client
        .put_object()
        .bucket(&bucket)
        .key("x/../y.txt")
        .body(ByteStream::from_static(b"not y"))
        .send()
        .await;
    assert!(put.is_err());
    let body = client
        .get_object()
        .bucket(&bucket)
        .key("y.txt")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"y");
}
