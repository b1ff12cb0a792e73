//! One derived type on every batch API: the same `#[derive(BatchOutput)]` type and the same
//! inputs through Bedrock, Anthropic's Message Batches and OpenAI's Batch API, all served by
//! llmbo-local, give the same records; a run on Anthropic or OpenAI is resumed, cancelled and
//! retried from other handles as a Bedrock run is.

use std::time::Duration;

use llmbo::mode::{OutputMode, Untyped};
use llmbo::model::Provider;
use llmbo::{BatchInferer, BatchRun, Error, RecordError, StructuredBatchInferer};
use llmbo_local::{FaultConfig, LocalBedrock, RecordFault};
use llmbo_workspace::{Person, person_inputs};

const POLL: Duration = Duration::from_millis(20);
const BEDROCK_CLAUDE: &str = "anthropic.claude-3-haiku-20240307-v1:0";
/// The same model by Anthropic's name.
const CLAUDE: &str = "claude-3-haiku-20240307-v1:0";
/// The providers beside Bedrock, each with a model of its own.
const APIS: [(Provider, &str); 3] = [
    (Provider::Anthropic, CLAUDE),
    (Provider::OpenAi, "gpt-4o-mini"),
    (Provider::Gemini, "gemini-2.5-flash"),
];

/// A builder for a run on `provider` with its model in [`APIS`], against llmbo-local.
fn api<O: OutputMode>(
    local: &LocalBedrock,
    provider: Provider,
    store: &std::path::Path,
    name: &str,
) -> llmbo::builder::ApiBuilder<O, llmbo::builder::Set, llmbo::builder::Set> {
    let model = APIS
        .iter()
        .find(|(p, _)| *p == provider)
        .map_or("", |(_, m)| m);
    api_model(local, provider, model, store, name)
}

/// A builder for a run on `provider` with `model`, against llmbo-local.
fn api_model<O: OutputMode>(
    local: &LocalBedrock,
    provider: Provider,
    model: &str,
    store: &std::path::Path,
    name: &str,
) -> llmbo::builder::ApiBuilder<O, llmbo::builder::Set, llmbo::builder::Set> {
    let (builder, base_url) = match provider {
        Provider::Anthropic => (llmbo::Inferer::<O>::anthropic(), local.endpoint_url()),
        Provider::OpenAi => (
            llmbo::Inferer::<O>::openai(),
            format!("{}/v1", local.endpoint_url()),
        ),
        Provider::Gemini => (llmbo::Inferer::<O>::gemini(), local.endpoint_url()),
        other => panic!("{other:?} is not served here"),
    };
    builder
        .model_name(model)
        .job_name(name)
        .store(store.to_str().unwrap())
        .base_url(base_url)
        .api_key("test")
}

async fn on_bedrock(local: &LocalBedrock, name: &str) -> StructuredBatchInferer<Person> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(BEDROCK_CLAUDE)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(name)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
}

/// What kind of failure a record met: the API's error for the record, or an answer that did
/// not fit (how it did not fit depends on how the answer was asked for: a missing tool call
/// under a forced tool is text that is not JSON under a JSON schema).
fn kind(error: &RecordError) -> &'static str {
    match error {
        RecordError::Bedrock { .. } => "the API's error",
        RecordError::Missing => "missing",
        _ => "an answer that did not fit",
    }
}

/// The id an API gives its answer (`id`; Gemini's `responseId`): llmbo-local's name the
/// record it answered.
fn answer_id(answer: &serde_json::Value) -> &str {
    answer["id"]
        .as_str()
        .or(answer["responseId"].as_str())
        .unwrap_or_default()
}

/// Every input id once, in input order.
fn ids_in_order<T>(results: &llmbo::BatchResults<T>, n: usize) {
    let ids: Vec<&str> = results
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    let expected: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn the_same_type_gives_the_same_records_on_every_api() {
    let faults = FaultConfig {
        seed: 7,
        record_error_rate: 0.05,
        malformed_output_rate: 0.05,
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults.clone())
        .start()
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let bedrock = on_bedrock(&local, "same-type-bedrock")
        .await
        .auto(person_inputs(1_000), POLL)
        .await
        .unwrap();
    ids_in_order(&bedrock, 1_000);
    let injected = (0..1_000)
        .filter(|i| faults.record_fault(&format!("{i:05}")).is_some())
        .count();
    assert!(injected > 40, "the faults are there to compare");
    for (provider, _) in APIS {
        let name = format!("same-type-{}", provider.name().to_lowercase());
        let inferer = api::<llmbo::mode::Structured<Person>>(&local, provider, store.path(), &name)
            .build()
            .await
            .unwrap();
        // Each API's way for its model: Claude 3 Haiku has no native structured output (a
        // forced tool); gpt-4o-mini takes `response_format` with a strict JSON schema.
        let strategy = match provider {
            Provider::OpenAi | Provider::Gemini => llmbo::OutputStrategy::JsonSchema,
            _ => llmbo::OutputStrategy::ForcedTool,
        };
        assert_eq!(inferer.output_strategy(), Some(strategy));
        let other = inferer.auto(person_inputs(1_000), POLL).await.unwrap();
        ids_in_order(&other, 1_000);
        let mut failed = 0;
        for (b, a) in bedrock.records.iter().zip(other.records.iter()) {
            let fault = faults.record_fault(&b.record_id);
            assert_eq!(
                a.outcome.is_err(),
                fault.is_some(),
                "{provider:?} record {}: {:?} under {fault:?}",
                b.record_id,
                a.outcome
            );
            if let Some(RecordFault::Error) = fault {
                assert!(
                    matches!(&a.outcome, Err(RecordError::Bedrock { .. })),
                    "{provider:?} record {}: {:?}",
                    b.record_id,
                    a.outcome
                );
            }
            match (&b.outcome, &a.outcome) {
                (Ok(x), Ok(y)) => assert_eq!(x, y, "{provider:?} record {}", b.record_id),
                (Err(x), Err(y)) => {
                    failed += 1;
                    assert_eq!(
                        kind(x),
                        kind(y),
                        "{provider:?} record {}: {x} / {y}",
                        b.record_id
                    );
                }
                (x, y) => panic!(
                    "record {}: {x:?} on Bedrock, {y:?} on {provider:?}",
                    b.record_id
                ),
            }
        }
        assert_eq!(
            failed, injected,
            "{provider:?}: the injected faults, and nothing else"
        );
    }
}

#[tokio::test]
async fn each_answer_is_its_own_records_and_the_run_resumes_from_its_folder() {
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    for (provider, _) in APIS {
        let name = format!("own-answers-{}", provider.name().to_lowercase());
        let inferer = api::<Untyped>(&local, provider, store.path(), &name)
            .max_records_per_job(40)
            .build()
            .await
            .unwrap();
        let run = inferer
            .start_run(person_inputs(100))
            .await
            .unwrap()
            .create()
            .await
            .unwrap();
        let run_uri = run.run_uri();
        assert!(
            run_uri.starts_with(store.path().to_str().unwrap()),
            "{run_uri}"
        );
        assert!(
            run_uri.ends_with(&format!("/input/{name}.run.json")),
            "{run_uri}"
        );
        drop(run);
        // Another handle, from the record alone.
        let resumed = BatchRun::<Untyped>::resume_with_key(&run_uri, Some("test"))
            .await
            .unwrap();
        assert_eq!(
            resumed.run_record().shards.len(),
            3,
            "100 records in jobs of 40"
        );
        let results = resumed.finish(POLL).await.unwrap();
        ids_in_order(&results, 100);
        for record in &results.records {
            let answer = record.outcome.as_ref().unwrap();
            let id = answer_id(answer);
            assert!(
                id.ends_with(&record.record_id),
                "{provider:?}: record {} has the answer {id}",
                record.record_id
            );
        }
    }
}

#[tokio::test]
async fn a_missing_key_is_named() {
    for (provider, variable) in [
        (Provider::Anthropic, "ANTHROPIC_API_KEY"),
        (Provider::OpenAi, "OPENAI_API_KEY"),
        (Provider::Gemini, "GEMINI_API_KEY"),
    ] {
        if std::env::var(variable).is_ok_and(|k| !k.is_empty()) {
            continue;
        }
        let local = LocalBedrock::start().await.unwrap();
        let store = tempfile::tempdir().unwrap();
        let err = api::<Untyped>(&local, provider, store.path(), "no-key")
            .api_key("")
            .build()
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidConfig {
                field: "api_key",
                ..
            }
        ));
        assert!(err.to_string().contains(variable), "{err}");
    }
}

