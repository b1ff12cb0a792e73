//! Model families: each adapter turns one provider-neutral [`ModelInput`] (plus the tool of a
//! structured job) into its family's request body, and reads the family's response back.
//!
//! | family | model ids | adapter |
//! |---|---|---|
//! | Anthropic Claude (Messages API, `tool_use`) | `anthropic.*` | [`AnthropicAdapter`] |
//! | Amazon Nova (`messages-v1`, `toolConfig`) | `amazon.nova*` | [`NovaAdapter`] |
//! | Mistral, JSON in the prompt (default) | `mistral.*` | [`MistralPromptAdapter`] |
//! | Mistral chat with `tool_calls` | opt in | [`MistralChatAdapter`] |
//! | Meta Llama 3.x / 4 (prompt template) | `meta.llama*` | [`LlamaAdapter`] |
//! | OpenAI gpt-oss (chat completions) | `openai.*` | [`OpenAiAdapter`] |
//! | any model, Converse invocation type | [`InvocationType::Converse`] | [`ConverseAdapter`] |
//! | Titan Text Embeddings V2 | `amazon.titan-embed-text-v2*` | [`TitanEmbedAdapter`] |
//! | Nova 2 multimodal embeddings | `amazon.nova-2-multimodal-embeddings*` | [`NovaEmbedAdapter`] |
//! | anything else | | [`DefaultAdapter`] (Claude-shaped, with a warning) |
//!
//! Model ids are matched in every form Bedrock accepts: bare ids, cross-region inference
//! profiles (`us.`, `eu.`, `apac.`, `global.` …) and foundation-model or inference-profile ARNs.

/// The output methods of a family without tools (Llama, Mistral's prompt format): JsonInPrompt
/// only, through the adapter's own `prepare_model_input`/`write_input_line` with the tool (which
/// put the schema in the prompt) and `validate_result` (which finds the JSON in the text).
macro_rules! prompt_only_output {
    () => {
        /// The schema goes in the prompt: the family has no tools.
        fn strategies(&self) -> &'static [OutputStrategy] {
            &[OutputStrategy::JsonInPrompt]
        }

        fn prepare_output(
            &self,
            input: &ModelInput,
            output: OutputRequest<'_>,
        ) -> Result<Value, Error> {
            match output.strategy {
                OutputStrategy::JsonInPrompt => self.prepare_model_input(input, Some(output.sent)),
                other => Err(super::unwritten(self.name(), other)),
            }
        }

        fn write_output_line(
            &self,
            record_id: &str,
            input: &ModelInput,
            output: OutputRequest<'_>,
            out: &mut Vec<u8>,
        ) -> Result<(), Error> {
            match output.strategy {
                OutputStrategy::JsonInPrompt => {
                    self.write_input_line(record_id, input, Some(output.sent), out)
                }
                other => Err(super::unwritten(self.name(), other)),
            }
        }

        fn read_output(
            &self,
            model_output: &Value,
            output: OutputRequest<'_>,
        ) -> Result<Value, RecordError> {
            self.validate_result(model_output, output.tool)
        }
    };
}

mod anthropic;
mod converse;
mod embed;
mod json_text;
mod llama;
mod mistral;
mod nova;
mod open_weight;
mod openai;
#[cfg(feature = "aws")]
mod output_spec;
mod registry;
mod strategy;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, RecordError};
use crate::input::{ModelInput, ToolChoice};
use crate::output::ToolDefinition;

#[doc(hidden)]
pub use crate::model::normalize_model_id;
#[doc(hidden)]
pub use crate::output::OutputStrategy;
pub use anthropic::{AnthropicAdapter, DefaultAdapter};
pub use converse::ConverseAdapter;
#[cfg(feature = "aws")]
pub(crate) use embed::embedding_adapter;
pub use embed::{NovaEmbedAdapter, TitanEmbedAdapter};
pub use json_text::extract_json_object;
pub use llama::LlamaAdapter;
pub use mistral::{MistralChatAdapter, MistralPromptAdapter};
pub use nova::{NovaAdapter, NovaParamStyle};
pub use open_weight::{DeepSeekAdapter, QwenAdapter};
pub use openai::OpenAiAdapter;
#[cfg(feature = "aws")]
pub(crate) use output_spec::OutputSpec;
pub use registry::ModelAdapterRegistry;
pub use strategy::{
    NativeSupport, NativeSupportRow, OutputRequest, STRUCTURED_OUTPUT_MODELS, default_strategy,
    detect_strategy, native_support, strategies_for,
};
#[cfg(feature = "aws")]
pub(crate) use strategy::{legacy_strategy, resolve as resolve_output};

