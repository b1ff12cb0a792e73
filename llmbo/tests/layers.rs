//! The layers of `llmbo/src` point one way: no two top-level modules import each other, directly
//! or through others, and code inside the crate imports every name from the module that
//! defines it, never through the crate root's re-exports (so the root can change without
//! breaking the crate). The check reads the source: every `crate::` path outside comments and
//! string literals, with `use crate::{a::X, b::{Y, Z}}` groups opened.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One use of another module: where it is and what it names.
#[derive(Debug, Clone)]
struct Site {
    file: String,
    line: usize,
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let graph = imports();
    let cycles = cycles(&graph.edges);
    let mut report = String::new();
    for cycle in &cycles {
        report.push_str(&format!("cycle: {}\n", cycle.join(" -> ")));
        for pair in cycle.windows(2) {
            if let Some(sites) = graph.edges.get(&(pair[0].clone(), pair[1].clone())) {
                for site in sites.iter().take(3) {
                    report.push_str(&format!(
                        "    {} -> {}: {}:{}\n",
                        pair[0], pair[1], site.file, site.line
                    ));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "modules of llmbo/src import each other:\n{report}"
    );
}

#[test]
fn internal_code_imports_from_the_defining_module() {
    let graph = imports();
    let through_root: Vec<String> = graph
        .through_root
        .iter()
        .map(|(name, site)| format!("    crate::{name} at {}:{}", site.file, site.line))
        .collect();
    assert!(
        through_root.is_empty(),
        "these import through the crate root's re-exports; import from the defining module:\n{}",
        through_root.join("\n")
    );
}

/// The lifecycle reaches a provider only through the seam (`backend`, `store`): no file of
/// `job/` names `crate::aws` but Bedrock's own entry points (its builder checks, its
/// preflight, recovering a job from its ARN, `Jobs::connect`) and the places that pick the
/// backend (`config.rs`) and the store of a run on another batch API (`connect.rs`, whose
/// store may be a bucket prefix).
#[test]
fn the_lifecycle_names_no_provider() {
    const BEDROCK_ONLY: &[&str] = &[
        "builder.rs",
        "config.rs",
        "connect.rs",
        "jobs.rs",
        "preflight.rs",
        "recover.rs",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/job");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let mut named = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if BEDROCK_ONLY.contains(&name.as_str()) || name.ends_with("_tests.rs") {
            continue;
        }
        let code = strip(&std::fs::read_to_string(&file).unwrap_or_default());
        for (offset, first) in crate_paths(&code) {
            if first == "aws" {
                let line = code[..offset].matches('\n').count() + 1;
                named.push(format!("    crate::aws at job/{name}:{line}"));
            }
        }
    }
    assert!(
        named.is_empty(),
        "the lifecycle names AWS; go through crate::backend or crate::store:\n{}",
        named.join("\n")
    );
}

/// The check itself finds a cycle and a root import when there is one.
#[test]
fn the_check_sees_a_cycle_and_a_root_import() {
    let mut edges = BTreeMap::new();
    let site = Site {
        file: "x.rs".into(),
        line: 1,
    };
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        edges.insert((from.to_owned(), to.to_owned()), vec![site.clone()]);
    }
    let found = cycles(&edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].first(), found[0].last());
    assert_eq!(found[0].len(), 4, "{found:?}");

    let code = "use crate::{a::X, b::{Y, Z}, Error};\n// use crate::c::W;\nlet s = \"crate::d::V\"; crate::e::f();";
    let mut seen = Vec::new();
    for (offset, first) in crate_paths(&strip(code)) {
        seen.push((first, offset));
    }
    let firsts: Vec<&str> = seen.iter().map(|(first, _)| first.as_str()).collect();
    assert_eq!(firsts, ["a", "b", "Error", "e"]);
}

struct Graph {
    /// (from, to) top-level modules, with where the import is.
    edges: BTreeMap<(String, String), Vec<Site>>,
    /// `crate::Name` paths whose first segment is not a module.
    through_root: Vec<(String, Site)>,
}