/// The batches llmbo-local holds for `provider`, oldest first: (id, status, whether a
/// cancel was asked).
async fn batches(local: &LocalBedrock, provider: Provider) -> Vec<(String, String, bool)> {
    let request = match provider {
        Provider::Anthropic => reqwest::Client::new()
            .get(format!(
                "{}/v1/messages/batches?limit=1000",
                local.endpoint_url()
            ))
            .header("x-api-key", "test")
            .header("anthropic-version", "2023-06-01"),
        Provider::Gemini => reqwest::Client::new()
            .get(format!(
                "{}/v1beta/batches?pageSize=1000",
                local.endpoint_url()
            ))
            .header("x-goog-api-key", "test"),
        _ => reqwest::Client::new()
            .get(format!("{}/v1/batches?limit=100", local.endpoint_url()))
            .bearer_auth("test"),
    };
    // The test's own calls are throttled as any: asked again until answered.
    let page = loop {
        let response = request.try_clone().unwrap().send().await.unwrap();
        if response.status() != 429 {
            break response.bytes().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
    if provider == Provider::Gemini {
        let mut batches: Vec<(String, String, bool)> = page["operations"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|b| {
                let state = b["metadata"]["state"].as_str().unwrap().to_owned();
                let cancelled = state.ends_with("CANCELLED");
                (b["name"].as_str().unwrap().to_owned(), state, cancelled)
            })
            .collect();
        batches.reverse();
        return batches;
    }
    let mut batches: Vec<(String, String, bool)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let status = b["processing_status"]
                .as_str()
                .or(b["status"].as_str())
                .unwrap()
                .to_owned();
            let cancelled = !b["cancel_initiated_at"].is_null() || status.starts_with("cancel");
            (b["id"].as_str().unwrap().to_owned(), status, cancelled)
        })
        .collect();
    batches.reverse();
    batches
}

fn slow() -> llmbo_local::Speed {
    llmbo_local::Speed {
        per_record: Duration::from_millis(5),
        ..llmbo_local::Speed::fast()
    }
}

async fn untyped(
    local: &LocalBedrock,
    provider: Provider,
    store: &std::path::Path,
    name: &str,
    concurrent: usize,
) -> BatchInferer {
    api::<Untyped>(local, provider, store, name)
        .max_records_per_job(100)
        .max_concurrent_jobs(concurrent)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_from_another_handle_stops_the_run() {
    for (provider, _) in APIS {
        let local = LocalBedrock::builder().speed(slow()).start().await.unwrap();
        let store = tempfile::tempdir().unwrap();
        let uploaded = untyped(&local, provider, store.path(), "cancel", 1)
            .await
            .start_run(person_inputs(300))
            .await
            .unwrap();
        let run_uri = uploaded.run_uri();
        let canceller = BatchRun::<Untyped>::resume_with_key(&run_uri, Some("test"))
            .await
            .unwrap();
        let follower = tokio::spawn(uploaded.finish(POLL));
        while batches(&local, provider).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        canceller.cancel().await.unwrap();
        let results = follower.await.unwrap().unwrap();
        let made = batches(&local, provider).await;
        assert_eq!(
            made.len(),
            1,
            "{provider:?}: no batch after the cancel: {made:?}"
        );
        assert!(made[0].2, "{provider:?}: the batch was cancelled: {made:?}");
        ids_in_order(&results, 300);
        let answered = results.records.iter().filter(|r| r.outcome.is_ok()).count();
        assert!(
            answered < 100,
            "{provider:?}: {answered} answered of a cancelled first batch"
        );
        for record in &results.records[100..] {
            assert!(
                matches!(record.outcome, Err(RecordError::JobFailed { .. })),
                "{provider:?} {}: {:?}",
                record.record_id,
                record.outcome
            );
        }
        // The cancel holds for every handle: nothing more is sent.
        let again = BatchRun::<Untyped>::resume_with_key(&run_uri, Some("test"))
            .await
            .unwrap();
        assert!(again.run_record().cancelled);
    }
}

/// A process that died after the API made its batches and before it recorded them leaves
/// the run for the next one to finish with the same batches: one per job, whether the
/// register knew the batch's id (a crash before the run record) or not (a crash between
/// the API's answer and the register).
#[tokio::test(flavor = "multi_thread")]
async fn a_create_interrupted_before_its_record_makes_one_batch_per_job() {
    for (provider, _) in APIS {
        let local = LocalBedrock::start().await.unwrap();
        let store = tempfile::tempdir().unwrap();
        let submitted = untyped(&local, provider, store.path(), "crash", 2)
            .await
            .start_run(person_inputs(150))
            .await
            .unwrap()
            .create()
            .await
            .unwrap();
        let run_uri = submitted.run_uri();
        drop(submitted);
        assert_eq!(batches(&local, provider).await.len(), 2);
        // Forget the batches in the run record, as a process that died before writing it.
        let mut record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&run_uri).unwrap()).unwrap();
        for shard in record["shards"].as_array_mut().unwrap() {
            shard.as_object_mut().unwrap().remove("jobArn");
        }
        std::fs::write(&run_uri, serde_json::to_vec(&record).unwrap()).unwrap();
        // And the second job's id in the register, as one that died before it wrote that,
        // long enough ago that its reservation has lapsed.
        let register = store.path().join("batches");
        let entry_path = register.join("crash-2.json");
        let mut entry: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&entry_path).unwrap()).unwrap();
        let id = entry["batchId"].as_str().unwrap().to_owned();
        entry.as_object_mut().unwrap().remove("batchId");
        entry["reservedAt"] = (entry["reservedAt"].as_u64().unwrap() - 400).into();
        entry["owner"] = "a-process-that-died".into();
        std::fs::write(&entry_path, serde_json::to_vec(&entry).unwrap()).unwrap();
        // The index from the batch's id to the job (named by the id, or by its hash when the
        // id is no plain name).
        let mut removed = 0;
        for file in std::fs::read_dir(register.join("by-id")).unwrap() {
            let path = file.unwrap().path();
            if std::fs::read_to_string(&path)
                .unwrap()
                .contains("\"crash-2\"")
            {
                std::fs::remove_file(path).unwrap();
                removed += 1;
            }
        }
        assert_eq!(removed, 1);

        let resumed = BatchRun::<Untyped>::resume_with_key(&run_uri, Some("test"))
            .await
            .unwrap();
        let results = resumed.finish(POLL).await.unwrap();
        ids_in_order(&results, 150);
        for record in &results.records {
            let answer = record.outcome.as_ref().unwrap();
            assert!(answer_id(answer).ends_with(&record.record_id));
        }
        let after = batches(&local, provider).await;
        assert_eq!(
            after.len(),
            2,
            "{provider:?}: no second batch for either job: {after:?}"
        );
        assert_eq!(
            after[1].0, id,
            "{provider:?}: the second job's batch was adopted"
        );
    }
}

