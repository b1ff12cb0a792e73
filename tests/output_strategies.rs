//! Every output strategy on every family, typed end to end through llmbo-local: a forced tool,
//! a `strict` tool, native structured output (`output_config.format`, `outputConfig.textFormat`,
//! `response_format`) and the schema in the prompt. What a model cannot take is refused before
//! upload, and a cut answer is `Truncated` under every strategy.

use std::sync::Arc;
use std::time::Duration;

use llmbo::ModelProviderAdapter;
use llmbo::adapter::InvocationType;
use llmbo::adapter::MistralChatAdapter;
use llmbo::{BatchInferer, Error, ModelInput, OutputStrategy, RecordError, StructuredBatchInferer};
use llmbo_local::{FaultConfig, LocalBedrock, Malformed, RecordFault};
use llmbo_workspace::{Person, person_inputs};

use serde::Deserialize;
use serde_json::json;

const POLL: Duration = Duration::from_millis(20);

use OutputStrategy::{ForcedTool, JsonInPrompt, JsonSchema, StrictTool};

fn builder(
    local: &LocalBedrock,
    model: &str,
    job: &str,
) -> llmbo::builder::Configured<llmbo::mode::Structured<Person>> {
    StructuredBatchInferer::<Person>::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
}

/// Runs 100 records on `model` with `strategy` (or the default) and checks each record: its
/// id, in input order, once, with a value.
async fn typed_run(
    local: &LocalBedrock,
    model: &str,
    strategy: Option<OutputStrategy>,
    converse: bool,
    adapter: Option<Arc<dyn ModelProviderAdapter>>,
    job: &str,
) {
    let mut b = builder(local, model, job);
    if let Some(strategy) = strategy {
        b = b.output_strategy(strategy);
    }
    if converse {
        b = b.invocation_type(InvocationType::Converse);
    }
    if let Some(adapter) = adapter {
        b = b.adapter(adapter);
    }
    let inferer = b
        .build()
        .await
        .unwrap_or_else(|e| panic!("{model} {strategy:?}: {e}"));
    let results = inferer.auto(person_inputs(100), POLL).await.unwrap();
    assert_eq!(results.records.len(), 100, "{model} {strategy:?}");
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("{i:05}"), "{model} {strategy:?}");
        if let Err(err) = &record.outcome {
            panic!(
                "{model} {strategy:?}: record {} failed: {err}",
                record.record_id
            );
        }
    }
    assert_eq!(results.manifest.success_record_count, 100);
}

#[tokio::test]
async fn every_strategy_of_every_family_returns_typed_values() {
    let local = LocalBedrock::start().await.unwrap();
    let matrix: [(&str, &[OutputStrategy]); 8] = [
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            &[ForcedTool, StrictTool, JsonSchema, JsonInPrompt],
        ),
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            &[ForcedTool, JsonInPrompt],
        ),
        (
            "amazon.nova-lite-v1:0",
            &[ForcedTool, StrictTool, JsonInPrompt],
        ),
        (
            "openai.gpt-oss-20b-1:0",
            &[ForcedTool, StrictTool, JsonSchema, JsonInPrompt],
        ),
        (
            "deepseek.v3-v1:0",
            &[ForcedTool, StrictTool, JsonSchema, JsonInPrompt],
        ),
        (
            "qwen.qwen3-32b-v1:0",
            &[ForcedTool, StrictTool, JsonSchema, JsonInPrompt],
        ),
        ("meta.llama3-1-8b-instruct-v1:0", &[JsonInPrompt]),
        ("mistral.mistral-7b-instruct-v0:2", &[JsonInPrompt]),
    ];
    let mut n = 0;
    for (model, strategies) in matrix {
        for strategy in strategies {
            n += 1;
            typed_run(
                &local,
                model,
                Some(*strategy),
                false,
                None,
                &format!("s{n}"),
            )
            .await;
        }
    }
    // Mistral's chat form, on a model with native structured output.
    for strategy in [ForcedTool, StrictTool, JsonSchema] {
        n += 1;
        typed_run(
            &local,
            "mistral.mistral-large-3-675b-instruct",
            Some(strategy),
            false,
            Some(Arc::new(MistralChatAdapter)),
            &format!("s{n}"),
        )
        .await;
    }
    // Converse jobs: native structured output or the prompt, never tools.
    for (model, strategy) in [
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", JsonSchema),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", JsonInPrompt),
        ("amazon.nova-lite-v1:0", JsonInPrompt),
    ] {
        n += 1;
        typed_run(&local, model, Some(strategy), true, None, &format!("s{n}")).await;
    }
}