/// Token counts of one record, as the model reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens read.
    pub input_tokens: u64,
    /// Tokens written.
    pub output_tokens: u64,
}

/// How Bedrock invokes the model for every record of a job (`modelInvocationType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvocationType {
    /// Each `modelInput` is the model's native InvokeModel body (the default; tools work).
    #[default]
    InvokeModel,
    /// Each `modelInput` is a Converse request body, the same for every model. Bedrock
    /// refuses tools in Converse batch jobs, so structured jobs cannot use it.
    Converse,
}

impl InvocationType {
    /// The name Bedrock uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::InvokeModel => "InvokeModel",
            InvocationType::Converse => "Converse",
        }
    }
}

/// Knows one model family's request and response bodies.
///
/// Implement it to support a model llmbo does not know, and register it with
/// [`ModelAdapterRegistry::register`] or hand it to one inferer.
///
/// ```
/// use llmbo::adapter::{ModelAdapterRegistry, ModelProviderAdapter, Usage};
/// use llmbo::{Error, ModelInput, RecordError, ToolDefinition};
/// use serde_json::{json, Value};
///
/// #[derive(Debug)]
/// struct Echo;
///
/// impl ModelProviderAdapter for Echo {
///     fn name(&self) -> &str { "echo" }
///     fn prepare_model_input(&self, input: &ModelInput, _: Option<&ToolDefinition>) -> Result<Value, Error> {
///         input.validate()?;
///         Ok(json!({"text": input.messages[0].content}))
///     }
///     fn build_tool(&self, tool: &ToolDefinition) -> Value { json!({"name": tool.name}) }
///     fn validate_result(&self, output: &Value, _: &ToolDefinition) -> Result<Value, RecordError> {
///         output.get("json").cloned().ok_or(RecordError::NoToolCall { stop_reason: None })
///     }
///     fn output_text(&self, output: &Value) -> Option<String> {
///         output.get("text")?.as_str().map(str::to_owned)
///     }
///     fn usage(&self, _: &Value) -> Option<Usage> { None }
/// }
///
/// ModelAdapterRegistry::register("my-model.*", Echo)?;
/// assert_eq!(ModelAdapterRegistry::get_adapter("my-model-v1").name(), "echo");
/// assert!(ModelAdapterRegistry::register("my-model(", Echo).is_err());
/// # Ok::<(), llmbo::Error>(())
/// ```
pub trait ModelProviderAdapter: Send + Sync + std::fmt::Debug {
    /// A short name for logs and errors, e.g. `anthropic`.
    fn name(&self) -> &str;

    /// The `modelInput` body for one record. With `tool`, the model is forced to call it
    /// (a structured job); without, the input's own tools and tool choice are used.
    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error>;

    /// The tool in the family's own format.
    fn build_tool(&self, tool: &ToolDefinition) -> Value;

    /// The input the model gave `tool`, or exactly why there is none.
    fn validate_result(
        &self,
        model_output: &Value,
        tool: &ToolDefinition,
    ) -> Result<Value, RecordError>;

    /// The text the model wrote, for untyped jobs.
    fn output_text(&self, model_output: &Value) -> Option<String>;

    /// The record's token counts, when the family reports them.
    fn usage(&self, model_output: &Value) -> Option<Usage>;