/// Records a batch did not reach before it expired have no result: they are missing, and a
/// retry sends exactly them again until every one is answered once.
#[tokio::test(flavor = "multi_thread")]
async fn expired_records_are_sent_again() {
    for (provider, _) in APIS {
        let local = LocalBedrock::builder()
            .speed(llmbo_local::Speed {
                per_record: Duration::from_millis(10),
                hour: Duration::from_millis(2),
                ..llmbo_local::Speed::fast()
            })
            .start()
            .await
            .unwrap();
        let store = tempfile::tempdir().unwrap();
        let run = untyped(&local, provider, store.path(), "expiry", 1)
            .await
            .start_run(person_inputs(30))
            .await
            .unwrap()
            .create()
            .await
            .unwrap();
        let mut results = run.finish_detailed(POLL).await.unwrap();
        let missing = |results: &llmbo::run::RunResults<serde_json::Value>| {
            results
                .results
                .records
                .iter()
                .filter(|r| r.outcome == Err(RecordError::Missing))
                .count()
        };
        let mut left = missing(&results);
        if provider == Provider::Gemini {
            // A Gemini batch that expires has no results at all: every record is missing,
            // and a retry sends every one again.
            assert_eq!(left, 30, "{provider:?}: an expired batch answers none");
            let options = llmbo::RetryOptions {
                poll_interval: POLL,
                ..llmbo::RetryOptions::default()
            };
            let outcome = run.retry_failed(&mut results, &options).await.unwrap();
            assert!(
                matches!(
                    outcome,
                    llmbo::run::RetryOutcome::Retried { records: 30, .. }
                ),
                "{outcome:?}"
            );
            assert_eq!(batches(&local, provider).await.len(), 2, "a second batch");
            continue;
        }
        assert!(left > 0 && left < 30, "{provider:?}: {left} of 30 expired");
        let options = llmbo::RetryOptions {
            poll_interval: POLL,
            ..llmbo::RetryOptions::default()
        };
        for _ in 0..30 {
            if left == 0 {
                break;
            }
            run.retry_failed(&mut results, &options).await.unwrap();
            let now = missing(&results);
            assert!(
                now < left,
                "{provider:?}: a retry answered some: {left} → {now}"
            );
            left = now;
        }
        assert_eq!(left, 0);
        ids_in_order(&results.results, 30);
        for (record, info) in results.results.records.iter().zip(&results.info) {
            let answer = record.outcome.as_ref().unwrap();
            assert!(answer_id(answer).ends_with(&record.record_id));
            assert!(info.attempts >= 1);
        }
        assert!(results.info.iter().any(|i| i.attempts > 1));
    }
}

/// 250,000 records on OpenAI, five times its 50,000 requests a batch: five batches, every
/// record back once, in input order, as they stream.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_of_250_000_records_on_openai_is_sharded_and_merged_in_order() {
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    let inputs = (0..250_000).map(|i| {
        let input = llmbo::ModelInput::new()
            .user(format!("Ada Lovelace, {i}."))
            .max_tokens(200);
        (format!("{i:06}"), input)
    });
    let run = api::<Untyped>(&local, Provider::OpenAi, store.path(), "openai-250k")
        .max_concurrent_jobs(5)
        .build()
        .await
        .unwrap()
        .start_run(inputs)
        .await
        .unwrap();
    let sizes: Vec<usize> = run.run_record().shards.iter().map(|s| s.records).collect();
    assert_eq!(sizes, [50_000; 5]);
    let mut stream = run.stream(POLL);
    let mut next = 0usize;
    while let Some(record) = stream.next().await {
        let record = record.unwrap();
        assert_eq!(record.record_id, format!("{next:06}"));
        let answer = record.outcome.as_ref().unwrap();
        assert!(answer_id(answer).ends_with(&record.record_id));
        next += 1;
    }
    assert_eq!(next, 250_000);
    assert_eq!(batches(&local, Provider::OpenAi).await.len(), 5);
}