#[tokio::test]
async fn each_model_gets_its_default_and_converse_structured_jobs_now_work() {
    let local = LocalBedrock::start().await.unwrap();
    for (n, (model, converse, expected)) in [
        (
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            false,
            JsonSchema,
        ),
        ("anthropic.claude-3-haiku-20240307-v1:0", false, ForcedTool),
        ("meta.llama3-1-8b-instruct-v1:0", false, JsonInPrompt),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            true,
            JsonSchema,
        ),
        ("amazon.nova-lite-v1:0", true, JsonInPrompt),
    ]
    .into_iter()
    .enumerate()
    {
        let job = format!("defaults-{n}");
        let mut b = builder(&local, model, &job);
        if converse {
            b = b.invocation_type(InvocationType::Converse);
        }
        let inferer = b.build().await.unwrap();
        assert_eq!(inferer.output_strategy(), Some(expected), "{model}");
        typed_run(&local, model, None, converse, None, &job).await;
    }
}

#[tokio::test]
async fn a_strategy_the_model_cannot_take_is_refused_before_anything_is_sent() {
    let local = LocalBedrock::start().await.unwrap();
    let refused = |model: &'static str, strategy, converse| {
        let local = &local;
        async move {
            let mut b = builder(local, model, "refused").output_strategy(strategy);
            if converse {
                b = b.invocation_type(InvocationType::Converse);
            }
            match b.build().await {
                Err(Error::InvalidConfig { field, reason }) => {
                    assert_eq!(field, "output_strategy");
                    reason
                }
                other => panic!("{model} {strategy}: {other:?}"),
            }
        }
    };
    let reason = refused("anthropic.claude-3-haiku-20240307-v1:0", JsonSchema, false).await;
    assert!(
        reason.contains("anthropic.claude-3-haiku-20240307-v1:0"),
        "{reason}"
    );
    assert!(reason.contains("json-schema"), "{reason}");
    assert!(
        reason.ends_with("it can take forced-tool or json-in-prompt"),
        "{reason}"
    );
    let reason = refused(
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ForcedTool,
        true,
    )
    .await;
    assert!(reason.contains("Converse"), "{reason}");
    assert!(
        reason.ends_with("it can take json-schema or json-in-prompt"),
        "{reason}"
    );
    let reason = refused("meta.llama3-1-8b-instruct-v1:0", StrictTool, false).await;
    assert!(reason.ends_with("it can take json-in-prompt"), "{reason}");
    assert_bucket_empty(&local).await;
}

/// A run-time output tool whose name no model family takes is refused by `build`, on Bedrock
/// and on the other APIs, before anything is sent; a name of the allowed characters builds.
#[tokio::test]
async fn a_tool_name_no_family_takes_is_refused_before_anything_is_sent() {
    let local = LocalBedrock::start().await.unwrap();
    let store = tempfile::tempdir().unwrap();
    let tool = |name: &str| llmbo::ToolDefinition {
        name: name.into(),
        description: "A person.".into(),
        input_schema: json!({"type": "object", "properties": {"name": {"type": "string"}}}),
    };
    let long = "x".repeat(65);
    for name in ["person record", "person.record", "", "über", long.as_str()] {
        let on_bedrock = BatchInferer::builder()
            .model_name("anthropic.claude-3-haiku-20240307-v1:0")
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name("bad-tool")
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
            .output_tool(tool(name))
            .build()
            .await;
        let on_openai = BatchInferer::openai()
            .model_name("gpt-4o-mini")
            .job_name("bad-tool")
            .store(store.path().to_str().unwrap())
            .base_url(format!("{}/v1", local.endpoint_url()))
            .api_key("test")
            .output_tool(tool(name))
            .build()
            .await;
        for built in [on_bedrock.err(), on_openai.err()] {
            match built {
                Some(Error::InvalidConfig { field, reason }) => {
                    assert_eq!(field, "output_tool");
                    assert!(reason.contains(&format!("`{name}`")), "{reason}");
                }
                other => panic!("`{name}`: {other:?}"),
            }
        }
    }
    assert!(
        BatchInferer::openai()
            .model_name("gpt-4o-mini")
            .job_name("good-tool")
            .store(store.path().to_str().unwrap())
            .base_url(format!("{}/v1", local.endpoint_url()))
            .api_key("test")
            .output_tool(tool("person_record-2"))
            .build()
            .await
            .is_ok()
    );
    assert_bucket_empty(&local).await;
}

