//! Embedding models: Titan Text Embeddings V2 and Nova 2 multimodal embeddings
//! (AWS, "Amazon Titan Text Embeddings models",
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/titan-embedding-models.html>). The text to embed is the record's user turns.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::answer::count;
use super::{EmbeddingReader, ModelProviderAdapter, OutputStrategy, Reads, RequestWriter, Usage};
use crate::embedding::{Embedding, EmbeddingPurpose, EmbeddingSettings, Truncation};
use crate::error::{Error, RecordError};
use crate::model_input::{ModelInput, Role};
use crate::output::ToolDefinition;

/// The text of an embedding record: its user turns, joined by blank lines.
fn text_of(input: &ModelInput) -> Result<String, Error> {
    input.validate()?;
    if crate::model_input::has_media(input) {
        return Err(Error::invalid_request(
            "this embedding model embeds text only; give the record text",
        ));
    }
    if !input.tools.is_empty() {
        return Err(Error::invalid_request("an embedding model takes no tools"));
    }
    let parts: Vec<&str> = input
        .messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect();
    let text = parts.join("\n\n");
    if text.trim().is_empty() {
        return Err(Error::invalid_request("the text to embed is empty"));
    }
    Ok(text)
}

/// The one image or video a Nova embedding record embeds, in Nova's form (`{format, source:
/// {bytes | s3Location}}`, under `image` or `video`); `None` for a record of text. Nova embeds
/// one thing per record: a medium with text beside it is refused.
fn media_of(input: &ModelInput) -> Result<Option<(&'static str, Value)>, Error> {
    if !crate::model_input::has_media(input) {
        return Ok(None);
    }
    input.validate()?;
    let mut found = None;
    for message in &input.messages {
        for block in crate::model_input::blocks(message)? {
            let media = match block {
                crate::media::Block::Text(text) if text.trim().is_empty() => continue,
                crate::media::Block::Text(_) => {
                    return Err(Error::invalid_request(
                        "Nova embeds one thing per record: an image or video, or text, not both",
                    ));
                }
                crate::media::Block::Media(media) => media,
            };
            if found.is_some() {
                return Err(Error::invalid_request(
                    "Nova embeds one image or video per record; this record has several",
                ));
            }
            let key = match media.kind {
                crate::media::MediaKind::Image => "image",
                crate::media::MediaKind::Video => "video",
                crate::media::MediaKind::Document => {
                    return Err(Error::invalid_request(
                        "Nova's embeddings take images and video, not documents",
                    ));
                }
            };
            let source = match media.data {
                crate::media::MediaData::Bytes(bytes) => {
                    json!({"bytes": crate::media::MediaData::base64(bytes)})
                }
                crate::media::MediaData::S3 {
                    uri,
                    bucket_owner: Some(owner),
                } => json!({"s3Location": {"uri": uri, "bucketOwner": owner}}),
                crate::media::MediaData::S3 { uri, .. } => json!({"s3Location": {"uri": uri}}),
            };
            found = Some((
                key,
                json!({"format": media.format.name(), "source": source}),
            ));
        }
    }
    Ok(found)
}

/// A list of numbers as `f32`s, or why it is not one.
fn floats(value: Option<&Value>, at: &str) -> Result<Vec<f32>, RecordError> {
    let Some(Value::Array(items)) = value else {
        return Err(RecordError::MalformedOutput {
            message: format!("an embedding answer has a `{at}` list of numbers, this has none"),
        });
    };
    items
        .iter()
        .map(|v| v.as_f64().map(|f| f as f32))
        .collect::<Option<Vec<f32>>>()
        .ok_or_else(|| RecordError::MalformedOutput {
            message: format!("`{at}` holds a value that is not a number"),
        })
}

/// Titan Text Embeddings V2: `{"inputText", "dimensions", "normalize", "embeddingTypes"}`,
/// answered by `{"embedding", "inputTextTokenCount", "embeddingsByType"}`.
#[derive(Debug, Clone, Default)]
pub struct TitanEmbedAdapter {
    /// The run's settings.
    pub settings: EmbeddingSettings,
}

