//! What comes back: the tool a structured job forces, and one result per input record.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::RecordError;
use crate::manifest::Manifest;

/// A type the model can produce: a tool whose input is this type.
///
/// Derive it together with `serde::Deserialize` and `schemars::JsonSchema`. The type's doc
/// comment becomes the tool description, each field's doc comment the property's description,
/// and non-`Option` fields are required.
///
/// ```
/// use llmbo::BatchOutput;
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// A person named in the text.
/// #[derive(Debug, Deserialize, JsonSchema, BatchOutput)]
/// struct Person {
///     /// Full name as written.
///     name: String,
///     age: Option<u32>,
/// }
///
/// let tool = Person::tool_definition();
/// assert_eq!(tool.name, "Person");
/// assert_eq!(tool.description, "A person named in the text.");
/// assert_eq!(tool.input_schema["required"], serde_json::json!(["name"]));
/// assert_eq!(
///     tool.input_schema["properties"]["name"]["description"],
///     "Full name as written."
/// );
///
/// let ada = Person::from_tool_input(serde_json::json!({"name": "Ada", "age": 36}))?;
/// assert_eq!(ada.age, Some(36));
///
/// let err = Person::from_tool_input(serde_json::json!({"name": "Ada", "age": "old"}))
///     .unwrap_err();
/// assert!(err.to_string().contains("age"));
/// # Ok::<(), llmbo::RecordError>(())
/// ```
///
/// Container attributes: `#[batch_output(name = "...")]` sets the tool name (default: the type
/// name), `#[batch_output(description = "...")]` the description (default: the doc comment),
/// `#[batch_output(strategy = "json-schema")]` the output strategy the type asks for (one of
/// `forced-tool`, `strict-tool`, `json-schema`, `json-in-prompt`; for the strict two, a field
/// whose type names the type itself, or a `HashMap`, is a compile error at the field), and
/// `#[batch_output(crate = "...")]` the path of this crate if you renamed it.
///
/// **Several output types in one batch**: `#[batch_output(tool_per_variant)]` on an enum whose
/// variants each wrap one output type gives one tool per variant (named after the variant, or
/// `#[batch_output(name = "...")]` on it; described by its doc comment, else by the wrapped
/// type's). The model may call any of them; a record can name one with
/// [`ModelInput::tool_choice`](crate::model_input::ModelInput::tool_choice). Where one schema is sent
/// (native structured output, the prompt), it is an `anyOf` of `{"<variant tool>": {…}}`.
///
/// ```
/// use llmbo::BatchOutput;
///
/// /// A person.
/// #[derive(Debug, serde::Deserialize, schemars::JsonSchema, BatchOutput)]
/// struct Person { name: String }
/// /// An invoice.
/// #[derive(Debug, serde::Deserialize, schemars::JsonSchema, BatchOutput)]
/// struct Invoice { total: f64 }
///
/// /// What the text holds.
/// #[derive(Debug, BatchOutput)]
/// #[batch_output(tool_per_variant)]
/// enum Extraction {
///     Person(Person),
///     /// A bill to pay.
///     #[batch_output(name = "bill")]
///     Invoice(Invoice),
/// }
///
/// let tools = Extraction::tool_definitions();
/// assert_eq!(tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["Person", "bill"]);
/// assert_eq!(tools[1].description, "A bill to pay.");
/// let bill = Extraction::from_tool_call("bill", serde_json::json!({"total": 9.5}))?;
/// assert!(matches!(bill, Extraction::Invoice(Invoice { total: 9.5 })));
/// let unknown = Extraction::from_tool_call("Receipt", serde_json::json!({})).unwrap_err();
/// assert_eq!(unknown.reason(), "unknown_tool");
/// // The one-schema form: the variant's tool name as the only key.
/// let person = Extraction::from_tool_input(serde_json::json!({"Person": {"name": "Ada"}}))?;
/// assert!(matches!(person, Extraction::Person(_)));
/// # Ok::<(), llmbo::RecordError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an output type",
    note = "derive BatchOutput (with serde's Deserialize and schemars' JsonSchema) on a struct with named fields or a tagged enum"
)]
pub trait BatchOutput: Sized {
    /// The tool the model is forced to call; its input schema is this type's JSON schema.
    fn tool_definition() -> ToolDefinition;

