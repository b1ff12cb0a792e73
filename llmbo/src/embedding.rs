//! Embeddings: what an embedding record returns, and the settings of an embedding run.
//!
//! | model | id | dimensions | other settings |
//! |---|---|---|---|
//! | Titan Text Embeddings V2 | `amazon.titan-embed-text-v2:0` | 256, 512, 1024 (default) | `normalize` (default true), binary form |
//! | Nova 2 multimodal embeddings | `amazon.nova-2-multimodal-embeddings-v1:0` (us-east-1) | 256, 384, 1024, 3072 (default) | `purpose` (required; default `GENERIC_INDEX`), `truncation` |
//!
//! From AWS, "Amazon Titan Text Embeddings models",
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/titan-embedding-models.html>, and the
//! Amazon Nova user guide's multimodal embeddings page. Titan Multimodal G1 and Cohere Embed are left out: there
//! is no firm evidence that batch jobs take them.

use serde::{Deserialize, Serialize};

/// One record's embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The vector.
    pub vector: Vec<f32>,
    /// The binary form (Titan V2 with [`EmbeddingSettings::binary`]): one 0/1 value per
    /// dimension.
    pub binary: Option<Vec<u8>>,
    /// The input's tokens, when the model reports them.
    pub input_tokens: Option<u64>,
}

impl Embedding {
    /// The bytes its vectors hold.
    pub(crate) fn held_bytes(&self) -> usize {
        self.vector.len() * std::mem::size_of::<f32>() + self.binary.as_ref().map_or(0, Vec::len)
    }
}

/// What a Nova embedding is for (`embeddingPurpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EmbeddingPurpose {
    /// Documents to be searched (the default).
    GenericIndex,
    /// Queries against generic documents.
    GenericRetrieval,
    /// Queries against text.
    TextRetrieval,
    /// Queries against images.
    ImageRetrieval,
    /// Queries against video.
    VideoRetrieval,
    /// Queries against documents.
    DocumentRetrieval,
    /// Queries against audio.
    AudioRetrieval,
    /// Classification.
    Classification,
    /// Clustering.
    Clustering,
}

impl EmbeddingPurpose {
    /// The wire name, as in `GENERIC_INDEX`.
    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddingPurpose::GenericIndex => "GENERIC_INDEX",
            EmbeddingPurpose::GenericRetrieval => "GENERIC_RETRIEVAL",
            EmbeddingPurpose::TextRetrieval => "TEXT_RETRIEVAL",
            EmbeddingPurpose::ImageRetrieval => "IMAGE_RETRIEVAL",
            EmbeddingPurpose::VideoRetrieval => "VIDEO_RETRIEVAL",
            EmbeddingPurpose::DocumentRetrieval => "DOCUMENT_RETRIEVAL",
            EmbeddingPurpose::AudioRetrieval => "AUDIO_RETRIEVAL",
            EmbeddingPurpose::Classification => "CLASSIFICATION",
            EmbeddingPurpose::Clustering => "CLUSTERING",
        }
    }
}

/// How Nova cuts a text over its limit (`truncationMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Truncation {
    /// Drops the start.
    Start,
    /// Drops the end (the default).
    End,
    /// Refuses the record.
    None,
}

impl Truncation {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Truncation::Start => "START",
            Truncation::End => "END",
            Truncation::None => "NONE",
        }
    }
}

/// The settings of an embedding run, persisted with it. Unset values take the model's
/// defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EmbeddingSettings {
    /// The vector's length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Unit-length vectors (Titan V2; default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// What the embedding is for (Nova).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<EmbeddingPurpose>,
    /// How a long text is cut (Nova).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<Truncation>,
    /// Also the binary form (Titan V2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
}

/// Whether `model_id` is an embedding model llmbo knows (Titan Text Embeddings V2, Nova 2
/// multimodal embeddings), in any form Bedrock accepts its id.
///
/// ```
/// assert!(llmbo::embedding::is_embedding_model("amazon.titan-embed-text-v2:0"));
/// assert!(!llmbo::embedding::is_embedding_model("anthropic.claude-3-haiku-20240307-v1:0"));
/// ```
#[cfg(feature = "aws")]
pub fn is_embedding_model(model_id: &str) -> bool {
    EmbeddingFamily::of(model_id).is_some()
}

/// The embedding model families llmbo knows.
#[cfg(feature = "aws")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmbeddingFamily {
    TitanV2,
    Nova,
    /// OpenAI's `text-embedding-3-*` on its Batch API (llmbo's id `openai.<name>`).
    OpenAi,
    /// Google's `gemini-embedding-*` on the Gemini API's batch mode (llmbo's id
    /// `google.<name>`).
    Gemini,
}

