//! Tables that exist twice on purpose, in llmbo (what the SDK refuses or reads) and in
//! llmbo-local (what the offline Bedrock does), checked against each other, with the places
//! they may differ written down here: a row changed on one side only fails this test.

use std::collections::BTreeSet;

use llmbo::ModelAdapterRegistry;
use llmbo::model::{RequestFamily, normalize_model_id};
use llmbo::preflight::Finding;
use llmbo::preflight::rules::{
    CLAUDE_ONE_SAMPLING_PARAMETER, SAMPLING_COMBINATION, SAMPLING_COMBINATION_UNCERTAIN, check_body,
};
use llmbo_local::LocalBedrock;
use llmbo_local::synth::{Family, ONE_SAMPLING_PARAMETER, family_of};
use serde_json::json;

/// Claude models llmbo refuses `temperature` with `top_p` on that llmbo-local does not serve,
/// so its synthetic Claude needs no rule for them.
const REFUSED_ONLY_BY_LLMBO: &[&str] = &["claude-haiku-5", "claude-opus-4-8", "claude-sonnet-5"];

#[test]
fn the_claude_sampling_rule_is_one_table_but_for_models_llmbo_local_does_not_serve() {
    let sdk: BTreeSet<&str> = CLAUDE_ONE_SAMPLING_PARAMETER.iter().copied().collect();
    let local: BTreeSet<&str> = ONE_SAMPLING_PARAMETER.iter().copied().collect();
    let only_local: Vec<&&str> = local.difference(&sdk).collect();
    assert!(
        only_local.is_empty(),
        "llmbo-local refuses both on {only_local:?} and llmbo's preflight lets it through"
    );
    let only_sdk: Vec<&str> = sdk.difference(&local).copied().collect();
    assert_eq!(only_sdk, REFUSED_ONLY_BY_LLMBO);
}

/// Every Claude model llmbo-local's catalog lists gets the same answer from both sides to a
/// body with `temperature` and `top_p`: refused by both, or taken by both.
#[tokio::test]
async fn both_sides_answer_each_served_claude_model_alike() -> Result<(), Box<dyn std::error::Error>>
{
    let local = LocalBedrock::start().await?;
    let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
    let listed = bedrock.list_foundation_models().send().await?;
    let claude: Vec<String> = listed
        .model_summaries()
        .iter()
        .map(|m| m.model_id().to_owned())
        .filter(|id| id.starts_with("anthropic."))
        .collect();
    assert!(claude.len() >= 5, "{claude:?}");
    let body = json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
        "temperature": 0.5, "top_p": 0.9,
        "messages": [{"role": "user", "content": "hi"}],
    });
    for model in &claude {
        for served in [model.clone(), format!("us.{model}")] {
            let mut found: Vec<Finding> = Vec::new();
            check_body(RequestFamily::Claude, &served, &body, &mut found);
            let refused_by_llmbo = found.iter().any(|f| f.rule == SAMPLING_COMBINATION);
            let warned = found
                .iter()
                .any(|f| f.rule == SAMPLING_COMBINATION_UNCERTAIN);
            let refused_by_local = ONE_SAMPLING_PARAMETER.iter().any(|m| served.contains(m));
            assert_eq!(refused_by_llmbo, refused_by_local, "{served}: {found:?}");
            // A model llmbo-local serves is never one llmbo is unsure about.
            assert!(!warned, "{served}: llmbo is unsure, llmbo-local is not");
        }
    }
    Ok(())
}

/// The model id forms Bedrock accepts, for one bare id.
fn forms(bare: &str) -> Vec<String> {
    let mut forms = vec![
        bare.to_owned(),
        format!("arn:aws:bedrock:us-east-1::foundation-model/{bare}"),
        format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.{bare}"),
    ];
    for geo in [
        "us", "us-gov", "eu", "apac", "ap", "ca", "jp", "au", "global",
    ] {
        forms.push(format!("{geo}.{bare}"));
    }
    forms
}

#[test]
fn a_model_ids_family_is_read_alike_in_every_form() {
    // (bare id, llmbo-local's family, llmbo's adapter for it)
    let cases = [
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            Family::Anthropic,
            "anthropic",
        ),
        ("amazon.nova-lite-v1:0", Family::Nova, "amazon-nova"),
        (
            "mistral.mistral-large-2407-v1:0",
            Family::Mistral,
            "mistral-prompt",
        ),
        (
            "meta.llama3-1-70b-instruct-v1:0",
            Family::Llama,
            "meta-llama",
        ),
        ("openai.gpt-oss-120b-1:0", Family::OpenAi, "openai"),
        ("deepseek.v3-v1:0", Family::DeepSeek, "deepseek"),
        ("qwen.qwen3-32b-v1:0", Family::Qwen, "qwen"),
        (
            "amazon.titan-embed-text-v2:0",
            Family::TitanEmbed,
            "titan-embed-v2",
        ),
        (
            "amazon.nova-2-multimodal-embeddings-v1:0",
            Family::NovaEmbed,
            "nova-embed",
        ),
        // Where they differ: llmbo-local answers Titan Text (the custom-adapter example's
        // model); llmbo has no adapter for it and sends Claude-shaped bodies with a warning.
        (
            "amazon.titan-text-express-v1",
            Family::TitanText,
            "default (Claude-shaped)",
        ),
    ];
    for (bare, family, adapter) in cases {
        for id in forms(bare) {
            assert_eq!(family_of(&id), Some(family), "llmbo-local reads {id}");
            assert_eq!(normalize_model_id(&id), bare, "llmbo reads {id}");
            assert_eq!(
                ModelAdapterRegistry::get_adapter(&id).name(),
                adapter,
                "{id}"
            );
        }
    }
    // Neither side knows a geography the other does not.
    for geo in [
        "us", "us-gov", "eu", "apac", "ap", "ca", "jp", "au", "global", "cn", "xx",
    ] {
        let id = format!("{geo}.anthropic.claude-3-haiku-20240307-v1:0");
        let llmbo_knows = normalize_model_id(&id) != id;
        let local_knows = family_of(&id).is_some();
        assert_eq!(llmbo_knows, local_knows, "{geo}");
    }
}
