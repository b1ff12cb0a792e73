//! Every family's encode and decode against raw `serde_json` on the same bytes, as ratios
//! (serde_json time / llmbo time; 1.0 = as fast as serde_json alone, the target is 0.5).
//!
//! `cargo run --release -p llmbo --example families_throughput [records]` (`FAMILY=Llama` for
//! one family)
//!
//! - **encode**: `ModelInput` → the family's body with the forced tool (or the JSON-in-prompt
//!   instruction) → the JSONL line (`write_input_line`), against `serde_json` writing the
//!   finished lines.
//! - **decode**: an output line as Bedrock writes it for the family (made by llmbo-local's
//!   synthetic model of that family from the very bodies llmbo wrote) → the typed `Person`, as
//!   `load_results` reads it, against `serde_json` reading the same lines with nothing built
//!   (`IgnoredAny`: the least any reader of these bytes must do, so the strictest baseline).

#[path = "../support/mod.rs"]
mod support;

use llmbo::{BatchOutput, ModelInput};
use llmbo::{ModelAdapterRegistry, ModelProviderAdapter};
use llmbo_local::synth::{Answer, answer, family_of};
use serde_json::{Value, json};

/// Runs per measurement; the best is kept, taken in turns with the baseline.
const RUNS: usize = 7;

/// A person named in the text.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema, BatchOutput)]
struct Person {
    /// Full name as written.
    name: String,
    /// Age in years.
    age: Option<u32>,
}

const FAMILIES: &[(&str, &str)] = &[
    ("Claude", "anthropic.claude-3-haiku-20240307-v1:0"),
    ("Nova", "amazon.nova-lite-v1:0"),
    ("Mistral prompt", "mistral.mistral-7b-instruct-v0:2"),
    ("Mistral chat", "mistral.mistral-large-2407-v1:0"),
    ("Llama", "meta.llama3-1-70b-instruct-v1:0"),
    ("gpt-oss", "openai.gpt-oss-20b-1:0"),
    ("DeepSeek", "deepseek.v3-v1:0"),
    ("Qwen", "qwen.qwen3-32b-v1:0"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(50_000);
    let tool = Person::tool_definition();
    let inputs: Vec<(String, ModelInput)> = (0..records)
        .map(|i| {
            (
                format!("{i:06}"),
                ModelInput::new()
                    .system("Extract the person.")
                    .user(format!(
                        "Article {i}: Ada Lovelace, 36, wrote the first program."
                    ))
                    .max_tokens(512),
            )
        })
        .collect();
    println!("{records} records a family, best of {RUNS} runs each, taken in turns");
    println!("{:<15} {:>8} {:>8}", "family", "encode", "decode");
    // `FAMILY=Llama` measures one family (for a profile).
    let only = std::env::var("FAMILY").ok();
    for (family, model) in FAMILIES {
        if only.as_deref().is_some_and(|only| only != *family) {
            continue;
        }
        let adapter = ModelAdapterRegistry::get_adapter(model);
        let adapter: &dyn ModelProviderAdapter = adapter.as_ref();
        // Encode: llmbo's line writer against serde_json writing the same finished lines.
        let mut written = Vec::new();
        for (id, input) in &inputs {
            adapter.write_input_line(id, input, Some(&tool), &mut written)?;
        }
        let lines: Vec<Value> = written
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(serde_json::from_slice)
            .collect::<Result<_, _>>()?;
        let (encode, encode_base) = support::best_pair(
            RUNS,
            || {
                let mut out = Vec::with_capacity(written.len());
                for (id, input) in &inputs {
                    let _ = adapter.write_input_line(id, input, Some(&tool), &mut out);
                }
                out.len()
            },
            || {
                let mut out = Vec::with_capacity(written.len());
                for line in &lines {
                    if serde_json::to_writer(&mut out, line).is_ok() {
                        out.push(b'\n');
                    }
                }
                out.len()
            },
        );
        // Decode: the synthetic model's answers to those very bodies, as output lines.
        let family_kind = family_of(model);
        let outputs: Vec<String> = lines
            .iter()
            .filter_map(|line| {
                let id = line["recordId"].as_str()?;
                let body = &line["modelInput"];
                match answer(model, family_kind, false, body, id, 1, None) {
                    Answer::Output { body: output, .. } => Some(
                        json!({"recordId": id, "modelInput": body, "modelOutput": output})
                            .to_string(),
                    ),
                    Answer::Error { .. } => None,
                }
            })
            .collect();
        let typed = outputs
            .iter()
            .filter_map(|l| {
                llmbo::mode::parse_output_line_as::<Person>(
                    l,
                    adapter,
                    llmbo::adapter::OutputRequest::new(
                        if adapter.strategies() == [llmbo::OutputStrategy::JsonInPrompt] {
                            llmbo::OutputStrategy::JsonInPrompt
                        } else {
                            llmbo::OutputStrategy::ForcedTool
                        },
                        &tool,
                        &tool,
                    ),
                )
            })
            .filter(|(_, person, _)| person.as_ref().is_ok_and(|p| !p.name.is_empty()))
            .count();
        if typed != records {
            return Err(format!("{family}: {typed} of {records} answers read as Person").into());
        }
        let (decode, decode_base) = support::best_pair(
            RUNS,
            || {
                outputs
                    .iter()
                    .filter_map(|l| {
                        llmbo::mode::parse_output_line_as::<Person>(
                            l,
                            adapter,
                            llmbo::adapter::OutputRequest::new(
                                if adapter.strategies() == [llmbo::OutputStrategy::JsonInPrompt] {
                                    llmbo::OutputStrategy::JsonInPrompt
                                } else {
                                    llmbo::OutputStrategy::ForcedTool
                                },
                                &tool,
                                &tool,
                            ),
                        )
                    })
                    .filter(|(_, person, _)| person.as_ref().is_ok_and(|p| p.age != Some(0)))
                    .count()
            },
            || {
                outputs
                    .iter()
                    .filter(|l| serde_json::from_str::<serde::de::IgnoredAny>(l).is_ok())
                    .count()
            },
        );
        println!(
            "{family:<15} {:>8.2} {:>8.2}",
            encode_base / encode,
            decode_base / decode
        );
    }
    Ok(())
}
