//! What a model id says: the id without the ARN or geography Bedrock accepts around it, and
//! which family's request body a model takes. A leaf: every layer that needs a model's family
//! (adapters, preflight, shard limits, prices) reads it here.

/// The model id without what Bedrock accepts around it: the ARN prefix of a foundation model
/// or system inference profile, and a cross-region profile's geography (`us.`, `eu.`,
/// `apac.`, `global.` …). Other ARNs (application inference profiles, custom models) carry
/// no family in their id and are returned as their resource id.
///
/// ```
/// use llmbo::model::normalize_model_id;
/// assert_eq!(normalize_model_id("us.anthropic.claude-3-haiku-20240307-v1:0"),
///            "anthropic.claude-3-haiku-20240307-v1:0");
/// assert_eq!(normalize_model_id(
///     "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.meta.llama3-2-3b-instruct-v1:0"),
///     "meta.llama3-2-3b-instruct-v1:0");
/// ```
pub fn normalize_model_id(model_id: &str) -> &str {
    let resource = if model_id.starts_with("arn:") {
        model_id.rsplit_once('/').map_or(model_id, |(_, id)| id)
    } else {
        model_id
    };
    const GEOGRAPHIES: [&str; 9] = [
        "us-gov.", "us.", "eu.", "apac.", "ap.", "ca.", "jp.", "au.", "global.",
    ];
    GEOGRAPHIES
        .iter()
        .find_map(|geo| resource.strip_prefix(geo))
        .unwrap_or(resource)
}

/// Which family's rules a request body is held to; an adapter says which it writes
/// ([`RequestWriter::request_family`](crate::adapter::RequestWriter::request_family)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestFamily {
    /// Anthropic's Messages API (`anthropic_version`, `max_tokens`, `messages`).
    Claude,
    /// Nova's `messages-v1` body (`messages` of content blocks, `inferenceConfig`).
    Nova,
    /// A Converse request body (`modelInvocationType: Converse`).
    Converse,
    /// An OpenAI-style chat completion (gpt-oss, DeepSeek, Qwen, Mistral chat).
    ChatCompletions,
    /// Llama's prompt body (`prompt`, `max_gen_len`).
    LlamaPrompt,
    /// Mistral's text completion (`prompt`, `max_tokens`).
    MistralPrompt,
    /// Titan Text Embeddings (`inputText`).
    TitanEmbed,
    /// Nova multimodal embeddings (`taskType`, `singleEmbeddingParams`).
    NovaEmbed,
    /// No rules known (a user's adapter): only the size and the JSON shape are checked.
    Unknown,
}

/// Which of OpenAI's APIs a run's requests go to inside its batches (OpenAI, "Batch API",
/// <https://platform.openai.com/docs/guides/batch>: a batch names one endpoint for all its
/// requests). Only a run on OpenAI's Batch API takes it; an embedding run always goes to
/// `/v1/embeddings`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OpenAiEndpoint {
    /// `/v1/chat/completions`: `messages`, `response_format`, function tools.
    #[default]
    ChatCompletions,
    /// `/v1/responses`: `input`, `instructions`, `text.format`, flat function tools
    /// ([`OpenAiResponsesAdapter`](crate::adapter::OpenAiResponsesAdapter)).
    Responses,
}

impl OpenAiEndpoint {
    /// The path a batch's requests name (`/v1/chat/completions`, `/v1/responses`).
    pub fn path(self) -> &'static str {
        match self {
            OpenAiEndpoint::ChatCompletions => "/v1/chat/completions",
            OpenAiEndpoint::Responses => "/v1/responses",
        }
    }

    /// The name in the CLI and the run record: `chat-completions`, `responses`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpenAiEndpoint::ChatCompletions => "chat-completions",
            OpenAiEndpoint::Responses => "responses",
        }
    }

    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn is_default(&self) -> bool {
        *self == OpenAiEndpoint::ChatCompletions
    }
}

impl std::str::FromStr for OpenAiEndpoint {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "chat-completions" | "/v1/chat/completions" => Ok(OpenAiEndpoint::ChatCompletions),
            "responses" | "/v1/responses" => Ok(OpenAiEndpoint::Responses),
            other => Err(crate::error::Error::InvalidConfig {
                field: "openai_endpoint",
                reason: format!("`{other}` is not an endpoint; use chat-completions or responses"),
            }),
        }
    }
}

/// The batch API a run's jobs are on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Provider {
    /// AWS Bedrock batch inference: jobs read from and write to S3.
    #[default]
    Bedrock,
    /// Anthropic's Message Batches API.
    Anthropic,
    /// OpenAI's Batch API.
    #[serde(rename = "openai")]
    OpenAi,
    /// The Gemini API's batch mode.
    Gemini,
}

impl Provider {
    /// The provider's name as a person reads it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Bedrock => "Bedrock",
            Provider::Anthropic => "Anthropic",
            Provider::OpenAi => "OpenAI",
            Provider::Gemini => "Gemini",
        }
    }

    /// The family prefix llmbo's model ids have on this provider: a run on Anthropic's API
    /// names `claude-haiku-4-5` as `anthropic.claude-haiku-4-5`, so that the adapters, the
    /// structured-output tables and the request rules Bedrock's ids have serve it too. The
    /// provider is sent the name without it.
    pub fn model_prefix(self) -> Option<&'static str> {
        match self {
            Provider::Bedrock => None,
            Provider::Anthropic => Some("anthropic."),
            Provider::OpenAi => Some("openai."),
            Provider::Gemini => Some("google."),
        }
    }

    /// llmbo's id of the provider's model `name` (see [`Provider::model_prefix`]).
    pub fn model_id(self, name: &str) -> String {
        match self.model_prefix() {
            Some(prefix) if !name.starts_with(prefix) => format!("{prefix}{name}"),
            _ => name.to_owned(),
        }
    }

    /// The provider's own name of llmbo's model id.
    pub fn api_model(self, model_id: &str) -> &str {
        match self.model_prefix() {
            Some(prefix) => model_id.strip_prefix(prefix).unwrap_or(model_id),
            None => model_id,
        }
    }

    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn is_bedrock(&self) -> bool {
        *self == Provider::Bedrock
    }
}
