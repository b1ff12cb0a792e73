//! Prints llmbo's throughput on 50,000 records against plain `serde_json` on the same bytes,
//! as a ratio (serde_json time / llmbo time; 1.0 = as fast as serde_json alone).
//!
//! `cargo run --release -p llmbo --example throughput`

#[path = "../support/mod.rs"]
mod support;

use llmbo::adapter::{AnthropicAdapter, NovaAdapter};
use support::*;

/// Runs per measurement; the best of them is kept.
const RUNS: usize = 9;

fn main() {
    let inputs = inputs(RECORDS);
    let bodies = prepared_bodies(&AnthropicAdapter::default(), &inputs);
    let lines = output_lines(RECORDS);
    let (prepare, prepare_base) = best_pair(
        RUNS,
        || llmbo_prepare(&AnthropicAdapter::default(), &inputs),
        || serde_prepare(&bodies),
    );
    let nova_bodies = prepared_bodies(&NovaAdapter::default(), &inputs);
    let (nova_prepare, nova_prepare_base) = best_pair(
        RUNS,
        || llmbo_prepare(&NovaAdapter::default(), &inputs),
        || serde_prepare(&nova_bodies),
    );
    let (parse, parse_base) = best_pair(
        RUNS,
        || llmbo_parse(&AnthropicAdapter::default(), &lines),
        || serde_parse(&lines),
    );
    let nova_lines = nova_output_lines(RECORDS);
    let (nova, nova_base) = best_pair(
        RUNS,
        || llmbo_parse(&NovaAdapter::default(), &nova_lines),
        || serde_parse_nova(&nova_lines),
    );
    println!("{RECORDS} records, best of {RUNS} runs each, taken in turns");
    println!(
        "prepare+serialize: llmbo {prepare:.3}s, serde_json {prepare_base:.3}s, ratio {:.2}",
        prepare_base / prepare
    );
    println!(
        "  the same, Nova:   llmbo {nova_prepare:.3}s, serde_json {nova_prepare_base:.3}s, ratio {:.2}",
        nova_prepare_base / nova_prepare
    );
    println!(
        "parse+validate:    llmbo {parse:.3}s, serde_json {parse_base:.3}s, ratio {:.2}",
        parse_base / parse
    );
    println!(
        "  the same, Nova:   llmbo {nova:.3}s, serde_json {nova_base:.3}s, ratio {:.2}",
        nova_base / nova
    );
}
