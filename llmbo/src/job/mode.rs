//! Untyped or structured: what one record's output becomes.

use std::borrow::Cow;
use std::marker::PhantomData;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::adapter::{ModelProviderAdapter, Usage};
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

/// What a job returns per record: the raw model output ([`Untyped`]) or a parsed `T`
/// ([`Structured`]). Sealed: the two modes are all there is.
pub trait OutputMode: sealed::Sealed + Send + Sync + 'static {
    /// The value of one successful record.
    type Value: Send + 'static;

    /// The tool the model is forced to call, for structured jobs.
    fn tool() -> Option<ToolDefinition>;

    /// The fast path for the common answer, from a whole output line (see
    /// [`ModelProviderAdapter::output_line_fast`]): the record id, its outcome and usage, or
    /// `None` to read the line with [`parse`](Self::parse).
    #[allow(clippy::type_complexity)] // an outcome and its usage; a named type would add API
    fn parse_fast<'a>(
        adapter: &dyn ModelProviderAdapter,
        line: &'a str,
        tool: Option<&ToolDefinition>,
    ) -> Option<(
        Cow<'a, str>,
        Result<Self::Value, RecordError>,
        Option<Usage>,
    )>;

    /// Turns one `modelOutput` into the record's value.
    fn parse(
        adapter: &dyn ModelProviderAdapter,
        model_output: Value,
        tool: Option<&ToolDefinition>,
    ) -> Result<Self::Value, RecordError>;
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

    fn parse_fast<'a>(
        adapter: &dyn ModelProviderAdapter,
        line: &'a str,
        tool: Option<&ToolDefinition>,
    ) -> Option<(Cow<'a, str>, Result<Value, RecordError>, Option<Usage>)> {
        let (record_id, input, usage) = adapter.output_line_fast(line, tool?)?;
        Some((record_id, tool_input_value(input), usage))
    }

    /// The raw `modelOutput`; with a run-time output tool, the tool input the model wrote.
    fn parse(
        adapter: &dyn ModelProviderAdapter,
        model_output: Value,
        tool: Option<&ToolDefinition>,
    ) -> Result<Value, RecordError> {
        match tool {
            Some(tool) => adapter.validate_result(&model_output, tool),
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

    fn parse_fast<'a>(
        adapter: &dyn ModelProviderAdapter,
        line: &'a str,
        tool: Option<&ToolDefinition>,
    ) -> Option<(Cow<'a, str>, Result<T, RecordError>, Option<Usage>)> {
        let owned;
        let tool = match tool {
            Some(tool) => tool,
            None => {
                owned = T::tool_definition();
                &owned
            }
        };
        let (record_id, input, usage) = adapter.output_line_fast(line, tool)?;
        Some((record_id, T::from_tool_input_str(input.get()), usage))
    }

    fn parse(
        adapter: &dyn ModelProviderAdapter,
        model_output: Value,
        tool: Option<&ToolDefinition>,
    ) -> Result<T, RecordError> {
        let tool = match tool {
            Some(tool) => tool.clone(),
            None => T::tool_definition(),
        };
        let input = adapter.validate_result(&model_output, &tool)?;
        T::from_tool_input(input)
    }
}
