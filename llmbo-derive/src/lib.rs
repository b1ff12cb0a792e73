//! `#[derive(BatchOutput)]` for the `llmbo` crate.
//!
//! Use it through `llmbo::BatchOutput`, which re-exports both the trait and this derive.
//! The derive runs in three steps, one file each: `ast.rs` reads the item into a small model,
//! `valid.rs` rejects what cannot be a Bedrock tool (every mistake at once, each at its token),
//! and `expand.rs` writes the impl. When anything is wrong, `fallback.rs` emits a stub impl
//! beside the errors so the user sees only the real mistakes, not a cascade.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `llmbo::BatchOutput`: a Bedrock tool definition built from the type's JSON schema
/// (via `schemars`) and a parser from the model's tool input (via `serde`).
///
/// Container attributes, all optional:
/// - `#[batch_output(name = "...")]`: the tool name (default: the type name);
///   must match `^[a-zA-Z][a-zA-Z0-9_-]{0,63}$`.
/// - `#[batch_output(description = "...")]`: the tool description (default: the doc comment).
/// - `#[batch_output(strategy = "json-schema")]`: the output strategy the type asks for
///   (`forced-tool`, `strict-tool`, `json-schema`, `json-in-prompt`).
/// - `#[batch_output(tool_per_variant)]` on an enum whose variants each wrap one output type:
///   one tool per variant; `#[batch_output(name = "...", description = "...")]` on a variant.
/// - `#[batch_output(crate = "path")]`: where the `llmbo` crate is, when it was renamed.
#[proc_macro_derive(BatchOutput, attributes(batch_output))]
pub fn derive_batch_output(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
