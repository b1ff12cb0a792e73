//! `Manifest` reads and writes Bedrock's `manifest.json.out` as it is.

use llmbo::Manifest;
use serde_json::json;

#[test]
fn round_trips_the_wire_format_and_keeps_unknown_fields() {
    let wire = json!({
        "totalRecordCount": 150,
        "processedRecordCount": 149,
        "successRecordCount": 147,
        "errorRecordCount": 2,
        "inputTokenCount": 90210,
        "outputTokenCount": 31337,
        "cacheReadInputTokenCount": 12
    });
    let manifest: Manifest = serde_json::from_value(wire.clone()).expect("parses");
    assert_eq!(manifest.total_record_count, 150);
    assert_eq!(manifest.processed_record_count, 149);
    assert_eq!(manifest.success_record_count, 147);
    assert_eq!(manifest.error_record_count, 2);
    assert_eq!(manifest.input_token_count, Some(90210));
    assert_eq!(manifest.output_token_count, Some(31337));
    assert_eq!(manifest.unprocessed_record_count(), 1);
    assert_eq!(manifest.extra["cacheReadInputTokenCount"], 12);
    assert_eq!(serde_json::to_value(&manifest).expect("serializes"), wire);
}

#[test]
fn token_counts_are_optional() {
    let manifest: Manifest = serde_json::from_str(
        r#"{"totalRecordCount":100,"processedRecordCount":100,"successRecordCount":100,"errorRecordCount":0}"#,
    )
    .expect("parses");
    assert_eq!(manifest.input_token_count, None);
    assert_eq!(manifest.output_token_count, None);
    let written = serde_json::to_string(&manifest).expect("serializes");
    assert!(!written.contains("TokenCount"), "{written}");
}

#[test]
fn a_manifest_without_counts_is_an_error_naming_the_field() {
    let err = serde_json::from_str::<Manifest>(r#"{"totalRecordCount":100}"#).unwrap_err();
    assert!(err.to_string().contains("processedRecordCount"), "{err}");
}

/// Counts read from S3 can be anything: combining them saturates instead of overflowing (a
/// panic in debug builds).
#[test]
fn combining_huge_counts_saturates() {
    let huge = llmbo::Manifest {
        total_record_count: u64::MAX,
        processed_record_count: u64::MAX - 1,
        success_record_count: u64::MAX,
        error_record_count: u64::MAX,
        input_token_count: Some(u64::MAX),
        output_token_count: Some(u64::MAX),
        ..Default::default()
    };
    let mut sum = huge.clone();
    sum.combine(&huge);
    assert_eq!(sum.total_record_count, u64::MAX);
    assert_eq!(sum.processed_record_count, u64::MAX);
    assert_eq!(sum.input_token_count, Some(u64::MAX));
    assert_eq!(sum.output_token_count, Some(u64::MAX));
    assert_eq!(sum.unprocessed_record_count(), 0);
}
