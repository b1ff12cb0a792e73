//! Rejects what cannot become a Bedrock tool, each mistake at its own token.

use crate::ast::{Input, Shape};
use crate::ctxt::Ctxt;

/// The tool-name rule both Claude (`^[a-zA-Z0-9_-]{1,64}$`) and Nova accept, tightened to
/// start with a letter so the same name is valid everywhere.
pub(crate) fn is_valid_tool_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_alphabetic()
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(crate) fn check(cx: &Ctxt, input: &Input) {
    if input.attrs.tool_per_variant.is_some() {
        check_variants(cx, input);
    } else {
        check_shape(cx, input);
    }
    check_name(cx, input);
    check_strict(cx, input);
}

/// A type that asks for a strict strategy (`json-schema`, `strict-tool`) must have a strict
/// form. What the derive can see is checked here, at the field: a field whose type names the
/// type itself (recursion) or a map with free keys. What it cannot see (recursion through
/// another type) is refused at `build()`, with the field path.
fn check_strict(cx: &Ctxt, input: &Input) {
    let Some(strategy) = &input.attrs.strategy else {
        return;
    };
    let strategy = strategy.value();
    if !matches!(strategy.as_str(), "json-schema" | "strict-tool") {
        return;
    }
    let ident = input.ident;
    let fields: Vec<&syn::Field> = match input.data {
        syn::Data::Struct(data) => data.fields.iter().collect(),
        syn::Data::Enum(data) if input.attrs.tool_per_variant.is_none() => {
            data.variants.iter().flat_map(|v| v.fields.iter()).collect()
        }
        _ => Vec::new(),
    };
    for field in fields {
        let name = field
            .ident
            .as_ref()
            .map_or_else(|| "a field".to_owned(), |i| format!("`{i}`"));
        let mut mentions_self = false;
        let mut free_map = None;
        visit_type_paths(&field.ty, &mut |segment| {
            if segment == ident {
                mentions_self = true;
            }
            if ["HashMap", "BTreeMap", "IndexMap"]
                .iter()
                .any(|m| segment == m)
            {
                free_map.get_or_insert_with(|| segment.to_string());
            }
        });
        if mentions_self {
            cx.error_spanned_by(
                &field.ty,
                format!(
                    "`{ident}` contains itself at {name}: a recursive type has no strict form, so \
                     it cannot use strategy {strategy}; choose forced-tool or json-in-prompt"
                ),
            );
        } else if let Some(map) = free_map {
            cx.error_spanned_by(
                &field.ty,
                format!(
                    "{name} is a `{map}`, whose keys are free: strategy {strategy} needs every key \
                     named; use a struct, or choose forced-tool or json-in-prompt"
                ),
            );
        }
    }
}

/// Calls `f` with every path segment's name in `ty` (`Vec<Box<Node>>`: `Vec`, `Box`, `Node`).
fn visit_type_paths(ty: &syn::Type, f: &mut impl FnMut(&syn::Ident)) {
    match ty {
        syn::Type::Path(path) => {
            for segment in &path.path.segments {
                f(&segment.ident);
                if let syn::PathArguments::AngleBracketed(args) = &segment.arguments {
                    for arg in &args.args {
                        if let syn::GenericArgument::Type(inner) = arg {
                            visit_type_paths(inner, f);
                        }
                    }
                }
            }
        }
        syn::Type::Reference(r) => visit_type_paths(&r.elem, f),
        syn::Type::Array(a) => visit_type_paths(&a.elem, f),
        syn::Type::Slice(s) => visit_type_paths(&s.elem, f),
        syn::Type::Tuple(t) => t.elems.iter().for_each(|e| visit_type_paths(e, f)),
        syn::Type::Paren(p) => visit_type_paths(&p.elem, f),
        syn::Type::Group(g) => visit_type_paths(&g.elem, f),
        _ => {}
    }
}

const RULE: &str = "a tool name starts with an ASCII letter and has at most 64 ASCII \
                    letters, digits, `_` or `-`";