    /// A fast path for reading the common answer: when `model_output` (raw JSON text) is a
    /// well-formed answer that calls `tool` once, the tool input's JSON text and the record's
    /// usage, read without building a `Value` tree. `None` means "not sure": the answer is then
    /// read with [`validate_result`](Self::validate_result), which also says what is wrong.
    /// An override must agree with `validate_result` and `usage` wherever it answers. The
    /// default always says `None`.
    fn tool_input_fast<'a>(
        &self,
        model_output: &'a serde_json::value::RawValue,
        tool: &ToolDefinition,
    ) -> Option<(&'a serde_json::value::RawValue, Option<Usage>)> {
        let _ = (model_output, tool);
        None
    }

    /// The fast path for a whole output line, `{"recordId": …, "modelOutput": …}`: the
    /// record id, the tool input's JSON text and the usage, as
    /// [`tool_input_fast`](Self::tool_input_fast) would read them from the line's
    /// `modelOutput`. The default does just that; an adapter may read the line in one pass
    /// (Claude's, Nova's and Converse's do). The input is borrowed from the line where it
    /// stands in it as JSON, and owned where the family sends it as a JSON *string* (the chat
    /// completions' `arguments`). `None` means "not sure", as for `tool_input_fast`.
    ///
    /// A family that has no tools ([`strategies`](Self::strategies) is only `JsonInPrompt`)
    /// gives the JSON object its [`validate_result`](Self::validate_result) would find in the
    /// answer's text (Llama's and Mistral's prompt form do).
    #[allow(clippy::type_complexity)] // an id, an input and a usage; a named type would add API
    fn output_line_fast<'a>(
        &self,
        line: &'a str,
        tool: &ToolDefinition,
    ) -> Option<(
        std::borrow::Cow<'a, str>,
        std::borrow::Cow<'a, serde_json::value::RawValue>,
        Option<Usage>,
    )> {
        let (record_id, model_output) = crate::jsonl::fast_output_line(line)?;
        let (input, usage) = self.tool_input_fast(model_output, tool)?;
        Some((record_id, std::borrow::Cow::Borrowed(input), usage))
    }

    /// Appends the record's JSONL input line, `{"recordId": …, "modelInput": …}` and a newline,
    /// as a run writes it. The default builds the body with
    /// [`prepare_model_input`](Self::prepare_model_input); an adapter may write the same bytes
    /// without building a `Value` (Claude's does), which is what makes preparing large runs
    /// cheap. On error nothing is appended.
    fn write_input_line(
        &self,
        record_id: &str,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let body = self.prepare_model_input(input, tool)?;
        crate::jsonl::encode_input_line(record_id, &body, out);
        Ok(())
    }

    /// The [`OutputStrategy`]s this adapter writes. The default, for an adapter that only
    /// implements the methods above: ForcedTool (its [`prepare_model_input`] with the tool)
    /// and JsonInPrompt (the schema in the system prompt, the JSON read from
    /// [`output_text`](Self::output_text)). Which of them a model takes is decided with the
    /// table in [`STRUCTURED_OUTPUT_MODELS`].
    ///
    /// [`prepare_model_input`]: Self::prepare_model_input
    fn strategies(&self) -> &'static [OutputStrategy] {
        &[OutputStrategy::ForcedTool, OutputStrategy::JsonInPrompt]
    }

    /// Why the model stopped, in the family's words (`end_turn`, `max_tokens`, `length`, …),
    /// so an answer read from text can tell a cut one. The default knows none.
    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        let _ = model_output;
        None
    }

    /// The `modelInput` body for one record of a structured job, asking for the answer the
    /// way `output.strategy` says. The default writes ForcedTool and JsonInPrompt (see
    /// [`strategies`](Self::strategies)) and refuses the others.
    fn prepare_output(
        &self,
        input: &ModelInput,
        output: OutputRequest<'_>,
    ) -> Result<Value, Error> {
        match output.strategy {
            OutputStrategy::ForcedTool => self.prepare_model_input(input, Some(output.sent)),
            OutputStrategy::JsonInPrompt => {
                self.prepare_model_input(&with_schema_prompt(input, output.sent)?, None)
            }
            other => Err(unwritten(self.name(), other)),
        }
    }

    /// [`write_input_line`](Self::write_input_line) for a structured job: the record's line
    /// with the body [`prepare_output`](Self::prepare_output) writes. The default takes the
    /// fast writer for ForcedTool.
    fn write_output_line(
        &self,
        record_id: &str,
        input: &ModelInput,
        output: OutputRequest<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if output.strategy == OutputStrategy::ForcedTool {
            return self.write_input_line(record_id, input, Some(output.sent), out);
        }
        let body = self.prepare_output(input, output)?;
        crate::jsonl::encode_input_line(record_id, &body, out);
        Ok(())
    }

    /// Which family's request rules the bodies this adapter writes are held to before upload
    /// (see [`crate::preflight`]). The default, for an adapter llmbo does not know: none, so
    /// only each body's size and JSON shape are checked.
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::Unknown
    }

    /// The embedding in an embedding model's answer. The default: not an embedding model.
    fn embedding(&self, model_output: &Value) -> Result<crate::embedding::Embedding, RecordError> {
        let _ = model_output;
        Err(RecordError::MalformedOutput {
            message: format!("the {} adapter reads no embeddings", self.name()),
        })
    }

    /// A fast path for an embedding output line, `{"recordId": …, "modelOutput": …}`: the
    /// record id, its embedding and usage, read in one pass with the vector straight into
    /// `f32`s. `None` means "read it the slow way" ([`embedding`](Self::embedding)); the default.
    #[allow(clippy::type_complexity)] // an id, a value and a usage, as every fast path
    fn embedding_line_fast<'a>(
        &self,
        line: &'a str,
    ) -> Option<(
        std::borrow::Cow<'a, str>,
        crate::embedding::Embedding,
        Option<Usage>,
    )> {
        let _ = line;
        None
    }

    /// The body of a follow-up request (re-ask): `request`, then the model's own `answer` as
    /// its turn, then a turn that tells it `problem` (why the answer could not be used), in
    /// the family's own form (Claude: a `tool_result` with `is_error: true`; Converse: a
    /// `toolResult` with status `error`; chat completions: a `tool` message; otherwise a
    /// user turn). `None` where the family's request cannot carry a conversation (the
    /// default): such records are not re-asked.
    fn reask_body(&self, request: &Value, answer: &Value, problem: &str) -> Option<Value> {
        let _ = (request, answer, problem);
        None
    }

    /// The JSON the output type is read from, out of one record's `modelOutput`: the tool
    /// input for the tool strategies ([`validate_result`](Self::validate_result)), the
    /// answer's text as JSON for JsonSchema, the first JSON object in the text for
    /// JsonInPrompt. A cut answer is [`RecordError::Truncated`] under every strategy.
    fn read_output(
        &self,
        model_output: &Value,
        output: OutputRequest<'_>,
    ) -> Result<Value, RecordError> {
        match output.strategy {
            OutputStrategy::ForcedTool | OutputStrategy::StrictTool => {
                self.validate_result(model_output, output.tool)
            }
            OutputStrategy::JsonSchema => {
                let text = answer_text(self, model_output)?;
                serde_json::from_str(text.trim()).map_err(|err| RecordError::ToolInputNotJson {
                    message: err.to_string(),
                })
            }
            OutputStrategy::JsonInPrompt => {
                let text = answer_text(self, model_output)?;
                extract_json_object(&text)
            }
        }
    }
}

