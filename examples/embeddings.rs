//! Embedding a corpus at the batch price: one vector per text, in input order, and a
//! nearest-neighbour query over them. Runs on an embedded llmbo-local.
//!
//! `cargo run --example embeddings`

use std::time::Duration;

use llmbo::{EmbeddingBatchInferer, ModelInput};
use llmbo_workspace::sample_text;

const TEXTS: usize = 2_000;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local = llmbo_local::LocalBedrock::start().await?;
    println!(
        "Embedding {TEXTS} texts on an embedded llmbo-local at {}.",
        local.endpoint_url()
    );
    let texts: Vec<String> = (0..TEXTS).map(sample_text).collect();
    let inputs = texts
        .iter()
        .enumerate()
        .map(|(i, text)| (format!("doc-{i:05}"), ModelInput::new().user(text)));
    let results = EmbeddingBatchInferer::builder()
        .model_name("amazon.titan-embed-text-v2:0")
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(format!("embeddings-{}", std::process::id()))
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
        .dimensions(512)
        .normalize(true)
        .build()
        .await?
        .auto(inputs, Duration::from_millis(50))
        .await?;
    let vectors: Vec<(&str, &[f32])> = results
        .successes()
        .map(|(id, e)| (id, e.vector.as_slice()))
        .collect();
    println!(
        "{} vectors of {} floats; {} failed.",
        vectors.len(),
        vectors.first().map_or(0, |(_, v)| v.len()),
        results.failures().count()
    );
    // The texts nearest a query, by cosine similarity (the vectors are unit length).
    let query = &results.records[7];
    let (Ok(query_vector), Some(query_text)) = (&query.outcome, texts.get(7)) else {
        return Err("the query record has no vector".into());
    };
    let mut nearest: Vec<(f32, &str)> = vectors
        .iter()
        .map(|(id, v)| (dot(&query_vector.vector, v), *id))
        .collect();
    nearest.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("Nearest to {:?}:", query_text);
    for (score, id) in nearest.iter().take(3) {
        let index: usize = id.trim_start_matches("doc-").parse()?;
        println!("  {score:.3}  {id}  {:?}", texts[index]);
    }
    Ok(())
}