fn imports() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|file| top_module(&src, file))
        .collect();
    let mut graph = Graph {
        edges: BTreeMap::new(),
        through_root: Vec::new(),
    };
    for file in &files {
        let Some(from) = top_module(&src, file) else {
            continue; // lib.rs: the root re-exports everything by design
        };
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let code = strip(&text);
        let shown = file
            .strip_prefix(&src)
            .unwrap_or(file)
            .display()
            .to_string();
        for (offset, first) in crate_paths(&code) {
            let site = Site {
                file: shown.clone(),
                line: code[..offset].matches('\n').count() + 1,
            };
            if modules.contains(&first) {
                if first != from {
                    graph
                        .edges
                        .entry((from.clone(), first))
                        .or_default()
                        .push(site);
                }
            } else if first != "__private" {
                graph.through_root.push((first, site));
            }
        }
    }
    graph
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// `adapter/nova.rs` → `adapter`, `error.rs` → `error`, `lib.rs` → none.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(stem) => Some(stem.to_owned()),
        None => Some(first.to_owned()),
    }
}

/// The code with comments and the insides of string and char literals blanked (newlines kept,
/// so offsets still give line numbers).
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident_before(&chars, i) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push_str(&" ".repeat(j + 1 - i));
            i = j + 1;
            while i < chars.len() {
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    out.push_str(&" ".repeat(hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if let Some(&inner) = chars.get(i) {
                    out.push(blank(inner));
                }
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A char literal ('x' or '\n'); a lifetime has no closing quote.
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Every `crate::` path's first segment, with where the path starts; a group
/// `crate::{a::X, b::{Y}}` gives one entry per member.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::") {
        let start = from + at;
        from = start + "crate::".len();
        let preceded = start > 0 && {
            let b = bytes[start - 1];
            b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
        };
        if preceded {
            continue; // `$crate::` or a longer identifier
        }
        let rest = &code[from..];
        let rest_trimmed = rest.trim_start();
        if let Some(group) = rest_trimmed.strip_prefix('{') {
            let mut depth = 1;
            let mut entry = String::new();
            let mut at_entry_start = true;
            for ch in group.chars() {
                match ch {
                    '{' => {
                        depth += 1;
                        at_entry_start = false;
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            if !entry.is_empty() {
                                found.push((start, std::mem::take(&mut entry)));
                            }
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        if !entry.is_empty() {
                            found.push((start, std::mem::take(&mut entry)));
                        }
                        at_entry_start = true;
                    }
                    c if depth == 1 && at_entry_start && (c.is_alphanumeric() || c == '_') => {
                        entry.push(c);
                    }
                    c if depth == 1
                        && at_entry_start
                        && !entry.is_empty()
                        && !c.is_whitespace() =>
                    {
                        at_entry_start = false;
                        found.push((start, std::mem::take(&mut entry)));
                    }
                    _ => {}
                }
            }
        } else {
            let first: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !first.is_empty() {
                found.push((start, first));
            }
        }
    }
    found
}

/// Every cycle of the graph, one per strongly connected component of more than one module,
/// written as a closed walk (first == last).
fn cycles(edges: &BTreeMap<(String, String), Vec<Site>>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().insert(to);
        next.entry(to).or_default();
    }
    let reaches = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(node) = stack.pop() {
            for &to in next.get(node.as_str()).into_iter().flatten() {
                if seen.insert(to.to_owned()) {
                    stack.push(to.to_owned());
                }
            }
        }
        seen
    };
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for &node in next.keys() {
        if done.contains(node) || !reaches(node).contains(node) {
            continue;
        }
        // A shortest walk from node back to itself, by breadth-first search.
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([node.to_owned()]);
        let mut closed = None;
        while let Some(at) = queue.pop_front() {
            for &to in next.get(at.as_str()).into_iter().flatten() {
                if to == node {
                    closed = Some(at.clone());
                    break;
                }
                if !parent.contains_key(to) {
                    parent.insert(to.to_owned(), at.clone());
                    queue.push_back(to.to_owned());
                }
            }
            if closed.is_some() {
                break;
            }
        }
        let mut walk = vec![node.to_owned()];
        let mut at = closed.unwrap_or_else(|| node.to_owned());
        while at != node {
            walk.push(at.clone());
            at = parent.get(&at).cloned().unwrap_or_else(|| node.to_owned());
        }
        walk.push(node.to_owned());
        walk.reverse();
        let members = reaches(node);
        for member in &members {
            if reaches(member).contains(node) {
                done.insert(member.clone());
            }
        }
        found.push(walk);
    }
    found
}