#[cfg(feature = "aws")]
impl EmbeddingFamily {
    /// The family of `model_id`, in any form Bedrock accepts.
    pub(crate) fn of(model_id: &str) -> Option<Self> {
        let id = crate::model::normalize_model_id(model_id);
        if id.starts_with("amazon.titan-embed-text-v2") {
            Some(EmbeddingFamily::TitanV2)
        } else if id.starts_with("amazon.nova-2-multimodal-embeddings") {
            Some(EmbeddingFamily::Nova)
        } else if id.starts_with("openai.text-embedding-3") {
            Some(EmbeddingFamily::OpenAi)
        } else if id.starts_with("google.gemini-embedding")
            || id.starts_with("google.text-embedding")
        {
            Some(EmbeddingFamily::Gemini)
        } else {
            None
        }
    }

    fn dimensions(self) -> &'static [u32] {
        match self {
            EmbeddingFamily::TitanV2 => &[256, 512, 1024],
            EmbeddingFamily::Nova => &[256, 384, 1024, 3072],
            // Any length up to the model's own (1,536 small, 3,072 large); these are the
            // common ones, and what a run is checked against.
            EmbeddingFamily::OpenAi => &[256, 512, 768, 1024, 1536, 3072],
            // Any length from 128 to 3,072 (Google, "Embeddings",
            // https://ai.google.dev/gemini-api/docs/embeddings); the common ones.
            EmbeddingFamily::Gemini => &[128, 256, 512, 768, 1024, 1536, 3072],
        }
    }

    fn name(self) -> &'static str {
        match self {
            EmbeddingFamily::TitanV2 => "Titan Text Embeddings V2",
            EmbeddingFamily::Nova => "Nova 2 multimodal embeddings",
            EmbeddingFamily::OpenAi => "OpenAI text-embedding-3",
            EmbeddingFamily::Gemini => "Gemini embedding",
        }
    }
}

/// Gemini's `taskType` for an embedding purpose: documents to search are
/// `RETRIEVAL_DOCUMENT`, queries `RETRIEVAL_QUERY`; `None` for a purpose about images, video
/// or audio, which Gemini's text embeddings have no task for (Google, "Embeddings",
/// <https://ai.google.dev/gemini-api/docs/embeddings#task-types>).
#[cfg(feature = "aws")]
pub(crate) fn gemini_task_type(purpose: EmbeddingPurpose) -> Option<&'static str> {
    match purpose {
        EmbeddingPurpose::GenericIndex => Some("RETRIEVAL_DOCUMENT"),
        EmbeddingPurpose::GenericRetrieval
        | EmbeddingPurpose::TextRetrieval
        | EmbeddingPurpose::DocumentRetrieval => Some("RETRIEVAL_QUERY"),
        EmbeddingPurpose::Classification => Some("CLASSIFICATION"),
        EmbeddingPurpose::Clustering => Some("CLUSTERING"),
        EmbeddingPurpose::ImageRetrieval
        | EmbeddingPurpose::VideoRetrieval
        | EmbeddingPurpose::AudioRetrieval => None,
    }
}

/// Checks `settings` against what `model_id` takes; the error names the allowed values.
#[cfg(feature = "aws")]
pub(crate) fn check_settings(model_id: &str, settings: &EmbeddingSettings) -> Result<(), String> {
    let Some(family) = EmbeddingFamily::of(model_id) else {
        return Err(format!(
            "model `{model_id}` is not an embedding model llmbo knows: use amazon.titan-embed-text-v2:0 or amazon.nova-2-multimodal-embeddings-v1:0 (on Bedrock), text-embedding-3-small or -large (on OpenAI), gemini-embedding-001 (on Gemini)"
        ));
    };
    if let Some(d) = settings.dimensions
        && !family.dimensions().contains(&d)
    {
        let allowed: Vec<String> = family.dimensions().iter().map(u32::to_string).collect();
        return Err(format!(
            "{} takes dimensions {}, not {d}",
            family.name(),
            allowed.join(", ")
        ));
    }
    match family {
        EmbeddingFamily::TitanV2 => {
            if settings.purpose.is_some() || settings.truncation.is_some() {
                return Err(format!(
                    "{} has no embedding purpose or truncation mode; those are Nova's",
                    family.name()
                ));
            }
        }
        EmbeddingFamily::Nova => {
            if settings.normalize.is_some() || settings.binary {
                return Err(format!(
                    "{} has no normalize or binary setting; those are Titan V2's",
                    family.name()
                ));
            }
        }
        EmbeddingFamily::Gemini => {
            if settings.binary || settings.truncation.is_some() {
                return Err(format!(
                    "{} has no binary or truncation setting",
                    family.name()
                ));
            }
            if let Some(purpose) = settings.purpose
                && gemini_task_type(purpose).is_none()
            {
                return Err(format!(
                    "{} embeds text: purpose {} is for other media; use GENERIC_INDEX, GENERIC_RETRIEVAL, TEXT_RETRIEVAL, DOCUMENT_RETRIEVAL, CLASSIFICATION or CLUSTERING",
                    family.name(),
                    purpose.as_str()
                ));
            }
        }
        EmbeddingFamily::OpenAi => {
            let titan = settings.normalize.is_some() || settings.binary;
            let nova = settings.purpose.is_some() || settings.truncation.is_some();
            if titan || nova {
                return Err(format!(
                    "{} takes only dimensions (its vectors are unit length)",
                    family.name()
                ));
            }
        }
    }
    Ok(())
}
