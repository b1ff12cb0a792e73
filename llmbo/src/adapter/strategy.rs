//! How a structured job asks for its answer, and which models take which way.
//!
//! | strategy | what is sent | what is read |
//! |---|---|---|
//! | [`ForcedTool`](OutputStrategy::ForcedTool) | one tool, forced | the tool call's input |
//! | [`StrictTool`](OutputStrategy::StrictTool) | the tool with `strict: true` and the strict schema | the tool call's input |
//! | [`JsonSchema`](OutputStrategy::JsonSchema) | native structured output: `output_config.format` (Claude), `outputConfig.textFormat` (Converse), `response_format` (chat completions) | the answer's text, JSON |
//! | [`JsonInPrompt`](OutputStrategy::JsonInPrompt) | the schema in the system prompt | the first JSON object in the text |
//!
//! Which models take native structured output (and strict tools) is the data in
//! [`STRUCTURED_OUTPUT_MODELS`], from AWS, "Structured outputs", <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>; the adapter says which
//! strategies it can write ([`ModelProviderAdapter::strategies`]). The default for a model is
//! the first that both allow of: JsonSchema (native support known), ForcedTool (InvokeModel jobs
//! only: Converse batch jobs refuse tools), JsonInPrompt.

use serde::{Deserialize, Serialize};

#[cfg(feature = "aws")]
use super::output_spec::OutputSpec;
use super::{InvocationType, ModelProviderAdapter};
use crate::model::normalize_model_id;
use crate::output::{OutputStrategy, ToolDefinition};

/// Whether a model takes native structured output and strict tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NativeSupport {
    /// Documented or seen working.
    Yes,
    /// Documented or seen refused, or never listed.
    No,
    /// The evidence conflicts: allowed when asked for, with a warning, never the default.
    Uncertain,
}

/// One row of [`STRUCTURED_OUTPUT_MODELS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeSupportRow {
    /// The start of the model id, after [`normalize_model_id`].
    pub prefix: &'static str,
    /// What that model takes.
    pub support: NativeSupport,
    /// Where the fact comes from.
    pub source: &'static str,
}

const fn row(
    prefix: &'static str,
    support: NativeSupport,
    source: &'static str,
) -> NativeSupportRow {
    NativeSupportRow {
        prefix,
        support,
        source,
    }
}

use NativeSupport::{No, Uncertain, Yes};

