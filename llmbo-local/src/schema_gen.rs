//! Values generated from a JSON schema, deterministic from a seed: what a synthetic model
//! passes to a forced tool. Handles objects, arrays, enums and consts, `oneOf`/`anyOf`/
//! `allOf`, nullable type lists, numeric bounds, string lengths and formats, and `$ref` into
//! `$defs`/`definitions` (or `#` itself, for recursive types).

use serde_json::{Map, Number, Value, json};

use crate::faults::Rng;

/// How deep references are followed before only required, minimal values are made, so a
/// recursive schema still ends.
const MAX_DEPTH: usize = 6;

/// Past this depth (of references, items or properties) nothing more is generated: the schema
/// is refused, as Bedrock refuses a schema it cannot compile.
const HARD_DEPTH: usize = 48;

/// At most this many values (nodes) per answer: a schema that asks for more (huge `minItems`,
/// `minProperties`, `minLength`, references that branch) is refused, never allowed to take the
/// server's memory or time.
const MAX_NODES: usize = 100_000;

/// The longest string made for `minLength`.
const MAX_STRING: usize = 100_000;

/// Why no value could be made for a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooComplex;

impl std::fmt::Display for TooComplex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the tool input schema is too large or too deeply nested (more than {MAX_NODES} values or {HARD_DEPTH} levels)"
        )
    }
}

/// A value that validates against `schema` (resolving references against `schema` itself), or
/// [`TooComplex`] when it would take more than a bounded amount of time and memory.
pub fn generate(schema: &Value, rng: &mut Rng) -> Result<Value, TooComplex> {
    let generator = Generator {
        root: schema,
        budget: std::cell::Cell::new(MAX_NODES),
        exhausted: std::cell::Cell::new(false),
    };
    let value = generator.value(schema, rng, 0);
    if generator.exhausted.get() {
        Err(TooComplex)
    } else {
        Ok(value)
    }
}

struct Generator<'a> {
    root: &'a Value,
    budget: std::cell::Cell<usize>,
    exhausted: std::cell::Cell<bool>,
}