impl RequestWriter for TitanEmbedAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::TitanEmbed
    }

    fn name(&self) -> &str {
        "titan-embed-v2"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        _tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        let mut body = Map::new();
        body.insert("inputText".into(), Value::String(text_of(input)?));
        if let Some(d) = self.settings.dimensions {
            body.insert("dimensions".into(), json!(d));
        }
        if let Some(n) = self.settings.normalize {
            body.insert("normalize".into(), json!(n));
        }
        if self.settings.binary {
            body.insert("embeddingTypes".into(), json!(["float", "binary"]));
        }
        Ok(Value::Object(body))
    }

    fn strategies(&self) -> &'static [OutputStrategy] {
        &[]
    }
}

impl EmbeddingReader for TitanEmbedAdapter {
    fn usage(&self, model_output: &Value) -> Option<Usage> {
        Some(Usage {
            input_tokens: count(model_output.get("inputTextTokenCount"))?,
            output_tokens: 0,
        })
    }

    fn embedding_line_fast<'a>(
        &self,
        line: &'a str,
    ) -> Option<(Cow<'a, str>, Embedding, Option<Usage>)> {
        #[derive(serde::Deserialize)]
        struct Titan {
            embedding: Vec<f32>,
            #[serde(rename = "inputTextTokenCount")]
            tokens: Option<u64>,
            #[serde(rename = "embeddingsByType")]
            by_type: Option<ByType>,
        }
        #[derive(serde::Deserialize)]
        struct ByType {
            binary: Option<Vec<u8>>,
        }
        let (id, out) = super::answer::fast_line::<Titan>(line)?;
        let usage = out.tokens.map(|input_tokens| Usage {
            input_tokens,
            output_tokens: 0,
        });
        let embedding = Embedding {
            vector: out.embedding,
            binary: out.by_type.and_then(|b| b.binary),
            input_tokens: out.tokens,
        };
        Some((id, embedding, usage))
    }

    fn embedding(&self, model_output: &Value) -> Result<Embedding, RecordError> {
        let by_type = model_output.get("embeddingsByType");
        let vector = match model_output.get("embedding") {
            Some(value) => floats(Some(value), "embedding")?,
            None => floats(
                by_type.and_then(|t| t.get("float")),
                "embeddingsByType.float",
            )?,
        };
        let binary = match by_type.and_then(|t| t.get("binary")) {
            Some(Value::Array(bits)) => Some(
                bits.iter()
                    .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| RecordError::MalformedOutput {
                        message: "`embeddingsByType.binary` holds a value that is not a bit".into(),
                    })?,
            ),
            _ => None,
        };
        Ok(Embedding {
            vector,
            binary,
            input_tokens: count(model_output.get("inputTextTokenCount")),
        })
    }
}

impl ModelProviderAdapter for TitanEmbedAdapter {
    fn reads(&self) -> Reads<'_> {
        Reads::Embeddings(self)
    }
}

/// Nova 2 multimodal embeddings, text: `{"taskType": "SINGLE_EMBEDDING",
/// "singleEmbeddingParams": {"embeddingPurpose", "embeddingDimension", "text": {…}}}`,
/// answered by `{"embeddings": [{"embeddingType", "embedding"}]}`.
#[derive(Debug, Clone, Default)]
pub struct NovaEmbedAdapter {
    /// The run's settings.
    pub settings: EmbeddingSettings,
}

impl RequestWriter for NovaEmbedAdapter {
    fn request_family(&self) -> crate::model::RequestFamily {
        crate::model::RequestFamily::NovaEmbed
    }

    fn name(&self) -> &str {
        "nova-embed"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        _tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        let purpose = self
            .settings
            .purpose
            .unwrap_or(EmbeddingPurpose::GenericIndex);
        let truncation = self.settings.truncation.unwrap_or(Truncation::End);
        let mut params = Map::new();
        params.insert("embeddingPurpose".into(), json!(purpose.as_str()));
        if let Some(d) = self.settings.dimensions {
            params.insert("embeddingDimension".into(), json!(d));
        }
        match media_of(input)? {
            Some((key, media)) => {
                params.insert(key.into(), media);
            }
            None => {
                params.insert(
                    "text".into(),
                    json!({"truncationMode": truncation.as_str(), "value": text_of(input)?}),
                );
            }
        }
        Ok(json!({
            "schemaVersion": "nova-multimodal-embed-v1",
            "taskType": "SINGLE_EMBEDDING",
            "singleEmbeddingParams": params,
        }))
    }

