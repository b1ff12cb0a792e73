//! A structured job's output, owned: the strategy, the output type's tool(s) and the forms
//! they are sent in; and what a job of several output types does per record around the
//! adapters, which are only ever asked to write one tool.

use serde_json::Value;

use super::body::mark_strict;
use super::{ModelProviderAdapter, OutputRequest, OutputStrategy};
use crate::error::Error;
use crate::model_input::{ModelInput, ToolChoice};
use crate::output::ToolDefinition;

/// One tool as the parser holds answers to it and as it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) full: ToolDefinition,
    pub(crate) sent: ToolDefinition,
}

impl Sent {
    fn new(model_id: &str, strategy: OutputStrategy, full: ToolDefinition) -> Result<Self, Error> {
        let sent = if strategy.is_strict() {
            full.strict().map_err(|err| Error::InvalidConfig {
                field: "output_strategy",
                reason: format!(
                    "model `{model_id}`, output strategy {strategy}: the schema of `{}` has no strict form at `{}`: {}; choose forced-tool or json-in-prompt",
                    full.name, err.path, err.problem
                ),
            })?
        } else {
            full.clone()
        };
        Ok(Sent { full, sent })
    }
}

/// A structured job's output.
#[derive(Debug, Clone)]
pub(crate) struct OutputSpec {
    pub(crate) strategy: OutputStrategy,
    /// The one-schema form: the output type's tool (for several types, the `anyOf` of them).
    pub(crate) one: Sent,
    /// One per output type, full forms (a single type: its one tool).
    pub(crate) full_tools: Vec<ToolDefinition>,
    /// One per output type, in the form sent by the tool strategies.
    pub(crate) tools: Vec<Sent>,
    /// For several types under a one-schema strategy: each type's option alone, for a record
    /// asked for that type.
    pub(crate) options: Vec<Sent>,
}

impl OutputSpec {
    /// The spec of `tool` (and its per-type `tools`) under `strategy`; the strict forms are
    /// made here, or the error says why one cannot be, naming the tool and the field path.
    pub(crate) fn new(
        model_id: &str,
        strategy: OutputStrategy,
        tool: ToolDefinition,
        tools: Vec<ToolDefinition>,
    ) -> Result<Self, Error> {
        let tools = if tools.is_empty() {
            vec![tool.clone()]
        } else {
            tools
        };
        let multi = tools.len() > 1;
        let (sent_tools, options) = if !multi {
            (Vec::new(), Vec::new())
        } else if strategy.uses_tools() {
            let sent = tools
                .iter()
                .map(|t| Sent::new(model_id, strategy, t.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            (sent, Vec::new())
        } else {
            let options = tools
                .iter()
                .filter_map(|t| option_of(&tool, &t.name))
                .map(|t| Sent::new(model_id, strategy, t))
                .collect::<Result<Vec<_>, _>>()?;
            (Vec::new(), options)
        };
        let one = if multi && strategy.uses_tools() {
            // Never sent: the tool strategies send the per-type tools.
            Sent {
                sent: tool.clone(),
                full: tool,
            }
        } else {
            Sent::new(model_id, strategy, tool)?
        };
        let tools_sent = if multi && strategy.uses_tools() {
            sent_tools
        } else {
            vec![one.clone()]
        };
        Ok(OutputSpec {
            strategy,
            one,
            full_tools: tools,
            tools: tools_sent,
            options,
        })
    }

    /// Whether the job has several output types.
    pub(crate) fn is_multi(&self) -> bool {
        self.full_tools.len() > 1
    }

    /// The run-wide request, for a record not asked for one type.
    pub(crate) fn request(&self) -> OutputRequest<'_> {
        OutputRequest {
            strategy: self.strategy,
            tool: &self.one.full,
            sent: &self.one.sent,
            tools: &self.full_tools,
            expected: None,
        }
    }

    /// The request of a record asked for the output type `name`, or the error naming the
    /// types there are.
    fn forced(&self, name: &str) -> Result<OutputRequest<'_>, Error> {
        let pool = if self.strategy.uses_tools() {
            &self.tools
        } else {
            &self.options
        };
        let found = pool.iter().find(|t| {
            if self.strategy.uses_tools() {
                t.full.name == name
            } else {
                option_name(&t.full.input_schema).as_deref() == Some(name)
            }
        });
        let Some(found) = found else {
            let names: Vec<&str> = self.full_tools.iter().map(|t| t.name.as_str()).collect();
            return Err(Error::invalid_request(format!(
                "the record asks for output type `{name}`, which is none of {}",
                names.join(", ")
            )));
        };
        Ok(OutputRequest {
            strategy: self.strategy,
            tool: &found.full,
            sent: &found.sent,
            tools: &self.full_tools,
            expected: None,
        })
    }

