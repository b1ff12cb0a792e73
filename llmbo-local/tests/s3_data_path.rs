//! The S3 data path llmbo-local writes itself (bodies hashed once as they stream, parts
//! joined without hashing again, job output written through it), driven with aws-sdk-s3.

mod common;

use std::time::Duration;

use aws_sdk_bedrock::types::ModelInvocationJobStatus;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::*;
use llmbo_local::{LocalBedrock, Speed};
use md5::Digest;

fn md5_hex(bytes: &[u8]) -> String {
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn code<E, R>(err: aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    err.code().unwrap_or("none").to_owned()
}

fn part(number: i32, e_tag: &str) -> CompletedPart {
    CompletedPart::builder()
        .part_number(number)
        .e_tag(e_tag)
        .build()
}

#[tokio::test]
async fn completing_an_upload_checks_its_parts_as_s3_does() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket();
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key("joined.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let five_mib = 5 * 1024 * 1024;
    let bodies = [
        vec![b'x'; five_mib],
        vec![b'y'; five_mib + 3],
        b"end".to_vec(),
    ];
    let mut tags = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let uploaded = client
            .upload_part()
            .bucket(bucket)
            .key("joined.bin")
            .upload_id(upload_id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let tag = uploaded.e_tag().unwrap().trim_matches('"').to_owned();
        assert_eq!(tag, md5_hex(body), "part {}'s ETag is its MD5", i + 1);
        tags.push(tag);
    }
    let complete = |parts: Vec<CompletedPart>| {
        client
            .complete_multipart_upload()
            .bucket(bucket)
            .key("joined.bin")
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
    };
    // A part named with another part's ETag, parts out of order, a part that was never
    // uploaded: refused, and the upload is still there to complete.
    let refused = complete(vec![
        part(1, &tags[1]),
        part(2, &tags[1]),
        part(3, &tags[2]),
    ])
    .await;
    assert_eq!(code(refused.unwrap_err()), "InvalidPart");
    let refused = complete(vec![part(2, &tags[1]), part(1, &tags[0])]).await;
    assert_eq!(code(refused.unwrap_err()), "InvalidPartOrder");
    let refused = complete(vec![part(1, &tags[0]), part(4, &tags[2])]).await;
    assert_eq!(code(refused.unwrap_err()), "InvalidPart");
    // The 3-byte part may only come last.
    let refused = complete(vec![
        part(1, &tags[0]),
        part(3, &tags[2]),
        part(2, &tags[1]),
    ])
    .await;
    assert_eq!(code(refused.unwrap_err()), "InvalidPartOrder");
    assert!(
        client
            .head_object()
            .bucket(bucket)
            .key("joined.bin")
            .send()
            .await
            .is_err(),
        "nothing is written by a refused completion"
    );

    let done = complete(vec![
        part(1, &tags[0]),
        part(2, &tags[1]),
        part(3, &tags[2]),
    ])
    .await
    .unwrap();
    let mut of_parts = Vec::new();
    for body in &bodies {
        of_parts.extend_from_slice(&md5::Md5::digest(body));
    }
    let expected = format!("{}-3", md5_hex(&of_parts));
    assert_eq!(done.e_tag().unwrap().trim_matches('"'), expected);
    let object = client
        .get_object()
        .bucket(bucket)
        .key("joined.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(object.e_tag().unwrap().trim_matches('"'), expected);
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.len(), bodies.iter().map(Vec::len).sum::<usize>());
    assert_eq!(&bytes[..five_mib], &bodies[0][..]);
    assert_eq!(&bytes[five_mib..2 * five_mib + 3], &bodies[1][..]);
    assert_eq!(&bytes[2 * five_mib + 3..], b"end");

    // The upload is gone once completed.
    let again = client
        .upload_part()
        .bucket(bucket)
        .key("joined.bin")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await;
    assert_eq!(code(again.unwrap_err()), "NoSuchUpload");
}

#[tokio::test]
async fn a_small_part_before_the_last_is_too_small() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket();
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key("small.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (number, body) in [(1, &b"tiny"[..]), (2, &b"last"[..])] {
        let uploaded = client
            .upload_part()
            .bucket(bucket)
            .key("small.bin")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from_static(body))
            .send()
            .await
            .unwrap();
        parts.push(part(number, uploaded.e_tag().unwrap()));
    }
    let refused = client
        .complete_multipart_upload()
        .bucket(bucket)
        .key("small.bin")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(refused.unwrap_err()), "EntityTooSmall");
}

