//! The embedding bodies: Titan Text Embeddings and Nova multimodal embeddings.

use serde_json::{Map, Value};

use super::{
    EMPTY_CONTENT, EXTRA_FIELD, FIELD_TYPE, REQUIRED_FIELD, ROOT, Sink, VALUE_RANGE, fields, path,
    required,
};

pub(super) fn titan_embed(map: &Map<String, Value>, sink: &mut Sink<'_>) {
    fields(
        map,
        &["inputText", "dimensions", "normalize", "embeddingTypes"],
        EXTRA_FIELD,
        sink,
    );
    match required(map, "inputText", sink) {
        Some(Value::String(text)) if text.is_empty() => {
            sink.add(
                EMPTY_CONTENT,
                path(ROOT, "inputText"),
                "`inputText` is empty",
            );
        }
        Some(Value::String(_)) | None => {}
        Some(_) => sink.add(
            FIELD_TYPE,
            path(ROOT, "inputText"),
            "`inputText` must be a string",
        ),
    }
    if let Some(n) = map.get("dimensions")
        && !matches!(n.as_u64(), Some(256 | 512 | 1024))
    {
        sink.add(
            VALUE_RANGE,
            path(ROOT, "dimensions"),
            "`dimensions` must be 256, 512 or 1024",
        );
    }
}

pub(super) fn nova_embed(map: &Map<String, Value>, sink: &mut Sink<'_>) {
    fields(
        map,
        &["schemaVersion", "taskType", "singleEmbeddingParams"],
        EXTRA_FIELD,
        sink,
    );
    required(map, "taskType", sink);
    if let Some(params) = required(map, "singleEmbeddingParams", sink) {
        let at = path(ROOT, "singleEmbeddingParams");
        if params.get("embeddingPurpose").is_none() {
            sink.add(
                REQUIRED_FIELD,
                path(&at, "embeddingPurpose"),
                "required field `embeddingPurpose` is missing",
            );
        }
        if let Some(n) = params.get("embeddingDimension")
            && !matches!(n.as_u64(), Some(256 | 384 | 1024 | 3072))
        {
            sink.add(
                VALUE_RANGE,
                path(&at, "embeddingDimension"),
                "`embeddingDimension` must be 256, 384, 1024 or 3072",
            );
        }
    }
}
