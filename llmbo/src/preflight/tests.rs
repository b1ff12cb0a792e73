use serde_json::{Value, json};

use super::rules;
use super::*;
use crate::model::RequestFamily as F;

const HAIKU_45: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const HAIKU_3: &str = "anthropic.claude-3-haiku-20240307-v1:0";

fn found(family: F, model: &str, body: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    rules::check_body(family, model, body, &mut out);
    out.into_iter().map(|f| (f.rule.id, f.path)).collect()
}

fn claude() -> Value {
    json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
           "messages": [{"role": "user", "content": "Extract the people."}]})
}

/// `body` with the value at `path` set (or, for `Null`, removed); a path that leads nowhere
/// leaves it as it is.
fn with(mut body: Value, path: &[&str], value: Value) -> Value {
    let Some((last, parents)) = path.split_last() else {
        return body;
    };
    let mut at = &mut body;
    for key in parents {
        at = match key.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*key],
        };
    }
    match (value, at.as_object_mut()) {
        (Value::Null, Some(map)) => {
            map.remove(*last);
        }
        (Value::Null, None) => {}
        (value, _) => at[*last] = value,
    }
    body
}

/// Each rule: a bad body is found at its path, and the fixed body is clean.
#[test]
fn each_rule_finds_the_bad_record_and_accepts_it_fixed() {
    let user = |content: Value| json!({"role": "user", "content": content});
    let cases: Vec<(F, &str, Value, &str, &str)> = vec![
        (
            F::Claude,
            HAIKU_3,
            with(claude(), &["anthropic_version"], Value::Null),
            "required-field",
            "modelInput.anthropic_version",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(claude(), &["max_tokens"], Value::Null),
            "required-field",
            "modelInput.max_tokens",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(claude(), &["max_tokens"], json!("100")),
            "field-type",
            "modelInput.max_tokens",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(claude(), &["maxTokens"], json!(5)),
            "unknown-field",
            "modelInput.maxTokens",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(claude(), &["temperature"], json!(1.5)),
            "value-range",
            "modelInput.temperature",
        ),
        (
            F::Claude,
            HAIKU_45,
            with(
                with(claude(), &["temperature"], json!(0.2)),
                &["top_p"],
                json!(0.9),
            ),
            "sampling-combination",
            "modelInput.top_p",
        ),
        (
            F::Claude,
            "anthropic.claude-unknown-9",
            with(
                with(claude(), &["temperature"], json!(0.2)),
                &["top_p"],
                json!(0.9),
            ),
            "sampling-combination-uncertain",
            "modelInput.top_p",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                claude(),
                &["messages"],
                json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x"}]),
            ),
            "system-in-messages",
            "modelInput.messages[0].role",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                claude(),
                &["messages"],
                json!([{"role": "assistant", "content": "x"}]),
            ),
            "first-role",
            "modelInput.messages[0].role",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                claude(),
                &["messages"],
                json!([{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]),
            ),
            "role-order",
            "modelInput.messages[1].role",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                claude(),
                &["messages"],
                json!([{"role": "human", "content": "x"}]),
            ),
            "unknown-role",
            "modelInput.messages[0].role",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(claude(), &["messages", "0", "content"], json!("")),
            "empty-content",
            "modelInput.messages[0].content",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                claude(),
                &["messages"],
                json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": "{ "}]),
            ),
            "trailing-whitespace",
            "modelInput.messages[1]",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                with(
                    claude(),
                    &["tools"],
                    json!([{"name": "a", "input_schema": {"type": "object"}}]),
                ),
                &["tool_choice"],
                json!({"type": "tool", "name": "b"}),
            ),
            "tool-choice",
            "modelInput.tool_choice.name",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                claude(),
                &["tools"],
                json!([{"type": "function", "function": {"name": "a"}}]),
            ),
            "tool-definition",
            "modelInput.tools[0]",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                with(
                    with(
                        claude(),
                        &["tools"],
                        json!([{"name": "a", "input_schema": {"type": "object"}}]),
                    ),
                    &["tool_choice"],
                    json!({"type": "tool", "name": "a"}),
                ),
                &["output_config"],
                json!({"format": {"type": "json_schema", "schema": {}}}),
            ),
            "format-with-forced-tool",
            "modelInput.output_config",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                claude(),
                &["messages"],
                json!([user(
                    json!([{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}])
                )]),
            ),
            "media-format",
            "modelInput.messages[0].content[0].source.media_type",
        ),
        (
            F::Claude,
            HAIKU_3,
            with(
                claude(),
                &["messages"],
                json!([user(json!([{"type": "audio", "data": "AA=="}]))]),
            ),
            "content-block",
            "modelInput.messages[0].content[0].type",
        ),
        (
            F::Nova,
            "amazon.nova-lite-v1:0",
            json!({"messages": [user(json!([{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}]))]}),
            "media-format",
            "modelInput.messages[0].content[0].image.format",
        ),
        (
            F::Nova,
            "amazon.nova-lite-v1:0",
            json!({"messages": [user(json!("hi"))]}),
            "field-type",
            "modelInput.messages[0].content",
        ),
        (
            F::Nova,
            "amazon.nova-lite-v1:0",
            json!({"messages": [user(json!([{"text": "x"}]))], "toolConfig": {"tools": [{"toolSpec": {"name": "a", "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"tool": {"name": "b"}}}}),
            "tool-choice",
            "modelInput.toolConfig.toolChoice.tool",
        ),
        (
            F::Converse,
            "amazon.nova-lite-v1:0",
            json!({"messages": [user(json!([{"text": "x"}]))], "toolConfig": {"tools": []}}),
            "converse-tool-config",
            "modelInput.toolConfig",
        ),
        (
            F::ChatCompletions,
            "openai.gpt-oss-20b-1:0",
            json!({"messages": [user(json!("x"))], "stream": true}),
            "stream",
            "modelInput.stream",
        ),
        (
            F::ChatCompletions,
            "openai.gpt-oss-20b-1:0",
            json!({"messages": [user(json!("x"))], "tool_choice": "required"}),
            "tool-choice",
            "modelInput.tool_choice",
        ),
        (
            F::ChatCompletions,
            "openai.gpt-oss-20b-1:0",
            json!({"messages": [user(json!("x"))], "frobnicate": 1}),
            "extra-field",
            "modelInput.frobnicate",
        ),
        (
            F::LlamaPrompt,
            "meta.llama3-1-70b-instruct-v1:0",
            json!({"max_gen_len": 10}),
            "required-field",
            "modelInput.prompt",
        ),
        (
            F::MistralPrompt,
            "mistral.mistral-7b-instruct-v0:2",
            json!({"prompt": "<s>[INST] x [/INST]", "max_tokens": 0}),
            "field-type",
            "modelInput.max_tokens",
        ),
        (
            F::TitanEmbed,
            "amazon.titan-embed-text-v2:0",
            json!({"inputText": "x", "dimensions": 300}),
            "value-range",
            "modelInput.dimensions",
        ),
        (
            F::NovaEmbed,
            "amazon.nova-2-multimodal-embeddings-v1:0",
            json!({"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {"text": {"value": "x"}}}),
            "required-field",
            "modelInput.singleEmbeddingParams.embeddingPurpose",
        ),
    ];
    let fixes: Vec<Value> = vec![
        claude(),
        claude(),
        claude(),
        claude(),
        claude(),
        with(claude(), &["temperature"], json!(0.2)),
        with(claude(), &["top_p"], json!(0.9)),
        with(
            with(claude(), &["system"], json!("Be brief.")),
            &["messages"],
            json!([{"role": "user", "content": "x"}]),
        ),
        claude(),
        claude(),
        claude(),
        claude(),
        with(
            claude(),
            &["messages"],
            json!([{"role": "user", "content": "x"}, {"role": "assistant", "content": "{"}]),
        ),
        with(
            with(
                claude(),
                &["tools"],
                json!([{"name": "a", "input_schema": {"type": "object"}}]),
            ),
            &["tool_choice"],
            json!({"type": "tool", "name": "a"}),
        ),
        with(
            claude(),
            &["tools"],
            json!([{"name": "a", "input_schema": {"type": "object"}}]),
        ),
        with(
            with(
                claude(),
                &["tools"],
                json!([{"name": "a", "input_schema": {"type": "object"}}]),
            ),
            &["tool_choice"],
            json!({"type": "tool", "name": "a"}),
        ),
        with(
            claude(),
            &["messages"],
            json!([user(
                json!([{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}])
            )]),
        ),
        with(
            claude(),
            &["messages"],
            json!([user(json!([{"type": "text", "text": "x"}]))]),
        ),
        json!({"messages": [user(json!([{"image": {"format": "png", "source": {"bytes": "AA=="}}}]))]}),
        json!({"messages": [user(json!([{"text": "hi"}]))]}),
        json!({"messages": [user(json!([{"text": "x"}]))], "toolConfig": {"tools": [{"toolSpec": {"name": "a", "inputSchema": {"json": {"type": "object"}}}}], "toolChoice": {"tool": {"name": "a"}}}}),
        json!({"messages": [user(json!([{"text": "x"}]))]}),
        json!({"messages": [user(json!("x"))], "stream": false}),
        json!({"messages": [user(json!("x"))], "tools": [{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}}], "tool_choice": "required"}),
        json!({"messages": [user(json!("x"))], "max_completion_tokens": 10}),
        json!({"prompt": "x", "max_gen_len": 10}),
        json!({"prompt": "<s>[INST] x [/INST]", "max_tokens": 10}),
        json!({"inputText": "x", "dimensions": 256}),
        json!({"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {"embeddingPurpose": "GENERIC_INDEX", "text": {"value": "x"}}}),
    ];
    assert_eq!(cases.len(), fixes.len());
    for ((family, model, bad, rule, path), fixed) in cases.iter().zip(&fixes) {
        let bad_found = found(*family, model, bad);
        assert!(
            bad_found.contains(&(rule, (*path).to_owned())),
            "{rule} at {path} not found in {bad}: {bad_found:?}"
        );
        let fixed_found = found(*family, model, fixed);
        assert!(
            fixed_found.is_empty(),
            "{rule}: the fixed {fixed} still has {fixed_found:?}"
        );
    }
    // Every rule with a severity of its own is tested above, but the size rule below.
    let tested: std::collections::HashSet<&str> = cases.iter().map(|c| c.3).collect();
    for rule in rules::RULES {
        if ![
            "body-not-object",
            "field-value",
            "body-size",
            "media-size",
            "media-count",
            "media-limit-unconfirmed",
            "media-object",
        ]
        .contains(&rule.id)
        {
            assert!(tested.contains(rule.id), "no test for {}", rule.id);
        }
    }
}

#[test]
fn a_body_that_is_no_object_and_one_too_large_are_found() {
    assert_eq!(
        found(F::Claude, HAIKU_3, &json!([1])),
        vec![("body-not-object", "modelInput".into())]
    );
    let mut out = Vec::new();
    rules::check_size(rules::MAX_BODY_BYTES + 1, &mut out);
    assert_eq!(out[0].rule.id, "body-size");
    out.clear();
    rules::check_size(rules::MAX_BODY_BYTES, &mut out);
    assert!(out.is_empty());
}

/// The typed checks: what a `ModelInput` can break whichever adapter writes it.
#[test]
fn typed_inputs_are_checked_for_what_the_user_sets() {
    use crate::model_input::{ModelInput, ToolChoice};
    let check = |input: &ModelInput, model: &str| {
        let mut out = Vec::new();
        rules::check_input(F::Claude, model, input, false, &mut out);
        out.into_iter().map(|f| f.rule.id).collect::<Vec<_>>()
    };
    let both = ModelInput::new().user("x").temperature(0.2).top_p(0.9);
    assert_eq!(check(&both, HAIKU_45), vec!["sampling-combination"]);
    assert!(check(&both, HAIKU_3).is_empty());
    let prefill = ModelInput::new().user("x").assistant("{ ");
    assert_eq!(check(&prefill, HAIKU_3), vec!["trailing-whitespace"]);
    assert!(check(&ModelInput::new().user("x").assistant("{"), HAIKU_3).is_empty());
    let named = ModelInput::new().user("x").tool_choice(ToolChoice::Tool {
        name: "nope".into(),
    });
    assert_eq!(check(&named, HAIKU_3), vec!["tool-choice"]);
    let mut out = Vec::new();
    rules::check_input(F::Claude, HAIKU_3, &named, true, &mut out);
    assert!(out.is_empty(), "a structured job forces its own tool");
}

/// The adapters write bodies their own rules accept: the rules are not stricter than the
/// bodies llmbo sends (which llmbo-local, as strict as Bedrock, answers).
#[test]
fn every_adapter_writes_bodies_its_rules_accept() {
    use crate::adapter::InvocationType;
    use crate::adapter::registry::ModelAdapterRegistry;
    use crate::model_input::ModelInput;
    let tool = crate::output::ToolDefinition {
        name: "record".into(),
        description: "A record.".into(),
        input_schema: json!({"type": "object", "properties": {"x": {"type": "string"}}}),
    };
    let input = ModelInput::new()
        .system("Be brief.")
        .user("Extract.")
        .max_tokens(50)
        .temperature(0.5);
    for model in [
        HAIKU_3,
        "amazon.nova-lite-v1:0",
        "mistral.mistral-large-2407-v1:0",
        "mistral.mistral-7b-instruct-v0:2",
        "meta.llama3-1-70b-instruct-v1:0",
        "openai.gpt-oss-120b-1:0",
        "deepseek.v3-v1:0",
        "qwen.qwen3-32b-v1:0",
    ] {
        for kind in [InvocationType::InvokeModel, InvocationType::Converse] {
            let adapter = ModelAdapterRegistry::adapter_for(model, kind);
            for tool in [None, Some(&tool)] {
                let Ok(body) = adapter.prepare_model_input(&input, tool) else {
                    continue;
                };
                let found = found(adapter.request_family(), model, &body);
                assert!(
                    found.is_empty(),
                    "{model} {kind:?}: {body} breaks {found:?}"
                );
            }
        }
    }
}

#[test]
fn ten_thousand_identical_mistakes_are_one_group_with_a_count() {
    let bad = with(
        with(claude(), &["temperature"], json!(0.2)),
        &["top_p"],
        json!(0.9),
    );
    let mut findings = Findings::new(false);
    for i in 0..10_000 {
        let mut out = Vec::new();
        rules::check_body(F::Claude, HAIKU_45, &bad, &mut out);
        findings.add(&format!("r{i}"), out);
    }
    findings.sort();
    assert_eq!(findings.groups.len(), 1);
    let group = &findings.groups[0];
    assert_eq!((group.rule, group.count), ("sampling-combination", 10_000));
    let ids: Vec<&str> = group.first.iter().map(|a| a.record_id.as_str()).collect();
    assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4"]);
    let text = findings.to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("10000 records") && text.contains("and 9995 more"),
        "{text}"
    );
    assert!(findings.has_errors());
}

#[test]
fn strict_mode_makes_warnings_errors() {
    let body = json!({"messages": [{"role": "user", "content": "x"}], "frobnicate": 1});
    for (strict, errors) in [(false, false), (true, true)] {
        let mut findings = Findings::new(strict);
        let mut out = Vec::new();
        rules::check_body(
            F::ChatCompletions,
            "openai.gpt-oss-20b-1:0",
            &body,
            &mut out,
        );
        findings.add("r1", out);
        assert_eq!(findings.has_errors(), errors, "strict {strict}");
        assert_eq!(
            findings.count(Severity::Warning) + findings.count(Severity::Error),
            1
        );
    }
}

#[test]
fn media_over_a_models_limits_is_found_by_part() {
    use crate::media::{Part, media_support};
    let input_found = |model: &str, input: &crate::model_input::ModelInput| {
        let mut out = Vec::new();
        rules::check_input(F::Nova, model, input, true, &mut out);
        out.into_iter()
            .map(|f| (f.rule.id, f.path))
            .collect::<Vec<_>>()
    };
    let nova = "amazon.nova-lite-v1:0";
    let support = media_support(nova);
    let big = vec![0u8; support.max_image_bytes as usize + 1];
    let small = vec![0u8; 10];
    let input =
        crate::model_input::ModelInput::new().user_parts([Part::text("a"), Part::image(big)]);
    assert_eq!(
        input_found(nova, &input),
        vec![("media-size", "modelInput.messages[0].parts[1]".to_owned())]
    );
    let documents = (0..=support.max_documents).map(|_| Part::document(small.clone()));
    let input = crate::model_input::ModelInput::new().user_parts(documents);
    assert_eq!(
        input_found(nova, &input),
        vec![("media-count", "modelInput.messages".to_owned())]
    );
    // At the limits, nothing; a media-only turn is not an empty one.
    let documents = (0..support.max_documents).map(|_| Part::document(small.clone()));
    let input = crate::model_input::ModelInput::new().user_parts(documents);
    assert!(input_found(nova, &input).is_empty());
    // Where the docs do not confirm a limit, over it is a warning of its own.
    let claude = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let documents =
        (0..=media_support(claude).max_documents).map(|_| Part::document(small.clone()));
    let input = crate::model_input::ModelInput::new().user_parts(documents);
    assert_eq!(
        input_found(claude, &input),
        vec![("media-limit-unconfirmed", "modelInput.messages".to_owned())]
    );
}
