//! The README's first screen runs as written: its example is `examples/readme.rs` (shown
//! verbatim, checked here), run here, and every crate it uses is in the `[dependencies]` the
//! README shows beside it.

mod readme {
    include!("../examples/readme.rs");

    #[test]
    fn the_first_example_runs() {
        if let Err(err) = main() {
            panic!("the README's example failed: {err}");
        }
    }
}

const README: &str = include_str!("../README.md");
const EXAMPLE: &str = include_str!("../examples/readme.rs");

/// The fenced blocks of `lang` in the README, in order.
fn blocks(lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    let mut found = Vec::new();
    let mut rest = README;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let Some(end) = body.find("```\n") else { break };
        found.push(body[..end].to_owned());
        rest = &body[end..];
    }
    found
}

#[test]
fn the_first_example_is_the_file_it_runs() {
    let rust = blocks("rust");
    let Some(first) = rust.first() else {
        panic!("the README has no rust block")
    };
    assert_eq!(
        first, EXAMPLE,
        "the README's first rust block is not examples/readme.rs"
    );
    let first_rust = README.find("```rust\n").unwrap_or(usize::MAX);
    let two_commands = README.find("cargo test --workspace").unwrap_or(usize::MAX);
    assert!(
        two_commands < first_rust,
        "the two commands come before the example"
    );
}

#[test]
fn every_crate_the_example_uses_is_in_the_shown_dependencies() {
    let toml = blocks("toml");
    let Some(dependencies) = toml.first() else {
        panic!("the README shows no [dependencies]")
    };
    assert!(
        dependencies.starts_with("[dependencies]\n"),
        "{dependencies}"
    );
    let listed: Vec<&str> = dependencies
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
        .collect();
    for used in ["llmbo", "llmbo-local", "tokio", "serde", "schemars"] {
        let path = used.replace('-', "_");
        assert!(
            EXAMPLE.contains(&format!("{path}::")),
            "the check's list is stale: the example does not use {used}"
        );
        assert!(
            listed.contains(&used),
            "{used} is used but not in {listed:?}"
        );
    }
}
