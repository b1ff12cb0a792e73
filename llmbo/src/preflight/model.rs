//! Whether the model can run batch jobs here, as named: read from Bedrock's catalog
//! (GetFoundationModel, GetInferenceProfile, ListInferenceProfiles) with the caller's
//! permissions, and from a documented table for what the catalog cannot say
//! (`list-foundation-models` does not report batch support).

use serde::Serialize;

use super::Severity;
use crate::aws::{Aws, CatalogAnswer};

/// How a model takes batch jobs (AWS, "Supported Regions and models for batch inference",
/// <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-supported.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BatchSupport {
    /// With its bare id (and through profiles).
    BareId,
    /// Only through a cross-region inference profile (`us.`, `global.`, …).
    ProfileOnly,
    /// Not at all.
    NotBatchable,
}

/// One row of [`BATCH_SUPPORT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSupportRow {
    /// A bare model id prefix.
    pub prefix: &'static str,
    /// How it takes batch jobs.
    pub support: BatchSupport,
    /// The geographies it has profiles in, most general last (`global`).
    pub profiles: &'static [&'static str],
    /// Where the row comes from.
    pub source: &'static str,
}

const JAGGED: &str = "jaggedbench bedrock_batch.py roster, us-west-2, 2026-08/09";
const SUPPORT_PAGE: &str = "AWS batch-inference-supported table";
const PROBES: &str =
    "CreateModelInvocationJob probes and the support page (stdapi-ai/stdapi.ai#292)";
const US_EU_APAC_GLOBAL: &[&str] = &["us", "eu", "apac", "global"];

/// Which models take batch jobs, and how: data from the facts, to correct as AWS changes.
/// A model not in the table gets a warning, never a refusal.
pub const BATCH_SUPPORT: &[BatchSupportRow] = &[
    BatchSupportRow {
        prefix: "anthropic.claude-opus-4-7",
        support: BatchSupport::NotBatchable,
        profiles: &[],
        source: PROBES,
    },
    BatchSupportRow {
        prefix: "anthropic.claude-opus-4-8",
        support: BatchSupport::NotBatchable,
        profiles: &[],
        source: PROBES,
    },
    BatchSupportRow {
        prefix: "anthropic.claude-sonnet-5",
        support: BatchSupport::NotBatchable,
        profiles: &[],
        source: PROBES,
    },
    BatchSupportRow {
        prefix: "anthropic.claude-fable-5",
        support: BatchSupport::NotBatchable,
        profiles: &[],
        source: PROBES,
    },
    BatchSupportRow {
        prefix: "openai.gpt-5.6",
        support: BatchSupport::NotBatchable,
        profiles: &[],
        source: PROBES,
    },
    BatchSupportRow {
        prefix: "moonshot.kimi-k3",
        support: BatchSupport::NotBatchable,
        profiles: &[],
        source: PROBES,
    },
    BatchSupportRow {
        prefix: "moonshotai.kimi-k3",
        support: BatchSupport::NotBatchable,
        profiles: &[],
        source: PROBES,
    },
    BatchSupportRow {
        prefix: "anthropic.claude-haiku-4-5",
        support: BatchSupport::ProfileOnly,
        profiles: US_EU_APAC_GLOBAL,
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "anthropic.claude-sonnet-4-5",
        support: BatchSupport::ProfileOnly,
        profiles: US_EU_APAC_GLOBAL,
        source: "Claude 4.5 and later are cross-region (AWS blog: Sonnet 4.5 global CRIS)",
    },
    BatchSupportRow {
        prefix: "anthropic.claude-sonnet-4-6",
        support: BatchSupport::ProfileOnly,
        profiles: US_EU_APAC_GLOBAL,
        source: "Claude 4.5 and later are cross-region",
    },
    BatchSupportRow {
        prefix: "anthropic.claude-opus-4-5",
        support: BatchSupport::ProfileOnly,
        profiles: US_EU_APAC_GLOBAL,
        source: "Claude 4.5 and later are cross-region",
    },
    BatchSupportRow {
        prefix: "anthropic.claude-opus-4-6",
        support: BatchSupport::ProfileOnly,
        profiles: US_EU_APAC_GLOBAL,
        source: "Claude 4.5 and later are cross-region",
    },
    BatchSupportRow {
        prefix: "anthropic.claude-opus-5",
        support: BatchSupport::ProfileOnly,
        profiles: &["global"],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "amazon.nova-micro",
        support: BatchSupport::ProfileOnly,
        profiles: &["us"],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "amazon.nova-premier",
        support: BatchSupport::ProfileOnly,
        profiles: &["us"],
        source: SUPPORT_PAGE,
    },
    BatchSupportRow {
        prefix: "amazon.nova-2-lite",
        support: BatchSupport::ProfileOnly,
        profiles: &["us", "global"],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "meta.llama4-scout",
        support: BatchSupport::ProfileOnly,
        profiles: &["us"],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "meta.llama4-maverick",
        support: BatchSupport::ProfileOnly,
        profiles: &["us"],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "openai.gpt-oss",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "qwen.qwen3",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "mistral.ministral-3",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "mistral.mistral-large-3",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "google.gemma-3",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "nvidia.nemotron-nano-3",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "minimax.minimax-m2",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "zai.glm-4",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "moonshot.kimi-k2",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "moonshotai.kimi-k2",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "deepseek.v3",
        support: BatchSupport::BareId,
        profiles: &[],
        source: JAGGED,
    },
    BatchSupportRow {
        prefix: "amazon.nova-2-multimodal-embeddings",
        support: BatchSupport::BareId,
        profiles: &[],
        source: "batch-inference-supported table (us-east-1 only)",
    },
    BatchSupportRow {
        prefix: "amazon.titan-embed-text-v2",
        support: BatchSupport::BareId,
        profiles: &[],
        source: "batch quotas for Titan Text Embeddings V2",
    },
    BatchSupportRow {
        prefix: "anthropic.claude-3",
        support: BatchSupport::BareId,
        profiles: &[],
        source: "batch quotas per model; the Python original's Claude 3 Haiku jobs",
    },
    BatchSupportRow {
        prefix: "amazon.nova-lite-v1",
        support: BatchSupport::BareId,
        profiles: &[],
        source: SUPPORT_PAGE,
    },
    BatchSupportRow {
        prefix: "amazon.nova-pro-v1",
        support: BatchSupport::BareId,
        profiles: &[],
        source: SUPPORT_PAGE,
    },
    BatchSupportRow {
        prefix: "meta.llama3",
        support: BatchSupport::BareId,
        profiles: &[],
        source: "batch quotas for Llama 3.1 to 3.3",
    },
    BatchSupportRow {
        prefix: "mistral.mistral-large-2407",
        support: BatchSupport::BareId,
        profiles: &[],
        source: "batch quotas for Mistral Large 2 (24.07)",
    },
];

