//! Writes the `BatchOutput` impl.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, parse_quote};

use crate::ast::Input;
use crate::ctxt::Ctxt;
use crate::{fallback, valid};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let parsed = Input::from_syn(&cx, input);
    valid::check(&cx, &parsed);
    let krate = krate_path(&parsed);
    match cx.check() {
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
        }
    }
}