    fn strategies(&self) -> &'static [OutputStrategy] {
        &[]
    }
}

impl EmbeddingReader for NovaEmbedAdapter {
    /// Nova reports no token count in the body (on demand it is a header): none.
    fn usage(&self, _: &Value) -> Option<Usage> {
        None
    }

    fn embedding_line_fast<'a>(
        &self,
        line: &'a str,
    ) -> Option<(Cow<'a, str>, Embedding, Option<Usage>)> {
        #[derive(serde::Deserialize)]
        struct Nova {
            embeddings: Vec<NovaOne>,
        }
        #[derive(serde::Deserialize)]
        struct NovaOne {
            embedding: Vec<f32>,
        }
        let (id, out) = super::answer::fast_line::<Nova>(line)?;
        let first = out.embeddings.into_iter().next()?;
        let embedding = Embedding {
            vector: first.embedding,
            binary: None,
            input_tokens: None,
        };
        Some((id, embedding, None))
    }

    fn embedding(&self, model_output: &Value) -> Result<Embedding, RecordError> {
        let first = model_output.get("embeddings").and_then(|e| e.get(0));
        Ok(Embedding {
            vector: floats(
                first.and_then(|e| e.get("embedding")),
                "embeddings[0].embedding",
            )?,
            binary: None,
            input_tokens: None,
        })
    }
}

impl ModelProviderAdapter for NovaEmbedAdapter {
    fn reads(&self) -> Reads<'_> {
        Reads::Embeddings(self)
    }
}

/// OpenAI's embedding models on its Batch API (`/v1/embeddings`; OpenAI, "Embeddings",
/// <https://platform.openai.com/docs/api-reference/embeddings>): `{"input", "dimensions",
/// "encoding_format": "float"}`, answered by `{"data": [{"embedding", "index"}], "usage":
/// {"prompt_tokens"}}`. The model is named by the backend, as for every request there.
#[derive(Debug, Clone, Default)]
pub struct OpenAiEmbedAdapter {
    /// The run's settings.
    pub settings: EmbeddingSettings,
}

impl RequestWriter for OpenAiEmbedAdapter {
    fn name(&self) -> &str {
        "openai-embed"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        _tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        let mut body = Map::new();
        body.insert("input".into(), Value::String(text_of(input)?));
        if let Some(d) = self.settings.dimensions {
            body.insert("dimensions".into(), json!(d));
        }
        body.insert("encoding_format".into(), json!("float"));
        Ok(Value::Object(body))
    }

    fn strategies(&self) -> &'static [OutputStrategy] {
        &[]
    }
}

impl EmbeddingReader for OpenAiEmbedAdapter {
    fn usage(&self, model_output: &Value) -> Option<Usage> {
        Some(Usage {
            input_tokens: count(model_output.get("usage")?.get("prompt_tokens"))?,
            output_tokens: 0,
        })
    }

    fn embedding_line_fast<'a>(
        &self,
        line: &'a str,
    ) -> Option<(Cow<'a, str>, Embedding, Option<Usage>)> {
        #[derive(serde::Deserialize)]
        struct Answer {
            data: Vec<One>,
            usage: Option<Tokens>,
        }
        #[derive(serde::Deserialize)]
        struct One {
            embedding: Vec<f32>,
        }
        #[derive(serde::Deserialize)]
        struct Tokens {
            prompt_tokens: u64,
        }
        let (id, out) = super::answer::fast_line::<Answer>(line)?;
        let tokens = out.usage.map(|u| u.prompt_tokens);
        let first = out.data.into_iter().next()?;
        let usage = tokens.map(|input_tokens| Usage {
            input_tokens,
            output_tokens: 0,
        });
        let embedding = Embedding {
            vector: first.embedding,
            binary: None,
            input_tokens: tokens,
        };
        Some((id, embedding, usage))
    }

    fn embedding(&self, model_output: &Value) -> Result<Embedding, RecordError> {
        let first = model_output.get("data").and_then(|d| d.get(0));
        Ok(Embedding {
            vector: floats(first.and_then(|e| e.get("embedding")), "data[0].embedding")?,
            binary: None,
            input_tokens: count(
                model_output
                    .get("usage")
                    .and_then(|u| u.get("prompt_tokens")),
            ),
        })
    }
}

