//! Untyped or structured: what one record's output becomes.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::adapter::{ModelProviderAdapter, OutputRequest, Usage, call_of, check_expected};
use crate::error::RecordError;
use crate::output::{BatchOutput, ToolDefinition};

/// The tool input's text as a `Value` (it was valid JSON inside a valid line).
fn tool_input_value(input: &RawValue) -> Result<Value, RecordError> {
    serde_json::from_str(input.get()).map_err(|err| RecordError::ToolInputNotJson {
        message: err.to_string(),
    })
}

mod sealed {
    pub trait Sealed {}
}

/// One output line read the fast way.
pub struct FastLine<'a, V> {
    /// The record it answers.
    pub record_id: Cow<'a, str>,
    /// Its value, or why it has none.
    pub outcome: Result<V, RecordError>,
    /// The tokens of the answer.
    pub usage: Option<Usage>,
    /// About how many bytes the value holds (the length of the answer's text in the line), so
    /// a reader can bound what it keeps.
    pub answer_bytes: usize,
}

/// A check of a run-time output tool's answers (a JSON-schema validator, say); see
/// [`Inferer::check_outputs`](crate::Inferer::check_outputs).
pub type OutputCheck = std::sync::Arc<dyn Fn(&Value) -> Result<(), RecordError> + Send + Sync>;

/// What a job returns per record: the raw model output ([`Untyped`]) or a parsed `T`
/// ([`Structured`]). Sealed: the two modes are all there is.
pub trait OutputMode: sealed::Sealed + Send + Sync + 'static {
    /// The value of one successful record.
    type Value: Send + 'static;

    /// The tool the model is asked to answer through, for structured jobs.
    fn tool() -> Option<ToolDefinition>;

    /// Every output type's tool (see [`BatchOutput::tool_definitions`]); empty for untyped jobs.
    fn tools() -> Vec<ToolDefinition>;

    /// The strategy the output type asks for (see [`BatchOutput::output_strategy`]).
    fn strategy() -> Option<crate::OutputStrategy>;

    /// Whether the records are embeddings ([`Embeddings`]).
    fn embeddings() -> bool;

    /// The fast path for the common answer, from a whole output line (see
    /// [`ModelProviderAdapter::output_line_fast`]): the record id, its outcome and usage, or
    /// `None` to read the line with [`parse`](Self::parse).
    #[doc(hidden)]
    fn parse_fast<'a>(
        adapter: &dyn ModelProviderAdapter,
        line: &'a str,
        output: Option<OutputRequest<'_>>,
    ) -> Option<FastLine<'a, Self::Value>>;

    /// Turns one `modelOutput` into the record's value.
    fn parse(
        adapter: &dyn ModelProviderAdapter,
        model_output: Value,
        output: Option<OutputRequest<'_>>,
    ) -> Result<Self::Value, RecordError>;

    /// Holds a parsed value to the run's [`OutputCheck`], if it has one.
    fn checked(
        outcome: Result<Self::Value, RecordError>,
        check: Option<&OutputCheck>,
    ) -> Result<Self::Value, RecordError>;
}

/// The tool input's text of the common answer, read in one pass: the tool strategies answer
/// in a tool call, whose input is JSON text inside the line; a family that has no tools answers
/// in text, whose first JSON object is its `validate_result`.
fn fast_input<'a>(
    adapter: &dyn ModelProviderAdapter,
    line: &'a str,
    output: OutputRequest<'_>,
) -> Option<(Cow<'a, str>, Cow<'a, RawValue>, Option<Usage>)> {
    let prompt_only = adapter.strategies() == [crate::OutputStrategy::JsonInPrompt];
    // A job of several types reads each call by its name, the slow way.
    if !(output.strategy.uses_tools() || prompt_only) || output.tools.len() > 1 {
        return None;
    }
    adapter.output_line_fast(line, output.tool)
}

/// Jobs whose records come back as the raw `modelOutput` JSON ([`BatchInferer`](crate::BatchInferer)).
#[derive(Debug, Clone, Copy, Default)]
pub struct Untyped;

impl sealed::Sealed for Untyped {}

impl OutputMode for Untyped {
    type Value = Value;

    fn tool() -> Option<ToolDefinition> {
        None
    }

    fn tools() -> Vec<ToolDefinition> {
        Vec::new()
    }

    fn strategy() -> Option<crate::OutputStrategy> {
        None
    }

    fn embeddings() -> bool {
        false
    }

