//! The read-only catalog: foundation models and system-defined inference profiles for every
//! family the synthetic models serve (Bedrock's `ListFoundationModels`, `GetFoundationModel`,
//! `ListInferenceProfiles`, `GetInferenceProfile`), and which of them take batch jobs with a
//! bare id (AWS, "Supported Regions and models for batch inference",
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html>).

use serde_json::{Value, json};

use crate::http_util::Reply;
use crate::state::Shared;

/// One foundation model of the catalog.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Model {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    provider: &'static str,
    /// Whether it has on-demand throughput with its bare id.
    on_demand: bool,
    /// The geographies of its system-defined profiles.
    geos: &'static [&'static str],
    output: &'static str,
}

const US: &[&str] = &["us"];
const US_EU_APAC: &[&str] = &["us", "eu", "apac"];
const ALL: &[&str] = &["us", "eu", "apac", "global"];

macro_rules! model {
    ($id:literal, $name:literal, $provider:literal, $on_demand:literal, $geos:expr) => {
        model!($id, $name, $provider, $on_demand, $geos, "TEXT")
    };
    ($id:literal, $name:literal, $provider:literal, $on_demand:literal, $geos:expr, $output:literal) => {
        Model {
            id: $id,
            name: $name,
            provider: $provider,
            on_demand: $on_demand,
            geos: $geos,
            output: $output,
        }
    };
}