impl ModelProviderAdapter for OpenAiEmbedAdapter {
    fn reads(&self) -> Reads<'_> {
        Reads::Embeddings(self)
    }
}

/// Google's embedding models on the Gemini API's batch mode (`models/{model}:
/// asyncBatchEmbedContent`; Google, "Embeddings", <https://ai.google.dev/api/embeddings>, and
/// "Batch API", <https://ai.google.dev/gemini-api/docs/batch-api>): `{"content": {"parts":
/// [{"text"}]}, "taskType", "outputDimensionality"}`, answered by `{"embedding": {"values"}}`.
/// Gemini's vectors are unit length only at 3,072 dimensions; llmbo makes them so at any
/// length unless `normalize(false)` is asked.
#[derive(Debug, Clone, Default)]
pub struct GeminiEmbedAdapter {
    /// The run's settings.
    pub settings: EmbeddingSettings,
}

impl RequestWriter for GeminiEmbedAdapter {
    fn name(&self) -> &str {
        "gemini-embed"
    }

    fn prepare_model_input(
        &self,
        input: &ModelInput,
        _tool: Option<&ToolDefinition>,
    ) -> Result<Value, Error> {
        let mut body = Map::new();
        body.insert(
            "content".into(),
            json!({"parts": [{"text": text_of(input)?}]}),
        );
        #[cfg(feature = "aws")]
        if let Some(task) = self
            .settings
            .purpose
            .and_then(crate::embedding::gemini_task_type)
        {
            body.insert("taskType".into(), json!(task));
        }
        if let Some(d) = self.settings.dimensions {
            body.insert("outputDimensionality".into(), json!(d));
        }
        Ok(Value::Object(body))
    }

    fn strategies(&self) -> &'static [OutputStrategy] {
        &[]
    }
}

/// The tokens a Gemini embedding read: `tokenCount` (a number, or a string as protobuf's JSON
/// writes 64-bit integers), else `usageMetadata.promptTokenCount`.
fn gemini_tokens(model_output: &Value) -> Option<u64> {
    let count = model_output
        .get("tokenCount")
        .or_else(|| model_output.pointer("/usageMetadata/promptTokenCount"))?;
    count
        .as_u64()
        .or_else(|| count.as_str().and_then(|s| s.parse().ok()))
}

impl EmbeddingReader for GeminiEmbedAdapter {
    fn usage(&self, model_output: &Value) -> Option<Usage> {
        Some(Usage {
            input_tokens: gemini_tokens(model_output)?,
            output_tokens: 0,
        })
    }

    fn embedding(&self, model_output: &Value) -> Result<Embedding, RecordError> {
        let Some(Value::Array(items)) = model_output.pointer("/embedding/values") else {
            return Err(RecordError::MalformedOutput {
                message:
                    "an embedding answer has an `embedding.values` list of numbers, this has none"
                        .into(),
            });
        };
        let mut values = items
            .iter()
            .map(Value::as_f64)
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| RecordError::MalformedOutput {
                message: "`embedding.values` holds a value that is not a number".into(),
            })?;
        if self.settings.normalize != Some(false) {
            let norm = values.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                values.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok(Embedding {
            vector: values.into_iter().map(|x| x as f32).collect(),
            binary: None,
            input_tokens: gemini_tokens(model_output),
        })
    }
}

impl ModelProviderAdapter for GeminiEmbedAdapter {
    fn reads(&self) -> Reads<'_> {
        Reads::Embeddings(self)
    }
}

