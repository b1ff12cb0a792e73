//! Untyped, structured or embeddings: what one record's output becomes, read from one output
//! line the way a run reads it.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde_json::Value;

use crate::adapter::object::ModelProviderAdapter;
use crate::adapter::{OutputRequest, Usage};
use crate::error::RecordError;
use crate::output::{BatchOutput, ToolDefinition};

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
    fn strategy() -> Option<crate::output::OutputStrategy>;

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
/// in text, whose first JSON object is its `validate_result`. The JSON-schema strategy's text
/// is not looked through here: the caller reads it, and leaves a text that is not JSON to the
/// general path, which says so as it always has.
fn fast_input<'a>(
    adapter: &dyn ModelProviderAdapter,
    line: &'a str,
    output: OutputRequest<'_>,
) -> Option<(Cow<'a, str>, Cow<'a, str>, Option<Usage>)> {
    let prompt_only = adapter.strategies() == [crate::output::OutputStrategy::JsonInPrompt];
    // A job of several types reads each call by its name, the slow way.
    if output.tools.len() > 1 {
        return None;
    }
    if output.strategy == crate::output::OutputStrategy::JsonSchema && !prompt_only {
        return adapter.answers()?.answer_text_line_fast(line);
    }
    if !(output.strategy.uses_tools() || prompt_only) {
        return None;
    }
    let (record_id, input, usage) = adapter.answers()?.output_line_fast(line, output.tool)?;
    let input = match input {
        Cow::Borrowed(raw) => Cow::Borrowed(raw.get()),
        Cow::Owned(raw) => Cow::Owned(String::from(Box::<str>::from(raw))),
    };
    Some((record_id, input, usage))
}

/// A batch API's Claude answer read in one pass, the tool input straight into `T` (see
/// [`typed_output_line`](crate::adapter::anthropic::typed_output_line)), when the job reads
/// it through one tool. Only lines as a batch API serves them, where the line is about the
/// size of its answer (a Bedrock line also echoes the request): the line's length is what the
/// outcome is taken to hold.
fn typed_claude_line<'a, T: BatchOutput>(
    adapter: &dyn ModelProviderAdapter,
    line: &'a str,
    output: OutputRequest<'_>,
) -> Option<FastLine<'a, T>> {
    if !T::READS_IN_LINE
        || output.tools.len() > 1
        || !output.strategy.uses_tools()
        || !crate::jsonl::reading_a_batch_api()
        || !adapter.answers()?.answers_as_claude()
    {
        return None;
    }
    let (record_id, value, usage) =
        crate::adapter::anthropic::typed_output_line::<T>(line, output.tool)?;
    Some(FastLine {
        record_id,
        outcome: Ok(value),
        usage,
        answer_bytes: line.len(),
    })
}

