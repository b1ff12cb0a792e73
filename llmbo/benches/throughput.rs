//! The hot paths of a 50,000-record run, each beside plain `serde_json` on the same bytes:
//!
//! - prepare + serialize: `ModelInput` → Claude body (with the tool) → JSONL line, against
//!   serializing the finished bodies with `serde_json` alone;
//! - parse + validate: output line → `modelOutput` → tool input → `Person`, against
//!   deserializing the same lines straight into a typed mirror with `serde_json` alone.
//!
//! `cargo bench -p llmbo --bench throughput`; the ratio (serde_json time / llmbo time) is
//! printed by `cargo run --release -p llmbo --example throughput`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
mod support;

use llmbo::adapter::{AnthropicAdapter, NovaAdapter};
use support::*;

fn prepare(c: &mut Criterion) {
    let inputs = inputs(RECORDS);
    let bodies = prepared_bodies(&AnthropicAdapter::default(), &inputs);
    let mut group = c.benchmark_group("prepare+serialize 50k");
    group.sample_size(10);
    group.bench_function("llmbo", |b| {
        b.iter(|| black_box(llmbo_prepare(&AnthropicAdapter::default(), &inputs)))
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| black_box(serde_prepare(&bodies)))
    });
    group.finish();
    let bodies = prepared_bodies(&NovaAdapter::default(), &inputs);
    let mut group = c.benchmark_group("prepare+serialize 50k Nova");
    group.sample_size(10);
    group.bench_function("llmbo", |b| {
        b.iter(|| black_box(llmbo_prepare(&NovaAdapter::default(), &inputs)))
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| black_box(serde_prepare(&bodies)))
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    let lines = output_lines(RECORDS);
    let mut group = c.benchmark_group("parse+validate 50k");
    group.sample_size(10);
    group.bench_function("llmbo", |b| {
        b.iter(|| black_box(llmbo_parse(&AnthropicAdapter::default(), &lines)))
    });
    group.bench_function("serde_json", |b| b.iter(|| black_box(serde_parse(&lines))));
    group.finish();
    let lines = nova_output_lines(RECORDS);
    let mut group = c.benchmark_group("parse+validate 50k Nova");
    group.sample_size(10);
    group.bench_function("llmbo", |b| {
        b.iter(|| black_box(llmbo_parse(&NovaAdapter::default(), &lines)))
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| black_box(serde_parse_nova(&lines)))
    });
    group.finish();
}

criterion_group!(benches, prepare, parse);
criterion_main!(benches);
