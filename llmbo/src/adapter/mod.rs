//! Model families: each adapter turns one provider-neutral [`ModelInput`] (plus the tool of a
//! structured job) into its family's request body, and reads the family's response back.
//!
//! | family | model ids | adapter |
//! |---|---|---|
//! | Anthropic Claude (Messages API, `tool_use`) | `anthropic.*` | [`AnthropicAdapter`] |
//! | Google Gemini (GenerateContent, on the Gemini API's batch mode) | `google.gemini*` | [`GeminiAdapter`] |
//! | Amazon Nova (`messages-v1`, `toolConfig`) | `amazon.nova*` | [`NovaAdapter`] |
//! | Mistral, JSON in the prompt (default) | `mistral.*` | [`MistralPromptAdapter`] |
//! | Mistral chat with `tool_calls` | opt in | [`MistralChatAdapter`] |
//! | Meta Llama 3.x / 4 (prompt template) | `meta.llama*` | [`LlamaAdapter`] |
//! | OpenAI gpt-oss (chat completions) | `openai.*` | [`OpenAiAdapter`] |
//! | OpenAI models, Responses API (on OpenAI's Batch API) | [`OpenAiEndpoint::Responses`](crate::model::OpenAiEndpoint) | [`OpenAiResponsesAdapter`] |
//! | any model, Converse invocation type | [`InvocationType::Converse`] | [`ConverseAdapter`] |
//! | Titan Text Embeddings V2 | `amazon.titan-embed-text-v2*` | [`TitanEmbedAdapter`] |
//! | Nova 2 multimodal embeddings | `amazon.nova-2-multimodal-embeddings*` | [`NovaEmbedAdapter`] |
//! | OpenAI text-embedding-3 (on OpenAI's Batch API) | `openai.text-embedding-3*` | [`OpenAiEmbedAdapter`] |
//! | Gemini embedding (on the Gemini API's batch mode) | `google.gemini-embedding*` | [`GeminiEmbedAdapter`] |
//! | anything else | | [`DefaultAdapter`] (Claude-shaped, with a warning) |
//!
//! Model ids are matched in every form Bedrock accepts: bare ids, cross-region inference
//! profiles (`us.`, `eu.`, `apac.`, `global.` …) and foundation-model or inference-profile ARNs.

#[macro_use]
mod prompt_only;

mod answer;
pub(crate) mod anthropic;
mod body;
mod converse;
mod embed;
mod gemini;
mod json_text;
mod llama;
mod media_blocks;
mod mistral;
mod nova;
pub(crate) mod object;
mod open_weight;
mod openai;
#[cfg(feature = "aws")]
mod output_spec;
pub(crate) mod registry;
mod responses;
mod schema_cache;
mod strategy;
#[cfg(test)]
pub(crate) mod test_support;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::embedding::Embedding;
use crate::error::{Error, RecordError};
use crate::model::RequestFamily;
use crate::model_input::ModelInput;
use crate::output::ToolDefinition;

#[doc(hidden)]
pub use crate::model::normalize_model_id;
#[doc(hidden)]
pub use crate::output::OutputStrategy;
use answer::answer_text;
pub use anthropic::{AnthropicAdapter, DefaultAdapter};
use body::{unwritten, with_schema_prompt};
pub use converse::ConverseAdapter;
#[cfg(feature = "aws")]
pub(crate) use embed::embedding_adapter;
pub use embed::{GeminiEmbedAdapter, NovaEmbedAdapter, OpenAiEmbedAdapter, TitanEmbedAdapter};
pub use gemini::GeminiAdapter;
pub use json_text::extract_json_object;
pub use llama::LlamaAdapter;
pub use mistral::{MistralChatAdapter, MistralPromptAdapter};
pub use nova::{NovaAdapter, NovaParamStyle};
#[doc(hidden)]
pub use object::ModelProviderAdapter;
pub use open_weight::{DeepSeekAdapter, QwenAdapter};
pub use openai::OpenAiAdapter;
#[cfg(feature = "aws")]
pub(crate) use output_spec::OutputSpec;
#[doc(hidden)]
pub use registry::ModelAdapterRegistry;
pub use responses::OpenAiResponsesAdapter;
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

