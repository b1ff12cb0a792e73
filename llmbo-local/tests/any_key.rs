//! Every key S3 takes is stored, read, listed, copied and deleted as S3 does: keys up to 1,024
//! bytes of any shape (a 256-byte segment, a 1,024-byte key of a two-byte script, an empty
//! segment, a trailing `/`, a key beside a "folder" of the same name), each with its own bytes,
//! and a key over 1,024 bytes refused before anything is written. Driven with aws-sdk-s3 and
//! aws-sdk-bedrock.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use llmbo_local::LocalBedrock;

/// The keys, each a different way of being no plain path below the bucket (or just one).
fn keys() -> Vec<String> {
    vec![
        // With the default bucket's name, the side file of a 157-byte key is 255 bytes long:
        // the last key kept at its own path, and the first one that is not.
        format!("d/{}", "k".repeat(155)),
        format!("d/{}", "k".repeat(156)),
        "s".repeat(256),
        format!("{}xy", "a/".repeat(511)),
        "é".repeat(512),
        "dir".to_owned(),
        "dir/".to_owned(),
        "dir/x".to_owned(),
        "dir//x".to_owned(),
        "/lead".to_owned(),
    ]
}

/// The body of a key: its own text, so a body read under another key is seen.
fn body_of(key: &str) -> String {
    format!("the bytes of {key}")
}

async fn read(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let bytes = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {} bytes: {e:?}", key.len()))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn list_all(client: &aws_sdk_s3::Client, bucket: &str, page: i32) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let listed = client
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(page)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        keys.extend(
            listed
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = listed.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return keys;
        }
    }
}

#[tokio::test]
async fn keys_up_to_1024_bytes_of_any_shape_are_stored_read_listed_and_deleted() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket().to_owned();
    let keys = keys();
    for key in &keys {
        client
            .put_object()
            .bucket(&bucket)
            .key(key)
            .content_type("text/plain")
            .body(ByteStream::from(body_of(key).into_bytes()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {} bytes: {e:?}", key.len()));
    }
    for key in &keys {
        assert_eq!(read(&client, &bucket, key).await, body_of(key), "{key}");
        let head = client
            .head_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(body_of(key).len() as i64));
        assert_eq!(head.content_type(), Some("text/plain"));
        let md5 = format!("\"{}\"", md5_of(body_of(key).as_bytes()));
        assert_eq!(head.e_tag(), Some(md5.as_str()), "{key}");
    }

    // Listed once each, in S3's order (UTF-8 bytes), whole or a page at a time.
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(list_all(&client, &bucket, 1000).await, sorted);
    assert_eq!(list_all(&client, &bucket, 3).await, sorted);
    let rolled = client
        .list_objects_v2()
        .bucket(&bucket)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = rolled
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["/", "a/", "d/", "dir/"]);
    let top: Vec<&str> = rolled.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(top, ["dir", &"s".repeat(256), &"é".repeat(512)]);
    let under_dir = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("dir/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let dir_keys: Vec<&str> = under_dir
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .collect();
    assert_eq!(dir_keys, ["dir/", "dir/x"]);
    let dir_prefixes: Vec<&str> = under_dir
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(dir_prefixes, ["dir//"]);

    // A copy from one long key to another, and a multipart upload to a 1,024-byte key.
    let longest = format!("{}xy", "a/".repeat(511));
    let copy = format!("{}zz", "c/".repeat(511));
    client
        .copy_object()
        .bucket(&bucket)
        .key(&copy)
        .copy_source(format!("{bucket}/{}", urlencode(&longest)))
        .send()
        .await
        .unwrap();
    assert_eq!(read(&client, &bucket, &copy).await, body_of(&longest));
    let upload = client
        .create_multipart_upload()
        .bucket(&bucket)
        .key(&copy)
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let big = vec![b'm'; 5 * 1024 * 1024];
    let mut parts = Vec::new();
    for (number, bytes) in [(1, big.clone()), (2, b"tail".to_vec())] {
        let part = client
            .upload_part()
            .bucket(&bucket)
            .key(&copy)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(&bucket)
        .key(&copy)
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let joined = read(&client, &bucket, &copy).await;
    assert_eq!(joined.len(), big.len() + 4);
    assert!(joined.ends_with("mtail"));

    // Over 1,024 bytes: S3's KeyTooLongError, and nothing written.
    let over = "o".repeat(1025);
    let refused = client
        .put_object()
        .bucket(&bucket)
        .key(&over)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("refused");
    assert_eq!(
        refused.raw_response().map(|r| r.status().as_u16()),
        Some(400)
    );
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&refused.into_service_error()),
        Some("KeyTooLongError")
    );

    // Deleted one by one (and the copy in a batch), each leaving the others as they were.
    for (n, key) in keys.iter().enumerate() {
        client
            .delete_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        for other in keys.iter().skip(n + 1) {
            assert_eq!(read(&client, &bucket, other).await, body_of(other));
        }
    }
    client
        .delete_objects()
        .bucket(&bucket)
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .objects(
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(&copy)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(list_all(&client, &bucket, 1000).await.is_empty());
    // The bucket is empty: it can be deleted.
    client.delete_bucket().bucket(&bucket).send().await.unwrap();
}