/// The answer's text for the text strategies, after its stop reason was checked.
fn answer_text<A: ModelProviderAdapter + ?Sized>(
    adapter: &A,
    model_output: &Value,
) -> Result<String, RecordError> {
    check_stop(adapter.stop_reason(model_output).as_deref())?;
    adapter
        .output_text(model_output)
        .ok_or_else(|| RecordError::MalformedOutput {
            message: format!("the {} answer has no text", adapter.name()),
        })
}

/// The error for a strategy an adapter does not write.
pub(crate) fn unwritten(adapter: &str, strategy: OutputStrategy) -> Error {
    Error::InvalidConfig {
        field: "output_strategy",
        reason: format!("the {adapter} adapter does not write output strategy {strategy}"),
    }
}

/// `input`, checked, without tools: the input of a native structured-output request.
pub(crate) fn without_tools(
    input: &ModelInput,
    tool: &ToolDefinition,
) -> Result<ModelInput, Error> {
    validate_input(input, Some(tool))?;
    let mut input = input.clone();
    input.tools.clear();
    input.tool_choice = None;
    Ok(input)
}

/// Sets `strict: true` on a tool object, or on its `function` or `toolSpec` (StrictTool).
pub(crate) fn mark_strict(tool: Option<&mut Value>) {
    let Some(Value::Object(tool)) = tool else {
        return;
    };
    let target = if tool.contains_key("function") {
        tool.get_mut("function")
    } else if tool.contains_key("toolSpec") {
        tool.get_mut("toolSpec")
    } else {
        None
    };
    match target {
        Some(Value::Object(inner)) => inner.insert("strict".into(), Value::Bool(true)),
        _ => tool.insert("strict".into(), Value::Bool(true)),
    };
}

