//! S3 and IAM through the real `aws-sdk-s3` and `aws-sdk-iam` clients, and the signature
//! checks every service does.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::*;
use llmbo_local::LocalBedrock;

#[tokio::test]
async fn s3_objects_round_trip_with_ranges_heads_and_listing() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket();
    client
        .put_object()
        .bucket(bucket)
        .key("input/a.jsonl")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap();
    client
        .put_object()
        .bucket(bucket)
        .key("input/b.jsonl")
        .body(ByteStream::from_static(b"b"))
        .send()
        .await
        .unwrap();
    client
        .put_object()
        .bucket(bucket)
        .key("other/c.txt")
        .body(ByteStream::from_static(b"c"))
        .send()
        .await
        .unwrap();

    let ranged = client
        .get_object()
        .bucket(bucket)
        .key("input/a.jsonl")
        .range("bytes=2-5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &ranged.body.collect().await.unwrap().into_bytes()[..],
        b"2345"
    );
    let head = client
        .head_object()
        .bucket(bucket)
        .key("input/a.jsonl")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(10));
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix("input/")
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["input/a.jsonl", "input/b.jsonl"]);
    let missing = client
        .get_object()
        .bucket(bucket)
        .key("input/none")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_no_such_key());
}

#[tokio::test]
async fn multipart_uploads_assemble_in_part_order() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket();
    let upload = client
        .create_multipart_upload()
        .bucket(bucket)
        .key("big.jsonl")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part_size = 5 * 1024 * 1024;
    let parts = [
        vec![b'a'; part_size],
        vec![b'b'; part_size],
        b"tail".to_vec(),
    ];
    let mut completed = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let number = i as i32 + 1;
        let part = client
            .upload_part()
            .bucket(bucket)
            .key("big.jsonl")
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        completed.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key("big.jsonl")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = client
        .head_object()
        .bucket(bucket)
        .key("big.jsonl")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some((2 * part_size + 4) as i64));
    let tail = client
        .get_object()
        .bucket(bucket)
        .key("big.jsonl")
        .range(format!("bytes={}-", 2 * part_size - 1))
        .send()
        .await
        .unwrap();
    assert_eq!(
        &tail.body.collect().await.unwrap().into_bytes()[..],
        b"btail"
    );
}

#[tokio::test]
async fn buckets_report_their_region() {
    let local = LocalBedrock::start().await.unwrap();
    local.add_bucket("london-data", "eu-west-2").unwrap();
    let client = s3(&local);
    let home = client
        .head_bucket()
        .bucket("llmbo-local")
        .send()
        .await
        .unwrap();
    assert_eq!(home.bucket_region(), Some("us-east-1"));
    let london = client
        .head_bucket()
        .bucket("london-data")
        .send()
        .await
        .unwrap();
    assert_eq!(london.bucket_region(), Some("eu-west-2"));
    let location = client
        .get_bucket_location()
        .bucket("london-data")
        .send()
        .await
        .unwrap();
    assert_eq!(
        location.location_constraint().map(|c| c.as_str()),
        Some("eu-west-2")
    );
    let us = client
        .get_bucket_location()
        .bucket("llmbo-local")
        .send()
        .await
        .unwrap();
    assert!(
        us.location_constraint()
            .is_none_or(|c| c.as_str().is_empty()),
        "us-east-1 is reported empty"
    );
    let missing = client
        .head_bucket()
        .bucket("no-such-bucket")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_not_found());
    let not_owner = client
        .head_bucket()
        .bucket("llmbo-local")
        .expected_bucket_owner("111111111111")
        .send()
        .await;
    assert!(not_owner.is_err());
}

#[tokio::test]
async fn iam_get_role_knows_the_configured_roles() {
    let local = LocalBedrock::start().await.unwrap();
    local
        .add_role("arn:aws:iam::000000000000:role/service-role/BatchRole")
        .unwrap();
    let client = iam(&local);
    let role = client
        .get_role()
        .role_name("llmbo-local")
        .send()
        .await
        .unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.arn(), local.role_arn());
    assert_eq!(role.path(), "/");
    let policy = percent_encoding::percent_decode_str(role.assume_role_policy_document().unwrap())
        .decode_utf8()
        .unwrap();
    assert!(policy.contains("bedrock.amazonaws.com"), "{policy}");
    let pathed = client
        .get_role()
        .role_name("BatchRole")
        .send()
        .await
        .unwrap();
    assert_eq!(pathed.role().unwrap().path(), "/service-role/");
    let missing = client
        .get_role()
        .role_name("nobody")
        .send()
        .await
        .unwrap_err();
    assert!(missing.into_service_error().is_no_such_entity_exception());
}