/// Which models take native structured output (and `strict` tools), first matching prefix
/// wins; a model no row matches is [`NativeSupport::No`]. From AWS, "Structured outputs", <https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html>, and
/// the open-weight allow-lists of other clients; correct it here when AWS changes.
pub const STRUCTURED_OUTPUT_MODELS: &[NativeSupportRow] = &[
    row(
        "anthropic.claude-sonnet-4-5",
        Yes,
        "docs claude-messages-structured-outputs",
    ),
    row(
        "anthropic.claude-haiku-4-5",
        Yes,
        "docs claude-messages-structured-outputs",
    ),
    row(
        "anthropic.claude-opus-4-5",
        Yes,
        "docs claude-messages-structured-outputs",
    ),
    row(
        "anthropic.claude-opus-4-6",
        Yes,
        "docs claude-messages-structured-outputs",
    ),
    row(
        "anthropic.claude-sonnet-4-6",
        Yes,
        "litellm#27876, model card",
    ),
    row(
        "anthropic.claude-opus-4-1",
        No,
        "pydantic-ai bedrock_structured_output_unsupported",
    ),
    row(
        "anthropic.claude-opus-4-7",
        No,
        "models.dev#1765: Extra inputs are not permitted",
    ),
    row(
        "anthropic.claude-opus-4-8",
        No,
        "pydantic-ai bedrock_structured_output_unsupported",
    ),
    row(
        "anthropic.claude-opus-5",
        Uncertain,
        "conflicting: anthropic-sdk-python#1759, vercel ai",
    ),
    row(
        "anthropic.claude-sonnet-5",
        Uncertain,
        "conflicting: anthropic-sdk-python#1759, vercel ai",
    ),
    row(
        "anthropic.claude-haiku-5",
        Uncertain,
        "Claude 5 family, conflicting",
    ),
    row(
        "anthropic.claude-fable-5",
        Uncertain,
        "Claude 5 family, conflicting",
    ),
    row(
        "anthropic.",
        No,
        "Claude 4.0 and 3.x: instructor#2084 lists only 4.5+",
    ),
    row("qwen.qwen3", Yes, "pydantic-ai allow-list; instructor#2086"),
    row("mistral.magistral-small", Yes, "pydantic-ai allow-list"),
    row("mistral.ministral-3", Yes, "pydantic-ai allow-list"),
    row("mistral.mistral-large-3", Yes, "pydantic-ai allow-list"),
    row("mistral.voxtral", Yes, "pydantic-ai allow-list"),
    row("google.gemma-3-12b-it", Yes, "pydantic-ai allow-list"),
    row("google.gemma-3-27b-it", Yes, "pydantic-ai allow-list"),
    row("minimax.minimax-m2", Yes, "pydantic-ai allow-list"),
    row("nvidia.nemotron-nano", Yes, "pydantic-ai allow-list"),
    row("moonshot.kimi", Yes, "pydantic-ai allow-list"),
    row("moonshotai.kimi", Yes, "pydantic-ai allow-list"),
    row("zai.glm-", Yes, "litellm#35655 (GLM 5 through Converse)"),
    row(
        "deepseek.v3",
        Yes,
        "instructor#2084 (V3.1); litellm#35655 (V3.2)",
    ),
    row(
        "openai.gpt-oss",
        Uncertain,
        "instructor#2084 lists OpenAI OSS; no run report",
    ),
    // OpenAI's own models on its Batch API (llmbo's id `openai.<name>`): OpenAI, "Structured
    // Outputs", https://platform.openai.com/docs/guides/structured-outputs: gpt-4o-mini,
    // gpt-4o-2024-08-06 and later, and the later families; the first gpt-4o snapshot did not.
    row(
        "openai.gpt-4o-2024-05-13",
        No,
        "OpenAI structured-outputs guide: from gpt-4o-2024-08-06",
    ),
    row("openai.gpt-4o", Yes, "OpenAI structured-outputs guide"),
    row("openai.gpt-4.1", Yes, "OpenAI structured-outputs guide"),
    row("openai.gpt-5", Yes, "OpenAI structured-outputs guide"),
    row("openai.o1", Yes, "OpenAI structured-outputs guide"),
    row("openai.o3", Yes, "OpenAI structured-outputs guide"),
    row("openai.o4", Yes, "OpenAI structured-outputs guide"),
    // Gemini on the Gemini API (llmbo's id `google.<name>`): Google, "Structured output",
    // https://ai.google.dev/gemini-api/docs/structured-output: `responseJsonSchema` from
    // Gemini 2.5 on (2.0 takes only the OpenAPI-subset `responseSchema`).
    row(
        "google.gemini-2.0",
        No,
        "Gemini structured-output guide: responseJsonSchema from 2.5",
    ),
    row("google.gemini-", Yes, "Gemini structured-output guide"),
    row(
        "amazon.nova",
        Uncertain,
        "not in the structured-output lists",
    ),
    row("meta.llama", No, "not listed anywhere"),
];

/// What the table says of `model_id`, and the row that says it.
pub fn native_support(model_id: &str) -> (NativeSupport, Option<&'static NativeSupportRow>) {
    let id = normalize_model_id(model_id);
    match STRUCTURED_OUTPUT_MODELS
        .iter()
        .find(|row| id.starts_with(row.prefix))
    {
        Some(row) => (row.support, Some(row)),
        None => (NativeSupport::No, None),
    }
}

/// Why a strategy is or is not open to a model.
fn allowed(
    strategy: OutputStrategy,
    support: NativeSupport,
    invocation: InvocationType,
) -> Result<(), String> {
    if strategy.uses_tools() && invocation == InvocationType::Converse {
        return Err("Bedrock refuses tools in Converse batch jobs".into());
    }
    if strategy.is_strict() && support == NativeSupport::No {
        return Err("the model does not take native structured output or strict tools".into());
    }
    Ok(())
}

/// The strategies `model_id` can take in a job of `invocation` type, written by `adapter`, in
/// the order defaults are chosen.
pub fn strategies_for(
    model_id: &str,
    invocation: InvocationType,
    adapter: &dyn ModelProviderAdapter,
) -> Vec<OutputStrategy> {
    let (support, _) = native_support(model_id);
    OutputStrategy::ALL
        .into_iter()
        .filter(|s| adapter.strategies().contains(s))
        .filter(|s| allowed(*s, support, invocation).is_ok())
        .collect()
}