/// `input` with the schema instruction after its system prompt (JsonInPrompt), and no tools.
pub(crate) fn with_schema_prompt(
    input: &ModelInput,
    tool: &ToolDefinition,
) -> Result<ModelInput, Error> {
    validate_input(input, Some(tool))?;
    let mut input = input.clone();
    let instruction = schema_instruction(tool);
    input.system = Some(match input.system.take() {
        Some(system) => format!("{system}\n\n{instruction}"),
        None => instruction,
    });
    input.tools.clear();
    input.tool_choice = None;
    Ok(input)
}

/// A JSONL input line written from borrowed parts: `{"recordId": …, "modelInput": …}`, the
/// members in the order `encode_input_line` writes them.
#[derive(Serialize)]
pub(crate) struct InputLine<'a, B> {
    #[serde(rename = "recordId")]
    pub(crate) record_id: &'a str,
    #[serde(rename = "modelInput")]
    pub(crate) model_input: B,
}

/// Appends `line` as one line of JSON and a newline, as a `write_input_line` that writes
/// from borrowed parts does; on error nothing is appended.
pub(crate) fn write_json_line(line: &impl Serialize, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    match serde_json::to_writer(&mut *out, line) {
        Ok(()) => {
            out.push(b'\n');
            Ok(())
        }
        Err(err) => {
            out.truncate(start);
            Err(Error::invalid_request(format!(
                "the request cannot be written as JSON: {err}"
            )))
        }
    }
}

/// Reads `T` from all of `text` through [`Strict`](crate::strict_json::Strict), or `None`.
pub(crate) fn strict_from_str<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Option<T> {
    let mut stream = serde_json::Deserializer::from_str(text);
    let value = T::deserialize(crate::strict_json::Strict(&mut stream)).ok()?;
    stream.end().ok()?;
    Some(value)
}

/// An output line with its `modelOutput` read as `F` in the same pass: the one-pass form of
/// an adapter's fast path. Other members (the echoed `modelInput`, …) are skipped.
pub(crate) fn fast_line<'a, F: serde::Deserialize<'a>>(
    line: &'a str,
) -> Option<(std::borrow::Cow<'a, str>, F)> {
    #[derive(serde::Deserialize)]
    struct Line<'a, F> {
        #[serde(rename = "recordId", borrow)]
        record_id: std::borrow::Cow<'a, str>,
        #[serde(rename = "modelOutput")]
        model_output: F,
    }
    let line: Line<'a, F> = strict_from_str(line)?;
    Some((line.record_id, line.model_output))
}

/// The tools to send and the choice to force: a structured job's one tool (forced), else the
/// input's own.
pub(crate) fn tools_and_choice<'a>(
    input: &'a ModelInput,
    forced: Option<&'a ToolDefinition>,
) -> (Vec<&'a ToolDefinition>, Option<ToolChoice>) {
    match forced {
        Some(tool) => (
            vec![tool],
            Some(ToolChoice::Tool {
                name: tool.name.clone(),
            }),
        ),
        None => (input.tools.iter().collect(), input.tool_choice.clone()),
    }
}