#[tokio::test]
async fn requests_signed_with_the_wrong_secret_are_refused_by_every_service() {
    let local = LocalBedrock::start().await.unwrap();
    let wrong = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(local.endpoint_url())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    "test",
                    "not-the-secret",
                    None,
                    None,
                    "wrong",
                ),
            ),
        )
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let s3_client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&wrong)
            .force_path_style(true)
            .build(),
    );
    let err = s3_client
        .list_objects_v2()
        .bucket("llmbo-local")
        .send()
        .await
        .unwrap_err();
    let raw = err.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 403);
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("SignatureDoesNotMatch")
    );

    let iam_err = aws_sdk_iam::Client::new(&wrong)
        .get_role()
        .role_name("llmbo-local")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&iam_err),
        Some("SignatureDoesNotMatch")
    );

    let bedrock_err = aws_sdk_bedrock::Client::new(&wrong)
        .list_model_invocation_jobs()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_bedrock::error::ProvideErrorMetadata::code(&bedrock_err),
        Some("InvalidSignatureException")
    );
    assert_eq!(bedrock_err.raw_response().unwrap().status().as_u16(), 403);
}

/// Sends one raw HTTP/1.1 request and returns the response head and body.
async fn raw_request(local: &LocalBedrock, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = local
        .endpoint_url()
        .trim_start_matches("http://")
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn unsigned_requests_are_refused_with_each_services_error() {
    let local = LocalBedrock::start().await.unwrap();
    let bedrock = raw_request(
        &local,
        "POST /model-invocation-job HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await;
    assert!(bedrock.starts_with("HTTP/1.1 403"), "{bedrock}");
    assert!(
        bedrock
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: missingauthenticationtokenexception"),
        "{bedrock}"
    );
    let s3 = raw_request(
        &local,
        "GET /llmbo-local/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(s3.starts_with("HTTP/1.1 403"), "{s3}");
    assert!(s3.contains("AccessDenied"), "{s3}");
}

#[tokio::test]
async fn an_overwritten_object_reads_back_as_its_latest_version() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    for i in 0..5 {
        let body = format!("{{\"version\":{i},\"pad\":\"{}\"}}", "x".repeat(i * 50));
        client
            .put_object()
            .bucket("llmbo-local")
            .key("run.json")
            .body(body.clone().into_bytes().into())
            .send()
            .await
            .unwrap();
        let object = client
            .get_object()
            .bucket("llmbo-local")
            .key("run.json")
            .send()
            .await
            .unwrap();
        let got = object.body.collect().await.expect("checksum").into_bytes();
        assert_eq!(String::from_utf8(got.to_vec()).unwrap(), body, "round {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_and_reads_of_one_key_never_mix_body_and_checksum() {
    // S3 writes an object atomically: a reader sees one whole version, with its own checksum
    // (the SDK checks it), never one body with another's checksum.
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bodies: Vec<String> = (0..16)
        .map(|i| {
            format!(
                "{{\"writer\":{i},\"pad\":\"{}\"}}",
                "y".repeat(100 + i * 37)
            )
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for body in bodies.clone() {
        let writer = client.clone();
        tasks.spawn(async move {
            writer
                .put_object()
                .bucket("llmbo-local")
                .key("contended.json")
                .body(body.into_bytes().into())
                .send()
                .await
                .map(|_| None)
                .map_err(|e| format!("put: {e:?}"))
        });
        let reader = client.clone();
        tasks.spawn(async move {
            match reader
                .get_object()
                .bucket("llmbo-local")
                .key("contended.json")
                .send()
                .await
            {
                // Not written yet: fine.
                Err(_) => Ok(None),
                Ok(object) => object
                    .body
                    .collect()
                    .await
                    .map(|b| Some(String::from_utf8_lossy(&b.into_bytes()).into_owned()))
                    .map_err(|e| format!("read: {e:?}")),
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Some(seen) = done.unwrap().unwrap() {
            assert!(bodies.contains(&seen), "a whole version: {seen}");
        }
    }
}
