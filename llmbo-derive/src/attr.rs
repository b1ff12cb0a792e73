//! Reads `#[batch_output(...)]` and the few `#[serde(...)]` container attributes that decide
//! whether the type is a JSON object.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta, Token};

use crate::ctxt::Ctxt;

const KEYS: &str = "`name`, `description`, `strategy`, `crate` or `tool_per_variant`";

/// The output strategies a type may name, as the CLI spells them.
pub(crate) const STRATEGIES: [&str; 4] = [
    "forced-tool",
    "strict-tool",
    "json-schema",
    "json-in-prompt",
];

/// The `#[batch_output(...)]` settings of the deriving type.
#[derive(Default)]
pub(crate) struct Container {
    /// `name = "..."`: the tool name, overriding the type name.
    pub name: Option<LitStr>,
    /// `description = "..."`: the tool description, overriding the doc comment.
    pub description: Option<LitStr>,
    /// `crate = "..."`: the path of the `llmbo` crate when it was renamed.
    pub krate: Option<syn::Path>,
    /// `tool_per_variant`: an enum whose variants each wrap one output type, one tool each.
    pub tool_per_variant: Option<syn::Path>,
    /// `strategy = "json-schema"`: the output strategy the type asks for.
    pub strategy: Option<LitStr>,
}

/// The `#[batch_output(...)]` settings of one variant of a `tool_per_variant` enum.
#[derive(Default)]
pub(crate) struct VariantAttrs {
    /// `name = "..."`: the variant's tool name, overriding the variant name.
    pub name: Option<LitStr>,
    /// `description = "..."`: the tool description, overriding the doc comment.
    pub description: Option<LitStr>,
    /// The first `#[batch_output]` attribute, for errors on enums without `tool_per_variant`.
    pub first: Option<Attribute>,
}

impl VariantAttrs {
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = VariantAttrs::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("batch_output")) {
            out.first.get_or_insert_with(|| attr.clone());
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    if let Some(lit) = string_value(cx, &meta, "name = \"invoice\"")? {
                        set_once(cx, &meta, &mut out.name, lit);
                    }
                } else if meta.path.is_ident("description") {
                    if let Some(lit) = string_value(cx, &meta, "description = \"An invoice.\"")? {
                        set_once(cx, &meta, &mut out.description, lit);
                    }
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        "a variant takes `name` or `description` in #[batch_output(...)]",
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(err) = parsed {
                cx.syn_error(err);
            }
        }
        out
    }
}

/// The doc comment on an item, its lines joined and trimmed; `None` when there is none.
pub(crate) fn doc_comment(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(syn::MetaNameValue {
                value:
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(text),
                        ..
                    }),
                ..
            }) => Some(text.value().trim().to_owned()),
            _ => None,
        })
        .collect();
    let text = lines.join(" ").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