    /// Parses the input the model gave the tool.
    fn from_tool_input(input: Value) -> Result<Self, RecordError>;

    /// Parses the tool input from its JSON text, as it appears in the model's output; what a
    /// job calls for each record. Accepts and refuses exactly what
    /// [`from_tool_input`](Self::from_tool_input) does. The default reads a `Value` first;
    /// `#[derive(BatchOutput)]` reads the text straight into the type, which is about twice
    /// as fast.
    fn from_tool_input_str(json: &str) -> Result<Self, RecordError> {
        let input = serde_json::from_str(json).map_err(|err| RecordError::ToolInputNotJson {
            message: err.to_string(),
        })?;
        Self::from_tool_input(input)
    }

    /// Whether [`from_tool_input_in`](Self::from_tool_input_in) reads the type (what
    /// `#[derive(BatchOutput)]` sets): a fast path then reads the tool input in the same pass
    /// as the output line around it.
    #[doc(hidden)]
    const READS_IN_LINE: bool = false;

    /// Reads the tool input from a deserializer standing at it inside a larger document (an
    /// output line), accepting exactly what [`from_tool_input_str`](Self::from_tool_input_str)
    /// accepts on its first try. Only called where [`READS_IN_LINE`](Self::READS_IN_LINE) is
    /// set; an error leaves the line to the path that reads the input as its text, which
    /// names the problem.
    #[doc(hidden)]
    fn from_tool_input_in<'de, D: serde::Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        let _ = input;
        Err(serde::de::Error::custom(
            "this type is read from the tool input's text",
        ))
    }

    /// The output strategy the type asks for (`#[batch_output(strategy = "json-schema")]`), as
    /// if given to [`InfererBuilder::output_strategy`](crate::InfererBuilder::output_strategy),
    /// which still overrides it. `None` (the default): the model's best.
    fn output_strategy() -> Option<OutputStrategy> {
        None
    }

    /// The tools the model may answer through: one per output type. The default is the one
    /// [`tool_definition`](Self::tool_definition); a `tool_per_variant` enum has one per variant.
    fn tool_definitions() -> Vec<ToolDefinition> {
        vec![Self::tool_definition()]
    }

    /// Parses the input the model gave the tool called `name`: one of
    /// [`tool_definitions`](Self::tool_definitions), else [`RecordError::UnknownTool`].
    fn from_tool_call(name: &str, input: Value) -> Result<Self, RecordError> {
        let tools = Self::tool_definitions();
        if tools.iter().any(|tool| tool.name == name) {
            return Self::from_tool_input(input);
        }
        Err(RecordError::UnknownTool {
            found: name.to_owned(),
            tools: tools.into_iter().map(|tool| tool.name).collect(),
        })
    }
}

/// Whether `name` is a tool name every model family takes: 1 to 64 ASCII letters, digits,
/// `_` or `-` (Claude's tool names, OpenAI's function and JSON-schema names, Gemini's function
/// names).
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn is_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A tool as every model family needs it: a name, what it is for and a JSON schema of its
/// input. Adapters turn it into their family's format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// 1 to 64 ASCII letters, digits, `_` or `-` (`build` refuses any other name).
    pub name: String,
    /// Tells the model what the tool is for.
    pub description: String,
    /// A self-contained JSON schema with `"type": "object"` at the top.
    pub input_schema: Value,
}

impl ToolDefinition {
    /// The same tool with its schema in the strict form native structured output and strict
    /// tools take (see [`strict_schema`](crate::schema::strict_schema)). The parser still holds
    /// answers to the full schema.
    pub fn strict(&self) -> Result<ToolDefinition, crate::schema::StrictSchemaError> {
        Ok(ToolDefinition {
            name: self.name.clone(),
            description: self.description.clone(),
            input_schema: crate::schema::strict_schema(&self.input_schema)?,
        })
    }