#[tokio::test]
async fn a_body_that_does_not_match_its_digest_is_refused_and_leaves_nothing() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket();
    let refused = client
        .put_object()
        .bucket(bucket)
        .key("digest.txt")
        // The MD5 of "other", base64.
        .content_md5("eV6YIvhImbmc1SPZuzb1fQ==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await;
    assert_eq!(code(refused.unwrap_err()), "BadDigest");
    let refused = client
        .put_object()
        .bucket(bucket)
        .key("digest.txt")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await;
    assert_eq!(code(refused.unwrap_err()), "BadDigest");
    assert!(
        client
            .head_object()
            .bucket(bucket)
            .key("digest.txt")
            .send()
            .await
            .is_err()
    );
    // The right digest is taken, and the checksum is kept for reads.
    let put = client
        .put_object()
        .bucket(bucket)
        .key("digest.txt")
        .content_md5("XUFAKrxLKna5cZ2REBfFkg==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag().unwrap().trim_matches('"'), md5_hex(b"hello"));
    let head = client
        .head_object()
        .bucket(bucket)
        .key("digest.txt")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), md5_hex(b"hello"));
    assert_eq!(head.content_length(), Some(5));
}

#[tokio::test]
async fn a_running_jobs_output_is_readable_in_whole_lines() {
    let local = LocalBedrock::builder()
        .speed(Speed {
            step: Duration::from_millis(10),
            per_record: Duration::from_millis(4),
            hour: Duration::from_secs(60),
        })
        .start()
        .await
        .unwrap();
    let records = 600;
    put(
        &local,
        "input/progress.jsonl",
        jsonl((0..records).map(claude_record)),
    )
    .await;
    let arn = create_job(&local, "progress", CLAUDE, "input/progress.jsonl")
        .await
        .unwrap();
    let client = s3(&local);
    let key = format!("output/{}/progress.jsonl.out", job_id(&arn));
    let manifest_key = format!("output/{}/manifest.json.out", job_id(&arn));
    let mut seen_partial = None;
    for _ in 0..500 {
        let job = bedrock(&local)
            .get_model_invocation_job()
            .job_identifier(&arn)
            .send()
            .await
            .unwrap();
        if job.status() != Some(&ModelInvocationJobStatus::InProgress) {
            if seen_partial.is_some() || job.status() == Some(&ModelInvocationJobStatus::Completed)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        // The manifest is asked about before the object: the job may end between the two
        // calls, and what must hold is that a manifest already there means the whole output.
        let manifest_before = client
            .head_object()
            .bucket(local.bucket())
            .key(&manifest_key)
            .send()
            .await
            .is_ok();
        if let Ok(object) = client
            .get_object()
            .bucket(local.bucket())
            .key(&key)
            .send()
            .await
        {
            let text = object.body.collect().await.unwrap().into_bytes();
            let text = std::str::from_utf8(&text).unwrap();
            assert!(text.ends_with('\n'), "only whole lines are published");
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("a whole JSON line"))
                .collect();
            if !lines.is_empty() && lines.len() < records {
                assert!(!manifest_before, "the manifest comes at the end");
                seen_partial = Some(lines.len());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let partial = seen_partial.expect("part of the output was readable while the job ran");
    let job = wait(&local, &arn).await;
    assert_eq!(job.status(), Some(&ModelInvocationJobStatus::Completed));
    let lines = output_lines(&local, &arn, "progress.jsonl").await;
    assert!(partial < lines.len());
    let mut ids: Vec<String> = lines
        .iter()
        .map(|l| l["recordId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..records)
        .map(|i| claude_record(i)["recordId"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(ids, expected, "every record once in the final output");
    assert_eq!(manifest(&local, &arn).await["successRecordCount"], records);
    // Written through the S3 side: the ETag is the MD5 of the bytes.
    let object = client
        .get_object()
        .bucket(local.bucket())
        .key(&key)
        .send()
        .await
        .unwrap();
    let e_tag = object.e_tag().unwrap().trim_matches('"').to_owned();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(e_tag, md5_hex(&bytes));
}

#[tokio::test]
async fn parts_copied_from_objects_join_into_the_same_bytes() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket();
    // 9 MiB of varied bytes: copied as a 6 MiB part and the 3 MiB rest, as boto3's managed
    // copy and `aws s3 cp s3://… s3://…` do over 8 MB.
    let source: Vec<u8> = (0..9 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    client
        .put_object()
        .bucket(bucket)
        .key("source.bin")
        .body(ByteStream::from(source.clone()))
        .send()
        .await
        .unwrap();
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key("copy.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let split = 6 * 1024 * 1024;
    let mut parts = Vec::new();
    for (number, range) in [
        (1, format!("bytes=0-{}", split - 1)),
        (2, format!("bytes={split}-{}", source.len() - 1)),
    ] {
        let copied = client
            .upload_part_copy()
            .bucket(bucket)
            .key("copy.bin")
            .upload_id(upload_id)
            .part_number(number)
            .copy_source(format!("{bucket}/source.bin"))
            .copy_source_range(range)
            .send()
            .await
            .unwrap();
        let tag = copied
            .copy_part_result()
            .unwrap()
            .e_tag()
            .unwrap()
            .to_owned();
        parts.push(part(number, &tag));
    }
    let bad_range = client
        .upload_part_copy()
        .bucket(bucket)
        .key("copy.bin")
        .upload_id(upload_id)
        .part_number(3)
        .copy_source(format!("{bucket}/source.bin"))
        .copy_source_range(format!("bytes=0-{}", source.len()))
        .send()
        .await;
    assert_eq!(code(bad_range.unwrap_err()), "InvalidRange");
    let missing = client
        .upload_part_copy()
        .bucket(bucket)
        .key("copy.bin")
        .upload_id(upload_id)
        .part_number(3)
        .copy_source(format!("{bucket}/no-such.bin"))
        .send()
        .await;
    assert_eq!(code(missing.unwrap_err()), "NoSuchKey");
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key("copy.bin")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let copy = client
        .get_object()
        .bucket(bucket)
        .key("copy.bin")
        .send()
        .await
        .unwrap();
    let bytes = copy.body.collect().await.unwrap().into_bytes();
    assert!(
        bytes[..] == source[..],
        "the copy is the source, byte for byte"
    );
    // A plain CopyObject of the copy keeps its bytes too.
    client
        .copy_object()
        .bucket(bucket)
        .key("copy-of-copy.bin")
        .copy_source(format!("{bucket}/copy.bin"))
        .send()
        .await
        .unwrap();
    let again = client
        .get_object()
        .bucket(bucket)
        .key("copy-of-copy.bin")
        .send()
        .await
        .unwrap();
    assert!(again.body.collect().await.unwrap().into_bytes()[..] == source[..]);
}

#[tokio::test]
async fn buckets_are_made_again_and_removed_as_s3_does() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    // The server's own bucket is in us-east-1: making it again is a 200 there.
    client
        .create_bucket()
        .bucket(local.bucket())
        .send()
        .await
        .unwrap();
    let eu = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    client
        .create_bucket()
        .bucket("in-ireland")
        .create_bucket_configuration(eu.clone())
        .send()
        .await
        .unwrap();
    let again = client
        .create_bucket()
        .bucket("in-ireland")
        .create_bucket_configuration(eu)
        .send()
        .await;
    assert_eq!(code(again.unwrap_err()), "BucketAlreadyOwnedByYou");

    client
        .put_object()
        .bucket("in-ireland")
        .key("deep/down/object.txt")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    let refused = client.delete_bucket().bucket("in-ireland").send().await;
    assert_eq!(code(refused.unwrap_err()), "BucketNotEmpty");
    let kept = client
        .get_object()
        .bucket("in-ireland")
        .key("deep/down/object.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &kept.body.collect().await.unwrap().into_bytes()[..],
        b"kept"
    );
    client
        .delete_object()
        .bucket("in-ireland")
        .key("deep/down/object.txt")
        .send()
        .await
        .unwrap();
    client
        .delete_bucket()
        .bucket("in-ireland")
        .send()
        .await
        .unwrap();
    let gone = client.head_bucket().bucket("in-ireland").send().await;
    assert!(gone.is_err(), "a deleted bucket is gone");
    let gone = client.delete_bucket().bucket("in-ireland").send().await;
    assert_eq!(code(gone.unwrap_err()), "NoSuchBucket");
}

#[tokio::test]
async fn listings_asked_for_url_encoding_encode_keys_as_s3_does() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    for key in ["odd/a+b c%.txt", "odd/plain.txt"] {
        client
            .put_object()
            .bucket(local.bucket())
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let listed = client
        .list_objects_v2()
        .bucket(local.bucket())
        .prefix("odd/")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["odd/a%2Bb+c%25.txt", "odd/plain.txt"]);
    // Without it, keys are as they are.
    let listed = client
        .list_objects_v2()
        .bucket(local.bucket())
        .prefix("odd/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["odd/a+b c%.txt", "odd/plain.txt"]);
}

#[tokio::test]
async fn connections_past_the_bound_wait_until_one_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let local = LocalBedrock::builder()
        .max_connections(2)
        .start()
        .await
        .unwrap();
    let addr = local
        .endpoint_url()
        .trim_start_matches("http://")
        .to_owned();
    // Two idle connections take both slots.
    let first = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _second = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let waited =
        tokio::time::timeout(Duration::from_millis(500), third.read_to_end(&mut answer)).await;
    assert!(
        waited.is_err(),
        "a third connection is not served while two are open"
    );
    // One closes: the third is served.
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
        .await
        .expect("served once a slot is free")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 "), "{text}");
}