/// What goes over the wire is each API's own form: Anthropic's `{"custom_id", "params"}` with
/// the model and without Bedrock's `anthropic_version`, with its native format for a model
/// that takes one; OpenAI's `{"custom_id", "method", "url", "body"}` with `response_format`
/// and a strict schema; Gemini's `{"key", "request"}` with `responseMimeType` and
/// `responseJsonSchema`; an id no API takes is sent as a hash and still comes back as itself.
#[tokio::test]
async fn each_api_is_sent_its_own_form() {
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    let input = llmbo::ModelInput::new()
        .system("Extract the person.")
        .user("Ada Lovelace, 36.")
        .max_tokens(300);
    let odd_id = "people/ada lovelace#1".to_owned();
    for (provider, model) in [
        (Provider::Anthropic, "claude-haiku-4-5"),
        (Provider::OpenAi, "gpt-4o-mini"),
        (Provider::Gemini, "gemini-2.5-flash"),
    ] {
        let name = format!("wire-{}", provider.name().to_lowercase());
        let results = api_model::<llmbo::mode::Structured<Person>>(
            &local,
            provider,
            model,
            store.path(),
            &name,
        )
        .build()
        .await
        .unwrap()
        .auto(vec![(odd_id.clone(), input.clone())], POLL)
        .await
        .unwrap();
        assert_eq!(results.records.len(), 1);
        assert_eq!(results.records[0].record_id, odd_id, "{provider:?}");
        assert!(
            results.records[0].outcome.is_ok(),
            "{:?}",
            results.records[0]
        );
        let sent = sent_requests(&local, provider).await;
        let request = sent.last().unwrap();
        let custom_id = request["custom_id"]
            .as_str()
            .or(request["key"].as_str())
            .unwrap();
        assert!(
            custom_id.starts_with("llmbo-h-") && custom_id.len() <= 64,
            "{custom_id}"
        );
        use llmbo::BatchOutput;
        let schema = llmbo::schema::strict_schema(&Person::tool_definition().input_schema).unwrap();
        match provider {
            Provider::Anthropic => {
                let params = &request["params"];
                assert_eq!(params["model"], "claude-haiku-4-5");
                assert!(params.get("anthropic_version").is_none(), "{params}");
                assert_eq!(params["max_tokens"], 300);
                assert_eq!(params["system"], "Extract the person.");
                assert_eq!(
                    params["output_config"]["format"],
                    serde_json::json!({"type": "json_schema", "schema": schema}),
                    "{params}"
                );
            }
            Provider::Gemini => {
                let body = &request["request"];
                assert!(body.get("model").is_none(), "{body}");
                assert_eq!(
                    body["contents"],
                    serde_json::json!([{"role": "user", "parts": [{"text": "Ada Lovelace, 36."}]}])
                );
                assert_eq!(
                    body["systemInstruction"],
                    serde_json::json!({"parts": [{"text": "Extract the person."}]})
                );
                let config = &body["generationConfig"];
                assert_eq!(config["maxOutputTokens"], 300);
                assert_eq!(config["responseMimeType"], "application/json", "{body}");
                assert_eq!(config["responseJsonSchema"], schema, "{body}");
            }
            _ => {
                assert_eq!(request["method"], "POST");
                assert_eq!(request["url"], "/v1/chat/completions");
                let body = &request["body"];
                assert_eq!(body["model"], "gpt-4o-mini");
                assert_eq!(body["max_completion_tokens"], 300);
                let format = &body["response_format"];
                assert_eq!(format["type"], "json_schema", "{body}");
                assert_eq!(format["json_schema"]["strict"], true, "{body}");
                assert_eq!(format["json_schema"]["schema"], schema, "{body}");
            }
        }
    }
}

/// The requests of the newest batch llmbo-local holds for `provider`, as it received them.
async fn sent_requests(local: &LocalBedrock, provider: Provider) -> Vec<serde_json::Value> {
    let (id, _, _) = batches(local, provider).await.pop().unwrap();
    requests_of(local, provider, &id).await
}

/// The requests of the batch `id`, as llmbo-local keeps them.
async fn requests_of(local: &LocalBedrock, provider: Provider, id: &str) -> Vec<serde_json::Value> {
    let text = match provider {
        Provider::Anthropic => {
            let folder = local.s3_root().parent().unwrap().join("anthropic");
            std::fs::read_to_string(folder.join(format!("{id}.requests.jsonl"))).unwrap()
        }
        Provider::Gemini => {
            // The uploaded file, as llmbo-local keeps it (`batches/<id>`).
            let folder = local.s3_root().parent().unwrap().join("gemini");
            let id = id.trim_start_matches("batches/");
            std::fs::read_to_string(folder.join(format!("{id}.requests.jsonl"))).unwrap()
        }
        _ => {
            let client = reqwest::Client::new();
            let batch = client
                .get(format!("{}/v1/batches/{id}", local.endpoint_url()))
                .bearer_auth("test")
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let batch: serde_json::Value = serde_json::from_slice(&batch).unwrap();
            let file = batch["input_file_id"].as_str().unwrap();
            let content = client
                .get(format!("{}/v1/files/{file}/content", local.endpoint_url()))
                .bearer_auth("test")
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            String::from_utf8(content.to_vec()).unwrap()
        }
    };
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Throttling (429 with `retry-after`) on every call, server errors on the first creates and
/// result reads, and creates whose answer was lost after the batch was made, are waited out:
/// every record once, in input order, and one batch a job (a create that met a 500 is looked
/// for before it is sent again, and found when it was made).
#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_are_waited_out_without_a_second_batch() {
    use llmbo_local::{ControlFault, ControlFaultKind};
    for (provider, create, read) in [
        (
            Provider::Anthropic,
            "CreateMessageBatch",
            "GetMessageBatchResults",
        ),
        (Provider::OpenAi, "CreateBatch", "GetFileContent"),
        (Provider::Gemini, "BatchGenerateContent", "DownloadFile"),
    ] {
        let fault = |operation: &str, kind, times| ControlFault {
            operation: operation.into(),
            kind,
            times,
        };
        let (server, lost) = (
            ControlFaultKind::InternalServer,
            ControlFaultKind::AnswerLost,
        );
        let local = LocalBedrock::builder()
            .faults(FaultConfig {
                throttle_rate: 0.3,
                control_faults: vec![
                    fault(create, server, 1),
                    fault(create, lost, 2),
                    fault(read, server, 1),
                ],
                ..Default::default()
            })
            .start()
            .await
            .unwrap();
        let store = tempfile::tempdir().unwrap();
        let results = untyped(&local, provider, store.path(), "faults", 3)
            .await
            .auto(person_inputs(250), POLL)
            .await
            .unwrap();
        ids_in_order(&results, 250);
        for record in &results.records {
            let answer = record.outcome.as_ref().unwrap();
            assert!(answer_id(answer).ends_with(&record.record_id));
        }
        assert!(local.throttled_calls() > 0, "{provider:?}: throttled");
        let made = batches(&local, provider).await;
        assert_eq!(made.len(), 3, "{provider:?}: one batch a job: {made:?}");
    }
}

