//! Tests of `read.rs`.

use std::io::Write;
use std::sync::Arc;

use super::{JobOutput, read_job_keeping};
use crate::error::RecordError;
use crate::job::config::{JobConfig, RunSettings};
use crate::mode::Structured;
use crate::status::{JobDetails, JobStatus};

#[derive(
    Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema, llmbo_derive::BatchOutput,
)]
#[batch_output(crate = "crate")]
struct Person {
    name: String,
}

fn answer(id: &str, name: &str) -> String {
    format!(
        r#"{{"recordId":"{id}","modelInput":{{}},"modelOutput":{{"content":[{{"type":"tool_use","id":"t","name":"Person","input":{{"name":"{name}"}}}}],"stop_reason":"tool_use","usage":{{"input_tokens":3,"output_tokens":4}}}}}}"#
    )
}

/// Both ways of reading a job's output, parsed whole or indexed and read line by line as
/// the join asks, give every record the same outcome and usage, whatever the lines hold.
#[tokio::test]
async fn the_indexed_read_agrees_with_the_parsed_one_record_by_record()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for i in 0..40 {
        lines.push(answer(&format!("r{i:02}"), &format!("name {i}")).into_bytes());
    }
    lines.push(
        br#"{"recordId":"r40","modelInput":{},"error":{"errorCode":400,"errorMessage":"bad"}}"#
            .to_vec(),
    );
    lines.push(br#"{"recordId":"r41","modelInput":{},"modelOutput":{"content":[{"type":"text","text":"no"}],"stop_reason":"end_turn"}}"#.to_vec());
    lines.push(b"{\"recordId\":\"r42\",\"modelOutput\":{\"content\":[{\"type\":\"text\",\"text\":\"\xff\xfe\"}]}}".to_vec());
    lines.push(
        br#"{"recordId":"r43","modelOutput":{"content":[{"type":"tool_use","name":"Per"#.to_vec(),
    );
    lines.push(answer("stranger", "x").into_bytes());
    lines.push(b"   ".to_vec());
    lines.push(b"not json at all".to_vec());
    // r05 answered twice: the later line counts, as Bedrock's output is read in order.
    lines.push(answer("r05", "again").into_bytes());
    let path = dir.path().join("out.jsonl");
    let mut file = std::fs::File::create(&path)?;
    for line in &lines {
        file.write_all(line)?;
        file.write_all(b"\n")?;
    }
    drop(file);
    let ids: Vec<String> = (0..45).map(|i| format!("r{i:02}")).collect();
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let settings = RunSettings {
        model_name: "anthropic.claude-3-haiku-20240307-v1:0".into(),
        ..RunSettings::default()
    };
    let config = JobConfig::assemble(
        settings,
        "us-east-1",
        crate::aws::Aws::new(&sdk, "us-east-1", None, None),
        None,
    );
    let output = JobOutput {
        job_arn: "arn:aws:bedrock:us-east-1:1:model-invocation-job/x".into(),
        details: details(),
        record_ids: Arc::new(ids.clone()),
        outputs: vec![crate::job::engine::OutputData::File(path)],
        manifest: None,
    };
    let mut parsed = read_job_keeping::<Structured<Person>>(&config, &output, 1, u64::MAX)?;
    assert!(
        parsed.parts.iter().all(|p| p.lines.is_empty()),
        "all of it parsed"
    );
    // All indexed, the budget reached after a few lines (r05's first answer parsed, its
    // second indexed) or halfway; in one part or cut into several read at once (more
    // parts than lines, too).
    for parts in [1, 2, 3, 7, 60] {
        for keep in [0, 1_000, 4_000, u64::MAX] {
            let mut other = read_job_keeping::<Structured<Person>>(&config, &output, parts, keep)?;
            let indexed: usize = other.parts.iter().map(|p| p.lines.len()).sum();
            let kept: usize = other.parts.iter().map(|p| p.parsed.len()).sum();
            assert_eq!(other.parts.len(), parts);
            if parts == 1 && keep < u64::MAX {
                assert!(
                    indexed > 0 && (keep == 0 || kept > 0),
                    "keep {keep}: {kept} parsed, {indexed} indexed"
                );
            }
            assert_eq!(parsed.manifest, other.manifest);
            assert_eq!((parsed.unknown, other.unknown), (1, 1));
            let mut again = read_job_keeping::<Structured<Person>>(&config, &output, 1, u64::MAX)?;
            for id in &ids {
                let (a, b) = (again.take(id), other.take(id));
                assert_eq!(a, b, "{parts} parts, keep {keep}: record {id}");
                assert_eq!(other.take(id), None, "taken once");
            }
        }
    }
    for keep in [0, 1_000, u64::MAX] {
        assert_eq!(
            read_job_keeping::<Structured<Person>>(&config, &output, 1, keep)?.take("r05"),
            Some((
                Ok(Person {
                    name: "again".into()
                }),
                Some(crate::adapter::Usage {
                    input_tokens: 3,
                    output_tokens: 4
                })
            )),
            "keep {keep}"
        );
    }
    assert!(parsed.take("r00").is_some());
    assert_eq!(
        read_job_keeping::<Structured<Person>>(&config, &output, 1, 0)?.take("r05"),
        Some((
            Ok(Person {
                name: "again".into()
            }),
            Some(crate::adapter::Usage {
                input_tokens: 3,
                output_tokens: 4
            })
        ))
    );
    let mut again = read_job_keeping::<Structured<Person>>(&config, &output, 1, 0)?;
    assert!(matches!(
        again.take("r40"),
        Some((Err(RecordError::Bedrock { .. }), None))
    ));
    assert!(matches!(
        again.take("r42"),
        Some((Err(RecordError::MalformedOutput { .. }), None))
    ));
    assert_eq!(
        again.take("r44"),
        None,
        "no line: the join makes it Missing"
    );
    assert_eq!(again.take("r05").map(|(o, _)| o.is_ok()), Some(true));
    assert_eq!(again.take("r05"), None, "taken once");
    // The output's temp directory may be gone before the join: the index still reads.
    let mut whole = read_job_keeping::<Structured<Person>>(&config, &output, 1, u64::MAX)?;
    let mut indexed = read_job_keeping::<Structured<Person>>(&config, &output, 2, 0)?;
    drop(dir);
    for id in &ids {
        assert_eq!(whole.take(id), indexed.take(id), "record {id}, file gone");
    }
    Ok(())
}