/// A Bedrock job reads its input from a key kept by its digest and writes its output under a
/// prefix too long to be a file name; every record comes back exactly once (in Bedrock's
/// order, which is not the input's).
#[tokio::test]
async fn a_job_reads_and_writes_long_keys() {
    let local = LocalBedrock::start().await.unwrap();
    let folder = format!("input/{}", "p".repeat(300));
    let file = format!("{}.jsonl", "q".repeat(300));
    let input_key = format!("{folder}/{file}");
    put(&local, &input_key, jsonl((0..100).map(claude_record))).await;
    let arn = create_job(
        &local,
        "long-keys",
        "anthropic.claude-3-haiku-20240307-v1:0",
        &input_key,
    )
    .await
    .unwrap();
    let job = wait(&local, &arn).await;
    assert_eq!(
        job.status(),
        Some(&aws_sdk_bedrock::types::ModelInvocationJobStatus::Completed),
        "{:?}",
        job.message()
    );
    let lines = output_lines(&local, &arn, &file).await;
    let mut ids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["recordId"].as_str())
        .collect();
    ids.sort_unstable();
    let expected: Vec<String> = (0..100).map(|i| format!("REC{i:08}")).collect();
    assert_eq!(ids, expected);
    // The folder of the input, named as a folder, is read the same way.
    let arn = create_job(
        &local,
        "long-folder",
        "anthropic.claude-3-haiku-20240307-v1:0",
        &format!("{folder}/"),
    )
    .await
    .unwrap();
    let job = wait(&local, &arn).await;
    assert_eq!(
        job.status(),
        Some(&aws_sdk_bedrock::types::ModelInvocationJobStatus::Completed),
        "{:?}",
        job.message()
    );
    assert_eq!(output_lines(&local, &arn, &file).await.len(), 100);
}

fn md5_of(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

/// A copy source's key, percent-encoded as the SDK expects it.
fn urlencode(key: &str) -> String {
    key.split('/')
        .map(|s| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Buckets whose names are path prefixes of the Gemini API (`v1beta`, `upload`, `download`)
/// are S3's: a signed request goes to S3 whatever its path, with keys that look like the
/// batch APIs' calls. (`v1`, the other APIs' prefix, is too short to be a bucket.)
#[tokio::test]
async fn buckets_named_like_the_batch_apis_paths_are_s3s() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    for bucket in ["v1beta", "upload", "download"] {
        client.create_bucket().bucket(bucket).send().await.unwrap();
        for key in [
            "messages/batches",
            "batches/b1:cancel",
            "files/f1:download",
            "models/gemini-2.5-flash:batchGenerateContent",
        ] {
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(format!("{bucket}/{key}").into_bytes()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("PUT {bucket}/{key}: {e:?}"));
            assert_eq!(read(&client, bucket, key).await, format!("{bucket}/{key}"));
        }
    }
}