/// A budget on Anthropic's API is held to the price of the model there, named
/// `anthropic/<model>` (the same model on Bedrock has its own price): over it, the run is
/// refused before anything is sent; the estimate uses the right row.
#[tokio::test]
async fn a_budget_uses_the_price_on_the_runs_own_api() {
    use llmbo::cost::{Price, PriceTable};
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    let prices = PriceTable::new()
        .with_provider(
            Provider::Anthropic,
            CLAUDE,
            Price {
                input_per_1k: 1.0,
                output_per_1k: 1.0,
            },
        )
        .with(
            BEDROCK_CLAUDE,
            Price {
                input_per_1k: 0.0,
                output_per_1k: 0.0,
            },
        );
    let inferer = api::<Untyped>(&local, Provider::Anthropic, store.path(), "budget")
        .prices(prices.clone())
        .max_estimated_cost(0.5)
        .build()
        .await
        .unwrap();
    let report = inferer.preflight(person_inputs(20)).await.unwrap();
    let cost = report
        .cost
        .as_ref()
        .expect("a cost range from the Anthropic row");
    assert!(cost.high > 0.5, "{cost:?}");
    let refused = inferer.start_run(person_inputs(20)).await.unwrap_err();
    assert!(matches!(refused, Error::OverBudget { .. }), "{refused}");
    assert!(batches(&local, Provider::Anthropic).await.is_empty());
    // Without the Anthropic row, the budget names the key it needs.
    let err = api::<Untyped>(&local, Provider::Anthropic, store.path(), "budget-2")
        .prices(PriceTable::new().with(
            BEDROCK_CLAUDE,
            Price {
                input_per_1k: 0.0,
                output_per_1k: 0.0,
            },
        ))
        .max_estimated_cost(0.5)
        .build()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("anthropic/claude-3-haiku-20240307-v1:0"),
        "{err}"
    );
}

/// Embeddings through OpenAI's Batch API (`/v1/embeddings`) come back as the same
/// `Embedding` values as on Bedrock: one vector a text, in input order, of the length asked
/// for, unit length, the same text the same vector, and each vector its own text's (the same
/// synthetic vector Titan V2 gives it on Bedrock).
#[tokio::test]
async fn embeddings_through_openai_are_the_same_values_as_on_bedrock() {
    use llmbo::EmbeddingBatchInferer;
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    let texts: Vec<(String, llmbo::ModelInput)> = (0..300)
        .map(|i| {
            let text = format!("doc {} about topic {}", i, i % 7);
            (format!("t{i:04}"), llmbo::ModelInput::new().user(text))
        })
        .collect();
    let openai = EmbeddingBatchInferer::openai()
        .model_name("text-embedding-3-small")
        .job_name("embed-openai")
        .store(store.path().to_str().unwrap())
        .base_url(format!("{}/v1", local.endpoint_url()))
        .api_key("test")
        .dimensions(256)
        .build()
        .await
        .unwrap()
        .auto(texts.clone(), POLL)
        .await
        .unwrap();
    let titan = EmbeddingBatchInferer::builder()
        .model_name("amazon.titan-embed-text-v2:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("embed-titan")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .dimensions(256)
        .build()
        .await
        .unwrap()
        .auto(texts, POLL)
        .await
        .unwrap();
    assert_eq!(openai.records.len(), 300);
    for (i, (o, t)) in openai.records.iter().zip(&titan.records).enumerate() {
        assert_eq!(o.record_id, format!("t{i:04}"), "input order");
        assert_eq!(o.record_id, t.record_id);
        let (o, t) = (o.outcome.as_ref().unwrap(), t.outcome.as_ref().unwrap());
        assert_eq!(o.vector.len(), 256);
        let norm: f32 = o.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "unit length: {norm}");
        assert_eq!(o.vector, t.vector, "record {i}: its own text's vector");
        assert!(o.input_tokens.is_some_and(|n| n > 0));
    }
}

/// Gemini's embedding batches (`asyncBatchEmbedContent`): the same texts give the same unit
/// vectors as on Bedrock, in input order; Gemini's vectors below 3,072 dimensions come back
/// unscaled and llmbo makes them unit length (or leaves them, when asked); a record Gemini
/// refuses is its own error; the run resumes from its folder.
#[tokio::test]
async fn embeddings_through_gemini_are_the_same_values_as_on_bedrock() {
    use llmbo::EmbeddingBatchInferer;
    use llmbo::embedding::EmbeddingPurpose;
    let faults = FaultConfig {
        seed: 3,
        record_error_rate: 0.05,
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults.clone())
        .start()
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let texts: Vec<(String, llmbo::ModelInput)> = (0..300)
        .map(|i| {
            let text = format!("doc {} about topic {}", i, i % 7);
            (format!("t{i:04}"), llmbo::ModelInput::new().user(text))
        })
        .collect();
    let gemini = |name: &str| {
        EmbeddingBatchInferer::gemini()
            .model_name("gemini-embedding-001")
            .job_name(name)
            .store(store.path().to_str().unwrap())
            .base_url(local.endpoint_url())
            .api_key("test")
            .dimensions(256)
    };
    let run = gemini("embed-gemini")
        .embedding_purpose(EmbeddingPurpose::GenericIndex)
        .build()
        .await
        .unwrap()
        .start_run(texts.clone())
        .await
        .unwrap()
        .create()
        .await
        .unwrap();
    let run_uri = run.run_uri();
    drop(run);
    let sent = sent_requests(&local, Provider::Gemini).await;
    assert_eq!(
        sent[0]["request"],
        serde_json::json!({"content": {"parts": [{"text": "doc 0 about topic 0"}]},
                           "taskType": "RETRIEVAL_DOCUMENT", "outputDimensionality": 256})
    );
    let resumed = BatchRun::<llmbo::mode::Embeddings>::resume_with_key(&run_uri, Some("test"))
        .await
        .unwrap();
    let embedded = resumed.finish(POLL).await.unwrap();
    let titan = EmbeddingBatchInferer::builder()
        .model_name("amazon.titan-embed-text-v2:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("embed-titan")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .dimensions(256)
        .build()
        .await
        .unwrap()
        .auto(texts.clone(), POLL)
        .await
        .unwrap();
    assert_eq!(embedded.records.len(), 300);
    let mut refused = 0;
    for (i, (g, t)) in embedded.records.iter().zip(&titan.records).enumerate() {
        assert_eq!(g.record_id, format!("t{i:04}"), "input order");
        let fault = faults.record_fault(&g.record_id);
        match (&g.outcome, &t.outcome) {
            (Err(RecordError::Bedrock { .. }), Err(_)) => {
                assert_eq!(fault, Some(RecordFault::Error), "record {i}");
                refused += 1;
            }
            (Ok(g), Ok(t)) => {
                assert_eq!(g.vector.len(), 256);
                let norm: f32 = g.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-3, "unit length: {norm}");
                assert_eq!(g.vector, t.vector, "record {i}: its own text's vector");
            }
            (g, t) => panic!("record {i}: {g:?} on Gemini, {t:?} on Bedrock"),
        }
    }
    assert!(refused > 5, "{refused}");
    // Asked not to, llmbo leaves Gemini's vectors as they come.
    let raw = gemini("embed-gemini-raw")
        .normalize(false)
        .build()
        .await
        .unwrap()
        .auto(texts[..20].to_vec(), POLL)
        .await
        .unwrap();
    let first = raw
        .records
        .iter()
        .find_map(|r| r.outcome.as_ref().ok())
        .unwrap();
    let norm: f32 = first.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!(norm > 1.5, "unscaled: {norm}");
    // A purpose for other media has no Gemini task: refused before anything is sent.
    let err = gemini("embed-gemini-image")
        .embedding_purpose(EmbeddingPurpose::ImageRetrieval)
        .build()
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("IMAGE_RETRIEVAL"), "{err}");
}

