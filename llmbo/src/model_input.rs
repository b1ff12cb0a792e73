//! The provider-neutral request: what to ask the model, before an adapter turns it into the
//! body of one model family.

use serde::{Deserialize, Serialize};

use crate::error::Error;
pub use crate::media::Part;
use crate::media::{
    Block, Measure, Media, MediaBlock, MediaData, MediaFormat, MediaKind, MediaSource,
    document_name, format_of, measure, media_support, media_tokens, problem,
};
use crate::output::ToolDefinition;
use std::borrow::Cow;

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

// Media in a request: what the adapters and the checks read of a request's parts.

/// Reads each local file a request names into bytes, once, so that the adapters and the
/// checks see bytes or S3 objects only. An input without files is borrowed as it is.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn load_files(input: &ModelInput) -> Result<Cow<'_, ModelInput>, Error> {
    let has_files = input.messages.iter().any(|m| {
        m.parts.iter().any(|p| {
            matches!(
                p.as_media(),
                Some((
                    _,
                    Media {
                        source: MediaSource::File(_),
                        ..
                    }
                ))
            )
        })
    });
    if !has_files {
        return Ok(Cow::Borrowed(input));
    }
    let mut owned = input.clone();
    for part in owned.messages.iter_mut().flat_map(|m| m.parts.iter_mut()) {
        let Some(media) = part.media_mut() else {
            continue;
        };
        if let MediaSource::File(path) = &media.source {
            let bytes = std::fs::read(path).map_err(|err| {
                problem(format!("its file {} cannot be read: {err}", path.display()))
            })?;
            if media.name.is_none()
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                media.name = Some(stem.to_owned());
            }
            if media.format.is_none()
                && let Some(named) = path.to_str().and_then(MediaFormat::from_name)
                && named.is_text()
            {
                media.format = Some(named);
            }
            media.source = MediaSource::Bytes(bytes.into());
        }
    }
    Ok(Cow::Owned(owned))
}

/// A message's parts as an adapter writes them: its text when it has no parts.
pub(crate) fn blocks(message: &Message) -> Result<Vec<Block<'_>>, Error> {
    if message.parts.is_empty() {
        return Ok(vec![Block::Text(&message.content)]);
    }
    let mut documents = 0;
    message
        .parts
        .iter()
        .map(|part| {
            let Some((kind, media)) = part.as_media() else {
                return Ok(Block::Text(part.as_text().unwrap_or_default()));
            };
            let (data, bytes) = match &media.source {
                MediaSource::Bytes(bytes) => (MediaData::Bytes(bytes), Some(&bytes[..])),
                MediaSource::S3 { uri, bucket_owner } => (
                    MediaData::S3 {
                        uri,
                        bucket_owner: bucket_owner.as_deref(),
                    },
                    None,
                ),
                MediaSource::File(path) => {
                    return Err(Error::Internal {
                        what: "writing a medium",
                        reason: format!("the file {} was not read first", path.display()),
                    });
                }
            };
            let format = format_of(kind, media, bytes)?;
            let name = if kind == MediaKind::Document {
                documents += 1;
                match &media.name {
                    Some(name) if document_name(Some(name), &media.source, 0) == *name => {
                        Cow::Borrowed(name.as_str())
                    }
                    given => Cow::Owned(document_name(
                        given.as_deref(),
                        &media.source,
                        documents - 1,
                    )),
                }
            } else {
                Cow::Borrowed("")
            };
            Ok(Block::Media(MediaBlock {
                kind,
                format,
                name,
                data,
            }))
        })
        .collect()
}

/// Whether any message of the input names a medium in S3 (a raw body: any `s3Location`).
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn has_s3_media(input: &ModelInput) -> bool {
    fn names_location(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Array(items) => items.iter().any(names_location),
            serde_json::Value::Object(map) => {
                map.contains_key("s3Location") || map.values().any(names_location)
            }
            _ => false,
        }
    }
    if let Some(body) = &input.raw_body {
        return names_location(body);
    }
    input.messages.iter().any(|m| {
        m.parts.iter().any(|p| {
            matches!(
                p.as_media(),
                Some((
                    _,
                    Media {
                        source: MediaSource::S3 { .. },
                        ..
                    }
                ))
            )
        })
    })
}

/// Whether any message of the input has a medium.
pub(crate) fn has_media(input: &ModelInput) -> bool {
    input
        .messages
        .iter()
        .any(|m| m.parts.iter().any(|p| p.as_media().is_some()))
}

/// Refuses a request with media its model does not take, naming the model and the medium.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn check_support(model_id: &str, input: &ModelInput) -> Result<(), Error> {
    if !has_media(input) {
        return Ok(());
    }
    let support = media_support(model_id);
    for message in &input.messages {
        for block in blocks(message)? {
            let Block::Media(media) = block else {
                continue;
            };
            let formats = match media.kind {
                MediaKind::Image => support.images,
                MediaKind::Document => support.documents,
                MediaKind::Video => support.video,
            };
            if formats.is_empty() {
                return Err(problem(format!(
                    "{model_id} takes no {}s ({}); use a model that does, or send the text",
                    media.kind, support.source
                )));
            }
            if !formats.contains(&media.format) {
                let names: Vec<&str> = formats.iter().map(|f| f.name()).collect();
                return Err(problem(format!(
                    "{model_id} takes no {} {}s; it takes {}",
                    media.format,
                    media.kind,
                    names.join(", ")
                )));
            }
            if let MediaData::S3 { uri, .. } = media.data
                && !support.s3
            {
                return Err(problem(format!(
                    "{model_id} takes media as bytes only, not from S3 ({uri}); give the bytes \
                     or a local file"
                )));
            }
        }
    }
    Ok(())
}

/// A request's media tokens (see [`media_tokens`]) and the bytes their base64 takes in its
/// body.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn tokens_of(model_id: &str, input: &ModelInput) -> (u64, u64) {
    let mut tokens = 0;
    let mut base64 = 0;
    for part in input.messages.iter().flat_map(|m| &m.parts) {
        let Some((kind, media)) = part.as_media() else {
            continue;
        };
        match &media.source {
            MediaSource::Bytes(bytes) => {
                let format = MediaFormat::sniff(bytes)
                    .or(media.format)
                    .unwrap_or(MediaFormat::Txt);
                let measured = measure(format, bytes);
                tokens += media_tokens(model_id, kind, format, bytes.len(), measured).0;
                base64 += (bytes.len() as u64).div_ceil(3) * 4;
            }
            MediaSource::S3 { uri, .. } => {
                let format = media
                    .format
                    .or_else(|| MediaFormat::from_name(uri))
                    .unwrap_or(MediaFormat::Pdf);
                tokens += media_tokens(model_id, kind, format, 0, Measure::default()).0;
            }
            MediaSource::File(_) => {}
        }
    }
    (tokens, base64)
}