/// A `tool_per_variant` enum: every variant wraps one output type, and the variants' tool
/// names are valid and distinct.
fn check_variants(cx: &Ctxt, input: &Input) {
    let ident = input.ident;
    let Shape::Enum(_, variants) = &input.shape else {
        if let Some(path) = &input.attrs.tool_per_variant {
            cx.error_spanned_by(
                path,
                format!(
                    "`tool_per_variant` is for an enum whose variants each wrap one output type; \
                     `{ident}` is not an enum"
                ),
            );
        }
        return;
    };
    if variants.is_empty()
        && let Some(path) = &input.attrs.tool_per_variant
    {
        cx.error_spanned_by(path, format!("enum `{ident}` has no variants, so no tools"));
    }
    let mut seen: Vec<(String, &syn::Ident)> = Vec::new();
    for variant in variants {
        if variant.inner.is_none() {
            let v = variant.ident;
            let message = format!(
                "variant `{v}` must wrap one output type, as in `{v}({v}Data)` where \
                 `{v}Data` derives BatchOutput"
            );
            // A unit variant has no field tokens to point at; its name is the place.
            if matches!(variant.syn.fields, syn::Fields::Unit) {
                cx.error_spanned_by(variant.ident, message);
            } else {
                cx.error_spanned_by(&variant.syn.fields, message);
            }
        }
        let name = variant.tool_name();
        if !is_valid_tool_name(&name) {
            match &variant.attrs.name {
                Some(lit) => {
                    cx.error_spanned_by(lit, format!("invalid tool name \"{name}\": {RULE}"))
                }
                None => cx.error_spanned_by(
                    variant.ident,
                    format!(
                        "the variant name `{name}` is not a valid tool name: {RULE}; set one \
                         with #[batch_output(name = \"...\")]"
                    ),
                ),
            }
        }
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            let at: &dyn quote::ToTokens = match &variant.attrs.name {
                Some(lit) => lit,
                None => variant.ident,
            };
            cx.error_spanned_by(
                at,
                format!("tool name \"{name}\" is already used by variant `{first}`; every variant needs its own"),
            );
        } else {
            seen.push((name, variant.ident));
        }
    }
}

fn check_shape(cx: &Ctxt, input: &Input) {
    let ident = input.ident;
    const FIX: &str = "a tool's input must be a JSON object: use a struct with named fields";
    match input.shape {
        Shape::NamedStruct => {}
        Shape::TupleStruct(fields) => cx.error_spanned_by(
            fields,
            format!("tuple struct `{ident}` serializes as a JSON array, not an object; {FIX}"),
        ),
        Shape::UnitStruct => cx.error_spanned_by(
            ident,
            format!("unit struct `{ident}` serializes as null, not an object; {FIX}"),
        ),
        Shape::Union(token) => cx.error_spanned_by(
            token,
            format!("union `{ident}` cannot be deserialized by serde; {FIX}"),
        ),
        Shape::Enum(token, _) => {
            if let Some(untagged) = &input.serde.untagged {
                cx.error_spanned_by(
                    untagged,
                    format!(
                        "untagged enum `{ident}` is not always a JSON object; use \
                         #[serde(tag = \"kind\")] instead, or wrap the enum in a struct"
                    ),
                );
            } else if input.serde.tag.is_none() {
                cx.error_spanned_by(
                    token,
                    format!(
                        "enum `{ident}` is not a JSON object at the top level (serde writes its \
                         unit variants as strings); add #[serde(tag = \"kind\")] or wrap it in a struct"
                    ),
                );
            }
        }
    }
    if let Some(transparent) = &input.serde.transparent {
        cx.error_spanned_by(
            transparent,
            format!(
                "#[serde(transparent)] makes `{ident}` take the shape of its one field, which \
                 need not be an object; derive BatchOutput on that field's type instead"
            ),
        );
    }
}

fn check_name(cx: &Ctxt, input: &Input) {
    let name = input.tool_name();
    if is_valid_tool_name(&name) {
        return;
    }
    match &input.attrs.name {
        Some(lit) => cx.error_spanned_by(lit, format!("invalid tool name \"{name}\": {RULE}")),
        None => cx.error_spanned_by(
            input.ident,
            format!(
                "the type name `{name}` is not a valid tool name: {RULE}; \
                 set one with #[batch_output(name = \"...\")]"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_tool_name;

    #[test]
    fn tool_names() {
        for good in ["Person", "extract_person", "a", "A-1_b", &"x".repeat(64)] {
            assert!(is_valid_tool_name(good), "{good} should be valid");
        }
        for bad in [
            "",
            "1abc",
            "_x",
            "-x",
            "has space",
            "naïve",
            "a.b",
            &"x".repeat(65),
        ] {
            assert!(!is_valid_tool_name(bad), "{bad} should be invalid");
        }
    }
}
