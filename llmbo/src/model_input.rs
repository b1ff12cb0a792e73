//! The provider-neutral request: what to ask the model, before an adapter turns it into the
//! body of one model family.

use serde::{Deserialize, Serialize};

use crate::error::Error;
pub use crate::media::Part;
use crate::output::ToolDefinition;

/// Who wrote a message of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person (or program) asking.
    User,
    /// The model; an assistant message pre-fills or replays the model's side.
    Assistant,
}

/// One turn of the conversation sent to the model.
///
/// ```
/// use llmbo::input::{Message, Role};
/// let m = Message::user("Extract every person named in: ...");
/// assert_eq!(m.role, Role::User);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text of the turn (with [`parts`](Self::parts), their text parts, one per line;
    /// a turn read from JSON with `parts` may leave it out).
    #[serde(default)]
    pub content: String,
    /// Text, documents, images and video, in order, when the turn has media; empty for a
    /// turn of text only, which is its `content`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

impl Message {
    /// A user turn.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
            parts: Vec::new(),
        }
    }

    /// An assistant turn.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
            parts: Vec::new(),
        }
    }

    /// A user turn of text and media, in order.
    ///
    /// ```
    /// use llmbo::input::{Message, Part};
    /// let m = Message::user_parts([Part::text("Extract the invoice."), Part::document_s3("s3://b/in/a.pdf")]);
    /// assert_eq!(m.content, "Extract the invoice.");
    /// assert_eq!(m.parts.len(), 2);
    /// ```
    pub fn user_parts(parts: impl IntoIterator<Item = Part>) -> Self {
        let parts: Vec<Part> = parts.into_iter().collect();
        let content = parts
            .iter()
            .filter_map(Part::as_text)
            .collect::<Vec<_>>()
            .join("\n");
        Message {
            role: Role::User,
            content,
            parts,
        }
    }
}

/// Whether and which tool the model must call.
///
/// Structured jobs always force their one tool ([`ToolChoice::Tool`]); the others are for
/// untyped jobs that pass their own tools. Families without a way to force a named tool
/// (Mistral) use their closest equivalent, "any tool".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToolChoice {
    /// The model decides whether to call a tool.
    Auto,
    /// The model must call one of the tools.
    Any,
    /// The model must call the tool with this name.
    Tool {
        /// The tool's name, as in [`ToolDefinition::name`].
        name: String,
    },
}

/// A request to a model, independent of the model family.
///
/// Build it with the chained methods; an adapter turns it into the family's own body (the
/// Anthropic Messages API, Nova's `messages-v1`, Mistral's prompt or chat format, Llama's
/// prompt template, OpenAI chat completions). Switching model is a change of model id only.
///
/// ```
/// use llmbo::ModelInput;
/// let input = ModelInput::new()
///     .system("You extract people from news articles.")
///     .user("Ada Lovelace, 36, wrote the first program.")
///     .max_tokens(512)
///     .temperature(0.0);
/// assert_eq!(input.messages.len(), 1);
/// assert_eq!(input.max_tokens, Some(512));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelInput {
    /// The conversation, oldest first; it must start with a user turn.
    #[serde(default)]
    pub messages: Vec<Message>,
    /// The system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The most tokens the model may write; adapters use their family's default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling: the probability mass to sample from, in `0.0..=1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Sample only from the `k` likeliest tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Texts that end generation when the model writes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Tools the model may call. Structured jobs add their own output tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDefinition>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// A body in the model family's own format, sent as it is: no adapter touches it, and
    /// the fields above are ignored. See [`ModelInput::raw`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<serde_json::Value>,
}

impl ModelInput {
    /// An empty request; add at least one user turn.
    pub fn new() -> Self {
        Self::default()
    }

    /// A request already in the model family's own format (a Bedrock `modelInput`), sent
    /// as it is. Use it for bodies written by other tools or for provider features llmbo does
    /// not model; a structured job does not add its tool to such a body.
    ///
    /// ```
    /// use llmbo::ModelInput;
    /// let body = serde_json::json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
    ///     "messages": [{"role": "user", "content": "hi"}]});
    /// let input = ModelInput::raw(body.clone());
    /// assert_eq!(input.raw_body, Some(body));
    /// assert!(input.validate().is_ok());
    /// assert!(ModelInput::raw(serde_json::json!([1])).validate().is_err());
    /// ```
    pub fn raw(body: serde_json::Value) -> Self {
        ModelInput {
            raw_body: Some(body),
            ..Self::default()
        }
    }

