//! The schema text a run sends with every record, written once per thread and tool: the
//! compact JSON of a tool's schema, and JsonInPrompt's schema instruction.

use serde::Serialize;
use serde_json::Value;

use crate::output::ToolDefinition;

/// A tool's schema, written as the compact JSON it serializes to. A run writes every record
/// with the same schema, so each thread keeps the last one written and copies its text while
/// the schema asked for is equal (comparing two schemas costs a fraction of writing one).
pub(crate) struct SchemaJson<'a>(pub(crate) &'a Value);

impl Serialize for SchemaJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        thread_local! {
            static LAST: std::cell::RefCell<Option<(Value, Box<serde_json::value::RawValue>)>> =
                const { std::cell::RefCell::new(None) };
        }
        LAST.with(|last| {
            let Ok(mut last) = last.try_borrow_mut() else {
                return self.0.serialize(serializer);
            };
            if !matches!(last.as_ref(), Some((schema, _)) if schema == self.0) {
                match serde_json::value::to_raw_value(self.0) {
                    Ok(raw) => *last = Some((self.0.clone(), raw)),
                    Err(_) => return self.0.serialize(serializer),
                }
            }
            match last.as_ref() {
                Some((_, raw)) => raw.serialize(serializer),
                None => self.0.serialize(serializer),
            }
        })
    }
}

/// The system prompt followed by the schema instruction, for families without tools.
pub(crate) fn schema_instruction(tool: &ToolDefinition) -> String {
    // A run asks every record with the same tool: the instruction is made once per thread
    // and tool (comparing the tool is cheaper than writing its schema again).
    thread_local! {
        static LAST: std::cell::RefCell<Option<(ToolDefinition, String)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((cached, instruction)) = last.as_ref()
            && cached == tool
        {
            return instruction.clone();
        }
        // Compact JSON: the schema is sent once per record, so every byte is paid for many
        // times.
        let schema = serde_json::to_string(&tool.input_schema).unwrap_or_default();
        let instruction = format!(
            "{}\nAnswer with one JSON object that follows this JSON schema, and nothing else:\n{schema}",
            tool.description
        );
        *last = Some((tool.clone(), instruction.clone()));
        instruction
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::schema_instruction;
    use crate::output::ToolDefinition;

    #[test]
    fn the_schema_instruction_is_each_tools_own() {
        let tool = |name: &str, field: &str| ToolDefinition {
            name: name.into(),
            description: format!("About {name}."),
            input_schema: json!({"type": "object", "properties": {field: {"type": "string"}}}),
        };
        let (a, b) = (tool("A", "alpha"), tool("B", "beta"));
        // Alternating, and the same tool again: each answer names its own tool and schema.
        for _ in 0..2 {
            let for_a = schema_instruction(&a);
            assert!(for_a.starts_with("About A.") && for_a.contains("\"alpha\""));
            let for_b = schema_instruction(&b);
            assert!(for_b.starts_with("About B.") && for_b.contains("\"beta\""));
            assert_eq!(schema_instruction(&b), for_b);
        }
        // A tool changed in place is not answered from the cache.
        let mut changed = a.clone();
        changed.input_schema = json!({"type": "object", "properties": {"gamma": {}}});
        assert!(schema_instruction(&changed).contains("\"gamma\""));
    }
}
