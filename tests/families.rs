//! One `ModelInput` works for every model family: a structured job per family through
//! llmbo-local returns typed values, each family answered in its own response format.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use llmbo::ModelProviderAdapter;
use llmbo::adapter::InvocationType;
use llmbo::adapter::{AnswerReader, AnthropicAdapter, MistralChatAdapter, RequestWriter, Usage};
use llmbo::{
    BatchInferer, Error, ModelAdapterRegistry, ModelInput, RecordError, StructuredBatchInferer,
    ToolDefinition,
};
use llmbo_local::LocalBedrock;
use llmbo_local::synth::Family;
use llmbo_workspace::{Person, person_inputs};
use serde_json::Value;

const POLL: Duration = Duration::from_millis(20);

async fn structured_job(
    local: &LocalBedrock,
    model: &str,
    adapter: Option<Arc<dyn ModelProviderAdapter>>,
) -> llmbo::BatchResults<Person> {
    let mut builder = StructuredBatchInferer::<Person>::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("family")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config());
    if let Some(adapter) = adapter {
        builder = builder.adapter(adapter);
    }
    builder
        .build()
        .await
        .unwrap()
        .auto(person_inputs(120), POLL)
        .await
        .unwrap()
}

async fn assert_all_typed(model: &str, adapter: Option<Arc<dyn ModelProviderAdapter>>) {
    let local = LocalBedrock::start().await.unwrap();
    let results = structured_job(&local, model, adapter).await;
    let failures: Vec<_> = results
        .failures()
        .map(|f| (f.record_id.clone(), f.outcome.as_ref().err().cloned()))
        .collect();
    assert!(failures.is_empty(), "{model}: {failures:?}");
    assert_eq!(results.into_values().len(), 120, "{model}");
}

#[tokio::test]
async fn claude_nova_llama_mistral_and_gpt_oss_return_typed_values() {
    for model in [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
        "amazon.nova-lite-v1:0",
        "us.amazon.nova-2-lite-v1:0",
        "meta.llama3-1-8b-instruct-v1:0",
        "mistral.mistral-7b-instruct-v0:2",
        "openai.gpt-oss-20b-1:0",
    ] {
        assert_all_typed(model, None).await;
    }
}

#[tokio::test]
async fn deepseek_and_qwen_return_typed_values_and_their_reasoning_stays_out() {
    for (model, adapter) in [
        ("deepseek.v3-v1:0", "deepseek"),
        ("deepseek.v3.2", "deepseek"),
        ("qwen.qwen3-32b-v1:0", "qwen"),
        ("qwen.qwen3-235b-a22b-2507-v1:0", "qwen"),
    ] {
        assert_eq!(
            llmbo::ModelAdapterRegistry::get_adapter(model).name(),
            adapter
        );
        assert_all_typed(model, None).await;
    }
    // Untyped text answers: DeepSeek's reasoning_content and Qwen's <think> are not the answer.
    let local = LocalBedrock::start().await.unwrap();
    for model in ["deepseek.v3-v1:0", "qwen.qwen3-32b-v1:0"] {
        let inferer = BatchInferer::builder()
            .model_name(model)
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name(format!("text-{}", &model[..4]))
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
            .build()
            .await
            .unwrap();
        let adapter = Arc::clone(inferer.adapter());
        let results = inferer.auto(person_inputs(100), POLL).await.unwrap();
        for (i, record) in results.records.iter().enumerate() {
            let output = record.outcome.as_ref().unwrap();
            let text = adapter.answers().unwrap().output_text(output).unwrap();
            assert!(
                text.starts_with(&format!("Synthetic answer for record {i:05}:")),
                "{model}: {text}"
            );
            assert!(!text.contains("asks about record"), "{model}: {text}");
        }
    }
}

#[tokio::test]
async fn mistral_function_calling_is_selectable_per_inferer() {
    assert_all_typed(
        "mistral.mistral-large-2407-v1:0",
        Some(Arc::new(MistralChatAdapter)),
    )
    .await;
}

#[tokio::test]
async fn converse_jobs_work_untyped_and_structured_without_tools() {
    let local = LocalBedrock::start().await.unwrap();
    let builder = || {
        BatchInferer::builder()
            .model_name("amazon.nova-lite-v1:0")
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name("converse")
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
            .invocation_type(InvocationType::Converse)
    };
    let inferer = builder().build().await.unwrap();
    let adapter = Arc::clone(inferer.adapter());
    assert_eq!(adapter.name(), "converse");
    let results = inferer.auto(person_inputs(100), POLL).await.unwrap();
    assert_eq!(results.successes().count(), 100);
    let (_, first) = results.successes().next().unwrap();
    assert!(
        adapter
            .answers()
            .unwrap()
            .output_text(first)
            .unwrap()
            .contains("Synthetic answer")
    );
    assert!(adapter.usage(first).is_some_and(|u| u.output_tokens > 0));

    // A structured Converse job takes no tools: Nova's default there is the schema in the
    // prompt (tests/output_strategies.rs has the rest), and a forced tool is refused at build.
    let structured = || {
        StructuredBatchInferer::<Person>::builder()
            .model_name("amazon.nova-lite-v1:0")
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name("converse-structured")
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
            .invocation_type(InvocationType::Converse)
    };
    let inferer = structured().build().await.unwrap();
    assert_eq!(
        inferer.output_strategy(),
        Some(llmbo::OutputStrategy::JsonInPrompt)
    );
    let results = inferer.auto(person_inputs(100), POLL).await.unwrap();
    assert_eq!(results.into_values().len(), 100);
    let err = structured()
        .output_strategy(llmbo::OutputStrategy::ForcedTool)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidConfig { field: "output_strategy", reason } if reason.contains("Converse")),
        "{err:?}"
    );
}

/// A user's adapter: Claude-shaped bodies, counting its calls.
#[derive(Debug, Default)]
struct CountingAdapter {
    inner: AnthropicAdapter,
    prepared: AtomicUsize,
    validated: AtomicUsize,
}

impl RequestWriter for CountingAdapter {
    fn name(&self) -> &str {
        "my-adapter"
    }
    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        self.prepared.fetch_add(1, Ordering::Relaxed);
        self.inner.prepare_model_input(input, tool)
    }
}

impl AnswerReader for CountingAdapter {
    fn validate_result(&self, output: &Value, tool: &ToolDefinition) -> Result<Value, RecordError> {
        self.validated.fetch_add(1, Ordering::Relaxed);
        self.inner.validate_result(output, tool)
    }
    fn output_text(&self, output: &Value) -> Option<String> {
        self.inner.output_text(output)
    }
    fn usage(&self, output: &Value) -> Option<Usage> {
        self.inner.usage(output)
    }
}

#[tokio::test]
async fn a_registered_adapter_serves_its_model_pattern() {
    let adapter = Arc::new(CountingAdapter::default());
    ModelAdapterRegistry::register_arc(
        "my-model.*",
        Arc::clone(&adapter) as Arc<dyn ModelProviderAdapter>,
    )
    .unwrap();
    let local = LocalBedrock::builder()
        .custom_model("my-model", Family::Anthropic)
        .start()
        .await
        .unwrap();
    let results = structured_job(&local, "my-model-v1", None).await;
    assert_eq!(results.into_values().len(), 120);
    assert_eq!(adapter.prepared.load(Ordering::Relaxed), 120);
    assert_eq!(adapter.validated.load(Ordering::Relaxed), 120);
    assert!(ModelAdapterRegistry::register("my-model(", AnthropicAdapter::default()).is_err());
}
