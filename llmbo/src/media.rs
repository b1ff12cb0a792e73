//! Documents, images and video in a request: where the bytes are and what they are.
//!
//! A message's [`Part`]s are text and media, in order. A medium comes as bytes, as a local
//! file (read when the run is prepared) or as an S3 URI, and its format is told by its
//! first bytes, never by its name (an S3 object's by its name until a preflight reads it).
//! Which models take which media, in which form and up to which sizes, is the data in
//! [`MEDIA_MODELS`].

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// One part of a message: text, or a medium.
///
/// ```
/// use llmbo::input::Part;
/// let parts = [
///     Part::text("Extract the invoice."),
///     Part::document_s3("s3://my-bucket/invoices/a.pdf"),
///     Part::image(std::fs::read("Cargo.toml").unwrap_or_default()),
/// ];
/// assert_eq!(parts[0].as_text(), Some("Extract the invoice."));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Text.
    Text(String),
    /// An image: png, jpeg, gif or webp.
    Image(Media),
    /// A document: pdf, or a text format (csv, html, txt, md), or an office file the family
    /// takes (doc, docx, xls, xlsx).
    Document(Media),
    /// A video (Nova): mp4, mov, mkv or webm.
    Video(Media),
}

/// Where a medium's bytes are, with the name and format it is sent with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// The bytes, a local file or an S3 object.
    #[serde(flatten)]
    pub source: MediaSource,
    /// The name a document is sent with (Converse and Nova require one); by default the file's
    /// or object's name without its extension, else `document-N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The format, when it cannot be told from the bytes (an S3 object named without an
    /// extension). Bytes that are plainly another format are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<MediaFormat>,
}

/// Where a medium's bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    /// The bytes themselves (base64 in JSON).
    Bytes(#[serde(with = "base64_bytes")] Arc<[u8]>),
    /// A local file, read when the run is prepared.
    File(PathBuf),
    /// An S3 object; `bucket_owner` is the account that owns the bucket, when not the job's.
    #[serde(rename_all = "camelCase")]
    S3 {
        /// `s3://bucket/key`.
        uri: String,
        /// The 12-digit account id of the bucket's owner.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bucket_owner: Option<String>,
    },
}

mod base64_bytes {
    use std::sync::Arc;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        let text = Cow::<str>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Arc::from)
            .map_err(serde::de::Error::custom)
    }

    use std::borrow::Cow;
}

impl Media {
    fn new(source: MediaSource) -> Self {
        Media {
            source,
            name: None,
            format: None,
        }
    }
}

impl Part {
    /// Text.
    pub fn text(text: impl Into<String>) -> Self {
        Part::Text(text.into())
    }

    /// An image given as its bytes.
    pub fn image(bytes: impl Into<Vec<u8>>) -> Self {
        Part::Image(Media::new(MediaSource::Bytes(bytes.into().into())))
    }

    /// An image in a local file, read when the run is prepared.
    pub fn image_file(path: impl Into<PathBuf>) -> Self {
        Part::Image(Media::new(MediaSource::File(path.into())))
    }

    /// An image in S3.
    pub fn image_s3(uri: impl Into<String>) -> Self {
        Part::Image(Media::new(MediaSource::S3 {
            uri: uri.into(),
            bucket_owner: None,
        }))
    }

    /// A document given as its bytes.
    pub fn document(bytes: impl Into<Vec<u8>>) -> Self {
        Part::Document(Media::new(MediaSource::Bytes(bytes.into().into())))
    }

    /// A document in a local file, read when the run is prepared.
    pub fn document_file(path: impl Into<PathBuf>) -> Self {
        Part::Document(Media::new(MediaSource::File(path.into())))
    }

    /// A document in S3.
    pub fn document_s3(uri: impl Into<String>) -> Self {
        Part::Document(Media::new(MediaSource::S3 {
            uri: uri.into(),
            bucket_owner: None,
        }))
    }

    /// A video in a local file (Nova).
    pub fn video_file(path: impl Into<PathBuf>) -> Self {
        Part::Video(Media::new(MediaSource::File(path.into())))
    }

    /// A video in S3 (Nova).
    pub fn video_s3(uri: impl Into<String>) -> Self {
        Part::Video(Media::new(MediaSource::S3 {
            uri: uri.into(),
            bucket_owner: None,
        }))
    }