    /// Appends a user turn of text and media, in order: see [`Part`].
    ///
    /// ```
    /// use llmbo::{ModelInput, input::Part};
    /// let input = ModelInput::new()
    ///     .user_parts([Part::text("Extract the invoice."), Part::document_file("invoices/a.pdf")]);
    /// assert_eq!(input.messages[0].parts.len(), 2);
    /// ```
    #[must_use]
    pub fn user_parts(mut self, parts: impl IntoIterator<Item = Part>) -> Self {
        self.messages.push(Message::user_parts(parts));
        self
    }

    /// Appends a user turn.
    #[must_use]
    pub fn user(mut self, text: impl Into<String>) -> Self {
        self.messages.push(Message::user(text));
        self
    }

    /// Appends an assistant turn.
    #[must_use]
    pub fn assistant(mut self, text: impl Into<String>) -> Self {
        self.messages.push(Message::assistant(text));
        self
    }

    /// Appends turns.
    #[must_use]
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages.extend(messages);
        self
    }

    /// Sets the system prompt.
    #[must_use]
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.system = Some(text.into());
        self
    }

    /// Sets the most tokens the model may write.
    #[must_use]
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }

    /// Sets the sampling temperature.
    #[must_use]
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }

    /// Sets nucleus sampling.
    #[must_use]
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = Some(p);
        self
    }

    /// Sets top-k sampling.
    #[must_use]
    pub fn top_k(mut self, k: u32) -> Self {
        self.top_k = Some(k);
        self
    }

    /// Sets the stop sequences, replacing any set before.
    #[must_use]
    pub fn stop_sequences<S: Into<String>>(mut self, stops: impl IntoIterator<Item = S>) -> Self {
        self.stop_sequences = stops.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a tool the model may call.
    #[must_use]
    pub fn tool(mut self, tool: ToolDefinition) -> Self {
        self.tools.push(tool);
        self
    }

    /// Sets whether and which tool the model must call.
    #[must_use]
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Checks what holds for every model family: at least one message, a user turn first,
    /// sampling values that are numbers in range, a forced tool that exists.
    ///
    /// The error names the problem, never the prompt's text.
    ///
    /// ```
    /// use llmbo::ModelInput;
    /// assert!(ModelInput::new().user("hi").validate().is_ok());
    /// assert!(ModelInput::new().validate().is_err());
    /// assert!(ModelInput::new().user("hi").top_p(1.5).validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::invalid_request(reason));
        if let Some(body) = &self.raw_body {
            return match body {
                serde_json::Value::Object(_) => Ok(()),
                _ => invalid("a raw model input must be a JSON object".into()),
            };
        }
        match self.messages.first() {
            None => return invalid("it has no messages; add one with .user(..)".into()),
            Some(first) if first.role != Role::User => {
                return invalid("its first message must be a user turn".into());
            }
            Some(_) => {}
        }
        if self.max_tokens == Some(0) {
            return invalid("max_tokens is 0; the model could not answer".into());
        }
        if let Some(t) = self.temperature
            && !(t.is_finite() && t >= 0.0)
        {
            return invalid(format!("temperature {t} is not a number >= 0"));
        }
        if let Some(p) = self.top_p
            && !(0.0..=1.0).contains(&p)
        {
            return invalid(format!("top_p {p} is outside 0.0..=1.0"));
        }
        if let Some(ToolChoice::Tool { name }) = &self.tool_choice
            && !self.tools.iter().any(|tool| &tool.name == name)
        {
            return invalid(format!(
                "tool_choice forces tool `{name}`, which is not in tools"
            ));
        }
        Ok(())
    }
}

/// The prefix of the ids llmbo gives the copies it pads a follow-up job with; no record of a
/// user's may start with it, so a padding line can never be taken for a record.
pub(crate) const PADDING_ID_PREFIX: &str = "llmbo-pad-";

/// A record id: 1 to 256 characters, none of them control characters, not one of llmbo's own.
pub(crate) fn check_record_id(id: &str) -> Result<(), Error> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.chars().count() > 256 {
        "it is longer than 256 characters"
    } else if id.chars().any(char::is_control) {
        "it contains control characters"
    } else if id.starts_with(PADDING_ID_PREFIX) {
        "ids starting with `llmbo-pad-` are llmbo's own (the padding of follow-up jobs); rename the record"
    } else {
        return Ok(());
    };
    Err(Error::InvalidInput {
        record_id: Some(id.escape_debug().to_string()),
        problem: crate::error::InputProblem::RecordId(reason.into()),
    })
}
