//! A `serde_json::Value` deserializer that reads structs from JSON objects only.
//!
//! serde's derived structs also accept a JSON array of their fields in order, which a JSON
//! schema of `"type": "object"` rejects. A model answer like `["Ada"]` for `{name}` would then
//! parse although it breaks the schema the model was given. Reading through this deserializer
//! makes the parser accept no more than the schema does. Everything else behaves exactly as
//! `serde_json::Value`'s own deserializer.

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde_json::{Error, Map, Value};

/// Deserializes `T` from `value`, refusing arrays where a struct is expected, at any depth
/// reached through maps, sequences, options, newtypes and externally tagged enums.
pub(crate) struct StrictValue(pub(crate) Value);

impl StrictValue {
    fn into_map_access(map: Map<String, Value>) -> StrictMap {
        StrictMap {
            entries: map.into_iter(),
            value: None,
        }
    }
}

impl<'de> Deserializer<'de> for StrictValue {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => {
                let len = items.len();
                let mut seq = StrictSeq(items.into_iter());
                let value = visitor.visit_seq(&mut seq)?;
                if seq.0.len() == 0 {
                    Ok(value)
                } else {
                    Err(de::Error::invalid_length(len, &"fewer elements in array"))
                }
            }
            Value::Object(map) => visitor.visit_map(Self::into_map_access(map)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(StrictValue(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Self::into_map_access(map)),
            Value::Array(_) => Err(de::Error::invalid_type(Unexpected::Seq, &visitor)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(variant) => visitor.visit_enum(StrictEnum {
                variant,
                content: None,
            }),
            Value::Object(map) if map.len() == 1 => {
                let Some((variant, content)) = map.into_iter().next() else {
                    // Unreachable: the map has exactly one entry.
                    return Err(de::Error::invalid_length(0, &"one variant"));
                };
                visitor.visit_enum(StrictEnum {
                    variant,
                    content: Some(content),
                })
            }
            Value::Object(map) => Err(de::Error::invalid_value(
                Unexpected::Map,
                &format!("a map with a single key, not {}", map.len()).as_str(),
            )),
            other => Err(de::Error::invalid_type(unexpected(&other), &visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("number"),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct StrictSeq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for StrictSeq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|value| seed.deserialize(StrictValue(value)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct StrictMap {
    entries: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for StrictMap {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(StrictValue(value)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct StrictEnum {
    variant: String,
    content: Option<Value>,
}

impl<'de> EnumAccess<'de> for StrictEnum {
    type Error = Error;
    type Variant = StrictVariant;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, StrictVariant), Error> {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        Ok((variant, StrictVariant(self.content)))
    }
}

struct StrictVariant(Option<Value>);

impl<'de> VariantAccess<'de> for StrictVariant {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(unexpected(&other), &"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.0 {
            Some(value) => seed.deserialize(StrictValue(value)),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Some(value @ Value::Array(_)) => StrictValue(value).deserialize_any(visitor),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(&other),
                &"tuple variant",
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Some(value) => StrictValue(value).deserialize_struct("", fields, visitor),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::StrictValue;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Date {
        year: i32,
        month: u8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Doc {
        title: String,
        date: Option<Date>,
        dates: Vec<Date>,
        kind: Kind,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        Note,
        Dated(Date),
        Span { from: Date },
    }

    fn parse(value: serde_json::Value) -> Result<Doc, serde_json::Error> {
        Doc::deserialize(StrictValue(value))
    }

    #[test]
    fn reads_what_value_reads() -> Result<(), Box<dyn std::error::Error>> {
        let value = json!({
            "title": "t", "date": {"year": 2026, "month": 11},
            "dates": [{"year": 1, "month": 2}], "kind": {"Span": {"from": {"year": 3, "month": 4}}}
        });
        assert_eq!(parse(value.clone())?, Doc::deserialize(value)?);
        let note = json!({"title": "t", "date": null, "dates": [], "kind": "Note"});
        assert_eq!(parse(note)?.kind, Kind::Note);
        Ok(())
    }

    #[test]
    fn refuses_arrays_for_structs_at_every_depth() {
        let cases = [
            json!(["t", null, [], "Note"]),
            json!({"title": "t", "date": [2026, 11], "dates": [], "kind": "Note"}),
            json!({"title": "t", "dates": [[1, 2]], "kind": "Note"}),
            json!({"title": "t", "dates": [], "kind": {"Dated": [1, 2]}}),
        ];
        for case in cases {
            // serde_json's own Value deserializer accepts each of these.
            assert!(Doc::deserialize(case.clone()).is_ok(), "{case}");
            assert!(parse(case.clone()).is_err(), "{case}");
        }
    }
}
