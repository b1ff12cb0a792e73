//! Documents, images and video in a request, as each family sends them: checked as Bedrock
//! checks them (formats, base64, bytes that are what they say, sizes) and read as the
//! synthetic model reads them: the text of a text document, the text a PDF shows (`Tj` and
//! `TJ`), a PNG's `tEXt` chunks and a JPEG's comments. A test can so tell that each answer
//! came from its own document.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// The largest image a request may carry (AWS, "ImageBlock": 3.75 MB).
const MAX_IMAGE_BYTES: usize = 3_750_000;
/// The largest document (AWS, "DocumentBlock": 4.5 MB).
const MAX_DOCUMENT_BYTES: usize = 4_500_000;

const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];
const DOCUMENT_FORMATS: &[&str] = &[
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md",
];
const VIDEO_FORMATS: &[&str] = &[
    "mkv", "mov", "mp4", "webm", "flv", "mpeg", "mpg", "wmv", "three_gp",
];

/// What a request's text and media say, for the model to read.
#[derive(Debug, Default)]
pub(crate) struct Read {
    /// The text of the prompt and of the text parts.
    pub(crate) text: String,
    /// The text read out of the media.
    pub(crate) media: String,
}

/// Reads `value` (a messages list, a system prompt): text is collected, each media block is
/// checked and read. A media block that Bedrock would refuse is the request's error.
pub(crate) fn read(value: &Value, at: &str, out: &mut Read) -> Result<(), String> {
    match value {
        Value::String(s) => {
            out.text.push_str(s);
            out.text.push('\n');
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                read(item, &format!("{at}/{i}"), out)?;
            }
        }
        Value::Object(map) => {
            if let Some(read_media) = media_block(map, at)? {
                out.media.push_str(&read_media);
                out.media.push('\n');
                return Ok(());
            }
            for (key, v) in map {
                read(v, &format!("{at}/{key}"), out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Llama's `images`: base64 images, each marked `<|image|>` in the prompt.
pub(crate) fn read_llama_images(
    images: &Value,
    prompt: &str,
    out: &mut Read,
) -> Result<(), String> {
    let images = images
        .as_array()
        .ok_or("#/images: expected type: JSONArray")?;
    if images.len() != prompt.matches("<|image|>").count() {
        return Err(format!(
            "#/images: {} images but {} <|image|> tokens in the prompt",
            images.len(),
            prompt.matches("<|image|>").count()
        ));
    }
    for (i, image) in images.iter().enumerate() {
        let data = image
            .as_str()
            .ok_or(format!("#/images/{i}: expected type: String"))?;
        let bytes = decode(data, &format!("#/images/{i}"))?;
        let format = sniff(&bytes)
            .filter(|f| IMAGE_FORMATS.contains(f))
            .ok_or(format!(
                "#/images/{i}: the image is not a png, jpeg, gif or webp"
            ))?;
        check_size(&bytes, "image", &format!("#/images/{i}"))?;
        out.media.push_str(&text_of(format, &bytes));
        out.media.push('\n');
    }
    Ok(())
}

/// The media block `map` is, checked and read; `None` when it is not one.
fn media_block(map: &serde_json::Map<String, Value>, at: &str) -> Result<Option<String>, String> {
    // Claude: {type: image | document, source: {type: base64 | text, media_type, data}}.
    if let Some(kind @ ("image" | "document")) = map.get("type").and_then(Value::as_str)
        && let Some(source) = map.get("source")
    {
        let media_type = source
            .get("media_type")
            .and_then(Value::as_str)
            .ok_or(format!("{at}/source: required key [media_type] not found"))?;
        let data = source
            .get("data")
            .and_then(Value::as_str)
            .ok_or(format!("{at}/source: required key [data] not found"))?;
        return match source.get("type").and_then(Value::as_str) {
            Some("text") if kind == "document" && media_type == "text/plain" => {
                Ok(Some(data.to_owned()))
            }
            Some("base64") => {
                let format = match (kind, media_type) {
                    ("image", "image/png") => "png",
                    ("image", "image/jpeg") => "jpeg",
                    ("image", "image/gif") => "gif",
                    ("image", "image/webp") => "webp",
                    ("document", "application/pdf") => "pdf",
                    _ => {
                        return Err(format!(
                            "{at}/source/media_type: Input should be {}",
                            if kind == "image" {
                                "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
                            } else {
                                "'application/pdf'"
                            }
                        ));
                    }
                };
                let bytes = decode(data, &format!("{at}/source/data"))?;
                checked(kind, format, &bytes, at).map(Some)
            }
            _ => Err(format!(
                "{at}/source/type: Input should be 'base64' or 'text'"
            )),
        };
    }
    // Nova and Converse: {image | document | video: {format, name?, source: {bytes | s3Location}}}.
    for kind in ["image", "document", "video"] {
        let Some(block) = map.get(kind).and_then(Value::as_object) else {
            continue;
        };
        let at = format!("{at}/{kind}");
        let format = block
            .get("format")
            .and_then(Value::as_str)
            .ok_or(format!("{at}: required key [format] not found"))?;
        let formats = match kind {
            "image" => IMAGE_FORMATS,
            "document" => DOCUMENT_FORMATS,
            _ => VIDEO_FORMATS,
        };
        if !formats.contains(&format) {
            return Err(format!(
                "{at}/format: Member must satisfy enum value set: [{}]",
                formats.join(", ")
            ));
        }
        if kind == "document" {
            let name = block
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("{at}: required key [name] not found"))?;
            if name.is_empty()
                || name.contains("  ")
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " -()[]".contains(c))
            {
                return Err(format!(
                    "{at}/name: the document name may hold only alphanumeric characters, single \
                     spaces, hyphens, parentheses and square brackets"
                ));
            }
        }
        let source = block
            .get("source")
            .and_then(Value::as_object)
            .ok_or(format!("{at}: required key [source] not found"))?;
        if let Some(data) = source.get("bytes").and_then(Value::as_str) {
            let bytes = decode(data, &format!("{at}/source/bytes"))?;
            return checked(kind, format, &bytes, &at).map(Some);
        }
        if let Some(location) = source.get("s3Location") {
            let uri = location
                .get("uri")
                .and_then(Value::as_str)
                .filter(|u| u.starts_with("s3://"))
                .ok_or(format!(
                    "{at}/source/s3Location: required key [uri] not found"
                ))?;
            // An object's text is read where the job's folder is known (the batch runner); here
            // only its location is named.
            return Ok(Some(format!("[{kind} at {uri}]")));
        }
        return Err(format!(
            "{at}/source: one of bytes or s3Location is required"
        ));
    }
    // Chat completions: {type: image_url, image_url: {url}} and {type: file, file: {file_data}}.
    match map.get("type").and_then(Value::as_str) {
        Some("image_url") => {
            let url = map
                .get("image_url")
                .and_then(|u| u.get("url"))
                .and_then(Value::as_str)
                .ok_or(format!("{at}/image_url: required key [url] not found"))?;
            let (mime, bytes) = data_url(url, &format!("{at}/image_url/url"))?;
            let format = mime.strip_prefix("image/").unwrap_or_default();
            return checked("image", format, &bytes, at).map(Some);
        }
        Some("file") => {
            let data = map
                .get("file")
                .and_then(|f| f.get("file_data"))
                .and_then(Value::as_str)
                .ok_or(format!("{at}/file: required key [file_data] not found"))?;
            let (mime, bytes) = data_url(data, &format!("{at}/file/file_data"))?;
            if mime != "application/pdf" {
                return Err(format!("{at}/file/file_data: only PDF files are supported"));
            }
            return checked("document", "pdf", &bytes, at).map(Some);
        }
        // The Responses API: {type: input_image, image_url} and {type: input_file,
        // filename, file_data}, the URLs as data URLs.
        Some("input_image") => {
            let url = map
                .get("image_url")
                .and_then(Value::as_str)
                .ok_or(format!("{at}: image_url is required (a data URL)"))?;
            let (mime, bytes) = data_url(url, &format!("{at}/image_url"))?;
            let format = mime.strip_prefix("image/").unwrap_or_default();
            return checked("image", format, &bytes, at).map(Some);
        }
        Some("input_file") => {
            let data = map
                .get("file_data")
                .and_then(Value::as_str)
                .ok_or(format!("{at}: file_data is required (a data URL)"))?;
            let (mime, bytes) = data_url(data, &format!("{at}/file_data"))?;
            if mime != "application/pdf" {
                return Err(format!("{at}/file_data: only PDF files are supported"));
            }
            return checked("document", "pdf", &bytes, at).map(Some);
        }
        _ => {}
    }
    // Gemini: {inlineData: {mimeType, data}}.
    if let Some(inline) = map.get("inlineData").and_then(Value::as_object) {
        let mime = inline
            .get("mimeType")
            .and_then(Value::as_str)
            .ok_or(format!(
                "{at}/inlineData: required key [mimeType] not found"
            ))?;
        let data = inline
            .get("data")
            .and_then(Value::as_str)
            .ok_or(format!("{at}/inlineData: required key [data] not found"))?;
        let bytes = decode(data, &format!("{at}/inlineData/data"))?;
        let (kind, format) = match mime {
            "image/png" => ("image", "png"),
            "image/jpeg" => ("image", "jpeg"),
            "image/gif" => ("image", "gif"),
            "image/webp" => ("image", "webp"),
            "application/pdf" => ("document", "pdf"),
            "text/plain" => ("document", "txt"),
            "text/csv" => ("document", "csv"),
            "text/html" => ("document", "html"),
            "text/markdown" => ("document", "md"),
            _ => {
                return Err(format!(
                    "{at}/inlineData/mimeType: Unsupported MIME type: {mime}"
                ));
            }
        };
        return checked(kind, format, &bytes, at).map(Some);
    }
    Ok(None)
}

fn decode(data: &str, at: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(data.as_bytes())
        .map_err(|err| format!("{at}: Invalid base64: {err}"))
}

fn data_url(url: &str, at: &str) -> Result<(String, Vec<u8>), String> {
    let rest = url
        .strip_prefix("data:")
        .ok_or(format!("{at}: only data URLs are supported here"))?;
    let (mime, data) = rest
        .split_once(";base64,")
        .ok_or(format!("{at}: expected data:<type>;base64,<data>"))?;
    Ok((mime.to_owned(), decode(data, at)?))
}

fn check_size(bytes: &[u8], kind: &str, at: &str) -> Result<(), String> {
    let max = if kind == "image" {
        MAX_IMAGE_BYTES
    } else {
        MAX_DOCUMENT_BYTES
    };
    if kind != "video" && bytes.len() > max {
        return Err(format!(
            "{at}: the {kind} is {} bytes, over the largest allowed ({max})",
            bytes.len()
        ));
    }
    Ok(())
}

/// Checks that the bytes are what the block says, and not too large; their text.
fn checked(kind: &str, format: &str, bytes: &[u8], at: &str) -> Result<String, String> {
    check_size(bytes, kind, at)?;
    let text_format = matches!(format, "csv" | "html" | "txt" | "md");
    if text_format {
        return std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| format!("{at}: the {format} document is not UTF-8 text"));
    }
    match sniff(bytes) {
        Some(seen) if seen == format => Ok(text_of(format, bytes)),
        // Office files and video are taken as they are: their signatures are not checked here.
        _ if matches!(format, "doc" | "docx" | "xls" | "xlsx") || kind == "video" => {
            Ok(String::new())
        }
        _ => Err(format!(
            "{at}: The provided {kind} does not match the format specified ({format})"
        )),
    }
}

fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some("jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("gif")
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("webp")
    } else if bytes.starts_with(b"%PDF-") {
        Some("pdf")
    } else {
        None
    }
}