/// A run on another batch API kept in S3 (`.store("s3://bucket/prefix")`): its record, its
/// register and its jobs' inputs are objects under the prefix, nothing is on local disk, and
/// a process with only the run's URI and the AWS configuration finishes it, for each API.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_kept_in_s3_is_finished_and_cancelled_by_other_handles() {
    let local = LocalBedrock::start().await.unwrap();
    let unused = tempfile::tempdir().unwrap();
    let store = format!("s3://{}/runs/team-a", local.bucket());
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    for (provider, _) in APIS {
        let name = format!("in-s3-{}", provider.name().to_lowercase());
        let run = api::<Untyped>(&local, provider, unused.path(), &name)
            .store(&store)
            .sdk_config(local.sdk_config())
            .max_records_per_job(40)
            .build()
            .await
            .unwrap()
            .start_run(person_inputs(100))
            .await
            .unwrap()
            .create()
            .await
            .unwrap();
        let run_uri = run.run_uri();
        assert_eq!(run_uri, format!("{store}/input/{name}.run.json"));
        drop(run);
        let listed = s3
            .list_objects_v2()
            .bucket(local.bucket())
            .prefix("runs/team-a/")
            .send()
            .await
            .unwrap();
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert!(
            keys.contains(&format!("runs/team-a/input/{name}.run.json").as_str()),
            "{keys:?}"
        );
        let inputs = keys
            .iter()
            .filter(|k| k.contains(&name) && k.ends_with(".jsonl"))
            .count();
        assert_eq!(inputs, 3, "{provider:?}: one input a job: {keys:?}");
        assert!(
            keys.iter().any(|k| k.starts_with("runs/team-a/batches/")),
            "{keys:?}"
        );
        assert_eq!(std::fs::read_dir(unused.path()).unwrap().count(), 0);
        // Another process: the run's URI and the AWS configuration, nothing else.
        let resumed =
            BatchRun::<Untyped>::resume_api(&run_uri, Some("test"), Some(local.sdk_config()))
                .await
                .unwrap();
        assert_eq!(resumed.run_record().shards.len(), 3);
        let results = resumed.finish(POLL).await.unwrap();
        ids_in_order(&results, 100);
        for record in &results.records {
            let id = answer_id(record.outcome.as_ref().unwrap());
            assert!(id.ends_with(&record.record_id), "{provider:?}: {id}");
        }
    }
    // A cancel from a handle made from the URI alone holds for every handle.
    let name = "in-s3-cancel";
    let uploaded = api::<Untyped>(&local, Provider::Anthropic, unused.path(), name)
        .store(&store)
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
        .start_run(person_inputs(50))
        .await
        .unwrap();
    let run_uri = uploaded.run_uri();
    let canceller =
        BatchRun::<Untyped>::resume_api(&run_uri, Some("test"), Some(local.sdk_config()))
            .await
            .unwrap();
    canceller.cancel().await.unwrap();
    // The first handle's create sends nothing.
    let before = batches(&local, Provider::Anthropic).await.len();
    let created = uploaded.create().await.unwrap().run_record();
    assert!(created.cancelled);
    assert!(created.shards.iter().all(|s| s.job_arn.is_none()));
    assert_eq!(batches(&local, Provider::Anthropic).await.len(), before);
    let again = BatchRun::<Untyped>::resume_api(&run_uri, Some("test"), Some(local.sdk_config()))
        .await
        .unwrap();
    assert!(again.run_record().cancelled);
}

