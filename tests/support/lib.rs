//! Helpers shared by the examples and the end-to-end tests of the llmbo workspace.

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
