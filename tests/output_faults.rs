//! What a damaged job output does to the results: a line cut short, a line gone, an output
//! for a record that was never submitted, no manifest. The output objects are rewritten
//! through the real S3 API of llmbo-local between the job's end and the download.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use llmbo::{RecordError, StructuredBatchInferer};
use llmbo_local::LocalBedrock;
use llmbo_workspace::{Person, person_inputs};

/// One single-job run of `records` people, created and polled to its end.
async fn finished_job(
    local: &LocalBedrock,
    name: &str,
    records: usize,
) -> llmbo::Inferer<llmbo::mode::Structured<Person>, llmbo::state::Finished> {
    StructuredBatchInferer::<Person>::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(name)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
        .prepare_requests(person_inputs(records))
        .unwrap()
        .push_requests_to_s3()
        .await
        .unwrap()
        .create()
        .await
        .unwrap()
        .poll_progress(Duration::from_millis(20))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_damaged_output_still_gives_one_result_per_record() {
    let local = LocalBedrock::start().await.unwrap();
    let finished = finished_job(&local, "damaged", 150).await;
    let job_id = finished.unique_id_from_arn().to_owned();

    let s3 = llmbo_workspace::s3_client(&local.sdk_config());
    let bucket = local.bucket();
    let out_key = format!("output/{job_id}/damaged.jsonl.out");
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(&out_key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.contains("\"recordId\":\"00007\"") {
            continue; // the line is gone: the record is missing
        }
        if line.contains("\"recordId\":\"00011\"") {
            // cut short, as by a truncated file
            lines.push(line[..line.len() / 2].to_owned());
            continue;
        }
        lines.push(line.to_owned());
    }
    // An output for a record that was never submitted.
    let ghost = lines[0].replace("\"recordId\":\"", "\"recordId\":\"ghost-");
    lines.push(ghost);
    s3.put_object()
        .bucket(bucket)
        .key(&out_key)
        .body(ByteStream::from(lines.join("\n").into_bytes()))
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket(bucket)
        .key(format!("output/{job_id}/manifest.json.out"))
        .send()
        .await
        .unwrap();

    let results = finished
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    assert_eq!(results.len(), 150, "one result per input record");
    let ids: Vec<String> = (0..150).map(|i| format!("{i:05}")).collect();
    let got: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(got, ids, "input order, and no ghost record merged");
    assert_eq!(results.records[7].outcome, Err(RecordError::Missing));
    assert!(
        matches!(
            &results.records[11].outcome,
            Err(RecordError::MalformedOutput { message }) if message.contains("cut short")
        ),
        "{:?}",
        results.records[11].outcome
    );
    assert_eq!(results.failures().count(), 2);
    // Without manifest.json.out the counts come from what was read.
    assert_eq!(results.manifest.total_record_count, 150);
    assert_eq!(results.manifest.success_record_count, 148);
}

/// A manifest cut short (or not JSON at all) costs nothing: every output line is still read,
/// and the counts come from the lines; the run is the same through the steps and through a
/// resumed run's stream.
#[tokio::test]
async fn a_partial_manifest_loses_no_record() {
    let local = LocalBedrock::start().await.unwrap();
    let finished = finished_job(&local, "bad-manifest", 120).await;
    let job_id = finished.unique_id_from_arn().to_owned();
    let s3 = llmbo_workspace::s3_client(&local.sdk_config());
    let key = format!("output/{job_id}/manifest.json.out");
    let run_uri = finished.run_uri();
    let put = |damaged: &'static [u8]| {
        s3.put_object()
            .bucket(local.bucket())
            .key(&key)
            .body(ByteStream::from_static(damaged))
            .send()
    };
    let check = |results: &llmbo::BatchResults<Person>| {
        let ids: Vec<String> = (0..120).map(|i| format!("{i:05}")).collect();
        let got: Vec<&str> = results
            .records
            .iter()
            .map(|r| r.record_id.as_str())
            .collect();
        assert_eq!(got, ids);
        assert_eq!(results.failures().count(), 0, "every line is read");
        assert_eq!(results.manifest.total_record_count, 120);
        assert_eq!(results.manifest.success_record_count, 120);
        assert_eq!(results.manifest.error_record_count, 0);
    };
    put(b"{\"totalRecordCount\":120,\"processedRec")
        .await
        .unwrap();
    let results = finished
        .download_results()
        .await
        .unwrap()
        .load_results()
        .unwrap();
    check(&results);
    put(b"not json").await.unwrap();
    let resumed = llmbo::BatchRun::<llmbo::mode::Structured<Person>>::resume(
        &run_uri,
        local.region(),
        Some(local.sdk_config()),
    )
    .await
    .unwrap()
    .finish(Duration::from_millis(20))
    .await
    .unwrap();
    check(&resumed);
}
