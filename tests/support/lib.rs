//! Helpers shared by the examples and the end-to-end tests of the llmbo workspace.

use llmbo::{BatchOutput, ModelInput};
use schemars::JsonSchema;
use serde::Deserialize;

/// A person named in the text.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema, BatchOutput)]
pub struct Person {
    /// Full name as written.
    pub name: String,
    /// Age in years, if the text gives it.
    pub age: Option<u32>,
    /// Every role the person has in the text.
    pub roles: Vec<String>,
}

/// Sample texts the examples and tests extract from.
pub fn sample_text(i: usize) -> String {
    const NAMES: [&str; 5] = [
        "Ada Lovelace",
        "Alan Turing",
        "Grace Hopper",
        "Edsger Dijkstra",
        "Barbara Liskov",
    ];
    let name = NAMES[i % NAMES.len()];
    format!(
        "Article {i}: {name} gave a talk about programming to {} people.",
        20 + i % 80
    )
}

/// `n` extraction requests keyed `00000`, `00001`, …
pub fn person_inputs(n: usize) -> Vec<(String, ModelInput)> {
    (0..n)
        .map(|i| {
            let input = ModelInput::new()
                .system("Extract the person the text is about.")
                .user(sample_text(i))
                .max_tokens(512);
            (format!("{i:05}"), input)
        })
        .collect()
}

/// An S3 client for an endpoint's config (llmbo-local's `sdk_config()`): path-style addressing,
/// which a local endpoint needs and an `SdkConfig` cannot carry.
pub fn s3_client(config: &aws_types::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}
