//! A JSON schema as Arrow columns, and JSON values as Arrow arrays: the one path from a typed
//! answer (a derived type's schema, or a schema file) to a table.
//!
//! The mapping, chosen so that pyarrow, Polars and DuckDB see the types a person expects:
//!
//! | JSON schema | Arrow |
//! |---|---|
//! | `boolean` | `Boolean` |
//! | `integer` (`format` `int8` … `uint64`, as schemars writes Rust's integers) | `Int8` … `UInt64`; `Int64` without a format |
//! | `number` (`format: float`) | `Float32`; `Float64` otherwise |
//! | `string`, a string `enum` or `const` (a Rust enum of unit variants) | `Utf8` |
//! | `array` of one item schema (`Vec<T>`) | `List<item>` |
//! | `object` with `properties` (a struct) | `Struct` |
//! | anything else: a map, a tuple, an enum with data (`oneOf`), a value of several types, a type that contains itself | `Utf8` holding the value's JSON text |
//!
//! `Option<T>` (`["T", "null"]`, or `anyOf` with `null`) is `T`; every column is nullable, as a
//! record that failed has no value.

use std::sync::Arc;

use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, ListArray,
    PrimitiveArray, StringArray, StructArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Fields};
use serde_json::Value;

/// An integer column's Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
}

impl Int {
    /// The type of an `integer` schema with this `format` (schemars writes Rust's integer
    /// types so; `int`/`uint` are `isize`/`usize`).
    fn from_format(format: Option<&str>) -> Int {
        match format {
            Some("int8") => Int::I8,
            Some("int16") => Int::I16,
            Some("int32") => Int::I32,
            Some("uint8") => Int::U8,
            Some("uint16") => Int::U16,
            Some("uint32") => Int::U32,
            Some("uint64" | "uint" | "uint128") => Int::U64,
            _ => Int::I64,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Int::I8 => DataType::Int8,
            Int::I16 => DataType::Int16,
            Int::I32 => DataType::Int32,
            Int::I64 => DataType::Int64,
            Int::U8 => DataType::UInt8,
            Int::U16 => DataType::UInt16,
            Int::U32 => DataType::UInt32,
            Int::U64 => DataType::UInt64,
        }
    }
}

/// How a JSON value is held in a column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Boolean,
    Int(Int),
    Float32,
    Float64,
    /// A JSON string.
    Utf8,
    /// Any JSON value, as its text.
    Json,
    List(Box<Kind>),
    Struct(Vec<(String, Kind)>),
    /// An embedding: `FixedSizeList<Float32>` of this length.
    Vector(i32),
}

/// The schema (an object, or `true` for anything) with its `null` alternative taken away.
fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("const").is_some_and(Value::is_null)
        || schema
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|values| values.iter().all(Value::is_null))
}

/// Whether every value the schema allows (but null) is a string: a string, a string enum or
/// const.
fn is_string_schema(schema: &Value) -> bool {
    Kind::of(schema) == Kind::Utf8
}