/// The table's row for a model id (in any form).
pub fn batch_support(model: &str) -> Option<&'static BatchSupportRow> {
    let id = crate::model::normalize_model_id(model);
    BATCH_SUPPORT.iter().find(|row| id.starts_with(row.prefix))
}

/// What was found about the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ModelCheck {
    /// The id as given.
    pub model: String,
    /// `None` when all is well; an error refuses the run.
    pub severity: Option<Severity>,
    /// What was found, in a sentence.
    pub message: String,
    /// The inference profile to use instead, when the model needs one.
    pub profile: Option<String>,
    /// The model's name in the catalog (`Claude 3 Haiku`), which names its quotas.
    pub model_name: Option<String>,
}

/// The geography of a region, as inference-profile ids spell it.
fn geography(region: &str) -> &'static str {
    match region.split('-').next() {
        Some("us") => "us",
        Some("eu") => "eu",
        Some("ap") => "apac",
        Some("ca") => "ca",
        _ => "global",
    }
}

/// Whether the id names a cross-region profile (`us.…`) rather than a bare model.
fn is_profile_id(model: &str) -> bool {
    let resource = model.rsplit('/').next().unwrap_or(model);
    crate::model::normalize_model_id(resource) != resource || model.contains(":inference-profile/")
}

/// Refuses, before anything is asked of AWS, a model the table says takes no batch jobs, or
/// takes them only through an inference profile when named by its bare id (naming the
/// profile to use).
pub(crate) fn refuse_unbatchable(model: &str, region: &str) -> Result<(), crate::error::Error> {
    let id = crate::model::normalize_model_id(model);
    let reason = match batch_support(model) {
        Some(row) if row.support == BatchSupport::NotBatchable => format!(
            "Bedrock does not run batch jobs on `{id}` ({}); choose another model",
            row.source
        ),
        Some(row) if row.support == BatchSupport::ProfileOnly && !is_profile_id(model) => {
            format!(
                "`{id}` runs in batch only through an inference profile: use `{}` ({})",
                table_profile(id, region, row),
                row.source
            )
        }
        _ => return Ok(()),
    };
    Err(crate::error::Error::InvalidConfig {
        field: "model_name",
        reason,
    })
}