    fn parse_fast<'a>(
        adapter: &dyn ModelProviderAdapter,
        line: &'a str,
        output: Option<OutputRequest<'_>>,
    ) -> Option<FastLine<'a, Value>> {
        let (record_id, input, usage) = fast_input(adapter, line, output?)?;
        Some(FastLine {
            record_id,
            outcome: tool_input_value(&input),
            usage,
            answer_bytes: input.get().len(),
        })
    }

    fn checked(
        outcome: Result<Value, RecordError>,
        check: Option<&OutputCheck>,
    ) -> Result<Value, RecordError> {
        match (outcome, check) {
            (Ok(value), Some(check)) => check(&value).map(|()| value),
            (outcome, _) => outcome,
        }
    }

    /// The raw `modelOutput`; with a run-time output tool, the JSON the model answered with.
    fn parse(
        adapter: &dyn ModelProviderAdapter,
        model_output: Value,
        output: Option<OutputRequest<'_>>,
    ) -> Result<Value, RecordError> {
        match output {
            Some(output) => adapter.read_output(&model_output, output),
            None => Ok(model_output),
        }
    }
}

/// Jobs whose records come back parsed into `T`
/// ([`StructuredBatchInferer`](crate::StructuredBatchInferer)).
#[derive(Debug)]
pub struct Structured<T>(PhantomData<fn() -> T>);

impl<T> sealed::Sealed for Structured<T> {}

impl<T: BatchOutput + Send + 'static> OutputMode for Structured<T> {
    type Value = T;

    fn tool() -> Option<ToolDefinition> {
        Some(T::tool_definition())
    }

    fn tools() -> Vec<ToolDefinition> {
        T::tool_definitions()
    }

    fn strategy() -> Option<crate::OutputStrategy> {
        T::output_strategy()
    }

    fn embeddings() -> bool {
        false
    }

    fn parse_fast<'a>(
        adapter: &dyn ModelProviderAdapter,
        line: &'a str,
        output: Option<OutputRequest<'_>>,
    ) -> Option<FastLine<'a, T>> {
        let (record_id, input, usage) = fast_input(adapter, line, output?)?;
        Some(FastLine {
            record_id,
            outcome: T::from_tool_input_str(input.get()),
            usage,
            answer_bytes: input.get().len(),
        })
    }

    /// A typed value is as strict as its type; there is nothing more to check.
    fn checked(
        outcome: Result<T, RecordError>,
        _check: Option<&OutputCheck>,
    ) -> Result<T, RecordError> {
        outcome
    }

    fn parse(
        adapter: &dyn ModelProviderAdapter,
        model_output: Value,
        output: Option<OutputRequest<'_>>,
    ) -> Result<T, RecordError> {
        let Some(output) = output else {
            return Err(RecordError::MalformedOutput {
                message: "a structured job has no output tool".into(),
            });
        };
        if output.tools.len() > 1 {
            if output.strategy.uses_tools() {
                let (name, input) = call_of(adapter, &model_output, output)?;
                return T::from_tool_call(&name, input);
            }
            // One schema of all the types: `{"<type>": {…}}`.
            let value = adapter.read_output(&model_output, output)?;
            if let Some(map) = value.as_object()
                && map.len() == 1
                && let Some(name) = map.keys().next()
            {
                check_expected(output.expected, name)?;
            }
            return T::from_tool_input(value);
        }
        T::from_tool_input(adapter.read_output(&model_output, output)?)
    }
}

/// Jobs whose records are embeddings
/// ([`EmbeddingBatchInferer`](crate::EmbeddingBatchInferer)): one [`Embedding`](crate::Embedding)
/// per input text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Embeddings;

impl sealed::Sealed for Embeddings {}

impl OutputMode for Embeddings {
    type Value = crate::Embedding;

    fn tool() -> Option<ToolDefinition> {
        None
    }

    fn tools() -> Vec<ToolDefinition> {
        Vec::new()
    }

    fn strategy() -> Option<crate::OutputStrategy> {
        None
    }

    fn embeddings() -> bool {
        true
    }

    fn parse_fast<'a>(
        adapter: &dyn ModelProviderAdapter,
        line: &'a str,
        _output: Option<OutputRequest<'_>>,
    ) -> Option<FastLine<'a, crate::Embedding>> {
        let (record_id, embedding, usage) = adapter.embedding_line_fast(line)?;
        // As kept: the vector's numbers, not their text.
        let answer_bytes = embedding.held_bytes();
        Some(FastLine {
            record_id,
            outcome: Ok(embedding),
            usage,
            answer_bytes,
        })
    }

    fn parse(
        adapter: &dyn ModelProviderAdapter,
        model_output: Value,
        _output: Option<OutputRequest<'_>>,
    ) -> Result<crate::Embedding, RecordError> {
        adapter.embedding(&model_output)
    }

    fn checked(
        outcome: Result<crate::Embedding, RecordError>,
        _check: Option<&OutputCheck>,
    ) -> Result<crate::Embedding, RecordError> {
        outcome
    }
}