    /// The same medium sent under this name (documents).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        if let Some(media) = self.media_mut() {
            media.name = Some(name.into());
        }
        self
    }

    /// The same medium, of this format (for an S3 object named without its extension).
    #[must_use]
    pub fn with_format(mut self, format: MediaFormat) -> Self {
        if let Some(media) = self.media_mut() {
            media.format = Some(format);
        }
        self
    }

    /// The same S3 medium, in a bucket owned by this account.
    #[must_use]
    pub fn bucket_owner(mut self, account: impl Into<String>) -> Self {
        if let Some(Media {
            source: MediaSource::S3 { bucket_owner, .. },
            ..
        }) = self.media_mut()
        {
            *bucket_owner = Some(account.into());
        }
        self
    }

    /// The text of a text part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Part::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The medium of a media part, with its kind.
    pub fn as_media(&self) -> Option<(MediaKind, &Media)> {
        match self {
            Part::Text(_) => None,
            Part::Image(m) => Some((MediaKind::Image, m)),
            Part::Document(m) => Some((MediaKind::Document, m)),
            Part::Video(m) => Some((MediaKind::Video, m)),
        }
    }

    pub(crate) fn media_mut(&mut self) -> Option<&mut Media> {
        match self {
            Part::Text(_) => None,
            Part::Image(m) | Part::Document(m) | Part::Video(m) => Some(m),
        }
    }
}

/// What becomes of media a record names in S3 outside its job's input folder.
///
/// Bedrock reads a batch record's S3 media only from the folder its job's input names: "all
/// resources must be in the same S3 bucket and folder" (AWS, "Format and upload your batch
/// inference data", <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html>).
/// llmbo gives each job of such a run a folder of its own, `input/<job>/`, which holds the
/// job's JSONL and names it as the job's input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S3Media {
    /// Copied into the job's folder server-side (`CopyObject`) before the job is created; the
    /// record names the copy.
    #[default]
    Copy,
    /// Refused before anything is uploaded, naming the record and the object.
    Refuse,
}

impl S3Media {
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn is_copy(&self) -> bool {
        *self == S3Media::Copy
    }
}

/// What a medium is to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// An image.
    Image,
    /// A document.
    Document,
    /// A video.
    Video,
}

impl std::fmt::Display for MediaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MediaKind::Image => "image",
            MediaKind::Document => "document",
            MediaKind::Video => "video",
        })
    }
}

/// A medium's format, as the families name it (`png`, `pdf`, `mp4`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
#[allow(missing_docs)] // each is its file format
pub enum MediaFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
    Mp4,
    Mov,
    Mkv,
    Webm,
}

