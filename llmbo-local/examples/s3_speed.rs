//! S3 throughput of llmbo-local with aws-sdk-s3: PutObject, UploadPart and GetObject of
//! 8 MiB bodies, end to end over loopback.
//!
//! `cargo run --release -p llmbo-local --example s3_speed -- 64` moves 64 bodies each way
//! and prints MB/s for each operation, next to a baseline measured in the same run: the
//! same bytes hashed once with SHA-256 (what the client's signing costs at least).

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use llmbo_local::LocalBedrock;
use sha2::Digest;

const BODY: usize = 8 * 1024 * 1024;

fn mb_per_s(bytes: usize, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    let local = LocalBedrock::builder().start().await?;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&local.sdk_config())
            .force_path_style(true)
            .build(),
    );
    let bucket = local.bucket().to_owned();
    let body: Vec<u8> = (0..BODY).map(|i| (i % 251) as u8).collect();
    let total = BODY * count;

    let started = Instant::now();
    for _ in 0..count {
        std::hint::black_box(sha2::Sha256::digest(&body));
    }
    let sha = mb_per_s(total, started.elapsed().as_secs_f64());
    let started = Instant::now();
    for _ in 0..count {
        std::hint::black_box(<md5::Md5 as md5::Digest>::digest(&body));
    }
    let md5 = mb_per_s(total, started.elapsed().as_secs_f64());

    let started = Instant::now();
    for i in 0..count {
        s3.put_object()
            .bucket(&bucket)
            .key(format!("speed/put-{i}"))
            .body(ByteStream::from(body.clone()))
            .send()
            .await?;
    }
    let put = mb_per_s(total, started.elapsed().as_secs_f64());

    let upload = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("speed/multipart")
        .send()
        .await?;
    let upload_id = upload.upload_id().unwrap_or_default().to_owned();
    let started = Instant::now();
    let mut parts = Vec::new();
    for i in 0..count {
        let number = i32::try_from(i + 1)?;
        let part = s3
            .upload_part()
            .bucket(&bucket)
            .key("speed/multipart")
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body.clone()))
            .send()
            .await?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag().map(str::to_owned))
                .build(),
        );
    }
    let part = mb_per_s(total, started.elapsed().as_secs_f64());
    let started = Instant::now();
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("speed/multipart")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await?;
    let complete = mb_per_s(total, started.elapsed().as_secs_f64());

    let started = Instant::now();
    let mut got = 0;
    for i in 0..count {
        let object = s3
            .get_object()
            .bucket(&bucket)
            .key(format!("speed/put-{i}"))
            .send()
            .await?;
        got += object.body.collect().await?.into_bytes().len();
    }
    let get = mb_per_s(got, started.elapsed().as_secs_f64());

    let started = Instant::now();
    let object = s3
        .get_object()
        .bucket(&bucket)
        .key("speed/multipart")
        .send()
        .await?;
    let big = object.body.collect().await?.into_bytes().len();
    let get_big = mb_per_s(big, started.elapsed().as_secs_f64());

    println!(
        "{count} bodies of 8 MiB ({:.0} MB each way)",
        total as f64 / 1e6
    );
    println!("baseline  sha256 of the same bytes   {sha:8.0} MB/s");
    println!("baseline  md5 of the same bytes      {md5:8.0} MB/s");
    println!(
        "PutObject                            {put:8.0} MB/s  ({:.2} of sha256)",
        put / sha
    );
    println!(
        "UploadPart                           {part:8.0} MB/s  ({:.2} of sha256)",
        part / sha
    );
    println!("CompleteMultipartUpload              {complete:8.0} MB/s  (of the object's size)");
    println!(
        "GetObject                            {get:8.0} MB/s  ({:.2} of sha256)",
        get / sha
    );
    println!(
        "GetObject of the {:.0} MB object     {get_big:8.0} MB/s",
        big as f64 / 1e6
    );
    Ok(())
}