/// Whether `text` is JSON (what a fast outcome that failed checks before it stands: a text
/// that is not JSON goes the general way).
fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
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

    fn strategy() -> Option<crate::output::OutputStrategy> {
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
        let outcome = serde_json::from_str(&input).ok()?;
        Some(FastLine {
            record_id,
            outcome: Ok(outcome),
            usage,
            answer_bytes: input.len(),
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
            Some(output) => adapter.answer_reader()?.read_output(&model_output, output),
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

    fn strategy() -> Option<crate::output::OutputStrategy> {
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
        let output = output?;
        if let Some(fast) = typed_claude_line(adapter, line, output) {
            return Some(fast);
        }
        let (record_id, input, usage) = fast_input(adapter, line, output)?;
        let outcome = T::from_tool_input_str(&input);
        if outcome.is_err() && !is_json(&input) {
            return None;
        }
        Some(FastLine {
            record_id,
            outcome,
            usage,
            answer_bytes: input.len(),
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
            let value = adapter
                .answer_reader()?
                .read_output(&model_output, output)?;
            if let Some(map) = value.as_object()
                && map.len() == 1
                && let Some(name) = map.keys().next()
            {
                check_expected(output.expected, name)?;
            }
            return T::from_tool_input(value);
        }
        T::from_tool_input(
            adapter
                .answer_reader()?
                .read_output(&model_output, output)?,
        )
    }
}

/// Jobs whose records are embeddings
/// ([`EmbeddingBatchInferer`](crate::EmbeddingBatchInferer)): one [`Embedding`](crate::embedding::Embedding)
/// per input text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Embeddings;

impl sealed::Sealed for Embeddings {}

impl OutputMode for Embeddings {
    type Value = crate::embedding::Embedding;

    fn tool() -> Option<ToolDefinition> {
        None
    }

    fn tools() -> Vec<ToolDefinition> {
        Vec::new()
    }

    fn strategy() -> Option<crate::output::OutputStrategy> {
        None
    }

    fn embeddings() -> bool {
        true
    }

    fn parse_fast<'a>(
        adapter: &dyn ModelProviderAdapter,
        line: &'a str,
        _output: Option<OutputRequest<'_>>,
    ) -> Option<FastLine<'a, crate::embedding::Embedding>> {
        let (record_id, embedding, usage) = adapter.embeddings()?.embedding_line_fast(line)?;
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
    ) -> Result<crate::embedding::Embedding, RecordError> {
        adapter.embedding_reader()?.embedding(&model_output)
    }

    fn checked(
        outcome: Result<crate::embedding::Embedding, RecordError>,
        _check: Option<&OutputCheck>,
    ) -> Result<crate::embedding::Embedding, RecordError> {
        outcome
    }
}

/// The call in a structured answer of several output types: `(tool name, input)`. The
/// adapter's own reader picks the call of one named tool; asked for the first, a call of
/// another is a `WrongTool` naming it, which is then read as that tool's.
pub(crate) fn call_of(
    adapter: &dyn ModelProviderAdapter,
    model_output: &Value,
    request: OutputRequest<'_>,
) -> Result<(String, Value), RecordError> {
    let Some(first) = request.tools.first() else {
        return Err(RecordError::MalformedOutput {
            message: "a structured job has no output tool".into(),
        });
    };
    let reader = adapter.answer_reader()?;
    let (name, input) = match reader.validate_result(model_output, first) {
        Ok(input) => (first.name.clone(), input),
        Err(RecordError::WrongTool { found, .. }) => {
            match request.tools.iter().find(|t| t.name == found) {
                Some(tool) => (found, reader.validate_result(model_output, tool)?),
                None => {
                    return Err(RecordError::UnknownTool {
                        found,
                        tools: request.tools.iter().map(|t| t.name.clone()).collect(),
                    });
                }
            }
        }
        Err(other) => return Err(other),
    };
    check_expected(request.expected, &name)?;
    Ok((name, input))
}

/// A record asked for one output type that answered with another is a `WrongTool`.
pub(crate) fn check_expected(expected: Option<&str>, found: &str) -> Result<(), RecordError> {
    match expected {
        Some(expected) if expected != found => Err(RecordError::WrongTool {
            expected: expected.to_owned(),
            found: found.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Reads one output line of a structured job into `T`, as `load_results` does: the common
/// answer through the adapter's fast path, anything else through
/// [`parse_output_line`](crate::jsonl::parse_output_line) and the strategy's reader
/// ([`AnswerReader::read_output`](crate::adapter::AnswerReader::read_output)), so every [`OutputStrategy`](crate::OutputStrategy)
/// reads as in a run. `output` is the job's output request (for one output type,
/// [`OutputRequest::new`]). `None` for a line that names no record.
///
/// ```
/// use llmbo::adapter::{AnthropicAdapter, OutputRequest};
/// use llmbo::{BatchOutput, OutputStrategy};
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo::BatchOutput)]
/// # struct Person { name: String }
/// let tool = Person::tool_definition();
/// let adapter = AnthropicAdapter::default();
/// let line = r#"{"recordId":"r1","modelOutput":{"content":[{"type":"tool_use","name":"Person","input":{"name":"Ada"}}],
///               "stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":5}}}"#;
/// let forced = OutputRequest::new(OutputStrategy::ForcedTool, &tool, &tool);
/// let parsed = llmbo::mode::parse_output_line_as::<Person>(line, &adapter, forced);
/// let Some((id, Ok(person), usage)) = parsed else { panic!("{parsed:?}") };
/// assert_eq!((id.as_str(), person.name.as_str()), ("r1", "Ada"));
/// assert_eq!(usage.map(|u| u.output_tokens), Some(5));
///
/// // A native structured-output answer is JSON in the text.
/// let line = r#"{"recordId":"r2","modelOutput":{"content":[{"type":"text","text":"{\"name\":\"Grace\"}"}],
///               "stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5}}}"#;
/// let schema = OutputRequest::new(OutputStrategy::JsonSchema, &tool, &tool);
/// let parsed = llmbo::mode::parse_output_line_as::<Person>(line, &adapter, schema);
/// let Some((_, Ok(person), _)) = parsed else { panic!("{parsed:?}") };
/// assert_eq!(person.name, "Grace");
/// ```
pub fn parse_output_line_as<T: BatchOutput + Send + 'static>(
    line: &str,
    adapter: &dyn ModelProviderAdapter,
    output: OutputRequest<'_>,
) -> Option<(String, Result<T, RecordError>, Option<Usage>)> {
    if let Some(fast) = Structured::<T>::parse_fast(adapter, line, Some(output)) {
        return Some((fast.record_id.into_owned(), fast.outcome, fast.usage));
    }
    match crate::jsonl::parse_output_line(line) {
        crate::jsonl::OutputLine::Output {
            record_id,
            model_output,
        } => {
            let usage = adapter.usage(&model_output);
            let value = Structured::<T>::parse(adapter, model_output, Some(output));
            Some((record_id, value, usage))
        }
        crate::jsonl::OutputLine::Error { record_id, error } => Some((record_id, Err(error), None)),
        crate::jsonl::OutputLine::Malformed { record_id, message } => Some((
            record_id,
            Err(RecordError::MalformedOutput { message }),
            None,
        )),
        crate::jsonl::OutputLine::Unreadable { .. } => None,
    }
}