/// The strategy a structured job on `model_id` uses unless told otherwise: JsonSchema where
/// native support is known, else ForcedTool, else JsonInPrompt (see `adapter/strategy.rs`).
pub fn default_strategy(
    model_id: &str,
    invocation: InvocationType,
    adapter: &dyn ModelProviderAdapter,
) -> Option<OutputStrategy> {
    let (support, _) = native_support(model_id);
    strategies_for(model_id, invocation, adapter)
        .into_iter()
        .find(|s| !s.is_strict() || support == NativeSupport::Yes)
}

/// Checks a strategy chosen by the user; `Ok(true)` means allowed with a warning (the table is
/// uncertain). The error names the model, the strategy and the ones it can take.
#[cfg(feature = "aws")]
pub(crate) fn check_strategy(
    model_id: &str,
    invocation: InvocationType,
    adapter: &dyn ModelProviderAdapter,
    strategy: OutputStrategy,
) -> Result<bool, String> {
    let (support, row) = native_support(model_id);
    let reason = match allowed(strategy, support, invocation) {
        Err(reason) if strategy.is_strict() && support == NativeSupport::No => Some(format!(
            "{reason}{}",
            row.map(|r| format!("; source: {}", r.source))
                .unwrap_or_default()
        )),
        Err(reason) => Some(reason),
        Ok(()) if !adapter.strategies().contains(&strategy) => {
            Some(format!("the {} adapter does not write it", adapter.name()))
        }
        Ok(()) => None,
    };
    match reason {
        None => Ok(strategy.is_strict() && support == NativeSupport::Uncertain),
        Some(reason) => Err(format!(
            "model `{model_id}` cannot take output strategy {strategy} ({reason}); it can take {}",
            crate::output::list(&strategies_for(model_id, invocation, adapter))
        )),
    }
}

/// What a structured job asks each record for: the strategy and the tool, as the parser holds
/// answers to it and as it is sent (the strict form for [`OutputStrategy::is_strict`]
/// strategies).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct OutputRequest<'a> {
    /// How the answer is asked for.
    pub strategy: OutputStrategy,
    /// The output type's tool with its full schema: what the parser holds answers to.
    pub tool: &'a ToolDefinition,
    /// The tool as sent: [`ToolDefinition::strict`] of `tool` for strict strategies, else
    /// `tool` itself.
    pub sent: &'a ToolDefinition,
    /// Every output type's tool, for a job of several types
    /// ([`BatchOutput::tool_definitions`](crate::output::BatchOutput::tool_definitions)); the one
    /// `tool` otherwise. Adapters are only ever asked to write one tool: a record that may
    /// answer through any of several gets them as its input's own tools.
    pub tools: &'a [ToolDefinition],
    /// When reading: the one output type this record was asked for, if it was.
    pub expected: Option<&'a str>,
}

impl<'a> OutputRequest<'a> {
    /// The request of a job of one output type, for testing an adapter: `tool` as the parser
    /// holds answers to it, `sent` as it is sent (its [`ToolDefinition::strict`] form for the
    /// strict strategies).
    pub fn new(
        strategy: OutputStrategy,
        tool: &'a ToolDefinition,
        sent: &'a ToolDefinition,
    ) -> Self {
        OutputRequest {
            strategy,
            tool,
            sent,
            tools: std::slice::from_ref(tool),
            expected: None,
        }
    }
}

#[cfg(feature = "aws")]
/// The strategy of a run recorded before there was a choice: what each adapter then wrote
/// for a tool (ForcedTool, or the schema in the prompt for families without tools).
pub(crate) fn legacy_strategy(adapter: &dyn ModelProviderAdapter) -> OutputStrategy {
    let written = adapter.strategies();
    if written.contains(&OutputStrategy::ForcedTool) {
        OutputStrategy::ForcedTool
    } else {
        written
            .first()
            .copied()
            .unwrap_or(OutputStrategy::ForcedTool)
    }
}