    /// Appends one record's input line. With several output types, a record whose
    /// `tool_choice` names one is asked for that one only; any other record may answer through
    /// any of them (`tool_choice: any` where the family has it).
    pub(crate) fn write_line(
        &self,
        adapter: &dyn ModelProviderAdapter,
        record_id: &str,
        input: &ModelInput,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if !self.is_multi() {
            return adapter.write_output_line(record_id, input, self.request(), out);
        }
        let forced = match &input.tool_choice {
            Some(ToolChoice::Tool { name }) => Some(name.as_str()),
            _ => None,
        };
        let mut input = input.clone();
        input.tool_choice = None;
        if let Some(name) = forced {
            return adapter.write_output_line(record_id, &input, self.forced(name)?, out);
        }
        if !self.strategy.uses_tools() {
            return adapter.write_output_line(record_id, &input, self.request(), out);
        }
        input.tools = self.tools.iter().map(|t| t.sent.clone()).collect();
        input.tool_choice = Some(ToolChoice::Any);
        let mut body = adapter.prepare_model_input(&input, None)?;
        if self.strategy == OutputStrategy::StrictTool {
            let tools = match body.get_mut("toolConfig") {
                Some(config) => config.get_mut("tools"),
                None => body.get_mut("tools"),
            };
            if let Some(Value::Array(tools)) = tools {
                tools.iter_mut().for_each(|tool| mark_strict(Some(tool)));
            }
        }
        crate::jsonl::encode_input_line(record_id, &body, out);
        Ok(())
    }

    /// The output type a record was asked for, read back from the request Bedrock echoes in
    /// its output line: the one tool it was sent, or the one option of its schema. `None`
    /// when it could answer through any (or the schema is in the prompt, where it is not
    /// read back).
    pub(crate) fn expected_of(&self, model_input: &Value) -> Option<String> {
        if !self.is_multi() {
            return None;
        }
        if self.strategy.uses_tools() {
            let names = sent_tool_names(model_input);
            return match names.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            };
        }
        let schema = native_schema(model_input)?;
        match schema.get("anyOf").and_then(Value::as_array) {
            Some(options) if options.len() == 1 => option_name(&options[0]),
            Some(_) => None,
            None => option_name(&schema),
        }
    }
}

/// The one option of `union` (the one-schema form of several types) for type `name`, as a
/// tool of its own.
fn option_of(union: &ToolDefinition, name: &str) -> Option<ToolDefinition> {
    let option = union
        .input_schema
        .get("anyOf")?
        .as_array()?
        .iter()
        .find(|option| option_name(option).as_deref() == Some(name))?;
    Some(ToolDefinition {
        name: union.name.clone(),
        description: union.description.clone(),
        input_schema: serde_json::json!({"type": "object", "anyOf": [option]}),
    })
}

/// The type an option names: its one required key (`{"Invoice": {…}}`).
fn option_name(option: &Value) -> Option<String> {
    let option = match option.get("anyOf").and_then(Value::as_array) {
        Some(options) if options.len() == 1 => &options[0],
        _ => option,
    };
    match option.get("required")?.as_array()?.as_slice() {
        [Value::String(name)] => Some(name.clone()),
        _ => None,
    }
}

/// The tool names a request body carries, in any family's shape.
fn sent_tool_names(body: &Value) -> Vec<String> {
    let tools = body
        .get("tools")
        .or_else(|| body.pointer("/toolConfig/tools"))
        .and_then(Value::as_array);
    tools
        .into_iter()
        .flatten()
        .filter_map(|tool| {
            ["/name", "/function/name", "/toolSpec/name"]
                .iter()
                .find_map(|at| tool.pointer(at))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// The native structured-output schema a request body carries, in any family's shape.
fn native_schema(body: &Value) -> Option<Value> {
    if let Some(schema) = body
        .pointer("/output_config/format/schema")
        .or_else(|| body.pointer("/response_format/json_schema/schema"))
    {
        return Some(schema.clone());
    }
    let text = body
        .pointer("/outputConfig/textFormat/structure/jsonSchema/schema")?
        .as_str()?;
    serde_json::from_str(text).ok()
}
