//! The preflight: records held to their family's rules, the model checked against the catalog,
//! the quotas read from Service Quotas, and the cost estimated, before anything is billed;
//! through llmbo-local's catalog, Service Quotas and CountTokens.

use llmbo::cost::{Price, PriceTable};
use llmbo::preflight::{QuotaSource, Severity};
use llmbo::{BatchInferer, Error, ModelInput, StructuredBatchInferer};
use llmbo_local::{LocalBedrock, Quotas};
use llmbo_workspace::{Person, person_inputs};
use serde_json::json;

const HAIKU_45: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn untyped(
    local: &LocalBedrock,
    model: &str,
    job: &str,
) -> llmbo::builder::Configured<llmbo::mode::Untyped> {
    BatchInferer::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
}

async fn keys_in_s3(local: &LocalBedrock) -> i32 {
    let s3 = llmbo_workspace::s3_client(&local.sdk_config());
    s3.list_objects_v2()
        .bucket(local.bucket())
        .send()
        .await
        .unwrap()
        .key_count()
        .unwrap_or(0)
}

fn claude_body(i: usize) -> serde_json::Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
           "messages": [{"role": "user", "content": format!("Extract the people of article {i}.")}]})
}

/// 10,000 raw Claude lines with `temperature` and `top_p` on a model that refuses both: one
/// grouped finding with the count and the first ids; the run is refused with nothing in S3;
/// the same lines fixed are prepared.
#[tokio::test]
async fn ten_thousand_identical_mistakes_refuse_the_run_as_one_finding() {
    let local = LocalBedrock::start().await.unwrap();
    let bad = |i: usize| {
        let mut body = claude_body(i);
        body["temperature"] = json!(0.2);
        body["top_p"] = json!(0.9);
        (format!("r{i:05}"), ModelInput::raw(body))
    };
    let inferer = untyped(&local, HAIKU_45, "sampling").build().await.unwrap();
    let report = inferer.preflight((0..10_000).map(bad)).await.unwrap();
    assert!(report.has_errors());
    assert_eq!(report.findings.groups.len(), 1, "{report}");
    let group = &report.findings.groups[0];
    assert_eq!((group.rule, group.count), ("sampling-combination", 10_000));
    assert_eq!(group.severity, Severity::Error);
    assert_eq!(group.first[0].record_id, "r00000");
    assert_eq!(group.first[0].path, "modelInput.top_p");
    assert!(report.to_string().contains("10000 records"), "{report}");
    let refused = inferer.prepare_run((0..10_000).map(bad));
    match refused {
        Err(Error::Refused { findings }) => assert_eq!(findings.groups[0].count, 10_000),
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(keys_in_s3(&local).await, 0, "nothing uploaded");
    // Fixed, the same records pass and run, every one answered.
    let fixed = (0..150).map(|i| {
        let mut body = claude_body(i);
        body["temperature"] = json!(0.2);
        (format!("r{i:05}"), ModelInput::raw(body))
    });
    let inferer = untyped(&local, HAIKU_45, "sampling").build().await.unwrap();
    let results = inferer
        .auto(fixed, std::time::Duration::from_millis(20))
        .await
        .unwrap();
    assert_eq!(results.records.len(), 150);
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("r{i:05}"));
        assert!(record.outcome.is_ok(), "{:?}", record.outcome);
    }
}

/// llmbo-local is as strict as the rules: a body the preflight refuses comes back from a job
/// as an error record (so a skipped preflight is a wasted job, as on AWS).
#[tokio::test]
async fn llmbo_local_fails_the_records_the_rules_refuse() {
    let local = LocalBedrock::start().await.unwrap();
    let inferer = untyped(&local, HAIKU_45, "nocheck").build().await.unwrap();
    // Straight to Bedrock with the AWS SDK, past llmbo's checks.
    let mut body = claude_body(0);
    body["temperature"] = json!(0.2);
    body["top_p"] = json!(0.9);
    let runtime = aws_sdk_bedrockruntime_client(&local);
    let answer = runtime
        .invoke_model()
        .model_id(HAIKU_45)
        .content_type("application/json")
        .body(aws_sdk_bedrockruntime::primitives::Blob::new(
            body.to_string(),
        ))
        .send()
        .await;
    let err = answer.expect_err("both sampling parameters are refused");
    assert!(
        format!("{:?}", err).contains("cannot both be specified"),
        "{err:?}"
    );
    drop(inferer);
}

