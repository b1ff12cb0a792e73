//! The deriving item, read into the few facts the derive needs.

use syn::{Data, DeriveInput, Fields, Generics, Ident, Type};

use crate::attr::{self, Container, SerdeShape, VariantAttrs};
use crate::ctxt::Ctxt;

pub(crate) struct Input<'a> {
    pub ident: &'a Ident,
    /// The item's fields and variants, for the checks of a strict strategy.
    pub data: &'a Data,
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
    /// `enum E { .. }`, with its `enum` keyword and its variants.
    Enum(&'a syn::token::Enum, Vec<Variant<'a>>),
    /// `union U { .. }`, with its `union` keyword.
    Union(&'a syn::token::Union),
}

/// One variant of an enum, as a `tool_per_variant` enum needs it.
pub(crate) struct Variant<'a> {
    pub ident: &'a Ident,
    pub attrs: VariantAttrs,
    /// The variant's doc comment.
    pub doc: Option<String>,
    /// The one wrapped type of a newtype variant; `None` for any other shape.
    pub inner: Option<&'a Type>,
    /// The variant, for errors about its shape.
    pub syn: &'a syn::Variant,
}

impl<'a> Input<'a> {
    pub(crate) fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let attrs = Container::from_attrs(cx, &input.attrs);
        let per_variant = attrs.tool_per_variant.is_some();
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
                let mut variants = Vec::with_capacity(data.variants.len());
                for variant in &data.variants {
                    let variant_attrs = VariantAttrs::from_attrs(cx, &variant.attrs);
                    if !per_variant && let Some(attr) = &variant_attrs.first {
                        cx.error_spanned_by(
                            attr,
                            "#[batch_output] goes on the type, not on a variant, unless the \
                             enum has #[batch_output(tool_per_variant)]",
                        );
                    }
                    for field in variant.fields.iter() {
                        attr::reject_inner(cx, &field.attrs, "field");
                    }
                    let inner = match &variant.fields {
                        Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                            fields.unnamed.first().map(|f| &f.ty)
                        }
                        _ => None,
                    };
                    variants.push(Variant {
                        ident: &variant.ident,
                        doc: attr::doc_comment(&variant.attrs),
                        attrs: variant_attrs,
                        inner,
                        syn: variant,
                    });
                }
                Shape::Enum(&data.enum_token, variants)
            }
            Data::Union(data) => Shape::Union(&data.union_token),
        };
        Input {
            ident: &input.ident,
            data: &input.data,
            generics: &input.generics,
            attrs,
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

impl Variant<'_> {
    /// The variant's tool name: the `name` attribute, else the variant name.
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
