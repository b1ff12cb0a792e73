//! The synthetic embedding models: Titan Text Embeddings (V2 with its settings) and Nova 2
//! multimodal embeddings (text). A vector is a hashed bag of words: each word adds ±1 at a
//! few positions picked by its hash, so the same text gives the same vector and texts that
//! share words give near vectors (a nearest-neighbour query finds a near-duplicate). It does
//! not depend on the seed or the record: the same text embeds the same in every job.

use serde_json::{Map, Value, json};

use crate::synth::Answer;

/// Positions each word touches.
const TOUCHES: usize = 8;

fn malformed(message: impl Into<String>) -> Answer {
    Answer::Error {
        code: 400,
        message: format!(
            "Malformed input request: {}, please reformat your input and try again.",
            message.into()
        ),
    }
}

/// 64-bit FNV-1a.
fn fnv(bytes: &[u8], salt: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ salt;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The vector of `text`: `dimensions` long, unit length when `normalize`.
pub fn vector(text: &str, dimensions: usize, normalize: bool) -> Vec<f64> {
    let mut v = vec![0.0_f64; dimensions.max(1)];
    for word in words(text) {
        for touch in 0..TOUCHES {
            let h = fnv(word.as_bytes(), touch as u64);
            let at = (h % v.len() as u64) as usize;
            v[at] += if h >> 63 == 0 { 1.0 } else { -1.0 };
        }
    }
    if normalize {
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            // No words: a fixed unit vector, not a division by zero.
            v[0] = 1.0;
        }
    }
    v
}

fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

fn extraneous(body: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), String> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!("{at}: extraneous key [{key}] is not permitted")),
        None => Ok(()),
    }
}

/// Titan Text Embeddings: V2 takes `dimensions` (256, 512, 1024), `normalize` and
/// `embeddingTypes`; V1 only `inputText` (1536 dimensions).
pub fn titan(body: &Map<String, Value>, v2: bool) -> Answer {
    let allowed: &[&str] = if v2 {
        &["inputText", "dimensions", "normalize", "embeddingTypes"]
    } else {
        &["inputText"]
    };
    if let Err(message) = extraneous(body, allowed, "#") {
        return malformed(message);
    }
    let Some(text) = body.get("inputText").and_then(Value::as_str) else {
        return malformed("#: required key [inputText] not found");
    };
    let dimensions = match body.get("dimensions") {
        None => {
            if v2 {
                1024
            } else {
                1536
            }
        }
        Some(d) => match d.as_u64() {
            Some(d @ (256 | 512 | 1024)) => d as usize,
            _ => return malformed(format!("#/dimensions: {d} is not a valid enum value")),
        },
    };
    let normalize = match body.get("normalize") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return malformed("#/normalize: expected type: Boolean"),
    };
    let mut float = true;
    let mut binary = false;
    if let Some(types) = body.get("embeddingTypes") {
        let Some(types) = types.as_array().filter(|t| !t.is_empty()) else {
            return malformed("#/embeddingTypes: expected minimum item count: 1");
        };
        float = false;
        for t in types {
            match t.as_str() {
                Some("float") => float = true,
                Some("binary") => binary = true,
                _ => return malformed(format!("#/embeddingTypes: {t} is not a valid enum value")),
            }
        }
    }
    let v = vector(text, dimensions, normalize);
    let mut by_type = Map::new();
    if float {
        by_type.insert("float".into(), json!(v));
    }
    if binary {
        let bits: Vec<u8> = v.iter().map(|x| u8::from(*x > 0.0)).collect();
        by_type.insert("binary".into(), json!(bits));
    }
    let input_tokens = tokens(text);
    let mut out = Map::new();
    if float {
        out.insert("embedding".into(), json!(v));
    }
    out.insert("inputTextTokenCount".into(), json!(input_tokens));
    if v2 {
        out.insert("embeddingsByType".into(), Value::Object(by_type));
    }
    Answer::Output {
        body: Value::Object(out),
        input_tokens,
        output_tokens: 0,
    }
}

const PURPOSES: [&str; 9] = [
    "GENERIC_INDEX",
    "GENERIC_RETRIEVAL",
    "TEXT_RETRIEVAL",
    "IMAGE_RETRIEVAL",
    "VIDEO_RETRIEVAL",
    "DOCUMENT_RETRIEVAL",
    "AUDIO_RETRIEVAL",
    "CLASSIFICATION",
    "CLUSTERING",
];

