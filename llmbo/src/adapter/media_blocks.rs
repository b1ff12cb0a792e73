//! A message's text and media in each family's own content form.
//!
//! | family | image | document | video | S3 |
//! |---|---|---|---|---|
//! | Claude (Bedrock, Anthropic API) | `{type: image, source: {type: base64, media_type, data}}` | pdf: `{type: document, source: {type: base64, ...}}`; text: `source: {type: text, media_type: text/plain, data}` | — | — |
//! | Nova, Converse | `{image: {format, source: {bytes}}}` | `{document: {format, name, source: {bytes}}}` | `{video: {format, source}}` | `source: {s3Location: {uri, bucketOwner}}` |
//! | chat completions (Pixtral, OpenAI) | `{type: image_url, image_url: {url: data:…}}` | `{type: file, file: {filename, file_data: data:…}}` | — | — |
//! | OpenAI Responses API | `{type: input_image, image_url: data:…}` | `{type: input_file, filename, file_data: data:…}` | — | — |
//! | Gemini | `{inlineData: {mimeType, data}}` | the same | the same | — |
//! | Llama 3.2 vision, Llama 4 | `<\|image\|>` in the prompt, the bytes in `images` | — | — | — |
//!
//! Sources: AWS, "Anthropic Claude Messages API",
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html>;
//! AWS, "ContentBlock", <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html>;
//! Amazon Nova, "Complete request schema", <https://docs.aws.amazon.com/nova/latest/userguide/complete-request-schema.html>;
//! Mistral, "Vision", <https://docs.mistral.ai/capabilities/vision/>;
//! OpenAI, "File inputs", <https://platform.openai.com/docs/guides/pdf-files>;
//! OpenAI, "Images and vision", <https://platform.openai.com/docs/guides/images-vision>;
//! Google, "Image understanding", <https://ai.google.dev/gemini-api/docs/image-understanding>;
//! Meta, "Llama 3.2 vision prompt format", <https://www.llama.com/docs/model-cards-and-prompt-formats/llama3_2/>.

use serde_json::{Value, json};

use crate::error::Error;
use crate::media::{Block, MediaBlock, MediaData, MediaKind};
use crate::model_input::Message;
use crate::model_input::blocks;

fn refused(family: &str, media: &MediaBlock<'_>, why: &str) -> Error {
    Error::invalid_request(format!(
        "{family} bodies take no {} {}{why}",
        media.format, media.kind
    ))
}

fn bytes_only<'a>(family: &str, media: &MediaBlock<'a>) -> Result<&'a [u8], Error> {
    match media.data {
        MediaData::Bytes(bytes) => Ok(bytes),
        MediaData::S3 { .. } => Err(refused(
            family,
            media,
            " from S3; give the bytes or a local file",
        )),
    }
}

fn data_url(media: &MediaBlock<'_>, bytes: &[u8]) -> String {
    format!(
        "data:{};base64,{}",
        media.format.mime(),
        MediaData::base64(bytes)
    )
}