/// A tree: a type that contains itself, which no strict schema can say.
#[allow(dead_code)] // read for their shape only
#[derive(Debug, Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
struct Outline {
    title: String,
    sections: Vec<Section>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct Section {
    heading: String,
    children: Vec<Section>,
}

#[tokio::test]
async fn a_recursive_type_is_refused_for_strict_strategies_and_falls_back_by_default() {
    let local = LocalBedrock::start().await.unwrap();
    let outline = |strategy: Option<OutputStrategy>| {
        let mut b = StructuredBatchInferer::<Outline>::builder()
            .model_name("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name("outline")
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config());
        if let Some(strategy) = strategy {
            b = b.output_strategy(strategy);
        }
        b.build()
    };
    for strategy in [JsonSchema, StrictTool] {
        match outline(Some(strategy)).await {
            Err(Error::InvalidConfig {
                field: "output_strategy",
                reason,
            }) => {
                assert!(reason.contains("`Outline`"), "{reason}");
                assert!(reason.contains("at `sections[].children[]`"), "{reason}");
                assert!(reason.contains("recursive"), "{reason}");
            }
            other => panic!("{strategy}: {other:?}"),
        }
    }
    // Unasked, the model's default (JsonSchema) gives way to the forced tool.
    let inferer = outline(None).await.unwrap();
    assert_eq!(inferer.output_strategy(), Some(ForcedTool));
    let results = inferer.auto(person_inputs(100), POLL).await.unwrap();
    assert_eq!(results.successes().count(), 100);
}

#[tokio::test]
async fn a_cut_answer_is_truncated_under_every_strategy() {
    let faults = FaultConfig {
        seed: 5,
        malformed_output_rate: 0.5,
        ..Default::default()
    };
    let local = LocalBedrock::builder()
        .faults(faults.clone())
        .start()
        .await
        .unwrap();
    let model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    for (n, strategy) in [ForcedTool, StrictTool, JsonSchema, JsonInPrompt]
        .into_iter()
        .enumerate()
    {
        let results = builder(&local, model, &format!("cut{n}"))
            .output_strategy(strategy)
            .build()
            .await
            .unwrap()
            .auto(person_inputs(200), POLL)
            .await
            .unwrap();
        let mut truncated = 0;
        for (i, record) in results.records.iter().enumerate() {
            let id = format!("{i:05}");
            assert_eq!(record.record_id, id);
            let fault = faults.record_fault(&id);
            match (fault, &record.outcome) {
                (None, Ok(_)) => {}
                (
                    Some(RecordFault::Malformed(
                        Malformed::TruncatedJson | Malformed::WrongStopReason,
                    )),
                    Err(err),
                ) => {
                    assert_eq!(err, &RecordError::Truncated, "{strategy} {id}");
                    truncated += 1;
                }
                (Some(RecordFault::Malformed(Malformed::SchemaViolation)), Err(err)) => {
                    assert_eq!(err.reason(), "tool_input_invalid", "{strategy} {id}: {err}");
                }
                (Some(RecordFault::Malformed(Malformed::NoToolCall)), Err(err)) => {
                    let expected = if strategy.uses_tools() {
                        "no_tool_call"
                    } else {
                        "tool_input_not_json"
                    };
                    assert_eq!(err.reason(), expected, "{strategy} {id}: {err}");
                }
                (fault, outcome) => panic!("{strategy} {id}: {fault:?} gave {outcome:?}"),
            }
        }
        assert!(truncated > 20, "{strategy}: only {truncated} cut answers");
    }
}

#[tokio::test]
async fn a_schema_outside_bedrocks_subset_gets_bedrocks_400_record() {
    let local = LocalBedrock::start().await.unwrap();
    let body = |schema: serde_json::Value| {
        json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
               "messages": [{"role": "user", "content": "Hi"}],
               "output_config": {"format": {"type": "json_schema", "schema": schema}}})
    };
    let good = json!({"type": "object", "additionalProperties": false,
                      "properties": {"a": {"type": "string"}}, "required": ["a"]});
    let bounded = json!({"type": "object", "additionalProperties": false,
                         "properties": {"n": {"type": "integer", "minimum": 0}}});
    let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let inputs: Vec<(String, ModelInput)> = (0..100)
        .map(|i| {
            let schema = match i % 3 {
                0 => good.clone(),
                1 => bounded.clone(),
                _ => open.clone(),
            };
            (format!("r{i:03}"), ModelInput::raw(body(schema)))
        })
        .collect();
    let results = BatchInferer::builder()
        .model_name("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("subset")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await
        .unwrap()
        .auto(inputs, POLL)
        .await
        .unwrap();
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("r{i:03}"));
        match (i % 3, &record.outcome) {
            (0, Ok(output)) => {
                let text = output["content"][0]["text"].as_str().unwrap();
                let value: serde_json::Value = serde_json::from_str(text).unwrap();
                assert!(value["a"].is_string(), "{value}");
            }
            (1, Err(RecordError::Bedrock { code, message })) => {
                assert_eq!(code, "400");
                assert!(
                    message.contains("output_config.format.schema: For 'integer' type, properties minimum are not supported"),
                    "{message}"
                );
            }
            (2, Err(RecordError::Bedrock { code, message })) => {
                assert_eq!(code, "400");
                assert!(
                    message.contains("'additionalProperties' must be explicitly set to false"),
                    "{message}"
                );
            }
            (_, outcome) => panic!("record {i}: {outcome:?}"),
        }
    }
}