/// OpenAI's Responses API: each output strategy is written in the API's own form (`input`,
/// `instructions`, flat function tools, `text.format`), read back into the same records as
/// chat completions give, kept in the run's record (a handle that resumes the run reads
/// responses, not chat completions), and a re-ask answers the model's own call in that form.
#[tokio::test]
async fn the_responses_api_takes_every_strategy_resumes_and_reasks_in_its_form() {
    use llmbo::OutputStrategy;
    use llmbo::mode::Structured;
    use llmbo::model::OpenAiEndpoint;
    use llmbo::run::RetryOutcome;
    use llmbo_local::Malformed;
    const N: usize = 200;
    let faults = FaultConfig {
        seed: 21,
        malformed_output_rate: 0.1,
        malformed_kinds: vec![Malformed::SchemaViolation],
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults.clone())
        .start()
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    // A setting only OpenAI takes is refused elsewhere, not ignored.
    let refused = api::<Structured<Person>>(&local, Provider::Anthropic, store.path(), "no")
        .openai_endpoint(OpenAiEndpoint::Responses)
        .build()
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            &refused,
            Error::InvalidConfig {
                field: "openai_endpoint",
                ..
            }
        ),
        "{refused}"
    );
    let violated: Vec<usize> = (0..N)
        .filter(|i| faults.record_fault(&format!("{i:05}")).is_some())
        .collect();
    assert!(violated.len() > 5, "{violated:?}");
    use llmbo::BatchOutput;
    let schema = llmbo::schema::strict_schema(&Person::tool_definition().input_schema).unwrap();
    for strategy in [
        OutputStrategy::ForcedTool,
        OutputStrategy::StrictTool,
        OutputStrategy::JsonSchema,
        OutputStrategy::JsonInPrompt,
    ] {
        // The same strategy on chat completions, for the values.
        let chat = api::<Structured<Person>>(
            &local,
            Provider::OpenAi,
            store.path(),
            &format!("chat-{strategy}"),
        )
        .output_strategy(strategy)
        .build()
        .await
        .unwrap()
        .auto(person_inputs(N), POLL)
        .await
        .unwrap();
        let name = format!("responses-{strategy}");
        let run = api::<Structured<Person>>(&local, Provider::OpenAi, store.path(), &name)
            .openai_endpoint(OpenAiEndpoint::Responses)
            .output_strategy(strategy)
            .build()
            .await
            .unwrap()
            .start_run(person_inputs(N))
            .await
            .unwrap()
            .create()
            .await
            .unwrap();
        let run_uri = run.run_uri();
        drop(run);

        let sent = sent_requests(&local, Provider::OpenAi).await;
        assert_eq!(sent.len(), N, "{strategy}");
        assert!(
            sent.iter().all(|r| r["url"] == "/v1/responses"),
            "{strategy}"
        );
        let body = &sent[0]["body"];
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["max_output_tokens"], 512, "{body}");
        assert!(
            body["instructions"]
                .as_str()
                .unwrap()
                .starts_with("Extract the person the text is about."),
            "{body}"
        );
        assert_eq!(
            body["input"],
            serde_json::json!([{"role": "user", "content": llmbo_workspace::sample_text(0)}])
        );
        assert!(body.get("messages").is_none(), "{body}");
        match strategy {
            OutputStrategy::ForcedTool | OutputStrategy::StrictTool => {
                let tool = &body["tools"][0];
                assert_eq!(tool["type"], "function", "{body}");
                assert_eq!(tool["name"], "Person", "{body}");
                assert_eq!(
                    tool["strict"],
                    strategy == OutputStrategy::StrictTool,
                    "{body}"
                );
                assert_eq!(
                    body["tool_choice"],
                    serde_json::json!({"type": "function", "name": "Person"})
                );
            }
            OutputStrategy::JsonSchema => {
                let format = &body["text"]["format"];
                assert_eq!(format["type"], "json_schema", "{body}");
                assert_eq!(format["name"], "Person", "{body}");
                assert_eq!(format["strict"], true, "{body}");
                assert_eq!(format["schema"], schema, "{body}");
            }
            _ => assert!(body.get("tools").is_none() && body.get("text").is_none()),
        }

        // Another handle, from the record alone, reads the answers as responses.
        let resumed = BatchRun::<Structured<Person>>::resume_with_key(&run_uri, Some("test"))
            .await
            .unwrap();
        let mut results = resumed.finish_detailed(POLL).await.unwrap();
        ids_in_order(&results.results, N);
        for (i, (record, reference)) in results
            .results
            .records
            .iter()
            .zip(&chat.records)
            .enumerate()
        {
            let bad = violated.binary_search(&i).is_ok();
            assert_eq!(
                record.outcome.is_err(),
                bad,
                "{strategy} record {i}: {:?}",
                record.outcome
            );
            if !bad {
                assert_eq!(
                    record.outcome.as_ref().ok(),
                    reference.outcome.as_ref().ok(),
                    "{strategy} record {i}"
                );
            }
        }

        let options = llmbo::RetryOptions {
            reask: 2,
            poll_interval: POLL,
            ..llmbo::RetryOptions::default()
        };
        let outcome = resumed.retry_failed(&mut results, &options).await.unwrap();
        let RetryOutcome::Reasked { rounds, left, .. } = &outcome else {
            panic!("{strategy}: {outcome:?}");
        };
        assert_eq!(rounds.len(), 1, "{strategy}: {outcome:?}");
        assert_eq!(rounds[0].recovered, violated.len(), "{strategy}");
        assert_eq!(*left, 0, "{strategy}");
        for (i, (record, info)) in results
            .results
            .records
            .iter()
            .zip(&results.info)
            .enumerate()
        {
            assert_eq!(record.record_id, format!("{i:05}"));
            assert!(
                record.is_ok(),
                "{strategy} record {i}: {:?}",
                record.outcome
            );
            let attempts = if violated.binary_search(&i).is_ok() {
                2
            } else {
                1
            };
            assert_eq!(info.attempts, attempts, "{strategy} record {i}");
        }
        // The follow-ups, in the API's form: the model's call answered by its problem.
        let followed = sent_requests(&local, Provider::OpenAi).await;
        assert_eq!(followed.len(), violated.len(), "{strategy}");
        let items = followed[0]["body"]["input"].as_array().unwrap();
        let last = items.last().unwrap();
        match strategy {
            OutputStrategy::ForcedTool | OutputStrategy::StrictTool => {
                assert_eq!(last["type"], "function_call_output", "{last}");
                assert_eq!(items[items.len() - 2]["type"], "function_call");
                assert_eq!(last["call_id"], items[items.len() - 2]["call_id"]);
            }
            _ => assert_eq!(last["role"], "user", "{last}"),
        }
    }
}

/// A re-ask on every API: the APIs' answers do not echo their requests as Bedrock's output
/// lines do, so the request each follow-up continues is read from the job's input. Every
/// answer that did not fit is asked again once, in input order, and fits.
#[tokio::test]
async fn a_reask_on_every_api_continues_each_records_own_request() {
    use llmbo::mode::Structured;
    use llmbo::run::RetryOutcome;
    use llmbo_local::Malformed;
    const N: usize = 120;
    let faults = FaultConfig {
        seed: 5,
        malformed_output_rate: 0.1,
        malformed_kinds: vec![Malformed::SchemaViolation],
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults.clone())
        .start()
        .await
        .unwrap();
    let store = tempfile::tempdir().unwrap();
    let violated: Vec<usize> = (0..N)
        .filter(|i| faults.record_fault(&format!("{i:05}")).is_some())
        .collect();
    assert!(violated.len() > 3, "{violated:?}");
    for (provider, _) in APIS {
        let name = format!("reask-{}", provider.name().to_lowercase());
        let run = api::<Structured<Person>>(&local, provider, store.path(), &name)
            .build()
            .await
            .unwrap()
            .start_run(person_inputs(N))
            .await
            .unwrap()
            .create()
            .await
            .unwrap();
        let mut results = run.finish_detailed(POLL).await.unwrap();
        let failed: Vec<usize> = (0..N)
            .filter(|i| results.results.records[*i].outcome.is_err())
            .collect();
        assert_eq!(failed, violated, "{provider:?}");
        let options = llmbo::RetryOptions {
            reask: 2,
            poll_interval: POLL,
            ..llmbo::RetryOptions::default()
        };
        let outcome = run.retry_failed(&mut results, &options).await.unwrap();
        let RetryOutcome::Reasked { rounds, left, .. } = &outcome else {
            panic!("{provider:?}: {outcome:?}");
        };
        assert_eq!((rounds.len(), *left), (1, 0), "{provider:?}: {outcome:?}");
        assert_eq!(rounds[0].recovered, violated.len(), "{provider:?}");
        ids_in_order(&results.results, N);
        for (i, (record, info)) in results
            .results
            .records
            .iter()
            .zip(&results.info)
            .enumerate()
        {
            assert!(
                record.is_ok(),
                "{provider:?} record {i}: {:?}",
                record.outcome
            );
            let attempts = if violated.binary_search(&i).is_ok() {
                2
            } else {
                1
            };
            assert_eq!(info.attempts, attempts, "{provider:?} record {i}");
        }
        // Each follow-up continues its own record's request: the article it was asked about.
        let sent = sent_requests(&local, provider).await;
        assert_eq!(sent.len(), violated.len(), "{provider:?}");
        for (request, i) in sent.iter().zip(&violated) {
            let text = request.to_string();
            assert!(
                text.contains(&format!("Article {i}:")),
                "{provider:?}: the follow-up of record {i} is {text}"
            );
        }
    }
}