/// Writes one model family's requests: the `modelInput` body of each record, and its JSONL
/// line. With [`AnswerReader`] (or [`EmbeddingReader`]) it makes a [`ModelProviderAdapter`],
/// the object the registry stores.
///
/// Implement the two required methods to support a model llmbo does not know; the provided
/// ones write structured jobs (the output strategies) and re-asks from them.
pub trait RequestWriter: Send + Sync + std::fmt::Debug {
    /// A short name for logs and errors, e.g. `anthropic`.
    fn name(&self) -> &str;

    /// The `modelInput` body for one record. With `tool`, the model is forced to call it
    /// (a structured job); without, the input's own tools and tool choice are used.
    fn prepare_model_input(
        &self,
        input: &ModelInput,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error>;

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
    /// [`AnswerReader::output_text`]). Which of them a model takes is decided with the
    /// table in [`STRUCTURED_OUTPUT_MODELS`].
    ///
    /// [`prepare_model_input`]: Self::prepare_model_input
    fn strategies(&self) -> &'static [OutputStrategy] {
        &[OutputStrategy::ForcedTool, OutputStrategy::JsonInPrompt]
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
    fn request_family(&self) -> RequestFamily {
        RequestFamily::Unknown
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
}

/// Reads one model family's answers: the tool call or text of each record's `modelOutput`,
/// and its token counts. Every adapter of a text or chat model is a [`RequestWriter`] and an
/// `AnswerReader`, which makes it a [`ModelProviderAdapter`].
pub trait AnswerReader: RequestWriter {
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

    /// Why the model stopped, in the family's words (`end_turn`, `max_tokens`, `length`, …),
    /// so an answer read from text can tell a cut one. The default knows none.
    fn stop_reason(&self, model_output: &Value) -> Option<String> {
        let _ = model_output;
        None
    }

    /// Whether this reader reads answers exactly as Claude's adapter does: a typed job may
    /// then read the tool input into its type in the line's own pass. Only llmbo's Claude
    /// adapter says so.
    #[doc(hidden)]
    fn answers_as_claude(&self) -> bool {
        false
    }

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
    /// A family that has no tools ([`strategies`](RequestWriter::strategies) is only
    /// `JsonInPrompt`) gives the JSON object its [`validate_result`](Self::validate_result)
    /// would find in the answer's text (Llama's and Mistral's prompt form do).
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

    /// The fast path for an answer in text (the JsonSchema strategy), from a whole output
    /// line: the record id, the answer's text and the usage, when the answer is complete (its
    /// stop reason a plain end) and its text is exactly what
    /// [`output_text`](Self::output_text) would give. `None` means "not sure": the line is
    /// then read the general way, which also says what is wrong. The default always says
    /// `None`.
    #[allow(clippy::type_complexity)] // an id, a text and a usage, as the tool fast path
    fn answer_text_line_fast<'a>(
        &self,
        line: &'a str,
    ) -> Option<(
        std::borrow::Cow<'a, str>,
        std::borrow::Cow<'a, str>,
        Option<Usage>,
    )> {
        let _ = line;
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

/// Reads an embedding model's answers: the vector of each record, and its token count.
/// An embedding adapter is a [`RequestWriter`] and an `EmbeddingReader`; its
/// [`ModelProviderAdapter::reads`] says [`Reads::Embeddings`].
pub trait EmbeddingReader: RequestWriter {
    /// The embedding in one record's answer.
    fn embedding(&self, model_output: &Value) -> Result<Embedding, RecordError>;

    /// The record's token counts, when the model reports them.
    fn usage(&self, model_output: &Value) -> Option<Usage>;

    /// A fast path for an embedding output line, `{"recordId": …, "modelOutput": …}`: the
    /// record id, its embedding and usage, read in one pass with the vector straight into
    /// `f32`s. `None` means "read it the slow way" ([`embedding`](Self::embedding)); the default.
    #[allow(clippy::type_complexity)] // an id, a value and a usage, as every fast path
    fn embedding_line_fast<'a>(
        &self,
        line: &'a str,
    ) -> Option<(std::borrow::Cow<'a, str>, Embedding, Option<Usage>)> {
        let _ = line;
        None
    }
}

/// How an adapter reads what its model answers.
#[derive(Clone, Copy)]
pub enum Reads<'a> {
    /// Text or tool calls (chat and text models).
    Answers(&'a dyn AnswerReader),
    /// Vectors (embedding models).
    Embeddings(&'a dyn EmbeddingReader),
}