fn details() -> JobDetails {
    JobDetails {
        job_arn: String::new(),
        job_name: String::new(),
        model_id: String::new(),
        role_arn: String::new(),
        status: JobStatus::Completed,
        message: None,
        input_uri: String::new(),
        output_uri: String::new(),
        converse: false,
        timeout_hours: None,
        total_record_count: None,
        processed_record_count: None,
        success_record_count: None,
        error_record_count: None,
    }
}

/// A test's Anthropic result line made Bedrock's, as the API's own conversion does: a success
/// is its message, an error an error line, an expired request nothing.
fn anthropic_line(line: &[u8], ids: &std::collections::HashMap<String, String>, out: &mut Vec<u8>) {
    let Ok(line) = serde_json::from_slice::<serde_json::Value>(line) else {
        return;
    };
    let id = line["custom_id"].as_str().unwrap_or_default();
    let id = ids.get(id).map_or(id, String::as_str);
    let written = match line["result"]["type"].as_str() {
        Some("succeeded") => {
            serde_json::json!({"recordId": id, "modelOutput": line["result"]["message"]})
        }
        Some("errored") => {
            serde_json::json!({"recordId": id, "error": {"errorCode": "overloaded_error", "errorMessage": "busy"}})
        }
        _ => return,
    };
    out.extend_from_slice(written.to_string().as_bytes());
    out.push(b'\n');
}