impl Container {
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = Container::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("batch_output")) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    if let Some(lit) = string_value(cx, &meta, "name = \"extract_person\"")? {
                        set_once(cx, &meta, &mut out.name, lit);
                    }
                } else if meta.path.is_ident("description") {
                    if let Some(lit) = string_value(cx, &meta, "description = \"A person.\"")? {
                        set_once(cx, &meta, &mut out.description, lit);
                    }
                } else if meta.path.is_ident("strategy") {
                    if let Some(lit) = string_value(cx, &meta, "strategy = \"json-schema\"")? {
                        if STRATEGIES.contains(&lit.value().as_str()) {
                            set_once(cx, &meta, &mut out.strategy, lit);
                        } else {
                            cx.error_spanned_by(
                                &lit,
                                format!(
                                    "unknown output strategy \"{}\"; expected one of {}",
                                    lit.value(),
                                    STRATEGIES.join(", ")
                                ),
                            );
                        }
                    }
                } else if meta.path.is_ident("tool_per_variant") {
                    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
                        cx.error_spanned_by(&meta.path, "`tool_per_variant` takes no value");
                        skip_value(&meta)?;
                    } else if out.tool_per_variant.is_some() {
                        cx.error_spanned_by(
                            &meta.path,
                            "duplicate batch_output attribute `tool_per_variant`",
                        );
                    } else {
                        out.tool_per_variant = Some(meta.path.clone());
                    }
                } else if meta.path.is_ident("crate") {
                    if let Some(lit) = string_value(cx, &meta, "crate = \"my_llmbo\"")? {
                        match lit.parse::<syn::Path>() {
                            Ok(path) => set_once(cx, &meta, &mut out.krate, path),
                            Err(_) => cx.error_spanned_by(
                                &lit,
                                format!("`{}` is not a path to a crate", lit.value()),
                            ),
                        }
                    }
                } else {
                    let key = meta
                        .path
                        .get_ident()
                        .map_or_else(|| "this key".to_owned(), |i| format!("`{i}`"));
                    cx.error_spanned_by(
                        &meta.path,
                        format!("unknown batch_output attribute {key}; expected {KEYS}"),
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(err) = parsed {
                cx.syn_error(err);
            }
        }
        out
    }
}

/// Stores `value` unless the key was given before, in which case the second one is reported.
fn set_once<T>(cx: &Ctxt, meta: &ParseNestedMeta, slot: &mut Option<T>, value: T) {
    if slot.is_some() {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        cx.error_spanned_by(
            &meta.path,
            format!("duplicate batch_output attribute `{key}`"),
        );
    } else {
        *slot = Some(value);
    }
}

/// Reads `= "text"`. A value that is not a string literal is reported at the value and yields
/// `None`, so the remaining keys are still read.
fn string_value(cx: &Ctxt, meta: &ParseNestedMeta, example: &str) -> syn::Result<Option<LitStr>> {
    let key = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            format!("`{key}` needs a value, as in `{example}`"),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(Some(lit)),
        other => {
            cx.error_spanned_by(
                &other,
                format!("`{key}` takes a string literal, as in `{example}`"),
            );
            Ok(None)
        }
    }
}

/// Consumes whatever follows an unknown key (`= expr` or `(...)`) so parsing can go on.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

/// The serde container attributes that change the JSON shape of the whole value.
#[derive(Default)]
pub(crate) struct SerdeShape {
    /// `#[serde(tag = "...")]`: an internally or adjacently tagged enum (a JSON object),
    /// with the name of its tag field.
    pub tag: Option<String>,
    /// `#[serde(untagged)]`, kept for its span.
    pub untagged: Option<Meta>,
    /// `#[serde(transparent)]`, kept for its span.
    pub transparent: Option<Meta>,
}

impl SerdeShape {
    /// Reads the shape-changing serde attributes. Anything it cannot parse is left to serde's
    /// own derive, which reports it better.
    pub(crate) fn from_attrs(attrs: &[Attribute]) -> Self {
        let mut out = SerdeShape::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            let Ok(metas) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            else {
                continue;
            };
            for meta in metas {
                let path = meta.path();
                if path.is_ident("tag") {
                    if let Meta::NameValue(syn::MetaNameValue {
                        value:
                            Expr::Lit(ExprLit {
                                lit: Lit::Str(tag), ..
                            }),
                        ..
                    }) = &meta
                    {
                        out.tag = Some(tag.value());
                    }
                } else if path.is_ident("untagged") {
                    out.untagged = Some(meta);
                } else if path.is_ident("transparent") {
                    out.transparent = Some(meta);
                }
            }
        }
        out
    }
}

/// Reports `#[batch_output]` written on a field or variant, where it would do nothing.
pub(crate) fn reject_inner(cx: &Ctxt, attrs: &[Attribute], place: &str) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("batch_output")) {
        cx.error_spanned_by(
            attr,
            format!("#[batch_output] goes on the type, not on a {place}"),
        );
    }
}