/// Checks the input before any adapter turns it into a body.
pub(crate) fn validate_input(
    input: &ModelInput,
    forced: Option<&ToolDefinition>,
) -> Result<(), Error> {
    input.validate()?;
    if let Some(tool) = forced
        && tool.name.is_empty()
    {
        return Err(Error::invalid_request("the output tool has an empty name"));
    }
    Ok(())
}

/// What a stop reason means for a structured answer.
pub(crate) enum StopKind {
    /// The answer is complete (or the family gives no reason).
    Complete,
    /// Cut off by the output-token limit.
    Truncated,
    /// Stopped for a reason that leaves no usable answer (refusal, content filter, …).
    Refused(String),
}

/// Classifies a stop reason by the words families use for it.
pub(crate) fn classify_stop(reason: Option<&str>) -> StopKind {
    match reason {
        Some("max_tokens" | "length" | "model_context_window_exceeded") => StopKind::Truncated,
        Some(
            reason @ ("refusal"
            | "guardrail_intervened"
            | "content_filtered"
            | "content_filter"
            | "malformed_model_output"
            | "malformed_tool_use"),
        ) => StopKind::Refused(reason.to_owned()),
        _ => StopKind::Complete,
    }
}

/// Turns a stop reason that spoils the answer into its error.
pub(crate) fn check_stop(reason: Option<&str>) -> Result<(), RecordError> {
    match classify_stop(reason) {
        StopKind::Complete => Ok(()),
        StopKind::Truncated => Err(RecordError::Truncated),
        StopKind::Refused(stop_reason) => Err(RecordError::UnexpectedStopReason { stop_reason }),
    }
}

/// The object at the top of a model output, or a `MalformedOutput` naming the family.
pub(crate) fn as_object<'a>(
    model_output: &'a Value,
    family: &str,
) -> Result<&'a Map<String, Value>, RecordError> {
    model_output
        .as_object()
        .ok_or_else(|| RecordError::MalformedOutput {
            message: format!("a {family} response is a JSON object, this is not"),
        })
}

/// Picks the single call of the expected tool out of `(name, input)` pairs.
pub(crate) fn single_call(
    calls: Vec<(Option<&str>, Result<Value, RecordError>)>,
    tool: &ToolDefinition,
    stop_reason: Option<&str>,
) -> Result<Value, RecordError> {
    if calls.is_empty() {
        check_stop(stop_reason)?;
        return Err(RecordError::NoToolCall {
            stop_reason: stop_reason.map(str::to_owned),
        });
    }
    check_stop(stop_reason)?;
    if calls.len() > 1 {
        return Err(RecordError::MultipleToolCalls { count: calls.len() });
    }
    let Some((name, input)) = calls.into_iter().next() else {
        return Err(RecordError::NoToolCall { stop_reason: None });
    };
    match name {
        Some(name) if name == tool.name => input,
        Some(other) => Err(RecordError::WrongTool {
            expected: tool.name.clone(),
            found: other.to_owned(),
        }),
        None => Err(RecordError::MalformedOutput {
            message: "the tool call has no name".into(),
        }),
    }
}

/// Parses tool arguments that arrive as a JSON string (Mistral, OpenAI).
pub(crate) fn parse_arguments(arguments: Option<&Value>) -> Result<Value, RecordError> {
    match arguments {
        Some(Value::String(text)) => {
            serde_json::from_str(text).map_err(|err| RecordError::ToolInputNotJson {
                message: err.to_string(),
            })
        }
        // Some servers send the arguments already parsed.
        Some(value @ Value::Object(_)) => Ok(value.clone()),
        Some(_) | None => Err(RecordError::MalformedOutput {
            message: "the tool call has no `arguments` string".into(),
        }),
    }
}