/// Nova 2 multimodal embeddings, text only here: `taskType: SINGLE_EMBEDDING`, an
/// `embeddingPurpose`, `embeddingDimension` 256, 384, 1024 or 3072 (default), and
/// `text: {truncationMode, value}`. Vectors are unit length.
pub fn nova(body: &Map<String, Value>) -> Answer {
    if let Err(message) = extraneous(
        body,
        &["schemaVersion", "taskType", "singleEmbeddingParams"],
        "#",
    ) {
        return malformed(message);
    }
    if let Some(version) = body.get("schemaVersion")
        && version.as_str() != Some("nova-multimodal-embed-v1")
    {
        return malformed("#/schemaVersion: must be nova-multimodal-embed-v1");
    }
    match body.get("taskType").and_then(Value::as_str) {
        Some("SINGLE_EMBEDDING") => {}
        Some("SEGMENTED_EMBEDDING") => {
            return malformed(
                "#/taskType: SEGMENTED_EMBEDDING is only available through the asynchronous API",
            );
        }
        _ => return malformed("#/taskType: must be SINGLE_EMBEDDING"),
    }
    let Some(params) = body.get("singleEmbeddingParams").and_then(Value::as_object) else {
        return malformed("#: required key [singleEmbeddingParams] not found");
    };
    if let Err(message) = extraneous(
        params,
        &[
            "embeddingPurpose",
            "embeddingDimension",
            "text",
            "image",
            "audio",
            "video",
        ],
        "#/singleEmbeddingParams",
    ) {
        return malformed(message);
    }
    match params.get("embeddingPurpose").and_then(Value::as_str) {
        Some(p) if PURPOSES.contains(&p) => {}
        Some(p) => {
            return malformed(format!(
                "#/singleEmbeddingParams/embeddingPurpose: {p} is not a valid enum value"
            ));
        }
        None => {
            return malformed("#/singleEmbeddingParams: required key [embeddingPurpose] not found");
        }
    }
    let dimensions = match params.get("embeddingDimension") {
        None => 3072,
        Some(d) => match d.as_u64() {
            Some(d @ (256 | 384 | 1024 | 3072)) => d as usize,
            _ => {
                return malformed(format!(
                    "#/singleEmbeddingParams/embeddingDimension: {d} is not a valid enum value"
                ));
            }
        },
    };
    let modalities: Vec<&str> = ["text", "image", "audio", "video"]
        .into_iter()
        .filter(|k| params.contains_key(*k))
        .collect();
    if modalities.len() != 1 {
        return malformed(format!(
            "#/singleEmbeddingParams: exactly one of text, image, audio or video is required, \
             found {}",
            modalities.len()
        ));
    }
    if let Some(image) = params.get("image") {
        // An image: checked as a content block is; its vector from what it shows (a
        // fixture's text), else from its bytes.
        let block = json!({"image": image});
        let shown = match crate::synth::read_media(&block, "#/singleEmbeddingParams") {
            Ok(shown) => shown,
            Err(message) => return malformed(message),
        };
        let seen = if shown.trim().is_empty() {
            image.to_string()
        } else {
            shown
        };
        let v = vector(&seen, dimensions, true);
        return Answer::Output {
            body: json!({"embeddings": [{"embeddingType": "IMAGE", "embedding": v}]}),
            input_tokens: 0,
            output_tokens: 0,
        };
    }
    let Some(text) = params.get("text") else {
        return malformed(
            "#/singleEmbeddingParams: llmbo-local embeds text and images only; give [text] or [image]",
        );
    };
    match text.get("truncationMode").and_then(Value::as_str) {
        Some("START" | "END" | "NONE") => {}
        _ => {
            return malformed(
                "#/singleEmbeddingParams/text/truncationMode: must be START, END or NONE",
            );
        }
    }
    let Some(value) = text.get("value").and_then(Value::as_str) else {
        return malformed("#/singleEmbeddingParams/text: required key [value] not found");
    };
    let v = vector(value, dimensions, true);
    Answer::Output {
        body: json!({"embeddings": [{"embeddingType": "TEXT", "embedding": v}]}),
        input_tokens: tokens(value),
        output_tokens: 0,
    }
}

/// Gemini's task types (Google, "Embeddings", <https://ai.google.dev/api/embeddings#tasktype>).
const GEMINI_TASK_TYPES: &[&str] = &[
    "TASK_TYPE_UNSPECIFIED",
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
];

/// One `EmbedContentRequest` of a Gemini embedding batch (`content.parts[].text`,
/// `taskType`, `title`, `outputDimensionality` from 128 to 3,072, default 3,072): the
/// `EmbedContentResponse` body, `{"embedding": {"values"}}`, or the request's error message.
/// As Gemini's, the vector is unit length only at 3,072 dimensions.
pub fn gemini(request: &Value) -> Result<Value, String> {
    let Some(body) = request.as_object() else {
        return Err("* EmbedContentRequest: the request must be an object".into());
    };
    let allowed = [
        "model",
        "content",
        "taskType",
        "task_type",
        "title",
        "outputDimensionality",
        "output_dimensionality",
    ];
    if let Some(key) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{key}\": Cannot find field."
        ));
    }
    let mut text = String::new();
    for part in body
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.push_str(t);
            text.push('\n');
        }
    }
    if text.trim().is_empty() {
        return Err("* EmbedContentRequest.content: contains an empty Part.".into());
    }
    if let Some(task) = body.get("taskType").or_else(|| body.get("task_type"))
        && !task
            .as_str()
            .is_some_and(|t| GEMINI_TASK_TYPES.contains(&t))
    {
        return Err(format!(
            "Invalid value at 'task_type' ({task}): use one of {}",
            GEMINI_TASK_TYPES.join(", ")
        ));
    }
    let dimensions = match body
        .get("outputDimensionality")
        .or_else(|| body.get("output_dimensionality"))
    {
        None => 3072,
        Some(d) => match d.as_u64().filter(|d| (128..=3072).contains(d)) {
            Some(d) => d as usize,
            None => {
                return Err(format!(
                    "* EmbedContentRequest.output_dimensionality: {d} is not between 128 and 3072"
                ));
            }
        },
    };
    let values = vector(&text, dimensions, dimensions == 3072);
    Ok(json!({"embedding": {"values": values}, "tokenCount": tokens(&text)}))
}

#[cfg(test)]
mod tests {
    use super::vector;

    fn cosine(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn the_same_text_embeds_the_same_and_near_texts_near() {
        let a = vector("Ada Lovelace wrote the first program", 256, true);
        assert_eq!(a, vector("Ada Lovelace wrote the first program", 256, true));
        let near = vector("Ada Lovelace wrote the first programs", 256, true);
        let far = vector("Grace Hopper built a compiler in 1952", 256, true);
        assert!(cosine(&a, &near) > cosine(&a, &far) + 0.3);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-9);
        assert_eq!(vector("", 4, true), vec![1.0, 0.0, 0.0, 0.0]);
        assert_eq!(vector("x", 1024, false).len(), 1024);
    }
}