impl Kind {
    /// The column for values of this JSON schema.
    pub(crate) fn of(schema: &Value) -> Kind {
        let Value::Object(map) = schema else {
            return Kind::Json;
        };
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = map.get(key).and_then(Value::as_array) {
                let options: Vec<&Value> = options.iter().filter(|o| !is_null_schema(o)).collect();
                return match options.as_slice() {
                    [one] => Kind::of(one),
                    many if !many.is_empty() && many.iter().all(|o| is_string_schema(o)) => {
                        Kind::Utf8
                    }
                    _ => Kind::Json,
                };
            }
        }
        if let Some(values) = map.get("enum").and_then(Value::as_array) {
            let strings = values.iter().filter(|v| !v.is_null()).all(Value::is_string);
            return if strings { Kind::Utf8 } else { Kind::Json };
        }
        if let Some(value) = map.get("const") {
            return if value.is_string() {
                Kind::Utf8
            } else {
                Kind::Json
            };
        }
        let types: Vec<&str> = match map.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect(),
            _ if map.contains_key("properties") => vec!["object"],
            _ => Vec::new(),
        };
        let format = map.get("format").and_then(Value::as_str);
        match types.as_slice() {
            ["string"] => Kind::Utf8,
            ["boolean"] => Kind::Boolean,
            ["integer"] => Kind::Int(Int::from_format(format)),
            ["number"] if format == Some("float") => Kind::Float32,
            ["number"] => Kind::Float64,
            ["array"] => match map.get("items") {
                Some(items @ Value::Object(_)) if !map.contains_key("prefixItems") => {
                    Kind::List(Box::new(Kind::of(items)))
                }
                _ => Kind::Json,
            },
            ["object"] => match map.get("properties").and_then(Value::as_object) {
                // A struct: its fields. With other keys allowed beside them, or none at all
                // (a map), the object is kept whole as JSON.
                Some(properties)
                    if !properties.is_empty()
                        && !map
                            .get("additionalProperties")
                            .is_some_and(Value::is_object) =>
                {
                    Kind::Struct(
                        properties
                            .iter()
                            .map(|(name, schema)| (name.clone(), Kind::of(schema)))
                            .collect(),
                    )
                }
                _ => Kind::Json,
            },
            _ => Kind::Json,
        }
    }

    /// The Arrow type of the column.
    pub(crate) fn data_type(&self) -> DataType {
        match self {
            Kind::Boolean => DataType::Boolean,
            Kind::Int(int) => int.data_type(),
            Kind::Float32 => DataType::Float32,
            Kind::Float64 => DataType::Float64,
            Kind::Utf8 | Kind::Json => DataType::Utf8,
            Kind::List(item) => {
                DataType::List(Arc::new(Field::new("item", item.data_type(), true)))
            }
            Kind::Struct(fields) => DataType::Struct(struct_fields(fields)),
            Kind::Vector(length) => DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, true)),
                *length,
            ),
        }
    }

    /// Whether the column holds one flat value a row (what a CSV cell holds as it is).
    pub(crate) fn is_flat(&self) -> bool {
        !matches!(self, Kind::List(_) | Kind::Struct(_) | Kind::Vector(_))
    }
}

fn struct_fields(fields: &[(String, Kind)]) -> Fields {
    fields
        .iter()
        .map(|(name, kind)| Field::new(name, kind.data_type(), true))
        .collect()
}

/// The values that did not fit their column (written as nulls): how many, and the first.
#[derive(Debug, Default)]
pub(crate) struct Misfits {
    pub(crate) count: usize,
    pub(crate) first: Option<String>,
}

impl Misfits {
    /// An answer that is not an object where its fields are columns.
    pub(crate) fn note_whole(&mut self, value: &Value) {
        self.note("(the answer)", "an object", value);
    }

    fn note(&mut self, path: &str, expected: &str, value: &Value) {
        self.count += 1;
        if self.first.is_none() {
            let mut shown = value.to_string();
            if shown.len() > 60 {
                let mut cut = 60;
                while !shown.is_char_boundary(cut) {
                    cut -= 1;
                }
                shown.truncate(cut);
                shown.push('…');
            }
            self.first = Some(format!("`{path}`: expected {expected}, found {shown}"));
        }
    }
}

