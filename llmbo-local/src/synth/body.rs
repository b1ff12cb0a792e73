//! The response bodies of each family, from a decided reply.

use serde_json::{Map, Value, json};

use super::Reply;
use crate::config::MistralStopKey;

pub(super) fn anthropic_body(
    model_id: &str,
    record_id: &str,
    reply: &Reply,
    input_tokens: u64,
    output_tokens: u64,
) -> Value {
    let (content, stop) = match reply {
        Reply::Tool {
            name,
            input,
            complete,
        } => (
            json!([{"type": "tool_use", "id": format!("toolu_bdrk_{record_id}"), "name": name, "input": input}]),
            if *complete { "tool_use" } else { "max_tokens" },
        ),
        Reply::Text { text, complete } => (
            json!([{"type": "text", "text": text}]),
            if *complete { "end_turn" } else { "max_tokens" },
        ),
    };
    json!({
        "id": format!("msg_bdrk_{record_id}"), "type": "message", "role": "assistant", "model": model_id,
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    })
}

pub(super) fn converse_body(reply: &Reply, input_tokens: u64, output_tokens: u64) -> Value {
    let (content, stop) = match reply {
        Reply::Tool {
            name,
            input,
            complete,
        } => (
            json!([{"toolUse": {"toolUseId": "tooluse_synthetic", "name": name, "input": input}}]),
            if *complete { "tool_use" } else { "max_tokens" },
        ),
        Reply::Text { text, complete } => (
            json!([{"text": text}]),
            if *complete { "end_turn" } else { "max_tokens" },
        ),
    };
    json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens},
        "metrics": {"latencyMs": 100 + output_tokens},
    })
}

/// The member of a Mistral chat answer's `choices[0]` that holds the stop reason. The evidence
/// disagrees: AWS's Mistral chat page shows `stop_reason` (written for Mistral Large 2402);
/// Mistral's own API, and the Python original llmbo (whose authors ran its function-calling
/// adapter against Bedrock's Mistral Large 2407), read `finish_reason`. So Mistral Large 2402
/// answers with `stop_reason`, later chat models with `finish_reason` (see the README), unless
/// the server was told otherwise.
pub(super) fn mistral_chat_stop_key(model_id: &str, key: MistralStopKey) -> &'static str {
    match key {
        MistralStopKey::StopReason => "stop_reason",
        MistralStopKey::FinishReason => "finish_reason",
        MistralStopKey::ByVersion if model_id.contains("mistral-large-2402") => "stop_reason",
        MistralStopKey::ByVersion => "finish_reason",
    }
}

/// Where a chat model puts its reasoning, if it shows any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Thinking {
    None,
    /// gpt-oss: `<reasoning>…</reasoning>` before the text.
    ReasoningTag,
    /// Qwen3: `<think>…</think>` before the text.
    ThinkTag,
    /// DeepSeek: a `reasoning_content` field beside the answer.
    ReasoningContent,
}

pub(super) fn chat_body(
    model_id: &str,
    record_id: &str,
    reply: &Reply,
    input_tokens: u64,
    output_tokens: u64,
    stop_key: &str,
    thinking: Thinking,
) -> Value {
    let (message, stop) = match reply {
        Reply::Tool {
            name,
            input,
            complete,
        } => (
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": format!("call_{record_id}"), "type": "function",
                   "function": {"name": name, "arguments": input.to_string()}}]}),
            if *complete { "tool_calls" } else { "length" },
        ),
        Reply::Text { text, complete } => {
            let content = match thinking {
                Thinking::ReasoningTag => {
                    format!("<reasoning>The user asks about record {record_id}.</reasoning>{text}")
                }
                Thinking::ThinkTag => {
                    format!("<think>The user asks about record {record_id}.</think>\n\n{text}")
                }
                Thinking::None | Thinking::ReasoningContent => text.clone(),
            };
            (
                json!({"role": "assistant", "content": content}),
                if *complete { "stop" } else { "length" },
            )
        }
    };
    let mut message = message;
    if thinking == Thinking::ReasoningContent
        && let Some(message) = message.as_object_mut()
    {
        message.insert(
            "reasoning_content".into(),
            json!(format!("The user asks about record {record_id}.")),
        );
    }
    let mut choice = Map::new();
    choice.insert("index".into(), json!(0));
    choice.insert("message".into(), message);
    choice.insert(stop_key.into(), json!(stop));
    json!({
        "id": format!("chatcmpl-{record_id}"), "object": "chat.completion", "model": model_id,
        "choices": [Value::Object(choice)],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": input_tokens + output_tokens},
    })
}

/// A `GenerateContentResponse`: one candidate whose parts are a `functionCall` or the text,
/// `finishReason` `STOP` (or `MAX_TOKENS` when cut), and `usageMetadata`.
pub(super) fn gemini_body(
    model_id: &str,
    record_id: &str,
    reply: &Reply,
    input_tokens: u64,
    output_tokens: u64,
) -> Value {
    let (part, complete) = match reply {
        Reply::Tool {
            name,
            input,
            complete,
        } => (
            json!({"functionCall": {"name": name, "args": input}}),
            *complete,
        ),
        Reply::Text { text, complete } => (json!({"text": text}), *complete),
    };
    let model = model_id.rsplit('/').next().unwrap_or(model_id);
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [part]},
            "finishReason": if complete { "STOP" } else { "MAX_TOKENS" },
            "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": input_tokens,
            "candidatesTokenCount": output_tokens,
            "totalTokenCount": input_tokens + output_tokens,
        },
        "modelVersion": model.strip_prefix("google.").unwrap_or(model),
        "responseId": format!("gemini-{record_id}"),
    })
}

/// A Responses API response: a `function_call` item or a `message` with one `output_text`
/// part, `status: "incomplete"` with `incomplete_details.reason: "max_output_tokens"` when
/// cut, and `usage` in input and output tokens (OpenAI, "The response object",
/// <https://platform.openai.com/docs/api-reference/responses/object>).
pub(super) fn responses_body(
    model_id: &str,
    record_id: &str,
    reply: &Reply,
    input_tokens: u64,
    output_tokens: u64,
) -> Value {
    let (item, complete) = match reply {
        Reply::Tool {
            name,
            input,
            complete,
        } => (
            json!({"type": "function_call", "id": format!("fc_{record_id}"),
                   "call_id": format!("call_{record_id}"), "name": name,
                   "arguments": input.to_string(), "status": "completed"}),
            *complete,
        ),
        Reply::Text { text, complete } => (
            json!({"type": "message", "id": format!("msg_{record_id}"), "status": "completed",
                   "role": "assistant",
                   "content": [{"type": "output_text", "text": text, "annotations": []}]}),
            *complete,
        ),
    };
    json!({
        "id": format!("resp_{record_id}"),
        "object": "response",
        "created_at": 1_765_000_000u64,
        "status": if complete { "completed" } else { "incomplete" },
        "incomplete_details": if complete { Value::Null } else { json!({"reason": "max_output_tokens"}) },
        "error": null,
        "instructions": null,
        "metadata": {},
        "model": model_id,
        "output": [item],
        "parallel_tool_calls": true,
        "temperature": 1.0,
        "top_p": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    })
}