/// The models listed, by id.
pub(crate) const MODELS: &[Model] = &[
    model!(
        "anthropic.claude-3-haiku-20240307-v1:0",
        "Claude 3 Haiku",
        "Anthropic",
        true,
        US_EU_APAC
    ),
    model!(
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "Claude 3.5 Sonnet",
        "Anthropic",
        true,
        US_EU_APAC
    ),
    model!(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "Claude 3.5 Haiku",
        "Anthropic",
        true,
        US
    ),
    model!(
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "Claude Sonnet 4",
        "Anthropic",
        false,
        ALL
    ),
    model!(
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "Claude Sonnet 4.5",
        "Anthropic",
        false,
        ALL
    ),
    model!(
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "Claude Haiku 4.5",
        "Anthropic",
        false,
        ALL
    ),
    model!(
        "anthropic.claude-opus-4-5-20251101-v1:0",
        "Claude Opus 4.5",
        "Anthropic",
        false,
        ALL
    ),
    model!(
        "anthropic.claude-sonnet-4-6",
        "Claude Sonnet 4.6",
        "Anthropic",
        false,
        ALL
    ),
    model!(
        "anthropic.claude-opus-4-6-v1",
        "Claude Opus 4.6",
        "Anthropic",
        false,
        ALL
    ),
    model!(
        "anthropic.claude-opus-4-7",
        "Claude Opus 4.7",
        "Anthropic",
        false,
        ALL
    ),
    model!(
        "anthropic.claude-opus-5",
        "Claude Opus 5",
        "Anthropic",
        false,
        &["global"]
    ),
    model!("amazon.nova-micro-v1:0", "Nova Micro", "Amazon", false, US),
    model!("amazon.nova-lite-v1:0", "Nova Lite", "Amazon", true, US),
    model!("amazon.nova-pro-v1:0", "Nova Pro", "Amazon", true, US),
    model!(
        "amazon.nova-premier-v1:0",
        "Nova Premier",
        "Amazon",
        false,
        US
    ),
    model!(
        "amazon.nova-2-lite-v1:0",
        "Nova 2 Lite",
        "Amazon",
        false,
        &["us", "global"]
    ),
    model!(
        "amazon.nova-2-multimodal-embeddings-v1:0",
        "Nova Multimodal Embeddings",
        "Amazon",
        true,
        &[],
        "EMBEDDING"
    ),
    model!(
        "amazon.titan-embed-text-v2:0",
        "Titan Text Embeddings V2",
        "Amazon",
        true,
        &[],
        "EMBEDDING"
    ),
    model!(
        "mistral.mistral-7b-instruct-v0:2",
        "Mistral 7B Instruct",
        "Mistral AI",
        true,
        &[]
    ),
    model!(
        "mistral.mistral-large-2402-v1:0",
        "Mistral Large (24.02)",
        "Mistral AI",
        true,
        &[]
    ),
    model!(
        "mistral.mistral-large-2407-v1:0",
        "Mistral Large (24.07)",
        "Mistral AI",
        true,
        &[]
    ),
    model!(
        "mistral.mistral-large-3-675b-instruct",
        "Mistral Large 3",
        "Mistral AI",
        true,
        &[]
    ),
    model!(
        "mistral.ministral-3-8b-instruct",
        "Ministral 3 8B",
        "Mistral AI",
        true,
        &[]
    ),
    model!(
        "meta.llama3-1-8b-instruct-v1:0",
        "Llama 3.1 8B Instruct",
        "Meta",
        true,
        US
    ),
    model!(
        "meta.llama3-1-70b-instruct-v1:0",
        "Llama 3.1 70B Instruct",
        "Meta",
        true,
        US
    ),
    model!(
        "meta.llama3-2-3b-instruct-v1:0",
        "Llama 3.2 3B Instruct",
        "Meta",
        true,
        US
    ),
    model!(
        "meta.llama3-3-70b-instruct-v1:0",
        "Llama 3.3 70B Instruct",
        "Meta",
        true,
        US
    ),
    model!(
        "meta.llama4-scout-17b-instruct-v1:0",
        "Llama 4 Scout 17B Instruct",
        "Meta",
        false,
        US
    ),
    model!(
        "meta.llama4-maverick-17b-instruct-v1:0",
        "Llama 4 Maverick 17B Instruct",
        "Meta",
        false,
        US
    ),
    model!("openai.gpt-oss-20b-1:0", "gpt-oss-20b", "OpenAI", true, &[]),
    model!(
        "openai.gpt-oss-120b-1:0",
        "gpt-oss-120b",
        "OpenAI",
        true,
        &[]
    ),
    model!("deepseek.v3-v1:0", "DeepSeek-V3.1", "DeepSeek", true, &[]),
    model!("deepseek.v3.2", "DeepSeek-V3.2", "DeepSeek", true, &[]),
    model!("deepseek.r1-v1:0", "DeepSeek-R1", "DeepSeek", false, US),
    model!("qwen.qwen3-32b-v1:0", "Qwen3 32B", "Qwen", true, &[]),
    model!(
        "qwen.qwen3-next-80b-a3b",
        "Qwen3 Next 80B A3B",
        "Qwen",
        true,
        &[]
    ),
    model!(
        "qwen.qwen3-235b-a22b-2507-v1:0",
        "Qwen3 235B A22B 2507",
        "Qwen",
        true,
        &[]
    ),
];

/// Bare ids that take batch jobs only through a profile; the runtime's on-demand refusal and
/// create's batch refusal both come from here.
pub(crate) const PROFILE_ONLY: &[&str] = &[
    "anthropic.claude-haiku-4-5",
    "anthropic.claude-sonnet-4-5",
    "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-5",
    "anthropic.claude-opus-4-6",
    "anthropic.claude-opus-5",
    "amazon.nova-micro",
    "amazon.nova-premier",
    "amazon.nova-2-lite",
    "meta.llama4-scout",
    "meta.llama4-maverick",
];

/// Models that take no batch jobs at all, in any form.
pub(crate) const NOT_BATCHABLE: &[&str] = &[
    "anthropic.claude-opus-4-7",
    "anthropic.claude-opus-4-8",
    "anthropic.claude-sonnet-5",
    "anthropic.claude-fable-5",
    "openai.gpt-5.6",
    "moonshot.kimi-k3",
];

const GEOS: &[&str] = &[
    "us-gov", "us", "eu", "apac", "ap", "ca", "jp", "au", "global",
];