/// A JSON object from its members. Building values directly (not through `json!`, which
/// serializes every embedded `Value` again) keeps preparing 50,000 bodies cheap.
pub(crate) fn obj<const N: usize>(members: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (key, value) in members {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

/// A JSON string.
pub(crate) fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// Inserts `value` under `key` when it is set.
pub(crate) fn put(body: &mut Map<String, Value>, key: &str, value: Option<impl Serialize>) {
    if let Some(value) = value
        && let Ok(value) = serde_json::to_value(value)
    {
        body.insert(key.to_owned(), value);
    }
}

/// Reads a non-negative integer count.
pub(crate) fn count(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

/// A tool's schema, written as the compact JSON it serializes to. A run writes every record
/// with the same schema, so each thread keeps the last one written and copies its text while
/// the schema asked for is equal (comparing two schemas costs a fraction of writing one).
pub(crate) struct SchemaJson<'a>(pub(crate) &'a Value);

impl Serialize for SchemaJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        thread_local! {
            static LAST: std::cell::RefCell<Option<(Value, Box<serde_json::value::RawValue>)>> =
                const { std::cell::RefCell::new(None) };
        }
        LAST.with(|last| {
            let Ok(mut last) = last.try_borrow_mut() else {
                return self.0.serialize(serializer);
            };
            if !matches!(last.as_ref(), Some((schema, _)) if schema == self.0) {
                match serde_json::value::to_raw_value(self.0) {
                    Ok(raw) => *last = Some((self.0.clone(), raw)),
                    Err(_) => return self.0.serialize(serializer),
                }
            }
            match last.as_ref() {
                Some((_, raw)) => raw.serialize(serializer),
                None => self.0.serialize(serializer),
            }
        })
    }
}

/// The system prompt followed by the schema instruction, for families without tools.
pub(crate) fn schema_instruction(tool: &ToolDefinition) -> String {
    // A run asks every record with the same tool: the instruction is made once per thread
    // and tool (comparing the tool is cheaper than writing its schema again).
    thread_local! {
        static LAST: std::cell::RefCell<Option<(ToolDefinition, String)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((cached, instruction)) = last.as_ref()
            && cached == tool
        {
            return instruction.clone();
        }
        // Compact JSON: the schema is sent once per record, so every byte is paid for many
        // times.
        let schema = serde_json::to_string(&tool.input_schema).unwrap_or_default();
        let instruction = format!(
            "{}\nAnswer with one JSON object that follows this JSON schema, and nothing else:\n{schema}",
            tool.description
        );
        *last = Some((tool.clone(), instruction.clone()));
        instruction
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::json;

    use crate::{input::ModelInput, output::ToolDefinition};

    pub(crate) fn person_tool() -> ToolDefinition {
        ToolDefinition {
            name: "Person".into(),
            description: "A person.".into(),
            input_schema: json!({"type": "object", "properties": {"name": {"type": "string"}},
                                 "required": ["name"]}),
        }
    }

    /// Every field of `ModelInput` set, over three turns.
    pub(crate) fn sample_input() -> ModelInput {
        ModelInput::new()
            .system("Extract people.")
            .user("Ada is 36.")
            .assistant("Noted.")
            .user("Extract.")
            .max_tokens(300)
            .temperature(0.0)
            .top_p(0.5)
            .top_k(40)
            .stop_sequences(["END"])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::schema_instruction;
    use crate::output::ToolDefinition;

    #[test]
    fn the_schema_instruction_is_each_tools_own() {
        let tool = |name: &str, field: &str| ToolDefinition {
            name: name.into(),
            description: format!("About {name}."),
            input_schema: json!({"type": "object", "properties": {field: {"type": "string"}}}),
        };
        let (a, b) = (tool("A", "alpha"), tool("B", "beta"));
        // Alternating, and the same tool again: each answer names its own tool and schema.
        for _ in 0..2 {
            let for_a = schema_instruction(&a);
            assert!(for_a.starts_with("About A.") && for_a.contains("\"alpha\""));
            let for_b = schema_instruction(&b);
            assert!(for_b.starts_with("About B.") && for_b.contains("\"beta\""));
            assert_eq!(schema_instruction(&b), for_b);
        }
        // A tool changed in place is not answered from the cache.
        let mut changed = a.clone();
        changed.input_schema = json!({"type": "object", "properties": {"gamma": {}}});
        assert!(schema_instruction(&changed).contains("\"gamma\""));
    }
}
