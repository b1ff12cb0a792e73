//! Writes the `BatchOutput` impl.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, parse_quote};

use crate::ast::{Input, Shape};
use crate::ctxt::Ctxt;
use crate::{fallback, valid};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let parsed = Input::from_syn(&cx, input);
    valid::check(&cx, &parsed);
    let krate = krate_path(&parsed);
    match cx.check() {
        Ok(()) if parsed.attrs.tool_per_variant.is_some() => {
            wrap(impl_tool_per_variant(&parsed, &krate))
        }
        Ok(()) => wrap(impl_batch_output(&parsed, &krate)),
        Err(errors) => {
            let errors = errors.into_compile_error();
            let stub = wrap(fallback::expand(input, &krate));
            quote!(#errors #stub)
        }
    }
}

fn krate_path(input: &Input) -> syn::Path {
    input
        .attrs
        .krate
        .clone()
        .unwrap_or_else(|| parse_quote!(::llmbo))
}

/// Wraps generated items in an anonymous const so that nothing they name leaks into, or is
/// shadowed by, the user's module.
pub(crate) fn wrap(items: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #items
        };
    }
}

fn impl_batch_output(input: &Input, krate: &syn::Path) -> TokenStream {
    let ident = input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| parse_quote!(where));
    // The schema and parser come from the user's own derives; saying so in the where clause
    // puts a missing `JsonSchema` or `Deserialize` on this type, not inside our code. `'static`
    // lets the schema be cached per type.
    where_clause.predicates.push(parse_quote! {
        #ident #ty_generics: #krate::__private::DeserializeOwned
            + #krate::__private::JsonSchema
            + 'static
    });
    let name = input.tool_name();
    let description = match &input.attrs.description {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    let strategy = strategy_tokens(input, krate);
    // serde reads a tagged enum's tag as a variant name *or index*; the schema allows names only.
    let tag = match &input.serde.tag {
        Some(tag) => quote!(::core::option::Option::Some(#tag)),
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::BatchOutput for #ident #ty_generics #where_clause {
            fn tool_definition() -> #krate::ToolDefinition {
                #krate::__private::tool_definition::<Self>(#name, #description)
            }

            fn output_strategy() -> ::core::option::Option<#krate::OutputStrategy> {
                #strategy
            }

            fn from_tool_input(
                input: #krate::__private::Value,
            ) -> ::core::result::Result<Self, #krate::RecordError> {
                #krate::__private::from_tool_input::<Self>(input, #tag)
            }

            fn from_tool_input_str(
                json: &::core::primitive::str,
            ) -> ::core::result::Result<Self, #krate::RecordError> {
                #krate::__private::from_tool_input_str::<Self>(json, #tag)
            }

            const READS_IN_LINE: bool = true;

            fn from_tool_input_in<'de, D: #krate::__private::Deserializer<'de>>(
                input: D,
            ) -> ::core::result::Result<Self, D::Error> {
                #krate::__private::from_tool_input_in::<Self, D>(input)
            }
        }
    }
}

/// A `tool_per_variant` enum: one tool per variant, from the wrapped types' own tools.
fn impl_tool_per_variant(input: &Input, krate: &syn::Path) -> TokenStream {
    let ident = input.ident;
    let Shape::Enum(_, variants) = &input.shape else {
        return TokenStream::new();
    };
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| parse_quote!(where));
    where_clause
        .predicates
        .push(parse_quote!(#ident #ty_generics: 'static));
    let name = input.tool_name();
    let description = match &input.attrs.description {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    };
    let strategy = strategy_tokens(input, krate);
    let mut checks = Vec::new();
    let mut tools = Vec::new();
    let mut arms = Vec::new();
    let mut names = Vec::new();
    for variant in variants {
        let Some(ty) = variant.inner else {
            continue;
        };
        let tool = variant.tool_name();
        let v = variant.ident;
        let doc = match (&variant.attrs.description, &variant.doc) {
            (Some(lit), _) => quote!(::core::option::Option::Some(#lit)),
            (None, Some(doc)) => quote!(::core::option::Option::Some(#doc)),
            (None, None) => quote!(::core::option::Option::None),
        };
        // The check sits at the wrapped type, so a type that is no output type is an error there.
        checks.push(quote_spanned! {ty.span()=>
            const _: fn() = || {
                fn is_an_output_type<T: #krate::BatchOutput>() {}
                is_an_output_type::<#ty>();
            };
        });
        tools.push(quote! {
            (#tool, #doc, <#ty as #krate::BatchOutput>::tool_definition())
        });
        arms.push(quote! {
            #tool => <#ty as #krate::BatchOutput>::from_tool_input(input).map(Self::#v),
        });
        names.push(tool);
    }
    quote! {
        #(#checks)*

        #[automatically_derived]
        impl #impl_generics #krate::BatchOutput for #ident #ty_generics #where_clause {
            fn tool_definition() -> #krate::ToolDefinition {
                #krate::__private::variant_union::<Self>(#name, #description, Self::tool_definitions)
            }

            fn output_strategy() -> ::core::option::Option<#krate::OutputStrategy> {
                #strategy
            }

            fn tool_definitions() -> ::std::vec::Vec<#krate::ToolDefinition> {
                #krate::__private::variant_tools::<Self>(|| ::std::vec![#(#tools),*])
            }

            fn from_tool_call(
                name: &::core::primitive::str,
                input: #krate::__private::Value,
            ) -> ::core::result::Result<Self, #krate::RecordError> {
                match name {
                    #(#arms)*
                    other => ::core::result::Result::Err(
                        #krate::__private::unknown_tool(other, &[#(#names),*]),
                    ),
                }
            }

            fn from_tool_input(
                input: #krate::__private::Value,
            ) -> ::core::result::Result<Self, #krate::RecordError> {
                #krate::__private::from_variant_object(input, &[#(#names),*], Self::from_tool_call)
            }
        }
    }
}

/// `Some(OutputStrategy::…)` for `#[batch_output(strategy = "...")]`, else `None`.
fn strategy_tokens(input: &Input, krate: &syn::Path) -> TokenStream {
    let variant = match input
        .attrs
        .strategy
        .as_ref()
        .map(syn::LitStr::value)
        .as_deref()
    {
        Some("forced-tool") => quote!(ForcedTool),
        Some("strict-tool") => quote!(StrictTool),
        Some("json-schema") => quote!(JsonSchema),
        Some("json-in-prompt") => quote!(JsonInPrompt),
        _ => return quote!(::core::option::Option::None),
    };
    quote!(::core::option::Option::Some(#krate::OutputStrategy::#variant))
}