impl MediaFormat {
    /// The name the families use in their `format` fields.
    pub fn name(self) -> &'static str {
        match self {
            MediaFormat::Png => "png",
            MediaFormat::Jpeg => "jpeg",
            MediaFormat::Gif => "gif",
            MediaFormat::Webp => "webp",
            MediaFormat::Pdf => "pdf",
            MediaFormat::Csv => "csv",
            MediaFormat::Doc => "doc",
            MediaFormat::Docx => "docx",
            MediaFormat::Xls => "xls",
            MediaFormat::Xlsx => "xlsx",
            MediaFormat::Html => "html",
            MediaFormat::Txt => "txt",
            MediaFormat::Md => "md",
            MediaFormat::Mp4 => "mp4",
            MediaFormat::Mov => "mov",
            MediaFormat::Mkv => "mkv",
            MediaFormat::Webm => "webm",
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            MediaFormat::Png => "image/png",
            MediaFormat::Jpeg => "image/jpeg",
            MediaFormat::Gif => "image/gif",
            MediaFormat::Webp => "image/webp",
            MediaFormat::Pdf => "application/pdf",
            MediaFormat::Csv => "text/csv",
            MediaFormat::Doc => "application/msword",
            MediaFormat::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            MediaFormat::Xls => "application/vnd.ms-excel",
            MediaFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            MediaFormat::Html => "text/html",
            MediaFormat::Txt => "text/plain",
            MediaFormat::Md => "text/markdown",
            MediaFormat::Mp4 => "video/mp4",
            MediaFormat::Mov => "video/quicktime",
            MediaFormat::Mkv => "video/x-matroska",
            MediaFormat::Webm => "video/webm",
        }
    }

    /// What the format is to a model.
    pub fn kind(self) -> MediaKind {
        match self {
            MediaFormat::Png | MediaFormat::Jpeg | MediaFormat::Gif | MediaFormat::Webp => {
                MediaKind::Image
            }
            MediaFormat::Mp4 | MediaFormat::Mov | MediaFormat::Mkv | MediaFormat::Webm => {
                MediaKind::Video
            }
            _ => MediaKind::Document,
        }
    }

    /// Whether the format is text (sent as text where a family takes text documents).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            MediaFormat::Csv | MediaFormat::Html | MediaFormat::Txt | MediaFormat::Md
        )
    }

    /// The format a file name's extension names, if any.
    ///
    /// ```
    /// use llmbo::input::MediaFormat;
    /// assert_eq!(MediaFormat::from_name("a/b/Scan.JPG"), Some(MediaFormat::Jpeg));
    /// assert_eq!(MediaFormat::from_name("notes"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<MediaFormat> {
        let file = name.rsplit('/').next().unwrap_or(name);
        let (_, ext) = file.rsplit_once('.')?;
        Some(match ext.to_ascii_lowercase().as_str() {
            "png" => MediaFormat::Png,
            "jpg" | "jpeg" => MediaFormat::Jpeg,
            "gif" => MediaFormat::Gif,
            "webp" => MediaFormat::Webp,
            "pdf" => MediaFormat::Pdf,
            "csv" => MediaFormat::Csv,
            "doc" => MediaFormat::Doc,
            "docx" => MediaFormat::Docx,
            "xls" => MediaFormat::Xls,
            "xlsx" => MediaFormat::Xlsx,
            "html" | "htm" => MediaFormat::Html,
            "txt" => MediaFormat::Txt,
            "md" | "markdown" => MediaFormat::Md,
            "mp4" => MediaFormat::Mp4,
            "mov" => MediaFormat::Mov,
            "mkv" => MediaFormat::Mkv,
            "webm" => MediaFormat::Webm,
            _ => return None,
        })
    }

    /// The format the first bytes show, if they show one. Text has no signature: valid
    /// UTF-8 is `html` when it opens as HTML, else `None` (the name or the declared format
    /// tells csv, md and txt apart). Office files that share the ZIP or OLE container
    /// (`docx`/`xlsx`, `doc`/`xls`) are told apart by their content or, failing that, by
    /// their name.
    ///
    /// ```
    /// use llmbo::input::MediaFormat;
    /// assert_eq!(MediaFormat::sniff(b"%PDF-1.7\n..."), Some(MediaFormat::Pdf));
    /// assert_eq!(MediaFormat::sniff(b"\x89PNG\r\n\x1a\n...."), Some(MediaFormat::Png));
    /// assert_eq!(MediaFormat::sniff(b"plain words"), None);
    /// ```
    pub fn sniff(bytes: &[u8]) -> Option<MediaFormat> {
        let starts = |magic: &[u8]| bytes.starts_with(magic);
        if starts(b"\x89PNG\r\n\x1a\n") {
            return Some(MediaFormat::Png);
        }
        if starts(b"\xff\xd8\xff") {
            return Some(MediaFormat::Jpeg);
        }
        if starts(b"GIF87a") || starts(b"GIF89a") {
            return Some(MediaFormat::Gif);
        }
        if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
            return Some(MediaFormat::Webp);
        }
        if starts(b"%PDF-") {
            return Some(MediaFormat::Pdf);
        }
        if bytes.get(4..8) == Some(b"ftyp") {
            return Some(if bytes.get(8..10) == Some(b"qt") {
                MediaFormat::Mov
            } else {
                MediaFormat::Mp4
            });
        }
        if starts(b"\x1a\x45\xdf\xa3") {
            // Matroska; WebM says so in its DocType near the start.
            let head = bytes.get(..64.min(bytes.len())).unwrap_or_default();
            return Some(if contains(head, b"webm") {
                MediaFormat::Webm
            } else {
                MediaFormat::Mkv
            });
        }
        if starts(b"PK\x03\x04") {
            let head = bytes.get(..4096.min(bytes.len())).unwrap_or_default();
            if contains(head, b"word/") {
                return Some(MediaFormat::Docx);
            }
            if contains(head, b"xl/") {
                return Some(MediaFormat::Xlsx);
            }
            return None;
        }
        if let Ok(text) = std::str::from_utf8(bytes.get(..512.min(bytes.len())).unwrap_or_default())
        {
            let head = text.trim_start().to_ascii_lowercase();
            if head.starts_with("<!doctype html") || head.starts_with("<html") {
                return Some(MediaFormat::Html);
            }
        }
        None
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

impl std::fmt::Display for MediaFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A medium ready to be written by an adapter: its format known, its bytes at hand or its
/// S3 location.
#[derive(Debug, Clone)]
pub struct MediaBlock<'a> {
    /// What it is to the model.
    pub kind: MediaKind,
    /// Its format.
    pub format: MediaFormat,
    /// The name it is sent with (documents): the given one, else the file's, else
    /// `document-N`, in the characters Converse takes.
    pub name: Cow<'a, str>,
    /// The bytes, or where they are.
    pub data: MediaData<'a>,
}

/// A ready medium's bytes, or its S3 location.
#[derive(Debug, Clone, Copy)]
pub enum MediaData<'a> {
    /// The bytes.
    Bytes(&'a [u8]),
    /// An S3 object.
    S3 {
        /// `s3://bucket/key`.
        uri: &'a str,
        /// The bucket owner's account id.
        bucket_owner: Option<&'a str>,
    },
}

