//! A model llmbo has no adapter for: Amazon Titan Text. A small adapter writes its body
//! (`inputText` + `textGenerationConfig`), asks for JSON matching the output schema in the
//! prompt, and reads the JSON back out of `results[0].outputText`. Registered once, it is used
//! for every `amazon.titan-text-*` model, typed results included.
//!
//! `cargo run --example custom_adapter` (on an embedded llmbo-local)

use std::time::Duration;

use llmbo::ModelAdapterRegistry;
use llmbo::adapter::{AnswerReader, RequestWriter, Usage, extract_json_object};
use llmbo::{Error, ModelInput, RecordError, StructuredBatchInferer, ToolDefinition};
use llmbo_local::LocalBedrock;
use llmbo_workspace::{Person, person_inputs};
use serde_json::{Value, json};

#[derive(Debug)]
struct TitanText;

impl RequestWriter for TitanText {
    fn name(&self) -> &str {
        "titan-text"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        input.validate()?;
        // Titan takes one text: the system prompt, the turns, and the schema to answer in.
        let mut text = input.system.clone().map(|s| s + "\n\n").unwrap_or_default();
        for message in &input.messages {
            text.push_str(&message.content);
            text.push('\n');
        }
        if let Some(tool) = tool {
            text.push_str(&format!(
                "\nAnswer with only a JSON object matching this JSON schema:\n{}\n",
                tool.input_schema
            ));
        }
        let mut config = json!({"maxTokenCount": input.max_tokens.unwrap_or(512)});
        if let Some(t) = input.temperature {
            config["temperature"] = json!(t);
        }
        if let Some(p) = input.top_p {
            config["topP"] = json!(p);
        }
        if !input.stop_sequences.is_empty() {
            config["stopSequences"] = json!(input.stop_sequences);
        }
        Ok(json!({"inputText": text, "textGenerationConfig": config}))
    }
}

impl AnswerReader for TitanText {
    fn validate_result(
        &self,
        output: &Value,
        _tool: &ToolDefinition,
    ) -> Result<Value, RecordError> {
        let result = &output["results"][0];
        match result["completionReason"].as_str() {
            Some("LENGTH") => return Err(RecordError::Truncated),
            Some("CONTENT_FILTERED") => {
                return Err(RecordError::UnexpectedStopReason {
                    stop_reason: "CONTENT_FILTERED".into(),
                });
            }
            _ => {}
        }
        let text = result["outputText"]
            .as_str()
            .ok_or_else(|| RecordError::MalformedOutput {
                message: "no results[0].outputText".into(),
            })?;
        extract_json_object(text)
    }

    fn output_text(&self, output: &Value) -> Option<String> {
        output["results"][0]["outputText"]
            .as_str()
            .map(str::to_owned)
    }

    fn usage(&self, output: &Value) -> Option<Usage> {
        Some(Usage {
            input_tokens: output["inputTextTokenCount"].as_u64()?,
            output_tokens: output["results"][0]["tokenCount"].as_u64()?,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ModelAdapterRegistry::register(r"amazon\.titan-text-.*", TitanText)?;
    let model = "amazon.titan-text-express-v1";
    println!(
        "{model} uses the `{}` adapter",
        ModelAdapterRegistry::get_adapter(model).name()
    );

    let local = LocalBedrock::start().await?;
    let results = StructuredBatchInferer::<Person>::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name("people-titan")
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .build()
        .await?
        .auto(person_inputs(120), Duration::from_millis(50))
        .await?;
    println!(
        "{} records, {} parsed into Person; first: {:?}",
        results.len(),
        results.successes().count(),
        results.successes().next()
    );
    Ok(())
}