#[cfg(feature = "aws")]
/// The strategy of a new structured job on `model_id`: the user's `chosen` one, checked, else
/// the default, passing over a strict strategy the schema has no strict form for (with a
/// warning). The error names the model, the strategy, the ones it can take or the field path.
pub(crate) fn resolve(
    model_id: &str,
    invocation: InvocationType,
    adapter: &dyn ModelProviderAdapter,
    tool: &ToolDefinition,
    tools: &[ToolDefinition],
    chosen: Option<OutputStrategy>,
) -> Result<OutputSpec, crate::error::Error> {
    if let Some(strategy) = chosen {
        match check_strategy(model_id, invocation, adapter, strategy) {
            Err(reason) => {
                return Err(crate::error::Error::InvalidConfig {
                    field: "output_strategy",
                    reason,
                });
            }
            Ok(true) => tracing::warn!(
                model = model_id,
                %strategy,
                "the evidence on whether this model takes native structured output conflicts; \
                 trying it as asked"
            ),
            Ok(false) => {}
        }
        return OutputSpec::new(model_id, strategy, tool.clone(), tools.to_vec());
    }
    let (support, _) = native_support(model_id);
    let candidates = strategies_for(model_id, invocation, adapter)
        .into_iter()
        .filter(|s| !s.is_strict() || support == NativeSupport::Yes);
    let mut passed = None;
    for strategy in candidates {
        match OutputSpec::new(model_id, strategy, tool.clone(), tools.to_vec()) {
            Ok(spec) => {
                if let Some(err) = passed {
                    tracing::warn!(model = model_id, %strategy, "{err}; using {strategy} instead");
                }
                return Ok(spec);
            }
            Err(err) => passed = passed.or(Some(err)),
        }
    }
    Err(
        passed.unwrap_or_else(|| crate::error::Error::InvalidConfig {
            field: "output_strategy",
            reason: format!(
                "model `{model_id}` takes no output strategy the {} adapter writes in a {} job",
                adapter.name(),
                invocation.as_str()
            ),
        }),
    )
}

