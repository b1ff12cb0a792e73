//! The one object the registry stores for a model family: a request writer that says how its
//! answers are read.

use serde_json::Value;

use super::{AnswerReader, EmbeddingReader, Reads, RequestWriter, Usage};
use crate::error::RecordError;

/// One model family's adapter, as the [`ModelAdapterRegistry`](crate::ModelAdapterRegistry) stores it: a [`RequestWriter`]
/// that says how its answers are read. Every type that is a `RequestWriter` and an
/// [`AnswerReader`] is one already; an embedding adapter implements [`reads`](Self::reads) to
/// give its [`EmbeddingReader`].
///
/// Implement it to support a model llmbo does not know, and register it with
/// [`ModelAdapterRegistry::register`](crate::ModelAdapterRegistry::register) or hand it to one inferer.
///
/// ```
/// use llmbo::adapter::{AnswerReader, RequestWriter, Usage};
/// use llmbo::{Error, ModelAdapterRegistry, ModelInput, RecordError, ToolDefinition};
/// use serde_json::{json, Value};
///
/// #[derive(Debug)]
/// struct Echo;
///
/// impl RequestWriter for Echo {
///     fn name(&self) -> &str { "echo" }
///     fn prepare_model_input(&self, input: &ModelInput, _: Option<&ToolDefinition>) -> Result<Value, Error> {
///         input.validate()?;
///         Ok(json!({"text": input.messages[0].content}))
///     }
/// }
///
/// impl AnswerReader for Echo {
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
///
/// Migrating from 0.1: the one trait's methods are now on [`RequestWriter`] and
/// [`AnswerReader`] (move each into its `impl`), and `build_tool` is no longer part of the
/// trait (keep it as an inherent method if the adapter uses it).
pub trait ModelProviderAdapter: RequestWriter {
    /// How this adapter's answers are read.
    fn reads(&self) -> Reads<'_>;
}

impl<T: AnswerReader> ModelProviderAdapter for T {
    fn reads(&self) -> Reads<'_> {
        Reads::Answers(self)
    }
}

impl dyn ModelProviderAdapter + '_ {
    /// Its answer reader, or `None` for an embedding adapter.
    pub fn answers(&self) -> Option<&dyn AnswerReader> {
        match self.reads() {
            Reads::Answers(reader) => Some(reader),
            Reads::Embeddings(_) => None,
        }
    }

    /// Its embedding reader, or `None` for an adapter of a text or chat model.
    pub fn embeddings(&self) -> Option<&dyn EmbeddingReader> {
        match self.reads() {
            Reads::Embeddings(reader) => Some(reader),
            Reads::Answers(_) => None,
        }
    }

    /// The record's token counts, by whichever reader the adapter has.
    pub fn usage(&self, model_output: &Value) -> Option<Usage> {
        match self.reads() {
            Reads::Answers(reader) => reader.usage(model_output),
            Reads::Embeddings(reader) => reader.usage(model_output),
        }
    }

    /// Its answer reader, or the record's error when it reads vectors.
    pub(crate) fn answer_reader(&self) -> Result<&dyn AnswerReader, RecordError> {
        self.answers().ok_or_else(|| RecordError::MalformedOutput {
            message: "an embedding model answers with vectors, not tool calls".into(),
        })
    }

    /// Its embedding reader, or the record's error when it reads text.
    pub(crate) fn embedding_reader(&self) -> Result<&dyn EmbeddingReader, RecordError> {
        self.embeddings()
            .ok_or_else(|| RecordError::MalformedOutput {
                message: format!("the {} adapter reads no embeddings", self.name()),
            })
    }
}