/// A batch API's output read as it serves it (the common answer straight from its line, the
/// rest made Bedrock's first) gives every record the outcome and usage of the same output made
/// Bedrock's and read as Bedrock's, parsed whole or indexed and read again, in any parts; ids
/// sent as hashes come back as the records' own.
#[tokio::test]
async fn an_output_read_as_served_agrees_with_it_made_bedrocks()
-> Result<(), Box<dyn std::error::Error>> {
    let message = |name: &str| {
        format!(
            r#"{{"content":[{{"type":"tool_use","id":"t","name":"Person","input":{{"name":"{name}"}}}}],"stop_reason":"tool_use","usage":{{"input_tokens":3,"output_tokens":4}}}}"#
        )
    };
    let mut table = std::collections::HashMap::new();
    let mut served = String::new();
    for i in 0..30 {
        // The first ten went as hashes.
        let sent = if i < 10 {
            format!("h-{i:02}")
        } else {
            format!("r{i:02}")
        };
        if i < 10 {
            table.insert(sent.clone(), format!("r{i:02}"));
        }
        served += &format!(
            r#"{{"custom_id":"{sent}","result":{{"type":"succeeded","message":{}}}}}"#,
            message(&format!("name {i}"))
        );
        served.push('\n');
    }
    served += r#"{"custom_id":"r30","result":{"type":"errored","error":{"type":"error","error":{"type":"overloaded_error","message":"busy"}}}}"#;
    served.push('\n');
    served += r#"{"custom_id":"r31","result":{"type":"expired"}}"#;
    served.push('\n');
    served += r#"{"custom_id":"r32","result":{"type":"succeeded","message":{"content":[{"type":"text","text":"no"}],"stop_reason":"max_tokens"}}}"#;
    served.push('\n');
    served += &format!(
        r#"{{"custom_id":"h-05","result":{{"type":"succeeded","message":{}}}}}"#,
        message("again")
    );
    served.push('\n');
    let map = crate::backend::LineMap::new(crate::jsonl::Served::Anthropic, anthropic_line, table);
    let bedrock = crate::backend::map_all(&map, served.as_bytes());
    let ids: Vec<String> = (0..33).map(|i| format!("r{i:02}")).collect();
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let aws = crate::aws::Aws::new(&sdk, "us-east-1", None, None);
    let config = JobConfig::assemble_on(
        RunSettings {
            // As the builder names it (`Provider::model_id`): Claude's adapter reads it.
            model_name: "anthropic.claude-3-haiku-20240307".into(),
            provider: crate::model::Provider::Anthropic,
            ..RunSettings::default()
        },
        "",
        Arc::new(aws.clone()),
        // Only the reader is used: no call reaches a store.
        Arc::new(crate::aws::S3Store::new(aws, "b")),
        None,
    );
    let output = |data| JobOutput {
        job_arn: "msgbatch_1".into(),
        details: details(),
        record_ids: Arc::new(ids.clone()),
        outputs: vec![data],
        manifest: None,
    };
    let as_served = output(crate::job::engine::OutputData::Served(
        Arc::new(served.into_bytes()),
        map,
    ));
    let as_bedrock = output(crate::job::engine::OutputData::Memory(Arc::new(bedrock)));
    let mut checked = 0;
    for parts in [1, 2, 5] {
        for keep in [0, 1_000, u64::MAX] {
            let mut a = read_job_keeping::<Structured<Person>>(&config, &as_served, parts, keep)?;
            let mut b = read_job_keeping::<Structured<Person>>(&config, &as_bedrock, parts, keep)?;
            assert_eq!(a.manifest, b.manifest, "{parts} parts, keep {keep}");
            for id in &ids {
                let (x, y) = (a.take(id), b.take(id));
                assert_eq!(x, y, "{parts} parts, keep {keep}: record {id}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 9 * 33);
    let mut read = read_job_keeping::<Structured<Person>>(&config, &as_served, 1, u64::MAX)?;
    let name = |outcome: Option<crate::job::line::Outcome<Person>>| {
        outcome.and_then(|(o, _)| o.ok()).map(|p| p.name)
    };
    let r00 = read.take("r00");
    assert!(matches!(&r00, Some((Ok(_), _))), "{r00:?}");
    assert_eq!(name(r00).as_deref(), Some("name 0"));
    assert_eq!(name(read.take("r05")).as_deref(), Some("again"));
    assert_eq!(name(read.take("r29")).as_deref(), Some("name 29"));
    assert!(matches!(
        read.take("r30"),
        Some((Err(RecordError::Bedrock { .. }), None))
    ));
    assert_eq!(read.take("r31"), None, "expired: no line, so Missing");
    assert!(matches!(read.take("r32"), Some((Err(_), _))));
    assert_eq!(read.manifest.success_record_count, 32);
    Ok(())
}

/// A record's place is found whatever order the lines come in: in input order without a map,
/// a part that starts midway with one scan, any other order through the map; an id not in the
/// input has none.
#[test]
fn places_are_found_in_any_order() {
    use super::Places;
    let ids: Vec<String> = (0..100).map(|i| format!("r{i:02}")).collect();
    let read = |order: &[usize], places: &Places<'_>| {
        let (mut next, mut scanned) = (0, false);
        for &i in order {
            let place = places.of(&ids[i], next, &mut scanned);
            assert_eq!(place, Some(i), "r{i:02}");
            next = i + 1;
        }
    };
    let places = Places::new(&ids);
    read(&(0..100).collect::<Vec<_>>(), &places);
    assert!(places.map.get().is_none(), "in order: no map");
    let places = Places::new(&ids);
    read(&(50..100).collect::<Vec<_>>(), &places);
    assert!(places.map.get().is_none(), "midway: one scan, no map");
    let places = Places::new(&ids);
    let shuffled: Vec<usize> = (0..100).map(|i| (i * 37) % 100).collect();
    read(&shuffled, &places);
    assert!(places.map.get().is_some(), "out of order: the map");
    for scanned in [false, true] {
        let places = Places::new(&ids);
        assert_eq!(places.of("stranger", 0, &mut { scanned }), None);
        assert_eq!(places.of("r07", 0, &mut { scanned }), Some(7));
    }
}