/// The text a medium shows, as far as the synthetic model reads it.
fn text_of(format: &str, bytes: &[u8]) -> String {
    match format {
        "pdf" => pdf_text(bytes),
        "png" => png_text(bytes),
        "jpeg" => jpeg_comments(bytes),
        _ => String::new(),
    }
}

/// The strings a PDF's uncompressed content streams show with `Tj` or `'` (a line each) or
/// in a `TJ` array (a line per array).
fn pdf_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut in_array = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'[' => in_array = true,
            b']' if in_array => {
                in_array = false;
                out.push('\n');
            }
            b'(' => {
                let (s, end) = pdf_string(bytes, i + 1);
                let rest = bytes.get(end..).unwrap_or_default();
                let next = rest
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .and_then(|p| rest.get(p..))
                    .unwrap_or_default();
                if in_array {
                    out.push_str(&String::from_utf8_lossy(&s));
                } else if next.starts_with(b"Tj") || next.starts_with(b"'") {
                    out.push_str(&String::from_utf8_lossy(&s));
                    out.push('\n');
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// A literal string's bytes (balanced parentheses, backslash escapes) from `at`, just after
/// its `(`, and where it ends.
fn pdf_string(bytes: &[u8], at: usize) -> (Vec<u8>, usize) {
    let mut depth = 1;
    let mut s = Vec::new();
    let mut j = at;
    while let Some(&b) = bytes.get(j) {
        j += 1;
        match b {
            b'\\' => {
                if let Some(&next) = bytes.get(j) {
                    j += 1;
                    s.push(match next {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        other => other,
                    });
                }
            }
            b'(' => {
                depth += 1;
                s.push(b'(');
            }
            b')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                s.push(b')');
            }
            other => s.push(other),
        }
    }
    (s, j)
}