/// The column of `kind` for `values`, one a row (`None` and JSON null are nulls). A value of
/// another type is a null, counted in `misfits` with its field's `path`.
pub(crate) fn array(
    kind: &Kind,
    values: &[Option<&Value>],
    path: &str,
    misfits: &mut Misfits,
) -> Result<ArrayRef, ArrowError> {
    let present = values.iter().map(|v| v.filter(|v| !v.is_null()));
    Ok(match kind {
        Kind::Boolean => Arc::new(
            present
                .map(|v| v.and_then(|v| fit(v.as_bool(), v, path, "a boolean", misfits)))
                .collect::<BooleanArray>(),
        ),
        Kind::Int(int) => ints(*int, values, path, misfits),
        Kind::Float32 => Arc::new(
            present
                .map(|v| {
                    v.and_then(|v| fit(v.as_f64().map(|x| x as f32), v, path, "a number", misfits))
                })
                .collect::<Float32Array>(),
        ),
        Kind::Float64 => Arc::new(
            present
                .map(|v| v.and_then(|v| fit(v.as_f64(), v, path, "a number", misfits)))
                .collect::<Float64Array>(),
        ),
        Kind::Utf8 => Arc::new(
            present
                .map(|v| v.and_then(|v| fit(v.as_str(), v, path, "a string", misfits)))
                .collect::<StringArray>(),
        ),
        Kind::Json => Arc::new(
            present
                .map(|v| v.map(Value::to_string))
                .collect::<StringArray>(),
        ),
        Kind::List(item) => {
            let mut offsets = Vec::with_capacity(values.len() + 1);
            offsets.push(0i32);
            let mut items: Vec<Option<&Value>> = Vec::new();
            let mut valid = Vec::with_capacity(values.len());
            for value in present {
                match value {
                    Some(Value::Array(list)) => {
                        items.extend(list.iter().map(Some));
                        valid.push(true);
                    }
                    Some(other) => {
                        misfits.note(path, "a list", other);
                        valid.push(false);
                    }
                    None => valid.push(false),
                }
                let end = i32::try_from(items.len()).map_err(|_| {
                    ArrowError::InvalidArgumentError(format!(
                        "`{path}`: more list items in one batch than a list column holds"
                    ))
                })?;
                offsets.push(end);
            }
            let child = array(item, &items, &format!("{path}[]"), misfits)?;
            Arc::new(ListArray::try_new(
                Arc::new(Field::new("item", item.data_type(), true)),
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                child,
                Some(NullBuffer::from(valid)),
            )?)
        }
        Kind::Struct(fields) => {
            let objects: Vec<Option<&serde_json::Map<String, Value>>> = present
                .map(|v| match v {
                    Some(Value::Object(map)) => Some(map),
                    Some(other) => {
                        misfits.note(path, "an object", other);
                        None
                    }
                    None => None,
                })
                .collect();
            let mut children = Vec::with_capacity(fields.len());
            for (name, kind) in fields {
                let child: Vec<Option<&Value>> = objects
                    .iter()
                    .map(|object| object.and_then(|o| o.get(name)))
                    .collect();
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                children.push(array(kind, &child, &child_path, misfits)?);
            }
            let valid: Vec<bool> = objects.iter().map(Option::is_some).collect();
            Arc::new(StructArray::try_new(
                struct_fields(fields),
                children,
                Some(NullBuffer::from(valid)),
            )?)
        }
        Kind::Vector(length) => {
            let width = usize::try_from(*length).unwrap_or(0);
            let mut floats: Vec<f32> = Vec::with_capacity(values.len() * width);
            let mut valid = Vec::with_capacity(values.len());
            for value in present {
                let vector = match value {
                    Some(Value::Array(list)) if list.len() == width => list
                        .iter()
                        .map(|x| x.as_f64().map(|x| x as f32))
                        .collect::<Option<Vec<f32>>>(),
                    _ => None,
                };
                match (vector, value) {
                    (Some(vector), _) => {
                        floats.extend(vector);
                        valid.push(true);
                    }
                    (None, other) => {
                        if let Some(other) = other {
                            misfits.note(path, &format!("{width} numbers"), other);
                        }
                        floats.extend(std::iter::repeat_n(0.0, width));
                        valid.push(false);
                    }
                }
            }
            Arc::new(FixedSizeListArray::try_new(
                Arc::new(Field::new("item", DataType::Float32, true)),
                *length,
                Arc::new(Float32Array::from(floats)),
                Some(NullBuffer::from(valid)),
            )?)
        }
    })
}

/// `value` when the JSON had the column's type; a misfit (and a null) when not.
fn fit<T>(
    value: Option<T>,
    json: &Value,
    path: &str,
    expected: &str,
    misfits: &mut Misfits,
) -> Option<T> {
    if value.is_none() {
        misfits.note(path, expected, json);
    }
    value
}