impl MediaData<'_> {
    /// The bytes, base64.
    pub fn base64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// One part of a message as an adapter writes it.
#[derive(Debug, Clone)]
pub enum Block<'a> {
    /// Text.
    Text(&'a str),
    /// A medium.
    Media(MediaBlock<'a>),
}

/// A medium's problem, named for the person who sent it.
pub(crate) fn problem(reason: String) -> Error {
    Error::invalid_request(reason)
}

/// The format of a medium: its first bytes, checked against the declared format and its kind.
pub(crate) fn format_of(
    kind: MediaKind,
    media: &Media,
    bytes: Option<&[u8]>,
) -> Result<MediaFormat, Error> {
    let named = match &media.source {
        MediaSource::File(path) => path.to_str().and_then(MediaFormat::from_name),
        MediaSource::S3 { uri, .. } => MediaFormat::from_name(uri),
        MediaSource::Bytes(_) => None,
    };
    let sniffed = bytes.and_then(MediaFormat::sniff);
    let format = match (sniffed, media.format, named) {
        (Some(seen), Some(declared), _) if seen != declared => {
            return Err(problem(format!(
                "its {kind} is declared {declared} but its bytes are {seen}"
            )));
        }
        (Some(seen), _, _) => seen,
        // Text has no signature: the declared format, else the name's, else txt.
        (None, declared, named) => match declared.or(named) {
            Some(format) if bytes.is_none() || format.is_text() => format,
            Some(format) => {
                return Err(problem(format!(
                    "its {kind} does not start as a {format} file does; it is not a {format} \
                     (formats are told by their first bytes)"
                )));
            }
            None if bytes.is_some_and(|b| std::str::from_utf8(b).is_ok())
                && kind == MediaKind::Document =>
            {
                MediaFormat::Txt
            }
            None => {
                return Err(problem(format!(
                    "the format of its {kind} is unknown (not png, jpeg, gif, webp, pdf, mp4, \
                     ...); name it with `.with_format(..)`"
                )));
            }
        },
    };
    if format.kind() != kind && !(kind == MediaKind::Document && format.is_text()) {
        return Err(problem(format!(
            "its {kind} is a {format} file, which is a {}; send it as Part::{}",
            format.kind(),
            match format.kind() {
                MediaKind::Image => "image",
                MediaKind::Document => "document",
                MediaKind::Video => "video",
            }
        )));
    }
    Ok(format)
}

/// A document's name as Converse takes it: letters, digits, single spaces, hyphens,
/// parentheses and square brackets; at most 200 characters.
pub(crate) fn document_name(given: Option<&str>, source: &MediaSource, index: usize) -> String {
    let stem = given.map(str::to_owned).or_else(|| {
        let name = match source {
            MediaSource::File(path) => path.file_stem()?.to_str()?.to_owned(),
            MediaSource::S3 { uri, .. } => {
                let file = uri.rsplit('/').next()?;
                file.rsplit_once('.')
                    .map_or(file, |(stem, _)| stem)
                    .to_owned()
            }
            MediaSource::Bytes(_) => return None,
        };
        Some(name)
    });
    let mut out = String::new();
    for c in stem.unwrap_or_default().chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else {
            ' '
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        out.push(c);
        if out.len() >= 200 {
            break;
        }
    }
    let out = out.trim_end().to_owned();
    if out.is_empty() {
        format!("document-{}", index + 1)
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_bytes_not_their_names() -> Result<(), Box<dyn std::error::Error>> {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        let as_pdf = Media {
            source: MediaSource::File("scan.pdf".into()),
            name: None,
            format: None,
        };
        // A PNG named .pdf is a PNG, and an image sent as a document is refused by name.
        assert_eq!(
            format_of(MediaKind::Image, &as_pdf, Some(&png))?,
            MediaFormat::Png
        );
        let err = format_of(MediaKind::Document, &as_pdf, Some(&png))
            .err()
            .ok_or("a png as a document passed")?;
        assert!(err.to_string().contains("Part::image"), "{err}");
        // Declared pdf, bytes png: refused.
        let declared = Media {
            format: Some(MediaFormat::Pdf),
            ..as_pdf.clone()
        };
        assert!(format_of(MediaKind::Document, &declared, Some(&png)).is_err());
        // Text has no signature: the name says csv.
        let csv = Media {
            source: MediaSource::S3 {
                uri: "s3://b/k/t.csv".into(),
                bucket_owner: None,
            },
            name: None,
            format: None,
        };
        assert_eq!(
            format_of(MediaKind::Document, &csv, None)?,
            MediaFormat::Csv
        );
        // Text bytes with no name are txt; named .pdf, they are refused, not sent as a pdf.
        let unnamed = Media {
            source: MediaSource::Bytes(Arc::from(&b"a,b\n1,2"[..])),
            name: None,
            format: None,
        };
        assert_eq!(
            format_of(MediaKind::Document, &unnamed, Some(b"a,b\n1,2"))?,
            MediaFormat::Txt
        );
        assert!(format_of(MediaKind::Document, &as_pdf, Some(b"a,b\n1,2")).is_err());
        assert!(format_of(MediaKind::Image, &unnamed, Some(b"a,b\n1,2")).is_err());
        Ok(())
    }

    #[test]
    fn media_tokens_follow_each_familys_documented_rule() {
        let square = |side| Measure {
            pixels: Some((side, side)),
            pages: None,
        };
        let image =
            |model| media_tokens(model, MediaKind::Image, MediaFormat::Png, 0, square(1024)).0;
        // OpenAI's own example: 1024 × 1024 at high detail is 765 tokens.
        assert_eq!(image("openai.gpt-4o"), 765);
        // Claude: 1024² / 750; Gemini: four 768 px tiles of 258.
        assert_eq!(image("anthropic.claude-sonnet-4-5"), 1399);
        assert_eq!(image("google.gemini-2.5-flash"), 1032);
        // Claude scales a large image down first: at most about 1,600 tokens.
        let big = media_tokens(
            "anthropic.claude-sonnet-4-5",
            MediaKind::Image,
            MediaFormat::Png,
            0,
            square(8000),
        );
        assert_eq!(big.0, 1600);
        let pdf = Measure {
            pixels: None,
            pages: Some(4),
        };
        assert_eq!(
            media_tokens(
                "google.gemini-2.5-pro",
                MediaKind::Document,
                MediaFormat::Pdf,
                0,
                pdf
            )
            .0,
            1032
        );
        assert_eq!(
            media_tokens(
                "amazon.nova-pro-v1:0",
                MediaKind::Document,
                MediaFormat::Txt,
                400,
                pdf
            )
            .0,
            100
        );
    }

    #[test]
    fn document_names_keep_what_converse_takes() {
        let source = MediaSource::S3 {
            uri: "s3://b/in/Invoice #42 (final)..pdf".into(),
            bucket_owner: None,
        };
        assert_eq!(document_name(None, &source, 0), "Invoice 42 (final)");
        assert_eq!(
            document_name(None, &MediaSource::Bytes(Arc::from(&b""[..])), 2),
            "document-3"
        );
        assert_eq!(document_name(Some("  a__b "), &source, 0), "a b");
    }

    #[test]
    fn parts_round_trip_through_json() -> Result<(), Box<dyn std::error::Error>> {
        let parts = vec![
            Part::text("hi"),
            Part::image(b"\x89PNG".to_vec()),
            Part::document_s3("s3://b/a.pdf").bucket_owner("123456789012"),
        ];
        let json = serde_json::to_value(&parts)?;
        assert_eq!(json[1]["image"]["bytes"], "iVBORw==");
        assert_eq!(json[2]["document"]["s3"]["bucketOwner"], "123456789012");
        let back: Vec<Part> = serde_json::from_value(json)?;
        assert_eq!(back, parts);
        Ok(())
    }
}

/// Which media a model takes, in which sources, up to which sizes: one row of
/// [`MEDIA_MODELS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSupport {
    /// The start of the model id, after [`normalize_model_id`](crate::model::normalize_model_id).
    pub prefix: &'static str,
    /// The image formats it takes.
    pub images: &'static [MediaFormat],
    /// The document formats it takes.
    pub documents: &'static [MediaFormat],
    /// The video formats it takes.
    pub video: &'static [MediaFormat],
    /// Whether it takes media by S3 location (else bytes only).
    pub s3: bool,
    /// The largest image, in bytes (before base64).
    pub max_image_bytes: u64,
    /// The most images in one request.
    pub max_images: usize,
    /// The largest document, in bytes.
    pub max_document_bytes: u64,
    /// The most documents in one request.
    pub max_documents: usize,
    /// The longest side of an image, in pixels (0: none known).
    pub max_pixels: u32,
    /// The most pages of a PDF (0: none known).
    pub max_pages: u32,
    /// Whether the limits are documented (`false`: UNCONFIRMED, checked as warnings).
    pub limits_documented: bool,
    /// Where the facts come from.
    pub source: &'static str,
}

const IMAGES: &[MediaFormat] = &[
    MediaFormat::Png,
    MediaFormat::Jpeg,
    MediaFormat::Gif,
    MediaFormat::Webp,
];
const CONVERSE_DOCUMENTS: &[MediaFormat] = &[
    MediaFormat::Pdf,
    MediaFormat::Csv,
    MediaFormat::Doc,
    MediaFormat::Docx,
    MediaFormat::Xls,
    MediaFormat::Xlsx,
    MediaFormat::Html,
    MediaFormat::Txt,
    MediaFormat::Md,
];
const PDF_AND_TEXT: &[MediaFormat] = &[MediaFormat::Pdf, MediaFormat::Txt];
const VIDEO: &[MediaFormat] = &[
    MediaFormat::Mp4,
    MediaFormat::Mov,
    MediaFormat::Mkv,
    MediaFormat::Webm,
];
const MB: u64 = 1_000_000;

const NONE: MediaSupport = MediaSupport {
    prefix: "",
    images: &[],
    documents: &[],
    video: &[],
    s3: false,
    max_image_bytes: 0,
    max_images: 0,
    max_document_bytes: 0,
    max_documents: 0,
    max_pixels: 0,
    max_pages: 0,
    limits_documented: true,
    source: "no media documented for this model",
};

/// Which models take which media, first matching prefix wins; a model no row matches takes
/// none. Bedrock's limits are those of the runtime's content blocks (AWS, "ImageBlock" and
/// "DocumentBlock", <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html>
/// and <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html>:
/// images up to 3.75 MB and 20 a request, documents up to 4.5 MB and 5 a request); batch
/// documents none of its own. Correct it here when a provider changes.
pub const MEDIA_MODELS: &[MediaSupport] = &[
    // Claude 3.5 Haiku reads text only.
    MediaSupport {
        prefix: "anthropic.claude-3-5-haiku",
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-supported-models-features.html",
        ..NONE
    },
    // Claude 3 and the first Claude 3.5 Sonnet read images; PDFs came with later models.
    MediaSupport {
        prefix: "anthropic.claude-3-sonnet",
        images: IMAGES,
        max_pixels: 8_000,
        max_image_bytes: 3_750_000,
        max_images: 20,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html",
        ..NONE
    },
    MediaSupport {
        prefix: "anthropic.claude-3-opus",
        images: IMAGES,
        max_pixels: 8_000,
        max_image_bytes: 3_750_000,
        max_images: 20,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html",
        ..NONE
    },
    MediaSupport {
        prefix: "anthropic.claude-3-5-sonnet-20240620",
        images: IMAGES,
        max_pixels: 8_000,
        max_image_bytes: 3_750_000,
        max_images: 20,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html",
        ..NONE
    },
    MediaSupport {
        prefix: "anthropic.claude-3-haiku",
        images: IMAGES,
        max_pixels: 8_000,
        max_image_bytes: 3_750_000,
        max_images: 20,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html",
        ..NONE
    },
    MediaSupport {
        prefix: "anthropic.claude",
        images: IMAGES,
        max_pixels: 8_000,
        documents: PDF_AND_TEXT,
        max_image_bytes: 3_750_000,
        max_images: 20,
        max_document_bytes: 4_500_000,
        max_documents: 5,
        max_pages: 100,
        // Claude's InvokeModel documents PDFs without a batch size limit: UNCONFIRMED.
        limits_documented: false,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages.html",
        ..NONE
    },
    MediaSupport {
        prefix: "amazon.nova-micro",
        source: "https://docs.aws.amazon.com/nova/latest/userguide/modalities.html",
        ..NONE
    },
    MediaSupport {
        prefix: "amazon.nova-2-multimodal-embeddings",
        images: IMAGES,
        video: VIDEO,
        s3: true,
        max_image_bytes: 25 * MB,
        max_images: 1,
        limits_documented: false,
        source: "https://docs.aws.amazon.com/nova/latest/userguide/embeddings-schema.html",
        ..NONE
    },
    MediaSupport {
        prefix: "amazon.nova",
        images: IMAGES,
        documents: CONVERSE_DOCUMENTS,
        video: VIDEO,
        s3: true,
        max_image_bytes: 3_750_000,
        max_images: 20,
        max_document_bytes: 4_500_000,
        max_documents: 5,
        source: "https://docs.aws.amazon.com/nova/latest/userguide/modalities.html",
        ..NONE
    },
    MediaSupport {
        prefix: "mistral.pixtral",
        images: IMAGES,
        max_image_bytes: 3_750_000,
        max_images: 8,
        limits_documented: false,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-mistral-pixtral-large.html",
        ..NONE
    },
    MediaSupport {
        prefix: "meta.llama3-2-11b",
        images: IMAGES,
        max_image_bytes: 3_750_000,
        max_images: 1,
        limits_documented: false,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-meta.html",
        ..NONE
    },
    MediaSupport {
        prefix: "meta.llama3-2-90b",
        images: IMAGES,
        max_image_bytes: 3_750_000,
        max_images: 1,
        limits_documented: false,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-meta.html",
        ..NONE
    },
    MediaSupport {
        prefix: "meta.llama4",
        images: IMAGES,
        max_image_bytes: 3_750_000,
        max_images: 5,
        limits_documented: false,
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-meta.html",
        ..NONE
    },
    // Bedrock's open-weight OpenAI models read text only; the OpenAI API's own models read
    // images and PDFs (https://platform.openai.com/docs/guides/images-vision,
    // https://platform.openai.com/docs/guides/pdf-files).
    MediaSupport {
        prefix: "openai.gpt-oss",
        source: "https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-openai.html",
        ..NONE
    },
    MediaSupport {
        prefix: "openai.",
        images: IMAGES,
        documents: &[MediaFormat::Pdf],
        max_image_bytes: 20 * MB,
        max_images: 500,
        max_document_bytes: 32 * MB,
        max_documents: 100,
        max_pages: 100,
        limits_documented: false,
        source: "https://platform.openai.com/docs/guides/pdf-files",
        ..NONE
    },
    MediaSupport {
        prefix: "google.gemini",
        images: IMAGES,
        documents: &[
            MediaFormat::Pdf,
            MediaFormat::Txt,
            MediaFormat::Html,
            MediaFormat::Csv,
            MediaFormat::Md,
        ],
        video: &[MediaFormat::Mp4, MediaFormat::Mov, MediaFormat::Webm],
        max_image_bytes: 20 * MB,
        max_images: 3_600,
        max_document_bytes: 20 * MB,
        max_documents: 1_000,
        max_pages: 1_000,
        source: "https://ai.google.dev/gemini-api/docs/document-processing",
        ..NONE
    },
];

/// The media a model takes: its row of [`MEDIA_MODELS`], or none.
///
/// ```
/// use llmbo::input::{media_support, MediaFormat};
/// assert!(media_support("us.amazon.nova-pro-v1:0").s3);
/// assert!(media_support("anthropic.claude-sonnet-4-5-20250929-v1:0").documents.contains(&MediaFormat::Pdf));
/// assert!(media_support("amazon.nova-micro-v1:0").images.is_empty());
/// assert!(media_support("cohere.command-r-v1:0").images.is_empty());
/// ```
pub fn media_support(model_id: &str) -> MediaSupport {
    let model = crate::model::normalize_model_id(model_id);
    MEDIA_MODELS
        .iter()
        .find(|row| model.starts_with(row.prefix))
        .copied()
        .unwrap_or(NONE)
}

/// What a medium's bytes say of its size: an image's pixels, a PDF's pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measure {
    /// Width and height in pixels, for an image whose header was read.
    pub pixels: Option<(u32, u32)>,
    /// Pages, for a PDF.
    pub pages: Option<u32>,
}

