use std::collections::HashMap;

use llmbo::BatchOutput;

/// A section of an outline.
#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(strategy = "json-schema")]
struct Section {
    heading: String,
    children: Vec<Section>,
    labels: HashMap<String, String>,
}

/// Fine: the forced tool takes any schema.
#[derive(serde::Deserialize, schemars::JsonSchema, BatchOutput)]
#[batch_output(strategy = "forced-tool")]
struct Node {
    next: Option<Box<Node>>,
}

fn main() {}