/// One finding, of one kind or another: a tagged enum, an `anyOf` of closed objects in the
/// strict form.
#[allow(dead_code)] // read for their shape only
#[derive(Debug, Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Finding {
    Person { name: String, age: Option<u8> },
    Place { name: String, country: String },
}

#[tokio::test]
async fn a_tagged_enum_goes_through_every_strict_strategy() {
    let local = LocalBedrock::start().await.unwrap();
    for (n, strategy) in [JsonSchema, StrictTool].into_iter().enumerate() {
        let results = StructuredBatchInferer::<Finding>::builder()
            .model_name("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name(format!("finding-{n}"))
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
            .output_strategy(strategy)
            .build()
            .await
            .unwrap()
            .auto(person_inputs(100), POLL)
            .await
            .unwrap();
        let values = results.into_values();
        assert_eq!(values.len(), 100, "{strategy}");
        assert!(
            values.iter().any(|f| matches!(f, Finding::Person { .. })),
            "{strategy}"
        );
        assert!(
            values.iter().any(|f| matches!(f, Finding::Place { .. })),
            "{strategy}"
        );
    }
}

#[tokio::test]
async fn a_job_recovered_from_its_arn_reads_answers_the_way_they_were_asked_for() {
    let local = LocalBedrock::start().await.unwrap();
    let model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    for (n, strategy) in [JsonSchema, StrictTool, JsonInPrompt]
        .into_iter()
        .enumerate()
    {
        let arn = builder(&local, model, &format!("recovered-{n}"))
            .output_strategy(strategy)
            .build()
            .await
            .unwrap()
            .prepare_requests(person_inputs(100))
            .unwrap()
            .push_requests_to_s3()
            .await
            .unwrap()
            .create()
            .await
            .unwrap()
            .job_arn()
            .to_owned();
        // Nothing local: the job's ARN alone.
        let recovered = StructuredBatchInferer::<Person>::recover_structured_job(
            &arn,
            local.region(),
            Some(local.sdk_config()),
        )
        .await
        .unwrap();
        let finished = match recovered {
            llmbo::Recovered::Running(running) => {
                assert_eq!(running.output_strategy(), Some(strategy));
                running.poll_progress(POLL).await.unwrap()
            }
            llmbo::Recovered::Finished(finished) => finished,
        };
        let results = finished
            .download_results()
            .await
            .unwrap()
            .load_results()
            .unwrap();
        assert_eq!(results.records.len(), 100, "{strategy}");
        for (i, record) in results.records.iter().enumerate() {
            assert_eq!(record.record_id, format!("{i:05}"));
            assert!(record.is_ok(), "{strategy}: {:?}", record.outcome);
        }
    }
}

/// A person, asked for through a strict tool whatever the model's default.
#[allow(dead_code)] // read for its shape only
#[derive(Debug, Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
#[batch_output(strategy = "strict-tool")]
struct StrictPerson {
    name: String,
}

#[tokio::test]
async fn a_type_can_ask_for_its_strategy_and_the_builder_still_wins() {
    let local = LocalBedrock::start().await.unwrap();
    let build = |model: &'static str, strategy: Option<OutputStrategy>| {
        let mut b = StructuredBatchInferer::<StrictPerson>::builder()
            .model_name(model)
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name("typed-strategy")
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config());
        if let Some(strategy) = strategy {
            b = b.output_strategy(strategy);
        }
        b.build()
    };
    let sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    assert_eq!(
        build(sonnet, None).await.unwrap().output_strategy(),
        Some(StrictTool)
    );
    assert_eq!(
        build(sonnet, Some(JsonSchema))
            .await
            .unwrap()
            .output_strategy(),
        Some(JsonSchema)
    );
    // The type's choice is a choice: a model that cannot take it refuses it.
    let err = build("anthropic.claude-3-haiku-20240307-v1:0", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("strict-tool"), "{err}");
    let results = build(sonnet, None)
        .await
        .unwrap()
        .auto(person_inputs(100), POLL)
        .await
        .unwrap();
    assert_eq!(results.successes().count(), 100);
}

/// Nothing reached the local bucket.
async fn assert_bucket_empty(local: &LocalBedrock) {
    let s3 = llmbo_workspace::s3_client(&local.sdk_config());
    let listed = s3
        .list_objects_v2()
        .bucket(local.bucket())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0));
}