/// Reads an image's size from its header (PNG, GIF, JPEG, WebP) or counts a PDF's pages (its
/// `/Type /Page` objects); what cannot be read stays `None`.
///
/// ```
/// use llmbo::input::{MediaFormat, measure};
/// let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
/// png.extend_from_slice(&640u32.to_be_bytes());
/// png.extend_from_slice(&480u32.to_be_bytes());
/// assert_eq!(measure(MediaFormat::Png, &png).pixels, Some((640, 480)));
/// let pdf = b"%PDF-1.4 1 0 obj<</Type /Pages /Count 2>> 2 0 obj<</Type /Page>> 3 0 obj<</Type/Page>>";
/// assert_eq!(measure(MediaFormat::Pdf, pdf).pages, Some(2));
/// ```
pub fn measure(format: MediaFormat, bytes: &[u8]) -> Measure {
    let be32 = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let le16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let pixels = match format {
        MediaFormat::Png => be32(16).zip(be32(20)),
        MediaFormat::Gif => le16(6).zip(le16(8)),
        MediaFormat::Jpeg => jpeg_size(bytes),
        MediaFormat::Webp => webp_size(bytes),
        _ => None,
    };
    let pages = (format == MediaFormat::Pdf).then(|| pdf_pages(bytes));
    Measure { pixels, pages }
}

fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        let header = bytes.get(at..at + 4)?;
        if header[0] != 0xff {
            return None;
        }
        let marker = header[1];
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        // Start of frame (not DHT, JPG or DAC): height then width.
        if (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker) {
            let frame = bytes.get(at + 5..at + 9)?;
            let height = u32::from(u16::from_be_bytes([frame[0], frame[1]]));
            let width = u32::from(u16::from_be_bytes([frame[2], frame[3]]));
            return Some((width, height));
        }
        if len < 2 {
            return None;
        }
        at += 2 + len;
    }
}

fn webp_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let chunk = bytes.get(12..16)?;
    let le24 = |at: usize| {
        bytes
            .get(at..at + 3)
            .map(|b| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    };
    match chunk {
        b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
        b"VP8 " => {
            let b = bytes.get(26..30)?;
            let width = u32::from(u16::from_le_bytes([b[0], b[1]]) & 0x3fff);
            let height = u32::from(u16::from_le_bytes([b[2], b[3]]) & 0x3fff);
            Some((width, height))
        }
        b"VP8L" => {
            let b = bytes.get(21..25)?;
            let bits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        _ => None,
    }
}

/// A PDF's `/Type /Page` objects (not `/Pages`), at least one.
fn pdf_pages(bytes: &[u8]) -> u32 {
    let mut pages = 0u32;
    let mut rest = bytes;
    while let Some(at) = memchr::memmem::find(rest, b"/Type") {
        rest = rest.get(at + 5..).unwrap_or_default();
        let value = rest.trim_ascii_start();
        if value.starts_with(b"/Page") && !value.starts_with(b"/Pages") {
            pages += 1;
        }
    }
    pages.max(1)
}

/// Input tokens of one medium by its family's documented rule, with the rule's name;
/// `measure` from [`measure`] (an S3 object not read: a typical image, or 3 pages).
///
/// - Claude: an image is `width × height / 750` tokens after it is fitted into 1,568 px on its
///   long side (Anthropic, "Vision", <https://docs.anthropic.com/en/docs/build-with-claude/vision>);
///   (about 1.15 megapixels, so at most about 1,600 tokens); a PDF page 1,500 to 3,000 tokens, 2,250 counted (Anthropic, "PDF support",
///   <https://docs.anthropic.com/en/docs/build-with-claude/pdf-support>).
/// - OpenAI: 85 + 170 per 512 px tile after fitting into 2,048 px and the short side into
///   768 px (OpenAI, "Images and vision", <https://platform.openai.com/docs/guides/images-vision>).
/// - Gemini: 258 per image up to 384 px a side, else 258 per 768 px tile; 258 per PDF page
///   (Google, "Image understanding" and "Document understanding",
///   <https://ai.google.dev/gemini-api/docs/document-processing>).
/// - Nova, Llama, Pixtral and the rest: Claude's rule (UNCONFIRMED for them).
/// - A text document: its bytes at four characters a token.
pub fn media_tokens(
    model_id: &str,
    kind: MediaKind,
    format: MediaFormat,
    bytes: usize,
    measure: Measure,
) -> (u64, &'static str) {
    let model = crate::model::normalize_model_id(model_id);
    let family = if model.starts_with("openai.") {
        "openai"
    } else if model.starts_with("google.") {
        "gemini"
    } else {
        "claude"
    };
    if format.is_text() {
        return ((bytes as u64).div_ceil(4), "text at 4 characters a token");
    }
    match kind {
        MediaKind::Image => {
            let (w, h) = measure.pixels.unwrap_or((1092, 1092));
            let (w, h) = (f64::from(w.max(1)), f64::from(h.max(1)));
            match family {
                "openai" => {
                    let fit = (2048.0 / w.max(h)).min(1.0);
                    let (w, h) = (w * fit, h * fit);
                    let short = (768.0 / w.min(h)).min(1.0);
                    let (w, h) = (w * short, h * short);
                    let tiles = (w / 512.0).ceil() * (h / 512.0).ceil();
                    (85 + 170 * tiles as u64, "OpenAI: 85 + 170 a 512 px tile")
                }
                "gemini" if w <= 384.0 && h <= 384.0 => (258, "Gemini: 258 an image"),
                "gemini" => {
                    let tiles = (w / 768.0).ceil() * (h / 768.0).ceil();
                    (258 * tiles as u64, "Gemini: 258 a 768 px tile")
                }
                _ => {
                    // Fitted into 1,568 px and about 1.15 megapixels (1,600 tokens).
                    let fit = (1568.0 / w.max(h)).min(1.0);
                    let tokens = ((w * fit) * (h * fit) / 750.0).min(1600.0);
                    (tokens.ceil() as u64, "Claude: width × height / 750")
                }
            }
        }
        MediaKind::Document => {
            let pages = u64::from(measure.pages.unwrap_or(3));
            match family {
                "gemini" => (258 * pages, "Gemini: 258 a page"),
                "openai" => (
                    1_500 * pages,
                    "OpenAI: a page's text and image, about 1,500",
                ),
                _ => (2_250 * pages, "Claude: 1,500 to 3,000 a page"),
            }
        }
        // Video is billed by duration, which llmbo does not read.
        MediaKind::Video => (0, "video: not estimated"),
    }
}