fn aws_sdk_bedrockruntime_client(local: &LocalBedrock) -> aws_sdk_bedrockruntime::Client {
    aws_sdk_bedrockruntime::Client::new(&local.sdk_config())
}

/// A model that runs in batch only through a profile is refused at build, naming the profile;
/// a profile or a model that is not in the catalog is refused at preflight.
#[tokio::test]
async fn the_model_is_checked_against_the_table_and_the_catalog() {
    let local = LocalBedrock::start().await.unwrap();
    let bare = "anthropic.claude-haiku-4-5-20251001-v1:0";
    match untyped(&local, bare, "bare").build().await {
        Err(Error::InvalidConfig { field, reason }) => {
            assert_eq!(field, "model_name");
            assert!(reason.contains(&format!("us.{bare}")), "{reason}");
        }
        other => panic!("not refused: {other:?}"),
    }
    // Past the table, the preflight finds the profile in llmbo-local's catalog.
    let report = untyped(&local, bare, "bare")
        .skip_preflight_checks()
        .build()
        .await
        .unwrap()
        .preflight((0..120).map(|i| (format!("r{i}"), ModelInput::raw(claude_body(i)))))
        .await
        .unwrap();
    let check = report.model_check.as_ref().unwrap();
    assert_eq!(check.severity, Some(Severity::Error), "{check:?}");
    assert_eq!(
        check.profile.as_deref(),
        Some(&*format!("us.{bare}")),
        "{check:?}"
    );
    assert_eq!(check.model_name.as_deref(), Some("Claude Haiku 4.5"));
    match untyped(&local, "anthropic.claude-opus-4-7", "never")
        .build()
        .await
    {
        Err(Error::InvalidConfig { reason, .. }) => {
            assert!(reason.contains("does not run batch jobs"), "{reason}");
        }
        other => panic!("not refused: {other:?}"),
    }
    // Known to the table, offered in the catalog: clean.
    let inputs = || (0..120).map(|i| (format!("r{i}"), ModelInput::raw(claude_body(i))));
    let report = untyped(&local, CLAUDE, "fine")
        .build()
        .await
        .unwrap()
        .preflight(inputs())
        .await
        .unwrap();
    let check = report.model_check.as_ref().unwrap();
    assert_eq!(check.severity, None, "{check:?}");
    assert_eq!(check.model_name.as_deref(), Some("Claude 3 Haiku"));
    assert!(!report.has_errors(), "{report}");
    // An EU profile is not served from us-east-1; a model the catalog does not offer.
    for (model, says) in [
        (
            "eu.anthropic.claude-3-haiku-20240307-v1:0",
            "no inference profile",
        ),
        ("anthropic.claude-3-opus-20240229-v1:0", "not offered"),
    ] {
        let report = untyped(&local, model, "missing")
            .build()
            .await
            .unwrap()
            .preflight(inputs())
            .await
            .unwrap();
        let check = report.model_check.as_ref().unwrap();
        assert_eq!(check.severity, Some(Severity::Error), "{model}: {check:?}");
        assert!(check.message.contains(says), "{model}: {}", check.message);
        assert!(report.has_errors());
    }
}

