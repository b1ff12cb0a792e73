//! The deriving item, read into the few facts the derive needs.

use syn::{Data, DeriveInput, Fields, Generics, Ident};

use crate::attr::{self, Container, SerdeShape};
use crate::ctxt::Ctxt;

pub(crate) struct Input<'a> {
    pub ident: &'a Ident,
    pub generics: &'a Generics,
    pub attrs: Container,
    pub serde: SerdeShape,
    pub shape: Shape<'a>,
}

/// What kind of item it is, with the token to point at when that kind cannot be a tool input.
pub(crate) enum Shape<'a> {
    /// `struct S { .. }`: a JSON object.
    NamedStruct,
    /// `struct S(..);`, with its parenthesised fields.
    TupleStruct(&'a syn::FieldsUnnamed),
    /// `struct S;`
    UnitStruct,
    /// `enum E { .. }`, with its `enum` keyword.
    Enum(&'a syn::token::Enum),
    /// `union U { .. }`, with its `union` keyword.
    Union(&'a syn::token::Union),
}

impl<'a> Input<'a> {
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let shape = match &input.data {
            Data::Struct(data) => {
                for field in data.fields.iter() {
                    attr::reject_inner(cx, &field.attrs, "field");
                }
                match &data.fields {
                    Fields::Named(_) => Shape::NamedStruct,
                    Fields::Unnamed(fields) => Shape::TupleStruct(fields),
                    Fields::Unit => Shape::UnitStruct,
                }
            }
            Data::Enum(data) => {
                for variant in &data.variants {
                    attr::reject_inner(cx, &variant.attrs, "variant");
                    for field in variant.fields.iter() {
                        attr::reject_inner(cx, &field.attrs, "field");
                    }
                }
                Shape::Enum(&data.enum_token)
            }
            Data::Union(data) => Shape::Union(&data.union_token),
        };
        Input {
            ident: &input.ident,
            generics: &input.generics,
            attrs: Container::from_attrs(cx, &input.attrs),
            serde: SerdeShape::from_attrs(&input.attrs),
            shape,
        }
    }

    /// The tool name as it will be sent: the `name` attribute, else the type name.
    pub(crate) fn tool_name(&self) -> String {
        match &self.attrs.name {
            Some(lit) => lit.value(),
            None => self.ident.unraw_name(),
        }
    }
}

trait UnrawName {
    fn unraw_name(&self) -> String;
}

impl UnrawName for Ident {
    /// `r#type` is named `type` on the wire.
    fn unraw_name(&self) -> String {
        let name = self.to_string();
        name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
    }
}
