//! Tests of `record.rs`.

use super::*;
use crate::aws::Aws;
use crate::settings::RunSettings;

fn entry(name: &str) -> ShardEntry {
    ShardEntry {
        job_name: name.to_owned(),
        input_uri: format!("s3://llmbo-local/input/{name}.jsonl"),
        input_hash: String::new(),
        records: 100,
        job_arn: None,
    }
}

async fn handles(
    local: &llmbo_local::LocalBedrock,
) -> Result<(JobConfig, RunShared, RunShared), Box<dyn std::error::Error>> {
    let settings = RunSettings {
        job_name: "race".into(),
        bucket: local.bucket().into(),
        ..RunSettings::default()
    };
    let aws = Aws::new(&local.sdk_config(), local.region(), None, None);
    let config = JobConfig::assemble(settings, local.region(), aws, None);
    let first = RunShared::empty(&config);
    assert!(first.create(&config).await?.is_none());
    // A second process opens the same run.
    let second = RunShared::empty(&config);
    second.refresh(&config).await?;
    // A second create finds the first record and writes nothing.
    assert!(second.create(&config).await?.is_some());
    Ok((config, first, second))
}

fn names(record: &RunManifest) -> Vec<String> {
    let mut names: Vec<String> = record.retries.iter().map(|e| e.job_name.clone()).collect();
    names.sort();
    names
}

/// Both handles read the record, then both change it: with conditional writes the second
/// writer's stale ETag is refused, it re-reads and re-applies, and both changes survive.
#[tokio::test]
async fn two_writers_racing_both_survive() -> Result<(), Box<dyn std::error::Error>> {
    let local = llmbo_local::LocalBedrock::start().await?;
    let (config, first, second) = handles(&local).await?;
    first
        .modify(&config, |r| r.retries.push(entry("from-first")))
        .await?;
    second
        .modify(&config, |r| r.retries.push(entry("from-second")))
        .await?;
    let (record, _) = RunShared::read(&config, "race").await?.ok_or("no record")?;
    assert_eq!(names(&record), ["from-first", "from-second"]);

    // Many changes from both at once: every one survives, none twice.
    let (config_a, config_b) = (config.clone(), config.clone());
    let a = async {
        for i in 0..15 {
            let name = format!("a{i:02}");
            first
                .modify(&config_a, |r| r.retries.push(entry(&name)))
                .await?;
        }
        Ok::<_, Error>(())
    };
    let b = async {
        for i in 0..15 {
            let name = format!("b{i:02}");
            second
                .modify(&config_b, |r| r.retries.push(entry(&name)))
                .await?;
        }
        Ok::<_, Error>(())
    };
    let (a, b) = tokio::join!(a, b);
    a?;
    b?;
    let (record, _) = RunShared::read(&config, "race").await?.ok_or("no record")?;
    assert_eq!(record.retries.len(), 32);
    let mut expected: Vec<String> = (0..15)
        .flat_map(|i| [format!("a{i:02}"), format!("b{i:02}")])
        .chain(["from-first".to_owned(), "from-second".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(names(&record), expected);
    Ok(())
}

/// The same race with plain writes loses the first writer's change: what the test above
/// would see without S3's conditions.
#[tokio::test]
async fn unconditional_writes_would_lose_a_change() -> Result<(), Box<dyn std::error::Error>> {
    let local = llmbo_local::LocalBedrock::start().await?;
    let (config, first, second) = handles(&local).await?;
    let key = layout::run_key("race");
    for (handle, name) in [(&first, "from-first"), (&second, "from-second")] {
        let mut record = handle.snapshot();
        record.retries.push(entry(name));
        let mut upload = config.aws.upload(config.bucket(), &key);
        upload.write(&serialize(&record)?).await?;
        upload.finish().await?;
    }
    let (record, _) = RunShared::read(&config, "race").await?.ok_or("no record")?;
    assert_eq!(names(&record), ["from-second"], "the first change is lost");
    Ok(())
}