/// The model id without an ARN or a geography.
pub(crate) fn bare(model_id: &str) -> &str {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    match id.split_once('.') {
        Some((geo, rest)) if GEOS.contains(&geo) && !rest.is_empty() => rest,
        _ => id,
    }
}

/// Whether the id is a bare model id (not a profile or a profile's ARN).
pub(crate) fn is_bare(model_id: &str) -> bool {
    !model_id.contains("inference-profile/")
        && bare(model_id) == model_id.rsplit('/').next().unwrap_or(model_id)
}

/// Why Bedrock refuses a batch job on this model id, if it does.
pub(crate) fn batch_refusal(model_id: &str) -> Option<String> {
    let id = bare(model_id);
    let refused = NOT_BATCHABLE.iter().any(|p| id.starts_with(p))
        || (is_bare(model_id) && PROFILE_ONLY.iter().any(|p| id.starts_with(p)));
    refused.then(|| "Batch inference is not supported for the requested model.".to_owned())
}

fn model_arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{id}")
}

fn summary(region: &str, model: &Model) -> Value {
    let mut types = Vec::new();
    if model.on_demand {
        types.push("ON_DEMAND");
    }
    if !model.geos.is_empty() {
        types.push("INFERENCE_PROFILE");
    }
    json!({
        "modelArn": model_arn(region, model.id),
        "modelId": model.id,
        "modelName": model.name,
        "providerName": model.provider,
        "inputModalities": ["TEXT"],
        "outputModalities": [model.output],
        "responseStreamingSupported": model.output == "TEXT",
        "customizationsSupported": [],
        "inferenceTypesSupported": types,
        "modelLifecycle": {"status": "ACTIVE"},
    })
}

/// The regions a geography's profile routes to.
fn routes(geo: &str, region: &str) -> Vec<String> {
    match geo {
        "us" => vec!["us-east-1".into(), "us-east-2".into(), "us-west-2".into()],
        "eu" => vec![
            "eu-central-1".into(),
            "eu-west-1".into(),
            "eu-west-3".into(),
        ],
        "apac" => vec![
            "ap-northeast-1".into(),
            "ap-southeast-1".into(),
            "ap-southeast-2".into(),
        ],
        _ => vec![region.to_owned()],
    }
}

/// The system-defined profiles a server in `region` lists: its own geography's, and the
/// global ones.
fn profiles(shared: &Shared) -> Vec<Value> {
    let region = &shared.settings.region;
    let own = match region.split('-').next() {
        Some("us") => "us",
        Some("eu") => "eu",
        Some("ap") => "apac",
        _ => "",
    };
    let mut out = Vec::new();
    for model in MODELS {
        for geo in model.geos.iter().filter(|g| **g == own || **g == "global") {
            let id = format!("{geo}.{}", model.id);
            let label = if *geo == "global" {
                "Global".to_owned()
            } else {
                geo.to_uppercase()
            };
            out.push(json!({
                "inferenceProfileName": format!("{label} {}", model.name),
                "description": format!("Routes requests to {} in {}.", model.name, if *geo == "global" { "commercial regions" } else { geo }),
                "createdAt": "2025-01-01T00:00:00Z",
                "updatedAt": "2025-01-01T00:00:00Z",
                "inferenceProfileArn": format!("arn:aws:bedrock:{region}:{}:inference-profile/{id}", shared.settings.account_id),
                "models": routes(geo, region).iter().map(|r| json!({"modelArn": model_arn(r, model.id)})).collect::<Vec<_>>(),
                "inferenceProfileId": id,
                "status": "ACTIVE",
                "type": "SYSTEM_DEFINED",
            }));
        }
    }
    out
}

/// The catalog entry of a bare model id.
pub(crate) fn model(model_id: &str) -> Option<&'static Model> {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    MODELS.iter().find(|m| m.id == id)
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    crate::http_util::form_pairs(query.unwrap_or(""))
}

fn not_found(message: String) -> Reply {
    Reply::json_error(404, "ResourceNotFoundException", &message)
}