/// The table's profile for a model in a region's geography (else its most general one).
fn table_profile(id: &str, region: &str, row: &BatchSupportRow) -> String {
    let geo = geography(region);
    let prefix = if row.profiles.contains(&geo) {
        geo
    } else {
        row.profiles.last().copied().unwrap_or("us")
    };
    format!("{prefix}.{id}")
}

/// Checks the model against the catalog and the table.
pub(crate) async fn check_model(aws: &Aws, model: &str, region: &str) -> ModelCheck {
    let id = crate::model::normalize_model_id(model);
    let row = batch_support(model);
    let mut check = ModelCheck {
        model: model.to_owned(),
        severity: None,
        message: String::new(),
        profile: None,
        model_name: None,
    };
    let mut notes: Vec<String> = Vec::new();
    // The base model's catalog entry: its name (for quotas) and whether it is offered here.
    match aws.foundation_model(id).await {
        CatalogAnswer::Found(name) => check.model_name = name,
        CatalogAnswer::Missing => {
            check.severity = Some(Severity::Error);
            check.message = format!("model `{id}` is not offered in {region}");
            return check;
        }
        CatalogAnswer::Unknown(why) => notes.push(format!("the catalog could not be read ({why})")),
    }
    if is_profile_id(model) && !model.starts_with("arn:") {
        match aws.inference_profile(model).await {
            CatalogAnswer::Found(_) => {}
            CatalogAnswer::Missing => {
                check.severity = Some(Severity::Error);
                check.message = format!("there is no inference profile `{model}` in {region}");
                return check;
            }
            CatalogAnswer::Unknown(why) => {
                notes.push(format!("the inference profile could not be read ({why})"));
            }
        }
    }
    let note = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };
    match row.map(|r| (r.support, r)) {
        Some((BatchSupport::NotBatchable, row)) => {
            check.severity = Some(Severity::Error);
            check.message = format!(
                "Batch inference is not supported for `{id}` ({}); use another model",
                row.source
            );
        }
        Some((BatchSupport::ProfileOnly, row)) if !is_profile_id(model) => {
            let profile = pick_profile(aws, id, region, row).await;
            check.severity = Some(Severity::Error);
            check.message = format!(
                "`{id}` runs in batch only through an inference profile: use `{profile}` ({}){note}",
                row.source
            );
            check.profile = Some(profile);
        }
        Some(_) if notes.is_empty() => {
            check.message = format!("`{model}` takes batch jobs in {region}");
        }
        Some(_) => {
            check.severity = Some(Severity::Warning);
            check.message = format!("`{model}` takes batch jobs by llmbo's table{note}");
        }
        None => {
            check.severity = Some(Severity::Warning);
            check.message = format!(
                "`{id}` is not in llmbo's batch table (UNCERTAIN): Bedrock may refuse it at create{note}"
            );
        }
    }
    check
}

/// The profile to name: one the catalog lists for this model, in the region's geography if
/// there is one; else the table's guess.
async fn pick_profile(aws: &Aws, id: &str, region: &str, row: &BatchSupportRow) -> String {
    let geo = geography(region);
    let listed = aws.profiles_of(id).await;
    let ranked = |p: &String| {
        if p.starts_with(&format!("{geo}.")) {
            0
        } else if p.starts_with("global.") {
            1
        } else {
            2
        }
    };
    match listed.iter().min_by_key(|p| ranked(p)) {
        Some(best) => best.clone(),
        None => table_profile(id, region, row),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_finds_every_form_of_an_id() {
        let row = batch_support("us.anthropic.claude-haiku-4-5-20251001-v1:0");
        assert_eq!(row.map(|r| r.support), Some(BatchSupport::ProfileOnly));
        assert_eq!(
            batch_support("anthropic.claude-3-haiku-20240307-v1:0").map(|r| r.support),
            Some(BatchSupport::BareId)
        );
        assert!(batch_support("cohere.command-r-v1:0").is_none());
        assert!(is_profile_id("global.anthropic.claude-opus-5"));
        assert!(!is_profile_id("anthropic.claude-opus-5"));
        assert_eq!(geography("eu-west-1"), "eu");
        assert_eq!(geography("sa-east-1"), "global");
    }
}