impl<'a> Generator<'a> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(self.root);
        }
        let decoded = pointer.replace("~1", "/").replace("~0", "~");
        self.root.pointer(&decoded)
    }

    /// Takes `n` nodes from the budget; false (and the answer refused) once it is spent.
    fn spend(&self, n: usize) -> bool {
        match self.budget.get().checked_sub(n) {
            Some(left) if !self.exhausted.get() => {
                self.budget.set(left);
                true
            }
            _ => {
                self.exhausted.set(true);
                false
            }
        }
    }

    fn value(&self, schema: &Value, rng: &mut Rng, depth: usize) -> Value {
        if depth > HARD_DEPTH || !self.spend(1) {
            self.exhausted.set(true);
            return Value::Null;
        }
        let Some(schema) = schema.as_object() else {
            // `true` (or anything that is not an object) accepts any value.
            return json!("value");
        };
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return match self.resolve(reference) {
                Some(target) => self.value(target, rng, depth + 1),
                None => Value::Null,
            };
        }
        if let Some(constant) = schema.get("const") {
            return constant.clone();
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.is_empty()
        {
            return options[rng.below(options.len() as u64) as usize].clone();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array)
                && !options.is_empty()
            {
                // Past the depth limit, prefer a null branch so recursion ends.
                let null_branch = options.iter().position(is_null_schema);
                let index = match null_branch {
                    Some(i) if depth >= MAX_DEPTH => i,
                    _ => rng.below(options.len() as u64) as usize,
                };
                let mut merged = schema.clone();
                merged.remove(key);
                let branch = self.value(&options[index], rng, depth + 1);
                return merge_siblings(branch, &merged, self, rng, depth);
            }
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            let mut out = Map::new();
            for part in parts {
                if let Value::Object(map) = self.value(part, rng, depth + 1) {
                    out.extend(map);
                }
            }
            let mut rest = schema.clone();
            rest.remove("allOf");
            if let Value::Object(map) = self.value(&Value::Object(rest), rng, depth) {
                out.extend(map);
            }
            return Value::Object(out);
        }
        let ty = match schema.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
                let non_null: Vec<&str> = names.iter().copied().filter(|t| *t != "null").collect();
                if non_null.is_empty()
                    || (depth >= MAX_DEPTH && names.contains(&"null"))
                    || rng.chance(0.15) && names.contains(&"null")
                {
                    "null".to_owned()
                } else {
                    non_null[rng.below(non_null.len() as u64) as usize].to_owned()
                }
            }
            _ if schema.contains_key("properties") => "object".to_owned(),
            _ if schema.contains_key("items") => "array".to_owned(),
            _ => "string".to_owned(),
        };
        match ty.as_str() {
            "object" => self.object(schema, rng, depth),
            "array" => self.array(schema, rng, depth),
            "integer" => integer(schema, rng),
            "number" => number(schema, rng),
            "boolean" => Value::Bool(rng.chance(0.5)),
            "null" => Value::Null,
            _ => {
                let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
                if min > MAX_STRING as u64
                    || !self.spend(usize::try_from(min / 64).unwrap_or(usize::MAX))
                {
                    self.exhausted.set(true);
                    return Value::Null;
                }
                string(schema, rng)
            }
        }
    }

    fn object(&self, schema: &Map<String, Value>, rng: &mut Rng, depth: usize) -> Value {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let wanted =
                    required.contains(&name.as_str()) || (depth < MAX_DEPTH && rng.chance(0.6));
                if wanted {
                    out.insert(name.clone(), self.value(property, rng, depth + 1));
                }
            }
        }
        // A required property without a schema of its own still has to be there.
        for name in required {
            out.entry(name.to_owned()).or_insert_with(|| json!("value"));
        }
        let min = schema
            .get("minProperties")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if !self.spend(usize::try_from(min).unwrap_or(usize::MAX)) {
            return Value::Object(out);
        }
        let mut extra = 0;
        while (out.len() as u64) < min {
            out.insert(format!("extra{extra}"), json!("value"));
            extra += 1;
        }
        Value::Object(out)
    }

    fn array(&self, schema: &Map<String, Value>, rng: &mut Rng, depth: usize) -> Value {
        let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        if !self.spend(usize::try_from(min).unwrap_or(usize::MAX)) {
            return Value::Array(Vec::new());
        }
        let max = schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(min.saturating_add(3))
            .max(min)
            .min(min.saturating_add(3));
        let len = if depth >= MAX_DEPTH {
            min
        } else {
            min + rng.below(max - min + 1)
        };
        let items = schema
            .get("items")
            .cloned()
            .unwrap_or(json!({"type": "string"}));
        let mut out: Vec<Value> = Vec::with_capacity(len.min(1024) as usize);
        for i in 0..len {
            if self.exhausted.get() {
                break;
            }
            let mut value = self.value(&items, rng, depth + 1);
            if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
                let mut tries = 0;
                while out.contains(&value) && tries < 8 {
                    value = self.value(&items, rng, depth + 1);
                    tries += 1;
                }
                if out.contains(&value) {
                    // Could not make a distinct item; keep the array shorter rather than invalid.
                    if i >= min {
                        break;
                    }
                }
            }
            out.push(value);
        }
        Value::Array(out)
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// `{"oneOf": [...], "properties": ...}`: keep the sibling keywords' object properties too.
fn merge_siblings(
    branch: Value,
    siblings: &Map<String, Value>,
    generator: &Generator,
    rng: &mut Rng,
    depth: usize,
) -> Value {
    let has_object_siblings = siblings.contains_key("properties");
    match branch {
        Value::Object(mut map) if has_object_siblings => {
            if let Value::Object(extra) = generator.object(siblings, rng, depth) {
                for (key, value) in extra {
                    map.entry(key).or_insert(value);
                }
            }
            Value::Object(map)
        }
        other => other,
    }
}

