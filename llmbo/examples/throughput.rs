//! Prints llmbo's throughput on 50,000 records against plain `serde_json` on the same bytes,
//! as a ratio (serde_json time / llmbo time; 1.0 = as fast as serde_json alone).
//!
//! `cargo run --release -p llmbo --example throughput`

use std::time::Instant;

#[path = "../benches/support/mod.rs"]
mod support;

use support::*;

/// The best of `runs` timings, in seconds.
fn best<F: FnMut() -> usize>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let inputs = inputs(RECORDS);
    let bodies = prepared_bodies(&inputs);
    let lines = output_lines(RECORDS);
    let prepare = best(5, || llmbo_prepare(&inputs));
    let prepare_base = best(5, || serde_prepare(&bodies));
    let parse = best(5, || llmbo_parse(&lines));
    let parse_base = best(5, || serde_parse(&lines));
    println!("{RECORDS} records, best of 5 runs");
    println!(
        "prepare+serialize: llmbo {prepare:.3}s, serde_json {prepare_base:.3}s, ratio {:.2}",
        prepare_base / prepare
    );
    println!(
        "parse+validate:    llmbo {parse:.3}s, serde_json {parse_base:.3}s, ratio {:.2}",
        parse_base / parse
    );
}