/// Claude's content blocks.
pub(crate) fn claude(message: &Message) -> Result<Value, Error> {
    blocks(message)?
        .into_iter()
        .map(|block| match block {
            Block::Text(text) => Ok(json!({"type": "text", "text": text})),
            Block::Media(media) => {
                let bytes = bytes_only("Claude", &media)?;
                match media.kind {
                    MediaKind::Image => Ok(json!({"type": "image", "source": {
                        "type": "base64", "media_type": media.format.mime(),
                        "data": MediaData::base64(bytes)}})),
                    MediaKind::Document if media.format.is_text() => {
                        let text = std::str::from_utf8(bytes)
                            .map_err(|_| refused("Claude", &media, " that is not UTF-8 text"))?;
                        Ok(json!({"type": "document", "source": {
                            "type": "text", "media_type": "text/plain", "data": text}}))
                    }
                    MediaKind::Document if media.format == crate::media::MediaFormat::Pdf => {
                        Ok(json!({"type": "document", "source": {
                            "type": "base64", "media_type": "application/pdf",
                            "data": MediaData::base64(bytes)}}))
                    }
                    _ => Err(refused("Claude", &media, "")),
                }
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// Nova's and Converse's content blocks.
pub(crate) fn converse(message: &Message) -> Result<Value, Error> {
    blocks(message)?
        .into_iter()
        .map(|block| match block {
            Block::Text(text) => Ok(json!({"text": text})),
            Block::Media(media) => {
                let source = match media.data {
                    MediaData::Bytes(bytes) => json!({"bytes": MediaData::base64(bytes)}),
                    MediaData::S3 {
                        uri,
                        bucket_owner: Some(owner),
                    } => json!({"s3Location": {"uri": uri, "bucketOwner": owner}}),
                    MediaData::S3 { uri, .. } => json!({"s3Location": {"uri": uri}}),
                };
                let format = media.format.name();
                Ok(match media.kind {
                    MediaKind::Image => json!({"image": {"format": format, "source": source}}),
                    MediaKind::Document => json!({"document": {
                        "format": format, "name": media.name, "source": source}}),
                    MediaKind::Video => json!({"video": {"format": format, "source": source}}),
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A chat-completions turn's content: its text alone, or the list of parts.
pub(crate) fn chat(message: &Message) -> Result<Value, Error> {
    if message.parts.is_empty() {
        return Ok(Value::String(message.content.clone()));
    }
    blocks(message)?
        .into_iter()
        .map(|block| match block {
            Block::Text(text) => Ok(json!({"type": "text", "text": text})),
            Block::Media(media) => {
                let bytes = bytes_only("chat completions", &media)?;
                match media.kind {
                    MediaKind::Image => Ok(json!({"type": "image_url",
                        "image_url": {"url": data_url(&media, bytes)}})),
                    MediaKind::Document => Ok(json!({"type": "file", "file": {
                        "filename": format!("{}.{}", media.name, media.format.name()),
                        "file_data": data_url(&media, bytes)}})),
                    MediaKind::Video => Err(refused("chat completions", &media, "")),
                }
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// The Responses API's content: a plain string for a text-only turn, else `input_text`,
/// `input_image` (`image_url` as a data URL) and `input_file` (`filename`, `file_data` as a
/// data URL) parts; the model's own turns are `output_text` parts. No video.
pub(crate) fn responses(message: &Message) -> Result<Value, Error> {
    if message.parts.is_empty() {
        return Ok(Value::String(message.content.clone()));
    }
    let text_type = match message.role {
        crate::model_input::Role::User => "input_text",
        crate::model_input::Role::Assistant => "output_text",
    };
    blocks(message)?
        .into_iter()
        .map(|block| match block {
            Block::Text(text) => Ok(json!({"type": text_type, "text": text})),
            Block::Media(media) => {
                let bytes = bytes_only("Responses API", &media)?;
                match media.kind {
                    MediaKind::Image => Ok(json!({"type": "input_image",
                        "image_url": data_url(&media, bytes)})),
                    MediaKind::Document => Ok(json!({"type": "input_file",
                        "filename": format!("{}.{}", media.name, media.format.name()),
                        "file_data": data_url(&media, bytes)})),
                    MediaKind::Video => Err(refused("Responses API", &media, "")),
                }
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// Gemini's parts.
pub(crate) fn gemini(message: &Message) -> Result<Value, Error> {
    blocks(message)?
        .into_iter()
        .map(|block| match block {
            Block::Text(text) => Ok(json!({"text": text})),
            Block::Media(media) => {
                let bytes = bytes_only("Gemini", &media)?;
                Ok(json!({"inlineData": {"mimeType": media.format.mime(),
                                         "data": MediaData::base64(bytes)}}))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// A Llama turn's prompt text, with `<|image|>` where each image is, and the images' bytes
/// appended to `images` (base64), in order.
pub(crate) fn llama(message: &Message, images: &mut Vec<Value>) -> Result<String, Error> {
    if message.parts.is_empty() {
        return Ok(message.content.clone());
    }
    let mut text = String::new();
    for block in blocks(message)? {
        match block {
            Block::Text(part) => text.push_str(part),
            Block::Media(media) if media.kind == MediaKind::Image => {
                let bytes = bytes_only("Llama", &media)?;
                text.push_str("<|image|>");
                images.push(Value::String(MediaData::base64(bytes)));
            }
            Block::Media(media) => return Err(refused("Llama", &media, "")),
        }
    }
    Ok(text)
}

/// Refuses media in a family that writes text only.
pub(crate) fn text_only(family: &str, input: &crate::model_input::ModelInput) -> Result<(), Error> {
    if crate::model_input::has_media(input) {
        return Err(Error::invalid_request(format!(
            "{family} bodies take text only; this record has a document, image or video"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Part;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\n";

    fn turn() -> Message {
        Message::user_parts([
            Part::text("Read these."),
            Part::image(PNG.to_vec()),
            Part::document(PDF.to_vec()).named("invoice 7"),
        ])
    }

    fn b64(bytes: &[u8]) -> String {
        MediaData::base64(bytes)
    }

    #[test]
    fn claude_writes_base64_image_and_document_blocks() -> Result<(), Error> {
        assert_eq!(
            claude(&turn())?,
            json!([
                {"type": "text", "text": "Read these."},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": b64(PDF)}},
            ])
        );
        let s3 = Message::user_parts([Part::image_s3("s3://b/in/a.png")]);
        assert!(claude(&s3).is_err());
        Ok(())
    }

    #[test]
    fn converse_writes_bytes_and_s3_locations() -> Result<(), Error> {
        let mut message = turn();
        message
            .parts
            .push(Part::video_s3("s3://b/in/clip.mp4").bucket_owner("111122223333"));
        assert_eq!(
            converse(&message)?,
            json!([
                {"text": "Read these."},
                {"image": {"format": "png", "source": {"bytes": b64(PNG)}}},
                {"document": {"format": "pdf", "name": "invoice 7", "source": {"bytes": b64(PDF)}}},
                {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/in/clip.mp4", "bucketOwner": "111122223333"}}}},
            ])
        );
        Ok(())
    }

    #[test]
    fn chat_and_gemini_write_data_urls_and_inline_data() -> Result<(), Error> {
        assert_eq!(
            chat(&turn())?,
            json!([
                {"type": "text", "text": "Read these."},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", b64(PNG))}},
                {"type": "file", "file": {"filename": "invoice 7.pdf", "file_data": format!("data:application/pdf;base64,{}", b64(PDF))}},
            ])
        );
        assert_eq!(chat(&Message::user("hi"))?, json!("hi"));
        assert_eq!(
            gemini(&turn())?,
            json!([
                {"text": "Read these."},
                {"inlineData": {"mimeType": "image/png", "data": b64(PNG)}},
                {"inlineData": {"mimeType": "application/pdf", "data": b64(PDF)}},
            ])
        );
        Ok(())
    }

    #[test]
    fn llama_marks_each_image_in_the_prompt() -> Result<(), Error> {
        let mut images = Vec::new();
        let message = Message::user_parts([Part::image(PNG.to_vec()), Part::text("What is it?")]);
        assert_eq!(llama(&message, &mut images)?, "<|image|>What is it?");
        assert_eq!(images, vec![json!(b64(PNG))]);
        assert!(llama(&turn(), &mut images).is_err());
        Ok(())
    }
}