/// `GET /foundation-models`, filtered as the API filters.
pub(crate) fn list_models(shared: &Shared, query: Option<&str>) -> Reply {
    let region = &shared.settings.region;
    let filters = query_pairs(query);
    let keep = |model: &Model| {
        filters.iter().all(|(key, value)| match key.as_str() {
            "byProvider" => {
                model.provider.eq_ignore_ascii_case(value)
                    || model.id.starts_with(&format!("{}.", value.to_lowercase()))
            }
            "byOutputModality" => model.output == value,
            "byInferenceType" => match value.as_str() {
                "ON_DEMAND" => model.on_demand,
                "PROVISIONED" => false,
                _ => true,
            },
            "byCustomizationType" => false,
            _ => true,
        })
    };
    let summaries: Vec<Value> = MODELS
        .iter()
        .filter(|m| keep(m))
        .map(|m| summary(region, m))
        .collect();
    Reply::json(200, &json!({"modelSummaries": summaries}))
}

/// `GET /foundation-models/{modelIdentifier}` (an id or an ARN).
pub(crate) fn get_model(shared: &Shared, raw: &str) -> Reply {
    let id = crate::http_util::decode_segment(raw).unwrap_or_else(|| raw.to_owned());
    match model(&id) {
        Some(model) => Reply::json(
            200,
            &json!({"modelDetails": summary(&shared.settings.region, model)}),
        ),
        None => not_found(format!("Could not find model with identifier {id}.")),
    }
}

/// `GET /inference-profiles`, paged with an opaque index token.
pub(crate) fn list_profiles(shared: &Shared, query: Option<&str>) -> Reply {
    let mut max = 1000usize;
    let mut start = 0usize;
    let mut kind: Option<String> = None;
    for (key, value) in query_pairs(query) {
        match key.as_str() {
            "maxResults" => match value.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => max = n,
                _ => {
                    return Reply::json_error(
                        400,
                        "ValidationException",
                        &format!(
                            "1 validation error detected: Value '{value}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                        ),
                    );
                }
            },
            "nextToken" => match value
                .strip_prefix("p")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => start = n,
                None => {
                    return Reply::json_error(
                        400,
                        "ValidationException",
                        "The nextToken is invalid.",
                    );
                }
            },
            "type" => kind = Some(value),
            _ => {}
        }
    }
    if kind.as_deref() == Some("APPLICATION") {
        return Reply::json(200, &json!({"inferenceProfileSummaries": []}));
    }
    let all = profiles(shared);
    let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
    let mut body = json!({"inferenceProfileSummaries": page});
    if start + max < all.len() {
        body["nextToken"] = json!(format!("p{}", start + max));
    }
    Reply::json(200, &body)
}

/// `GET /inference-profiles/{inferenceProfileIdentifier}` (an id or an ARN).
pub(crate) fn get_profile(shared: &Shared, raw: &str) -> Reply {
    let id = crate::http_util::decode_segment(raw).unwrap_or_else(|| raw.to_owned());
    let wanted = id.rsplit('/').next().unwrap_or(&id).to_owned();
    match profiles(shared)
        .into_iter()
        .find(|p| p["inferenceProfileId"] == wanted.as_str())
    {
        Some(profile) => Reply::json(200, &profile),
        None => not_found(format!(
            "The specified inference profile {id} could not be found."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_profile_only_ids_and_unbatchable_models_are_refused() {
        assert!(batch_refusal("anthropic.claude-sonnet-4-5-20250929-v1:0").is_some());
        assert!(batch_refusal("us.anthropic.claude-sonnet-4-5-20250929-v1:0").is_none());
        assert!(batch_refusal("global.anthropic.claude-opus-4-7").is_some());
        assert!(batch_refusal("anthropic.claude-3-haiku-20240307-v1:0").is_none());
        assert!(
            batch_refusal(
                "arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.amazon.nova-micro-v1:0"
            )
            .is_none()
        );
        assert!(
            batch_refusal("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0")
                .is_some()
        );
    }
}
