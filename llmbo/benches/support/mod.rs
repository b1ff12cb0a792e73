//! Shared by the `throughput` bench and example: the data and the two ways to process it.
#![allow(dead_code)]

use llmbo::{BatchOutput, ModelInput, ModelProviderAdapter};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The time of one call, in seconds.
fn timed<F: FnMut() -> usize>(f: &mut F) -> f64 {
    let start = std::time::Instant::now();
    std::hint::black_box(f());
    start.elapsed().as_secs_f64()
}

/// The best of `runs` timings of `ours` and of `baseline`, in seconds, taken in turns so that
/// a busy moment of the machine falls on both alike.
pub fn best_pair<A: FnMut() -> usize, B: FnMut() -> usize>(
    runs: usize,
    mut ours: A,
    mut baseline: B,
) -> (f64, f64) {
    (0..runs).fold((f64::INFINITY, f64::INFINITY), |(a, b), _| {
        (a.min(timed(&mut ours)), b.min(timed(&mut baseline)))
    })
}

/// Records per measurement, as in one full Bedrock job.
pub const RECORDS: usize = 50_000;

/// A person named in the text.
#[derive(Debug, Deserialize, Serialize, schemars::JsonSchema, BatchOutput)]
pub struct Person {
    /// Full name as written.
    pub name: String,
    /// Age in years.
    pub age: Option<u32>,
    /// Roles held.
    pub roles: Vec<String>,
}

pub fn inputs(n: usize) -> Vec<(String, ModelInput)> {
    (0..n)
        .map(|i| {
            let text = format!(
                "Article {i}: Ada Lovelace, 36, wrote the first program for the Analytical Engine."
            );
            (
                format!("{i:06}"),
                ModelInput::new()
                    .system("Extract the person.")
                    .user(text)
                    .max_tokens(512),
            )
        })
        .collect()
}

/// llmbo's path: adapter body with the forced tool, then the JSONL line.
pub fn llmbo_prepare(adapter: &dyn ModelProviderAdapter, inputs: &[(String, ModelInput)]) -> usize {
    let tool = Person::tool_definition();
    let mut out = Vec::with_capacity(inputs.len() * 1200);
    for (id, input) in inputs {
        // What a run writes to its spool and S3 for each record.
        let _ = adapter.write_input_line(id, input, Some(&tool), &mut out);
    }
    out.len()
}

/// The finished lines as values, for the baseline.
pub fn prepared_bodies(
    adapter: &dyn ModelProviderAdapter,
    inputs: &[(String, ModelInput)],
) -> Vec<Value> {
    let tool = Person::tool_definition();
    inputs
        .iter()
        .filter_map(|(id, input)| {
            let body = adapter.prepare_model_input(input, Some(&tool)).ok()?;
            Some(json!({"recordId": id, "modelInput": body}))
        })
        .collect()
}

/// Baseline: serializing the already-built lines with serde_json alone.
pub fn serde_prepare(lines: &[Value]) -> usize {
    let mut out = Vec::with_capacity(lines.len() * 1200);
    for line in lines {
        if serde_json::to_writer(&mut out, line).is_ok() {
            out.push(b'\n');
        }
    }
    out.len()
}

/// Output lines as Bedrock writes them for a forced Claude tool.
pub fn output_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            json!({"recordId": format!("{i:06}"),
                   "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 512,
                                  "messages": [{"role": "user", "content": [{"type": "text", "text": format!("Article {i}")}]}]},
                   "modelOutput": {"id": "msg", "type": "message", "role": "assistant", "model": "claude",
                       "content": [{"type": "tool_use", "id": "toolu", "name": "Person",
                                    "input": {"name": "Ada Lovelace", "age": 36, "roles": ["programmer", "author"]}}],
                       "stop_reason": "tool_use", "stop_sequence": null,
                       "usage": {"input_tokens": 120, "output_tokens": 30}}})
            .to_string()
        })
        .collect()
}

/// llmbo's path, as `load_results` runs it: the output line (the echoed `modelInput` skipped)
/// → the tool input (the adapter's one-pass fast path) → `Person`, with the record's usage.
pub fn llmbo_parse(adapter: &dyn ModelProviderAdapter, lines: &[String]) -> usize {
    let tool = Person::tool_definition();
    lines
        .iter()
        .filter_map(|line| {
            llmbo::mode::parse_output_line_as::<Person>(
                line,
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
        .filter(|(_, person, _)| person.is_ok())
        .count()
}

#[derive(Deserialize)]
struct TypedLine {
    #[serde(rename = "recordId")]
    _record_id: String,
    #[serde(rename = "modelOutput")]
    model_output: TypedOutput,
}

#[derive(Deserialize)]
struct TypedOutput {
    content: Vec<TypedBlock>,
}

#[derive(Deserialize)]
struct TypedBlock {
    input: Option<Person>,
}

/// Baseline: the same lines straight into a typed mirror with serde_json alone.
pub fn serde_parse(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<TypedLine>(line).ok())
        .filter(|line| line.model_output.content.iter().any(|b| b.input.is_some()))
        .count()
}

/// The typed floor of a download: each line of `bytes` straight into the typed mirror.
pub fn serde_parse_bytes(bytes: &[u8]) -> usize {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|line| serde_json::from_slice::<TypedLine>(line).ok())
        .filter(|line| line.model_output.content.iter().any(|b| b.input.is_some()))
        .count()
}

/// Output lines as Bedrock writes them for a forced Nova tool (Converse-shaped answer).
pub fn nova_output_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            json!({"recordId": format!("{i:06}"),
                   "modelInput": {"schemaVersion": "messages-v1",
                                  "messages": [{"role": "user", "content": [{"text": format!("Article {i}")}]}]},
                   "modelOutput": {"output": {"message": {"role": "assistant", "content": [
                           {"toolUse": {"toolUseId": "tooluse_1", "name": "Person",
                                        "input": {"name": "Ada Lovelace", "age": 36, "roles": ["programmer", "author"]}}}]}},
                       "stopReason": "tool_use",
                       "usage": {"inputTokens": 120, "outputTokens": 30, "totalTokens": 150}}})
            .to_string()
        })
        .collect()
}

#[derive(Deserialize)]
struct NovaLine {
    #[serde(rename = "recordId")]
    _record_id: String,
    #[serde(rename = "modelOutput")]
    model_output: NovaOutput,
}

#[derive(Deserialize)]
struct NovaOutput {
    output: NovaMessageHolder,
}

#[derive(Deserialize)]
struct NovaMessageHolder {
    message: NovaMessage,
}

#[derive(Deserialize)]
struct NovaMessage {
    content: Vec<NovaBlock>,
}

#[derive(Deserialize)]
struct NovaBlock {
    #[serde(rename = "toolUse")]
    tool_use: Option<NovaToolUse>,
}

#[derive(Deserialize)]
struct NovaToolUse {
    input: Person,
}

/// Baseline for Nova lines: straight into a typed mirror with serde_json alone.
pub fn serde_parse_nova(lines: &[String]) -> usize {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<NovaLine>(line).ok())
        .filter(|line| {
            line.model_output.output.message.content.iter().any(|b| {
                b.tool_use
                    .as_ref()
                    .is_some_and(|t| !t.input.name.is_empty())
            })
        })
        .count()
}
