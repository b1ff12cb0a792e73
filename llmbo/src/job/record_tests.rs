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
        input_folder: None,
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

fn names(record: &RunRecord) -> Vec<String> {
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
        let aws = config
            .aws
            .as_ref()
            .ok_or("a Bedrock run has its AWS clients")?;
        let mut upload = aws.upload(&config.settings.bucket, &key);
        upload.write(&serialize(&record)?).await?;
        upload.finish().await?;
    }
    let (record, _) = RunShared::read(&config, "race").await?.ok_or("no record")?;
    assert_eq!(names(&record), ["from-second"], "the first change is lost");
    Ok(())
}

/// A handle that refreshes while it writes (two tasks of one process on one run, as a stream
/// and a retry are) never pairs an old body with a newer ETag: every change of another
/// process's survives. The record is large so that each write takes long enough to be
/// interleaved with the refreshes on the other worker thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_during_a_write_loses_no_change() -> Result<(), Box<dyn std::error::Error>> {
    let local = llmbo_local::LocalBedrock::start().await?;
    let (config, first, second) = handles(&local).await?;
    first
        .modify(&config, |r| {
            r.retries
                .extend((0..2000).map(|i| entry(&format!("base{i:04}"))))
        })
        .await?;
    second.refresh(&config).await?;
    let (first, second) = (std::sync::Arc::new(first), std::sync::Arc::new(second));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refresher = {
        let (first, config, done) = (first.clone(), config.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                first.refresh(&config).await?;
            }
            Ok::<_, Error>(())
        })
    };
    let writer = |handle: std::sync::Arc<RunShared>, prefix: &'static str| {
        let config = config.clone();
        tokio::spawn(async move {
            for i in 0..50 {
                let name = format!("{prefix}{i:02}");
                handle
                    .modify(&config, |r| r.retries.push(entry(&name)))
                    .await?;
            }
            Ok::<_, Error>(())
        })
    };
    let a = writer(first.clone(), "a");
    let b = writer(second.clone(), "b");
    a.await??;
    b.await??;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    refresher.await??;
    let (record, _) = RunShared::read(&config, "race").await?.ok_or("no record")?;
    let ours: Vec<String> = names(&record)
        .into_iter()
        .filter(|n| !n.starts_with("base"))
        .collect();
    let mut expected: Vec<String> = (0..50)
        .flat_map(|i| [format!("a{i:02}"), format!("b{i:02}")])
        .collect();
    expected.sort();
    assert_eq!(
        ours, expected,
        "every change of both writers survives, once"
    );
    Ok(())
}