/// Quotas read from llmbo-local's Service Quotas change the shard plan; a limit set on the
/// builder wins over them.
#[tokio::test]
async fn quotas_from_service_quotas_change_the_shard_plan() {
    let local = LocalBedrock::builder()
        .quotas(Quotas {
            max_records: 300,
            max_concurrent_jobs_per_model: 3,
            ..Quotas::default()
        })
        .start()
        .await
        .unwrap();
    let report = StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("quota")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
        .preflight(person_inputs(1000))
        .await
        .unwrap();
    assert_eq!(report.quotas.source, QuotaSource::ServiceQuotas, "{report}");
    assert_eq!(report.quotas.max_records, 300);
    assert_eq!(report.quotas.max_concurrent_jobs, 3);
    let sizes: Vec<usize> = report.jobs.iter().map(|j| j.records).collect();
    assert_eq!(sizes, [250, 250, 250, 250], "{report}");
    assert_eq!(report.jobs[0].job_name, "quota-1");
    assert_eq!(sizes.iter().sum::<usize>(), 1000);
    // Set on the builder: kept.
    let report = StructuredBatchInferer::<Person>::builder()
        .model_name(CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("quota")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .max_records_per_job(500)
        .build()
        .await
        .unwrap()
        .preflight(person_inputs(1000))
        .await
        .unwrap();
    assert_eq!(report.jobs.len(), 2, "{report}");
    assert_eq!(
        report.quotas.max_concurrent_jobs, 3,
        "the quota still holds for the rest"
    );
}

/// The cost range: input tokens from the body sizes, calibrated with CountTokens, output
/// bounded by `max_tokens`; a budget under the upper estimate refuses the run before upload.
#[tokio::test]
async fn the_cost_range_is_estimated_and_a_budget_refuses_before_upload() {
    let local = LocalBedrock::start().await.unwrap();
    let prices = PriceTable::new().with(
        CLAUDE,
        Price {
            input_per_1k: 0.000125,
            output_per_1k: 0.000625,
        },
    );
    let inputs = || (0..200).map(|i| (format!("r{i}"), ModelInput::raw(claude_body(i))));
    let report = untyped(&local, CLAUDE, "costly")
        .prices(prices.clone())
        .build()
        .await
        .unwrap()
        .preflight(inputs())
        .await
        .unwrap();
    let tokens = &report.tokens;
    assert!(tokens.calibrated, "CountTokens answered: {report}");
    assert_eq!(tokens.output_max, 200 * 200);
    assert!(tokens.input_low <= tokens.input_high);
    let cost = report.cost.expect("priced");
    let most = tokens.input_high as f64 / 1000.0 * 0.000125 + 40_000.0 / 1000.0 * 0.000625;
    assert!((cost.high - most).abs() < 1e-9, "{cost:?} vs {most}");
    assert!(cost.low < cost.high);
    // A budget under the high end: refused, nothing in S3.
    let budget = cost.high / 2.0;
    let refused = untyped(&local, CLAUDE, "costly")
        .prices(prices.clone())
        .max_estimated_cost(budget)
        .build()
        .await
        .unwrap()
        .auto(inputs(), std::time::Duration::from_millis(20))
        .await;
    match refused {
        Err(Error::OverBudget {
            high, budget: b, ..
        }) => {
            assert_eq!(b, budget);
            assert!(high > budget);
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(keys_in_s3(&local).await, 0, "nothing uploaded");
    // Over the high end: it runs.
    let results = untyped(&local, CLAUDE, "costly")
        .prices(prices)
        .max_estimated_cost(cost.high * 1.5)
        .build()
        .await
        .unwrap()
        .auto(inputs(), std::time::Duration::from_millis(20))
        .await
        .unwrap();
    assert_eq!(results.records.len(), 200);
    // The estimate holds the real token counts (reconciled with the manifest).
    let used = results.manifest.input_token_count.unwrap_or(0);
    assert!(used <= tokens.input_high, "{used} > {}", tokens.input_high);
    // A budget without a price is a setting to fix.
    let unpriced = untyped(&local, CLAUDE, "costly")
        .max_estimated_cost(1.0)
        .build()
        .await;
    assert!(matches!(
        unpriced,
        Err(Error::InvalidConfig {
            field: "max_estimated_cost",
            ..
        })
    ));
}