/// An integer column: JSON integers in the type's range (a float with no fraction too).
fn ints(int: Int, values: &[Option<&Value>], path: &str, misfits: &mut Misfits) -> ArrayRef {
    fn column<T>(
        values: &[Option<&Value>],
        path: &str,
        misfits: &mut Misfits,
        expected: &str,
        convert: impl Fn(&Value) -> Option<T::Native>,
    ) -> ArrayRef
    where
        T: arrow_array::ArrowPrimitiveType,
    {
        Arc::new(
            values
                .iter()
                .map(|v| {
                    v.filter(|v| !v.is_null())
                        .and_then(|v| fit(convert(v), v, path, expected, misfits))
                })
                .collect::<PrimitiveArray<T>>(),
        )
    }
    /// The value as an i128, whether JSON wrote it as an integer or a whole float.
    fn whole(value: &Value) -> Option<i128> {
        if let Some(i) = value.as_i64() {
            return Some(i128::from(i));
        }
        if let Some(u) = value.as_u64() {
            return Some(i128::from(u));
        }
        let f = value.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 1.8e19).then_some(f as i128)
    }
    match int {
        Int::I8 => column::<Int8Type>(values, path, misfits, "an int8", |v| {
            whole(v).and_then(|i| i8::try_from(i).ok())
        }),
        Int::I16 => column::<Int16Type>(values, path, misfits, "an int16", |v| {
            whole(v).and_then(|i| i16::try_from(i).ok())
        }),
        Int::I32 => column::<Int32Type>(values, path, misfits, "an int32", |v| {
            whole(v).and_then(|i| i32::try_from(i).ok())
        }),
        Int::I64 => column::<Int64Type>(values, path, misfits, "an int64", |v| {
            whole(v).and_then(|i| i64::try_from(i).ok())
        }),
        Int::U8 => column::<UInt8Type>(values, path, misfits, "a uint8", |v| {
            whole(v).and_then(|i| u8::try_from(i).ok())
        }),
        Int::U16 => column::<UInt16Type>(values, path, misfits, "a uint16", |v| {
            whole(v).and_then(|i| u16::try_from(i).ok())
        }),
        Int::U32 => column::<UInt32Type>(values, path, misfits, "a uint32", |v| {
            whole(v).and_then(|i| u32::try_from(i).ok())
        }),
        Int::U64 => column::<UInt64Type>(values, path, misfits, "a uint64", |v| {
            whole(v).and_then(|i| u64::try_from(i).ok())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use serde_json::json;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn schemars_shapes_map_to_the_arrow_types_a_reader_expects() -> TestResult {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": ["integer", "null"], "format": "uint32", "minimum": 0},
                "score": {"type": "number", "format": "float"},
                "weight": {"type": "number", "format": "double"},
                "ok": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "maybe_kind": {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "null"}]},
                "address": {"anyOf": [
                    {"type": "object", "properties": {"city": {"type": "string"}}},
                    {"type": "null"}
                ]},
                "extra": {"type": "object", "additionalProperties": {"type": "string"}},
                "shape": {"oneOf": [
                    {"type": "object", "properties": {"circle": {"type": "number"}}},
                    {"type": "object", "properties": {"square": {"type": "number"}}}
                ]},
                "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                "any": true
            }
        });
        let Kind::Struct(fields) = Kind::of(&schema) else {
            return Err("the top is a struct".into());
        };
        let types: Vec<(String, DataType)> = fields
            .iter()
            .map(|(name, kind)| (name.clone(), kind.data_type()))
            .collect();
        let list = |t| DataType::List(Arc::new(Field::new("item", t, true)));
        assert_eq!(
            types,
            vec![
                ("name".into(), DataType::Utf8),
                ("age".into(), DataType::UInt32),
                ("score".into(), DataType::Float32),
                ("weight".into(), DataType::Float64),
                ("ok".into(), DataType::Boolean),
                ("tags".into(), list(DataType::Utf8)),
                ("kind".into(), DataType::Utf8),
                ("maybe_kind".into(), DataType::Utf8),
                (
                    "address".into(),
                    DataType::Struct(Fields::from(vec![Field::new("city", DataType::Utf8, true)]))
                ),
                ("extra".into(), DataType::Utf8),
                ("shape".into(), DataType::Utf8),
                ("pair".into(), DataType::Utf8),
                ("any".into(), DataType::Utf8),
            ]
        );
        assert_eq!(fields[9].1, Kind::Json);
        assert_eq!(fields[10].1, Kind::Json);
        Ok(())
    }

    #[test]
    fn values_become_columns_row_by_row_with_nulls_and_misfits() -> TestResult {
        let kind = Kind::Struct(vec![
            ("n".into(), Kind::Int(Int::U8)),
            ("tags".into(), Kind::List(Box::new(Kind::Utf8))),
            ("raw".into(), Kind::Json),
        ]);
        let rows = [
            json!({"n": 1, "tags": ["x", "y"], "raw": {"k": [1]}}),
            json!({"n": 300, "tags": [], "raw": "s"}),
            json!({"n": 2.0, "raw": null}),
        ];
        let mut values: Vec<Option<&Value>> = rows.iter().map(Some).collect();
        values.insert(1, None);
        let mut misfits = Misfits::default();
        let column = array(&kind, &values, "", &mut misfits)?;
        let column = column
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or("a struct column")?;
        assert_eq!(column.len(), 4);
        assert!(column.is_null(1) && column.is_valid(0));
        let n = column
            .column(0)
            .as_any()
            .downcast_ref::<PrimitiveArray<UInt8Type>>()
            .ok_or("uint8")?;
        assert_eq!(n.iter().collect::<Vec<_>>(), [Some(1), None, None, Some(2)]);
        assert_eq!(misfits.count, 1, "300 is no uint8");
        assert_eq!(
            misfits.first.as_deref(),
            Some("`n`: expected a uint8, found 300")
        );
        let tags = column
            .column(1)
            .as_any()
            .downcast_ref::<ListArray>()
            .ok_or("list")?;
        assert_eq!(tags.value_length(0), 2);
        assert_eq!(tags.value_length(2), 0);
        assert!(tags.is_null(3), "no tags is null, not empty");
        let raw = column
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or("utf8")?;
        assert_eq!(raw.value(0), r#"{"k":[1]}"#);
        assert_eq!(raw.value(2), r#""s""#);
        assert!(raw.is_null(3));
        Ok(())
    }

    /// Any JSON value.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "[a-z]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-c]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever a model answers, every kind of column takes it: one row a value, a null
        /// and a misfit where it does not fit, never a panic.
        #[test]
        fn any_answer_fits_any_column_or_is_a_null(values in proptest::collection::vec(any_json(), 0..12)) {
            let kinds = [
                Kind::Boolean,
                Kind::Int(Int::I8),
                Kind::Int(Int::U64),
                Kind::Float32,
                Kind::Float64,
                Kind::Utf8,
                Kind::Json,
                Kind::List(Box::new(Kind::Int(Int::I32))),
                Kind::Struct(vec![
                    ("a".into(), Kind::Utf8),
                    ("b".into(), Kind::List(Box::new(Kind::Struct(vec![("c".into(), Kind::Boolean)])))),
                ]),
                Kind::Vector(2),
            ];
            let rows: Vec<Option<&Value>> = values.iter().map(Some).collect();
            for kind in &kinds {
                let mut misfits = Misfits::default();
                let column = array(kind, &rows, "x", &mut misfits);
                let column = column.map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
                proptest::prop_assert_eq!(column.len(), rows.len());
                proptest::prop_assert_eq!(column.data_type(), &kind.data_type());
            }
        }
    }

    #[test]
    fn vectors_are_fixed_size_lists_and_a_wrong_length_is_a_null() -> TestResult {
        let rows = [json!([0.5, 1.0]), json!([1.0]), json!([2.0, 3.0])];
        let values: Vec<Option<&Value>> = rows.iter().map(Some).collect();
        let mut misfits = Misfits::default();
        let column = array(&Kind::Vector(2), &values, "embedding", &mut misfits)?;
        let column = column
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .ok_or("fixed size list")?;
        assert!(column.is_valid(0) && column.is_null(1) && column.is_valid(2));
        let last = column.value(2);
        let last = last
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or("floats")?;
        assert_eq!(last.values().to_vec(), vec![2.0, 3.0]);
        assert_eq!(misfits.count, 1);
        Ok(())
    }
}