    /// Builds the tool for any type with a [`JsonSchema`]: the schema is generated by
    /// `schemars` in draft-07 form with every sub-schema inlined (no `$ref`, except for a
    /// type that contains itself), no `$schema` key and `"type": "object"` at the top.
    ///
    /// The description is `description`, else the type's doc comment, else a sentence made
    /// from the name. [`BatchOutput::tool_definition`] calls this once per type and caches it.
    ///
    /// ```
    /// #[derive(schemars::JsonSchema)]
    /// /// A city.
    /// struct City { name: String }
    ///
    /// let tool = llmbo::ToolDefinition::for_type::<City>("city", None);
    /// assert_eq!(tool.description, "A city.");
    /// assert_eq!(tool.input_schema["type"], "object");
    /// assert!(tool.input_schema.get("$schema").is_none());
    /// ```
    pub fn for_type<T: JsonSchema + ?Sized>(name: &str, description: Option<&str>) -> Self {
        let generator = SchemaSettings::draft07()
            .with(|s| {
                s.inline_subschemas = true;
                s.meta_schema = None;
            })
            .into_generator();
        let mut root = match generator.into_root_schema_for::<T>().to_value() {
            Value::Object(map) => map,
            // A schema of `true` accepts anything; as a tool input that is any object.
            _ => Map::new(),
        };
        root.remove("title");
        let doc = match root.remove("description") {
            Some(Value::String(doc)) => Some(doc),
            _ => None,
        };
        let description = description
            .map(str::to_owned)
            .or(doc)
            .unwrap_or_else(|| format!("Record the {name} found in the input."));
        // Providers require an object at the top. An internally tagged enum is a `oneOf` of
        // objects, so stating the type there is exact.
        let mut input_schema = Map::with_capacity(root.len() + 1);
        input_schema.insert("type".into(), Value::String("object".into()));
        input_schema.extend(root.into_iter().filter(|(key, _)| key != "type"));
        ToolDefinition {
            name: name.to_owned(),
            description,
            input_schema: Value::Object(input_schema),
        }
    }
}

/// The result for one input record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordResult<T> {
    /// The id the record was submitted with.
    pub record_id: String,
    /// The parsed output, or exactly why there is none.
    pub outcome: Result<T, RecordError>,
}

impl<T> RecordResult<T> {
    /// Whether the record has a value.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// Everything a job returned: one [`RecordResult`] per input record, in input order, and the
/// job's [`Manifest`].
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResults<T> {
    /// The counts Bedrock reported.
    pub manifest: Manifest,
    /// One entry per input record, in the order the records were given.
    pub records: Vec<RecordResult<T>>,
}

impl<T> BatchResults<T> {
    /// The values of the records that succeeded, in input order; failures are dropped, so
    /// look at [`failures`](Self::failures) first if they matter.
    ///
    /// ```
    /// use llmbo::{BatchResults, Manifest, RecordError, RecordResult};
    /// let results = BatchResults {
    ///     manifest: Manifest::default(),
    ///     records: vec![
    ///         RecordResult { record_id: "a".into(), outcome: Ok(1) },
    ///         RecordResult { record_id: "b".into(), outcome: Err(RecordError::Missing) },
    ///         RecordResult { record_id: "c".into(), outcome: Ok(3) },
    ///     ],
    /// };
    /// assert_eq!(results.failures().count(), 1);
    /// assert_eq!(results.into_values(), vec![1, 3]);
    /// ```
    pub fn into_values(self) -> Vec<T> {
        self.records
            .into_iter()
            .filter_map(|record| record.outcome.ok())
            .collect()
    }

    /// The records without a value, in input order.
    pub fn failures(&self) -> impl Iterator<Item = &RecordResult<T>> {
        self.records.iter().filter(|record| record.outcome.is_err())
    }

    /// The records with a value, in input order, as `(record id, value)`.
    pub fn successes(&self) -> impl Iterator<Item = (&str, &T)> {
        self.records.iter().filter_map(|record| {
            record
                .outcome
                .as_ref()
                .ok()
                .map(|value| (record.record_id.as_str(), value))
        })
    }