fn bound(schema: &Map<String, Value>, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn integer(schema: &Map<String, Value>, rng: &mut Rng) -> Value {
    let mut low = bound(schema, "minimum").map_or(0.0, f64::ceil);
    let mut high = bound(schema, "maximum").map_or(low.max(0.0) + 100.0, f64::floor);
    if let Some(x) = bound(schema, "exclusiveMinimum") {
        low = low.max(x.floor() + 1.0);
    }
    if let Some(x) = bound(schema, "exclusiveMaximum") {
        high = high.min(x.ceil() - 1.0);
    }
    if high < low {
        high = low;
    }
    // Keep well inside i64 and f64's exact range.
    let low = low.clamp(-1e15, 1e15) as i64;
    let high = high.clamp(-1e15, 1e15) as i64;
    let mut value = low + rng.below((high - low) as u64 + 1) as i64;
    if let Some(step) = schema
        .get("multipleOf")
        .and_then(Value::as_i64)
        .filter(|s| *s > 0)
    {
        value = (value / step) * step;
        if value < low {
            value += step;
        }
    }
    Value::Number(Number::from(value))
}

fn number(schema: &Map<String, Value>, rng: &mut Rng) -> Value {
    let low = bound(schema, "minimum")
        .or_else(|| bound(schema, "exclusiveMinimum").map(|x| x + 0.001))
        .unwrap_or(0.0);
    let high = bound(schema, "maximum")
        .or_else(|| bound(schema, "exclusiveMaximum").map(|x| x - 0.001))
        .unwrap_or(low.max(0.0) + 1.0)
        .max(low);
    let fraction = rng.below(1000) as f64 / 1000.0;
    let value = (low + (high - low) * fraction).clamp(low, high);
    // Rounded to 3 places, nudged back inside the bounds if rounding left them.
    let rounded = ((value * 1000.0).round() / 1000.0).clamp(low, high);
    Number::from_f64(rounded).map_or(Value::Null, Value::Number)
}

const WORDS: [&str; 12] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima",
];

fn string(schema: &Map<String, Value>, rng: &mut Rng) -> Value {
    let n = rng.below(1000);
    let text = match schema.get("format").and_then(Value::as_str) {
        Some("date") => format!("20{:02}-{:02}-{:02}", 10 + n % 15, 1 + n % 12, 1 + n % 28),
        Some("date-time") => format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:00Z",
            10 + n % 15,
            1 + n % 12,
            1 + n % 28,
            n % 24,
            n % 60
        ),
        Some("time") => format!("{:02}:{:02}:00Z", n % 24, n % 60),
        Some("email") => format!("user{n}@example.com"),
        Some("uri" | "url") => format!("https://example.com/item/{n}"),
        Some("uuid") => format!(
            "{:08x}-0000-4000-8000-{:012x}",
            rng.next_u64() as u32,
            rng.next_u64() & 0xffff_ffff_ffff
        ),
        Some("ipv4") => format!("192.0.2.{}", n % 255),
        Some("hostname") => format!("host{n}.example.com"),
        _ => {
            let words = 1 + rng.below(3);
            (0..words)
                .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let mut chars: Vec<char> = text.chars().collect();
    while chars.len() < min {
        chars.push('x');
    }
    if let Some(max) = max {
        chars.truncate(max.max(min));
    }
    Value::String(chars.into_iter().collect())
}

/// A variant of `value` that breaks `schema`: a required property dropped, or the first
/// property's value replaced by one of the wrong type.
pub fn violate(schema: &Value, value: &Value) -> Value {
    let Value::Object(map) = value else {
        return json!(["not", "an", "object"]);
    };
    let mut broken = map.clone();
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str);
    if let Some(name) = required {
        broken.remove(name);
        return Value::Object(broken);
    }
    match broken.iter_mut().next() {
        Some((_, first)) => {
            *first = if first.is_string() {
                json!({"wrong": "type"})
            } else {
                json!("wrong type")
            };
            Value::Object(broken)
        }
        None => json!("not an object"),
    }
}