/// The adapter of an embedding run on `model_id`, with its settings.
#[cfg(feature = "aws")]
pub(crate) fn embedding_adapter(
    model_id: &str,
    settings: &EmbeddingSettings,
) -> Option<std::sync::Arc<dyn ModelProviderAdapter>> {
    use crate::embedding::EmbeddingFamily;
    Some(match EmbeddingFamily::of(model_id)? {
        EmbeddingFamily::TitanV2 => std::sync::Arc::new(TitanEmbedAdapter {
            settings: settings.clone(),
        }),
        EmbeddingFamily::Nova => std::sync::Arc::new(NovaEmbedAdapter {
            settings: settings.clone(),
        }),
        EmbeddingFamily::OpenAi => std::sync::Arc::new(OpenAiEmbedAdapter {
            settings: settings.clone(),
        }),
        EmbeddingFamily::Gemini => std::sync::Arc::new(GeminiEmbedAdapter {
            settings: settings.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titan_writes_its_settings_and_reads_both_forms() -> Result<(), Box<dyn std::error::Error>> {
        let adapter = TitanEmbedAdapter {
            settings: EmbeddingSettings {
                dimensions: Some(256),
                normalize: Some(true),
                binary: true,
                ..EmbeddingSettings::default()
            },
        };
        let body = adapter.prepare_model_input(&ModelInput::new().user("Ada"), None)?;
        assert_eq!(
            body,
            json!({"inputText": "Ada", "dimensions": 256, "normalize": true, "embeddingTypes": ["float", "binary"]})
        );
        let out = json!({"embedding": [0.5, -0.25], "inputTextTokenCount": 2,
                         "embeddingsByType": {"float": [0.5, -0.25], "binary": [1, 0]}});
        let e = adapter.embedding(&out)?;
        assert_eq!(
            (e.vector, e.binary, e.input_tokens),
            (vec![0.5, -0.25], Some(vec![1, 0]), Some(2))
        );
        assert!(adapter.embedding(&json!({"embedding": ["x"]})).is_err());
        assert!(
            adapter
                .prepare_model_input(&ModelInput::new().user(" "), None)
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn the_one_pass_readers_agree_with_the_general_ones() -> Result<(), Box<dyn std::error::Error>>
    {
        let titan = TitanEmbedAdapter::default();
        let line = r#"{"recordId":"r1","modelInput":{"inputText":"x"},"modelOutput":{"embedding":[0.5,-0.25],"inputTextTokenCount":2,"embeddingsByType":{"float":[0.5,-0.25],"binary":[1,0]}}}"#;
        let (id, fast, usage) = titan.embedding_line_fast(line).ok_or("no fast answer")?;
        let output: Value = serde_json::from_str(line)?;
        assert_eq!(
            (id.as_ref(), &fast),
            ("r1", &titan.embedding(&output["modelOutput"])?)
        );
        assert_eq!(usage, titan.usage(&output["modelOutput"]));
        let nova = NovaEmbedAdapter::default();
        let line = r#"{"recordId":"r2","modelOutput":{"embeddings":[{"embeddingType":"TEXT","embedding":[1.0,0.0]}]}}"#;
        let (id, fast, _) = nova.embedding_line_fast(line).ok_or("no fast answer")?;
        let output: Value = serde_json::from_str(line)?;
        assert_eq!(
            (id.as_ref(), &fast),
            ("r2", &nova.embedding(&output["modelOutput"])?)
        );
        // Not sure (an error line, a vector that is not numbers): the general reader decides.
        assert!(
            titan
                .embedding_line_fast(r#"{"recordId":"r3","error":{"errorCode":400}}"#)
                .is_none()
        );
        assert!(
            titan
                .embedding_line_fast(r#"{"recordId":"r4","modelOutput":{"embedding":["a"]}}"#)
                .is_none()
        );
        Ok(())
    }

    #[test]
    fn nova_writes_its_purpose_and_reads_the_first_embedding()
    -> Result<(), Box<dyn std::error::Error>> {
        let adapter = NovaEmbedAdapter::default();
        let body = adapter.prepare_model_input(&ModelInput::new().user("Ada"), None)?;
        assert_eq!(
            body["singleEmbeddingParams"]["embeddingPurpose"],
            "GENERIC_INDEX"
        );
        assert_eq!(
            body["singleEmbeddingParams"]["text"],
            json!({"truncationMode": "END", "value": "Ada"})
        );
        let e = adapter
            .embedding(&json!({"embeddings": [{"embeddingType": "TEXT", "embedding": [1.0]}]}))?;
        assert_eq!(e.vector, vec![1.0]);
        assert!(adapter.embedding(&json!({"embeddings": []})).is_err());
        Ok(())
    }
}
