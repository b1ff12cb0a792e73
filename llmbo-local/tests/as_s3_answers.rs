//! S3 and IAM answering as AWS does, where an emulator side by side with boto3 answered
//! otherwise: conditional reads, `ListParts` of open and closed uploads, and the IAM role
//! calls a set-up script makes. Driven with aws-sdk-s3 and aws-sdk-iam.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::*;
use llmbo_local::LocalBedrock;

fn status<E>(err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    err.raw_response().map_or(0, |r| r.status().as_u16())
}

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(err: &E) -> String {
    err.code().unwrap_or("none").to_owned()
}

#[tokio::test]
async fn conditional_reads_are_304_and_412() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket();
    let put = client
        .put_object()
        .bucket(bucket)
        .key("a.txt")
        .body(ByteStream::from_static(b"abc"))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let other = "\"0123456789abcdef0123456789abcdef\"";

    // GET
    let not_modified = client
        .get_object()
        .bucket(bucket)
        .key("a.txt")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&not_modified), 304, "{not_modified:?}");
    let failed = client
        .get_object()
        .bucket(bucket)
        .key("a.txt")
        .if_match(other)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&failed), 412, "{failed:?}");
    let body = client
        .get_object()
        .bucket(bucket)
        .key("a.txt")
        .if_match(&etag)
        .if_none_match(other)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"abc");

    // HEAD
    let not_modified = client
        .head_object()
        .bucket(bucket)
        .key("a.txt")
        .if_none_match("*")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&not_modified), 304);
    let failed = client
        .head_object()
        .bucket(bucket)
        .key("a.txt")
        .if_match(other)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&failed), 412);
    assert!(
        client
            .head_object()
            .bucket(bucket)
            .key("a.txt")
            .if_match(&etag)
            .send()
            .await
            .is_ok()
    );
    // No object: the read's own 404, whatever the conditions.
    let missing = client
        .get_object()
        .bucket(bucket)
        .key("none.txt")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&missing), 404);
}

#[tokio::test]
async fn list_parts_is_ordered_and_knows_closed_uploads() {
    let local = LocalBedrock::start().await.unwrap();
    let client = s3(&local);
    let bucket = local.bucket();
    let part_bytes = |n: u8| vec![n; 5 * 1024 * 1024];
    for round in 0..3 {
        let key = format!("big-{round}.bin");
        let upload = client
            .create_multipart_upload()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        let id = upload.upload_id().unwrap().to_owned();
        let mut tags = Vec::new();
        // Uploaded out of order: 3, 1, 2.
        for n in [3, 1, 2] {
            let part = client
                .upload_part()
                .bucket(bucket)
                .key(&key)
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from(part_bytes(n as u8)))
                .send()
                .await
                .unwrap();
            tags.push((n, part.e_tag().unwrap().to_owned()));
        }
        tags.sort();
        let listed = client
            .list_parts()
            .bucket(bucket)
            .key(&key)
            .upload_id(&id)
            .send()
            .await
            .unwrap();
        let got: Vec<(i32, String, i64)> = listed
            .parts()
            .iter()
            .map(|p| {
                (
                    p.part_number().unwrap(),
                    p.e_tag().unwrap().to_owned(),
                    p.size().unwrap(),
                )
            })
            .collect();
        let want: Vec<(i32, String, i64)> = tags
            .iter()
            .map(|(n, tag)| (*n, tag.clone(), 5 * 1024 * 1024))
            .collect();
        assert_eq!(got, want, "ascending part numbers, each with its ETag");
        // A page of one, then the rest.
        let page = client
            .list_parts()
            .bucket(bucket)
            .key(&key)
            .upload_id(&id)
            .max_parts(1)
            .send()
            .await
            .unwrap();
        assert_eq!(page.parts().len(), 1);
        assert_eq!(page.is_truncated(), Some(true));
        let rest = client
            .list_parts()
            .bucket(bucket)
            .key(&key)
            .upload_id(&id)
            .part_number_marker(page.next_part_number_marker().unwrap().to_string())
            .send()
            .await
            .unwrap();
        let numbers: Vec<i32> = rest
            .parts()
            .iter()
            .filter_map(|p| p.part_number())
            .collect();
        assert_eq!(numbers, [2, 3]);

        // Closed: completed (round 0), aborted (round 1), or aborted twice (round 2).
        if round == 0 {
            let parts = tags
                .iter()
                .map(|(n, tag)| CompletedPart::builder().part_number(*n).e_tag(tag).build())
                .collect();
            client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(&key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .unwrap();
        } else {
            client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(&key)
                .upload_id(&id)
                .send()
                .await
                .unwrap();
        }
        if round == 2 {
            let again = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(&key)
                .upload_id(&id)
                .send()
                .await
                .unwrap_err();
            assert_eq!(code(&again.into_service_error()), "NoSuchUpload");
        }
        let closed = client
            .list_parts()
            .bucket(bucket)
            .key(&key)
            .upload_id(&id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            code(&closed.into_service_error()),
            "NoSuchUpload",
            "round {round}"
        );
    }
}

/// The IAM error code of a failed call.
fn iam_code<E: aws_sdk_iam::error::ProvideErrorMetadata>(err: E) -> String {
    err.code().unwrap_or("none").to_owned()
}

#[tokio::test]
async fn iam_role_set_up_calls_work() {
    let local = LocalBedrock::start().await.unwrap();
    let client = iam(&local);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let created = client
        .create_role()
        .role_name("BedrockBatch")
        .path("/service/")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
    let role = created.role().unwrap();
    assert_eq!(role.role_name(), "BedrockBatch");
    assert_eq!(
        role.arn(),
        format!(
            "arn:aws:iam::{}:role/service/BedrockBatch",
            local.account_id()
        )
    );
    let again = client
        .create_role()
        .role_name("BedrockBatch")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap_err();
    assert_eq!(iam_code(again), "EntityAlreadyExists");
    let got = client
        .get_role()
        .role_name("BedrockBatch")
        .send()
        .await
        .unwrap();
    let document = got.role().unwrap().assume_role_policy_document().unwrap();
    let decoded: String = form_urlencoded::parse(format!("d={document}").as_bytes())
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(decoded, trust, "the trust policy as given");
    client
        .put_role_policy()
        .role_name("BedrockBatch")
        .policy_name("s3")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let conflict = client
        .delete_role()
        .role_name("BedrockBatch")
        .send()
        .await
        .unwrap_err();
    assert_eq!(iam_code(conflict), "DeleteConflict");
    client
        .delete_role_policy()
        .role_name("BedrockBatch")
        .policy_name("s3")
        .send()
        .await
        .unwrap();
    client
        .delete_role()
        .role_name("BedrockBatch")
        .send()
        .await
        .unwrap();
    let gone = client
        .get_role()
        .role_name("BedrockBatch")
        .send()
        .await
        .unwrap_err();
    assert_eq!(iam_code(gone), "NoSuchEntity");
    // The role every run starts with is still there.
    assert!(
        client
            .get_role()
            .role_name("llmbo-local")
            .send()
            .await
            .is_ok()
    );
}