    /// How many records there are (successes and failures).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records at all.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl<T> IntoIterator for BatchResults<T> {
    type Item = RecordResult<T>;
    type IntoIter = std::vec::IntoIter<RecordResult<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.records.into_iter()
    }
}

/// How a structured job asks the model for its answer. The [`adapter`](crate::adapter) module's
/// table says what each sends and reads, and which models take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStrategy {
    /// The model is forced to call one tool whose input schema is the output type.
    ForcedTool,
    /// As `ForcedTool`, with `strict: true` on the tool and its schema in the strict form, so
    /// constrained decoding makes the input fit.
    StrictTool,
    /// Native structured output: the answer's text is JSON that fits the strict schema.
    JsonSchema,
    /// The schema goes in the system prompt and the answer's text is searched for JSON.
    JsonInPrompt,
}

impl OutputStrategy {
    /// Every strategy, in the order defaults are chosen.
    pub const ALL: [OutputStrategy; 4] = [
        OutputStrategy::JsonSchema,
        OutputStrategy::ForcedTool,
        OutputStrategy::StrictTool,
        OutputStrategy::JsonInPrompt,
    ];

    /// The name used in the CLI, the run record and messages: `forced-tool`, `strict-tool`,
    /// `json-schema`, `json-in-prompt`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStrategy::ForcedTool => "forced-tool",
            OutputStrategy::StrictTool => "strict-tool",
            OutputStrategy::JsonSchema => "json-schema",
            OutputStrategy::JsonInPrompt => "json-in-prompt",
        }
    }

    /// Whether the strategy sends the strict form of the schema.
    pub fn is_strict(self) -> bool {
        matches!(
            self,
            OutputStrategy::StrictTool | OutputStrategy::JsonSchema
        )
    }

    /// Whether the strategy sends a tool (which Converse batch jobs refuse).
    pub fn uses_tools(self) -> bool {
        matches!(
            self,
            OutputStrategy::ForcedTool | OutputStrategy::StrictTool
        )
    }
}

impl fmt::Display for OutputStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputStrategy {
    type Err = String;

    /// Reads `forced-tool`, `forced_tool` or `ForcedTool` (any case), and so on.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let key: String = text
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .flat_map(char::to_lowercase)
            .collect();
        OutputStrategy::ALL
            .into_iter()
            .find(|s| s.as_str().replace('-', "") == key)
            .ok_or_else(|| {
                format!(
                    "`{text}` is not an output strategy; expected one of {}",
                    list(&OutputStrategy::ALL)
                )
            })
    }
}

/// `a, b or c`.
pub(crate) fn list(strategies: &[OutputStrategy]) -> String {
    let names: Vec<&str> = strategies.iter().map(|s| s.as_str()).collect();
    match names.split_last() {
        None => "none".into(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Inside this crate `::llmbo` does not resolve, so this compiles only if the derive uses
    // the `crate` override for every path it writes.
    /// Renamed.
    #[derive(Debug, serde::Deserialize, schemars::JsonSchema, llmbo_derive::BatchOutput)]
    #[batch_output(crate = "crate")]
    struct Renamed {
        word: String,
    }

    #[test]
    fn the_crate_override_is_used_for_every_path() -> Result<(), Box<dyn std::error::Error>> {
        assert_eq!(Renamed::tool_definition().description, "Renamed.");
        let value = Renamed::from_tool_input(serde_json::json!({"word": "w"}))?;
        assert_eq!(value.word, "w");
        Ok(())
    }

    #[test]
    fn a_tagged_enum_is_an_object_at_the_top() -> Result<(), Box<dyn std::error::Error>> {
        #[derive(schemars::JsonSchema)]
        #[serde(tag = "kind")]
        #[allow(dead_code)]
        enum Finding {
            Person { name: String },
            Nothing,
        }
        let tool = ToolDefinition::for_type::<Finding>("finding", None);
        let schema = tool
            .input_schema
            .as_object()
            .ok_or("expected value missing")?;
        assert_eq!(schema.keys().next().map(String::as_str), Some("type"));
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["oneOf"].as_array().map(Vec::len), Some(2));
        Ok(())
    }
}