/// A run under `on_demand_below` on the batch APIs is answered on demand (Anthropic's
/// `/v1/messages`, OpenAI's `/v1/chat/completions` and `/v1/responses`, Gemini's
/// `:generateContent`): every record typed, in input order, with its usage, and no batch
/// made.
#[tokio::test]
async fn a_small_run_on_every_api_is_answered_on_demand() {
    use llmbo::mode::Structured;
    use llmbo::model::OpenAiEndpoint;
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    let cases = [
        (Provider::Anthropic, None),
        (Provider::OpenAi, None),
        (Provider::OpenAi, Some(OpenAiEndpoint::Responses)),
        (Provider::Gemini, None),
    ];
    for (provider, endpoint) in cases {
        let name =
            format!("tail-{}-{endpoint:?}", provider.name().to_lowercase()).replace(['(', ')'], "");
        let mut builder =
            api::<Structured<Person>>(&local, provider, store.path(), &name).on_demand_below(50);
        if let Some(endpoint) = endpoint {
            builder = builder.openai_endpoint(endpoint);
        }
        let results = builder
            .build()
            .await
            .unwrap()
            .auto(person_inputs(20), POLL)
            .await
            .unwrap();
        ids_in_order(&results, 20);
        for (i, record) in results.records.iter().enumerate() {
            let person = record
                .outcome
                .as_ref()
                .unwrap_or_else(|e| panic!("{provider:?} {endpoint:?} record {i}: {e}"));
            assert!(
                !person.name.is_empty(),
                "{provider:?} {endpoint:?} record {i}"
            );
        }
        assert_eq!(results.manifest.success_record_count, 20);
        assert!(
            results.manifest.input_token_count.is_some_and(|t| t > 0),
            "{provider:?} {endpoint:?}: usage from each answer"
        );
        assert!(
            batches(&local, provider).await.is_empty(),
            "{provider:?}: no batch for a run under the threshold"
        );
    }
}

/// The text of every request a provider was sent, in order.
async fn sent_texts(local: &LocalBedrock, provider: Provider) -> Vec<String> {
    sent_requests(local, provider)
        .await
        .iter()
        .map(|request| request.to_string())
        .collect()
}

/// Of a run's jobs, only those `create` makes at once have their requests written as their
/// inputs go up (a run of many jobs keeps no second copy of its input on local disk while its
/// later jobs wait for a slot): the later job's requests are read back from the store when it
/// is created. Both inputs are changed in place, their length and time kept (the same
/// version): the first job sends what was written ahead, the second what the store holds.
#[tokio::test]
async fn only_the_jobs_created_at_once_have_their_requests_written_ahead() {
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    for (provider, _) in APIS {
        let name = format!("slots-{}", provider.name().to_lowercase());
        let uploaded = api::<Untyped>(&local, provider, store.path(), &name)
            .max_records_per_job(4)
            .max_concurrent_jobs(1)
            .build()
            .await
            .unwrap()
            .start_run(person_inputs(8))
            .await
            .unwrap();
        let mut inputs: Vec<_> = std::fs::read_dir(store.path().join("input"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                file.starts_with(&name) && file.ends_with(".jsonl")
            })
            .collect();
        inputs.sort();
        assert_eq!(inputs.len(), 2, "{provider:?}: {inputs:?}");
        for input in &inputs {
            let written = std::fs::read_to_string(input).unwrap();
            assert!(written.contains("Ada Lovelace"), "{provider:?}");
            let file = std::fs::OpenOptions::new().write(true).open(input).unwrap();
            let modified = file.metadata().unwrap().modified().unwrap();
            std::fs::write(input, written.replace("Ada Lovelace", "Bob Lovelace")).unwrap();
            file.set_modified(modified).unwrap();
        }
        let results = uploaded.finish(POLL).await.unwrap();
        assert_eq!(results.records.len(), 8, "{provider:?}");
        let mut sent = Vec::new();
        for (id, _, _) in batches(&local, provider).await {
            let text: String = requests_of(&local, provider, &id)
                .await
                .iter()
                .map(|request| request.to_string())
                .collect();
            sent.push((text.contains("Ada Lovelace"), text.contains("Bob Lovelace")));
        }
        sent.sort();
        assert_eq!(
            sent,
            [(false, true), (true, false)],
            "{provider:?}: the first job sent as written ahead, the second as the store holds it"
        );
    }
}

/// A job's requests are written in its API's form as its input is uploaded, and `create`
/// sends them as they are while the store's input is the version this process wrote (the
/// input is not read back: bytes of the same length and time in its place change nothing);
/// once the input in the store is another version (another process wrote it), `create` reads
/// and sends what the store holds.
#[tokio::test]
async fn create_sends_the_requests_written_at_upload_while_the_input_is_unchanged() {
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    for (provider, _) in APIS {
        for replaced in [false, true] {
            let name = format!(
                "ahead-{}-{}",
                provider.name().to_lowercase(),
                if replaced { "replaced" } else { "kept" }
            );
            let uploaded = api::<Untyped>(&local, provider, store.path(), &name)
                .build()
                .await
                .unwrap()
                .start_run(person_inputs(4))
                .await
                .unwrap();
            let input = store.path().join(format!("input/{name}.jsonl"));
            let written = std::fs::read_to_string(&input).unwrap();
            assert!(written.contains("Ada Lovelace"), "{written}");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&input)
                .unwrap();
            let modified = file.metadata().unwrap().modified().unwrap();
            if replaced {
                // Another version: one prompt's name changed, the length kept.
                std::fs::write(&input, written.replacen("Ada Lovelace", "Bob Lovelace", 1))
                    .unwrap();
            } else {
                // Not JSON at all, but the same length and time: the same version.
                std::fs::write(&input, "x".repeat(written.len())).unwrap();
                file.set_modified(modified).unwrap();
            }
            drop(file);
            let submitted = uploaded.create().await.unwrap();
            let sent = sent_texts(&local, provider).await;
            assert_eq!(sent.len(), 4, "{provider:?}");
            let first = &sent[0];
            let expected = if replaced {
                "Bob Lovelace"
            } else {
                "Ada Lovelace"
            };
            assert!(
                first.contains(expected),
                "{provider:?}, replaced {replaced}: {first}"
            );
            assert!(sent[1..].iter().all(|s| !s.contains("Bob")), "{provider:?}");
            submitted.cancel().await.unwrap();
        }
    }
}
