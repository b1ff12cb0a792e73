//! The impl emitted next to compile errors: it keeps the trait implemented so that code using
//! the type reports nothing more, and it never runs because the crate does not compile.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) fn expand(input: &DeriveInput, krate: &syn::Path) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[automatically_derived]
        impl #impl_generics #krate::BatchOutput for #ident #ty_generics #where_clause {
            fn tool_definition() -> #krate::ToolDefinition {
                ::core::unreachable!()
            }

            fn from_tool_input(
                _: #krate::__private::Value,
            ) -> ::core::result::Result<Self, #krate::RecordError> {
                ::core::unreachable!()
            }
        }
    }
}