/// A PNG's `tEXt` chunks: `keyword\0text`, the text of each.
fn png_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 8;
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let Some(data) = bytes.get(at + 8..(at + 8).saturating_add(len)) else {
            break;
        };
        if kind == b"tEXt"
            && let Some(nul) = data.iter().position(|&b| b == 0)
        {
            out.push_str(&String::from_utf8_lossy(&data[nul + 1..]));
            out.push('\n');
        }
        if kind == b"IEND" {
            break;
        }
        at += 12 + len;
    }
    out
}

/// A JPEG's comment segments (`FF FE`).
fn jpeg_comments(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 2;
    while let Some(&[0xff, marker, hi, lo]) = bytes.get(at..at + 4) {
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if marker == 0xda || len < 2 {
            break;
        }
        if marker == 0xfe
            && let Some(data) = bytes.get(at + 4..at + 2 + len)
        {
            out.push_str(&String::from_utf8_lossy(data));
            out.push('\n');
        }
        at += 2 + len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pdf_text_is_what_tj_shows() {
        let pdf = b"%PDF-1.4\n4 0 obj<</Length 60>>stream\nBT /F1 12 Tf 72 720 Td (invoice_number: INV-7) Tj T* [(total: 1)-20(2.5)] TJ ET\nendstream endobj";
        assert_eq!(pdf_text(pdf), "invoice_number: INV-7\ntotal: 12.5\n");
    }

    #[test]
    fn a_block_that_lies_about_its_format_is_refused() {
        let png = STANDARD.encode(b"\x89PNG\r\n\x1a\n");
        let block = json!({"image": {"format": "jpeg", "source": {"bytes": png}}});
        let mut out = Read::default();
        let err = read(&block, "#", &mut out).err().unwrap_or_default();
        assert!(err.contains("does not match"), "{err}");
        let bad = json!({"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": png}});
        assert!(read(&bad, "#", &mut out).is_err());
        let ok = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}});
        assert!(read(&ok, "#", &mut out).is_ok());
        assert!(out.text.is_empty(), "base64 is not text the model reads");
    }
}