/// The strategy a request body was written with, read from its fields: native structured
/// output (`output_config.format`, `outputConfig.textFormat`, `response_format` of type
/// `json_schema`), a tool marked `strict`, any tool, else the schema in the prompt. For a job
/// recovered from its ARN, whose settings Bedrock does not keep.
///
/// ```
/// use llmbo::{OutputStrategy, adapter::detect_strategy};
/// let body = serde_json::json!({"tools": [{"name": "t", "input_schema": {}, "strict": true}]});
/// assert_eq!(detect_strategy(&body), OutputStrategy::StrictTool);
/// ```
pub fn detect_strategy(body: &serde_json::Value) -> OutputStrategy {
    let native = body.pointer("/output_config/format").is_some()
        || body.pointer("/outputConfig/textFormat").is_some()
        || body
            .pointer("/response_format/type")
            .and_then(|t| t.as_str())
            == Some("json_schema");
    if native {
        return OutputStrategy::JsonSchema;
    }
    let first_tool = body
        .pointer("/tools/0")
        .or_else(|| body.pointer("/toolConfig/tools/0"));
    match first_tool {
        Some(tool) => {
            let strict = ["/strict", "/function/strict", "/toolSpec/strict"]
                .iter()
                .any(|at| tool.pointer(at) == Some(&serde_json::Value::Bool(true)));
            if strict {
                OutputStrategy::StrictTool
            } else {
                OutputStrategy::ForcedTool
            }
        }
        None => OutputStrategy::JsonInPrompt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::registry::ModelAdapterRegistry;

    fn for_model(
        model: &str,
        invocation: InvocationType,
    ) -> (Vec<OutputStrategy>, Option<OutputStrategy>) {
        let adapter = ModelAdapterRegistry::adapter_for(model, invocation);
        (
            strategies_for(model, invocation, adapter.as_ref()),
            default_strategy(model, invocation, adapter.as_ref()),
        )
    }

    #[test]
    fn names_read_back_in_every_spelling() {
        for strategy in OutputStrategy::ALL {
            assert_eq!(strategy.as_str().parse::<OutputStrategy>(), Ok(strategy));
            assert_eq!(
                format!("{strategy:?}").parse::<OutputStrategy>(),
                Ok(strategy)
            );
            assert_eq!(
                strategy
                    .as_str()
                    .replace('-', "_")
                    .parse::<OutputStrategy>(),
                Ok(strategy)
            );
        }
        let err = "tool".parse::<OutputStrategy>().unwrap_err();
        assert!(err.contains("json-schema"), "{err}");
    }

    #[test]
    fn defaults_follow_the_table() {
        use OutputStrategy::*;
        let invoke = InvocationType::InvokeModel;
        let cases = [
            ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", JsonSchema),
            ("anthropic.claude-3-haiku-20240307-v1:0", ForcedTool),
            ("anthropic.claude-opus-4-7", ForcedTool),
            ("global.anthropic.claude-opus-5", ForcedTool),
            ("amazon.nova-lite-v1:0", ForcedTool),
            ("meta.llama3-1-70b-instruct-v1:0", JsonInPrompt),
            ("qwen.qwen3-32b-v1:0", JsonSchema),
            ("deepseek.v3-v1:0", JsonSchema),
            ("deepseek.r1-v1:0", ForcedTool),
            ("openai.gpt-oss-120b-1:0", ForcedTool),
        ];
        for (model, expected) in cases {
            assert_eq!(for_model(model, invoke).1, Some(expected), "{model}");
        }
        let (claude_3, _) = for_model("anthropic.claude-3-haiku-20240307-v1:0", invoke);
        assert_eq!(claude_3, [ForcedTool, JsonInPrompt]);
        let (sonnet, _) = for_model("anthropic.claude-sonnet-4-5-20250929-v1:0", invoke);
        assert_eq!(sonnet, [JsonSchema, ForcedTool, StrictTool, JsonInPrompt]);
        let converse = InvocationType::Converse;
        assert_eq!(
            for_model("anthropic.claude-sonnet-4-5-20250929-v1:0", converse),
            (vec![JsonSchema, JsonInPrompt], Some(JsonSchema))
        );
        assert_eq!(
            for_model("anthropic.claude-3-haiku-20240307-v1:0", converse),
            (vec![JsonInPrompt], Some(JsonInPrompt))
        );
    }

    #[test]
    #[cfg(feature = "aws")]
    fn every_body_tells_the_strategy_it_was_written_with() -> Result<(), crate::error::Error> {
        use crate::{model_input::ModelInput, output::ToolDefinition};
        let tool = ToolDefinition {
            name: "Person".into(),
            description: "A person.".into(),
            input_schema: serde_json::json!({"type": "object", "properties": {"name": {"type": "string"}}}),
        };
        let input = ModelInput::new().user("Ada.");
        for (model, converse) in [
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", false),
            ("amazon.nova-lite-v1:0", false),
            ("openai.gpt-oss-20b-1:0", false),
            ("qwen.qwen3-32b-v1:0", false),
            ("meta.llama3-1-8b-instruct-v1:0", false),
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", true),
        ] {
            let invocation = if converse {
                InvocationType::Converse
            } else {
                InvocationType::InvokeModel
            };
            let adapter = ModelAdapterRegistry::adapter_for(model, invocation);
            for strategy in adapter.strategies() {
                let spec = OutputSpec::new(model, *strategy, tool.clone(), Vec::new())?;
                let body = adapter.prepare_output(&input, spec.request())?;
                assert_eq!(detect_strategy(&body), *strategy, "{model} {body}");
            }
        }
        Ok(())
    }

    #[test]
    #[cfg(feature = "aws")]
    fn a_strategy_the_model_cannot_take_names_the_ones_it_can() {
        let model = "anthropic.claude-3-haiku-20240307-v1:0";
        let adapter = ModelAdapterRegistry::adapter_for(model, InvocationType::InvokeModel);
        let err = check_strategy(
            model,
            InvocationType::InvokeModel,
            adapter.as_ref(),
            OutputStrategy::JsonSchema,
        )
        .unwrap_err();
        assert!(err.contains(model) && err.contains("json-schema"), "{err}");
        assert!(
            err.ends_with("it can take forced-tool or json-in-prompt"),
            "{err}"
        );
        let opus_5 = "anthropic.claude-opus-5";
        let adapter = ModelAdapterRegistry::adapter_for(opus_5, InvocationType::InvokeModel);
        assert_eq!(
            check_strategy(
                opus_5,
                InvocationType::InvokeModel,
                adapter.as_ref(),
                OutputStrategy::JsonSchema
            ),
            Ok(true)
        );
    }
}
