//! The synthetic model: answers one record in the response body of its model family.
//!
//! Each family checks the request body the way the real model does (a body that is not valid
//! for the family gets an error record with `errorCode` 400, as Bedrock gives), then answers:
//! a forced tool gets a call whose input is generated from the tool's schema; a prompt that
//! embeds a JSON schema gets that JSON in the text; anything else gets a short text.
//! Everything is deterministic from the seed and the record id.

use serde_json::{Value, json};

use crate::config::MistralStopKey;
use crate::faults::{RecordFault, Rng};

mod body;
mod decide;
mod read;

/// Checks one media block as its family sends it (`{"image": {format, source}}`, ...) and
/// reads it: the text the synthetic model sees in it.
pub(crate) fn read_media(block: &Value, at: &str) -> Result<String, String> {
    let mut read = read::media::Read::default();
    read::media::read(block, at, &mut read)?;
    Ok(read.media)
}

use body::{
    Thinking, anthropic_body, chat_body, converse_body, gemini_body, mistral_chat_stop_key,
    responses_body,
};
use decide::{complete, decide, reply_text};
pub use read::anthropic::ONE_SAMPLING_PARAMETER;
use read::read_request;

/// The model families the emulator answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Anthropic Claude, Messages API.
    Anthropic,
    /// Amazon Nova, `messages-v1`.
    Nova,
    /// Mistral: prompt or chat, told apart by the body.
    Mistral,
    /// Meta Llama, prompt template.
    Llama,
    /// OpenAI gpt-oss, chat completions.
    OpenAi,
    /// DeepSeek, chat completions (reasoning in `reasoning_content`).
    DeepSeek,
    /// Qwen3, chat completions (thinking in `<think>…</think>`).
    Qwen,
    /// Google Gemini, `GenerateContentRequest` (the Gemini API's batch mode).
    Gemini,
    /// OpenAI's Responses API (a batch whose endpoint is `/v1/responses`; never a model
    /// id's family).
    OpenAiResponses,
    /// Amazon Titan text.
    TitanText,
    /// Amazon Titan embeddings.
    TitanEmbed,
    /// Amazon Nova 2 multimodal embeddings.
    NovaEmbed,
}

/// The family of a model id in any form Bedrock accepts (bare, cross-region profile, ARN).
pub fn family_of(model_id: &str) -> Option<Family> {
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let id = match id.split_once('.') {
        // A geography prefix such as `us.` or `global.` comes before the provider.
        Some((geo, rest))
            if !rest.is_empty()
                && [
                    "us", "us-gov", "eu", "apac", "ap", "ca", "jp", "au", "global",
                ]
                .contains(&geo) =>
        {
            rest
        }
        _ => id,
    };
    let provider_and_model = |p: &str| id.starts_with(p);
    Some(if provider_and_model("anthropic.") {
        Family::Anthropic
    } else if provider_and_model("amazon.nova-2-multimodal-embeddings") {
        Family::NovaEmbed
    } else if provider_and_model("amazon.nova") {
        Family::Nova
    } else if provider_and_model("amazon.titan-embed") {
        Family::TitanEmbed
    } else if provider_and_model("amazon.titan-text") {
        Family::TitanText
    } else if provider_and_model("mistral.") {
        Family::Mistral
    } else if provider_and_model("meta.llama") {
        Family::Llama
    } else if provider_and_model("openai.") {
        Family::OpenAi
    } else if provider_and_model("deepseek.") {
        Family::DeepSeek
    } else if provider_and_model("qwen.") {
        Family::Qwen
    } else if provider_and_model("google.gemini") {
        Family::Gemini
    } else {
        return None;
    })
}

/// One record's answer: `modelOutput`, or an error record, with token counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A model output and its token counts.
    Output {
        /// The `modelOutput` body.
        body: Value,
        /// Input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
    },
    /// An error record.
    Error {
        /// `errorCode`.
        code: u16,
        /// `errorMessage`.
        message: String,
    },
}

/// What the model was asked, read from a valid body.
struct Request {
    /// All prompt text, for token counts and for finding an embedded schema.
    text: String,
    /// The text read out of the request's documents and images: `name: value` lines in it
    /// are the facts the answer holds.
    media_text: String,
    /// The forced tool: name and input schema.
    forced_tool: Option<(String, Value)>,
    /// With `tool_choice: any` over several tools, each of them: the model picks one.
    any_of: Vec<(String, Value)>,
    /// A follow-up: the conversation holds an answer of the model's and a turn after it (a
    /// re-ask that tells the model what was wrong). The synthetic model then answers right:
    /// no malformed output, as a model that reads the error would.
    follow_up: bool,
    /// Native structured output: the schema the answer's text follows.
    json_format: Option<Value>,
}

/// The first half of `text`, cut at a character boundary (a schema's strings may hold any
/// character, so a byte in the middle may fall inside one).
fn first_half(text: &str) -> &str {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

fn malformed(message: impl Into<String>) -> Answer {
    Answer::Error {
        code: 400,
        message: format!(
            "Malformed input request: {}, please reformat your input and try again.",
            message.into()
        ),
    }
}

fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// What the synthetic model "decides" to answer, before it is put in a family's format.
enum Reply {
    /// Calls the tool with this input; `complete` is false when cut off at max tokens.
    Tool {
        name: String,
        input: Value,
        complete: bool,
    },
    /// Writes this text; `complete` is false when cut off at max tokens.
    Text { text: String, complete: bool },
}

impl Reply {
    fn output_text(&self) -> String {
        match self {
            Reply::Tool { input, .. } => input.to_string(),
            Reply::Text { text, .. } => text.clone(),
        }
    }
}

/// Answers one record of a job on `model_id`, whose family is `family` (see [`family_of`];
/// `None` for a model the emulator does not serve).
pub fn answer(
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    model_input: &Value,
    record_id: &str,
    seed: u64,
    fault: Option<RecordFault>,
) -> Answer {
    answer_with(
        model_id,
        family,
        converse,
        model_input,
        record_id,
        seed,
        fault,
        MistralStopKey::default(),
    )
}

/// As [`answer`], with the server's choice of where Mistral chat answers put their stop
/// reason.
#[allow(clippy::too_many_arguments)] // one record's answer needs each of them
pub fn answer_with(
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    model_input: &Value,
    record_id: &str,
    seed: u64,
    fault: Option<RecordFault>,
    mistral_stop_key: MistralStopKey,
) -> Answer {
    answer_in(
        false,
        model_id,
        family,
        converse,
        model_input,
        record_id,
        seed,
        fault,
        mistral_stop_key,
    )
}

/// As [`answer_with`], for an on-demand call (`bedrock-runtime`), where Converse takes tools.
#[allow(clippy::too_many_arguments)] // one call's answer needs each of them
pub fn answer_runtime(
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    model_input: &Value,
    key: &str,
    seed: u64,
    fault: Option<RecordFault>,
    mistral_stop_key: MistralStopKey,
) -> Answer {
    answer_in(
        true,
        model_id,
        family,
        converse,
        model_input,
        key,
        seed,
        fault,
        mistral_stop_key,
    )
}

#[allow(clippy::too_many_arguments)] // one record's answer needs each of them
fn answer_in(
    runtime: bool,
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    model_input: &Value,
    record_id: &str,
    seed: u64,
    fault: Option<RecordFault>,
    mistral_stop_key: MistralStopKey,
) -> Answer {
    if fault == Some(RecordFault::Error) {
        return Answer::Error {
            code: 500,
            message: "The model encountered an internal error while processing this record.".into(),
        };
    }
    let Some(body) = model_input.as_object() else {
        return malformed("modelInput must be a JSON object");
    };
    // Embedding models answer vectors, the same for the same text (no malformed faults).
    if !converse {
        match family {
            Some(Family::TitanEmbed) => {
                let id = model_id.rsplit('/').next().unwrap_or(model_id);
                return crate::embed::titan(body, id.contains("titan-embed-text-v2"));
            }
            Some(Family::NovaEmbed) => return crate::embed::nova(body),
            _ => {}
        }
    }
    let parsed = read_request(runtime, model_id, family, converse, body);
    let request = match parsed {
        Ok(request) => request,
        Err(message) => return malformed(message),
    };
    let mut rng = Rng::new(seed, record_id.as_bytes());
    // Told what was wrong, the model answers right.
    let fault = fault.filter(|f| !request.follow_up || matches!(f, RecordFault::Stubborn(_)));
    // A body that cannot be answered (a schema no grammar compiler would take) gets the
    // error record Bedrock gives.
    let reply = match decide(&request, record_id, &mut rng, fault) {
        Ok(reply) => reply,
        Err(message) => return malformed(message),
    };
    let input_tokens = tokens(&request.text);
    let output_tokens = tokens(&reply.output_text());
    let body = if converse {
        converse_body(&reply, input_tokens, output_tokens)
    } else {
        match family {
            Some(Family::Anthropic) => {
                anthropic_body(model_id, record_id, &reply, input_tokens, output_tokens)
            }
            Some(Family::Nova) => converse_body(&reply, input_tokens, output_tokens),
            Some(Family::Mistral) if body.contains_key("prompt") => json!({
                "outputs": [{"text": reply_text(&reply), "stop_reason": if complete(&reply) { "stop" } else { "length" }}]
            }),
            Some(Family::Mistral) => chat_body(
                model_id,
                record_id,
                &reply,
                input_tokens,
                output_tokens,
                mistral_chat_stop_key(model_id, mistral_stop_key),
                Thinking::None,
            ),
            Some(Family::OpenAi) => chat_body(
                model_id,
                record_id,
                &reply,
                input_tokens,
                output_tokens,
                "finish_reason",
                // gpt-oss shows its reasoning before the text; OpenAI's own API models
                // (gpt-4o-mini, …) answer with the text alone.
                if model_id.contains("gpt-oss") {
                    Thinking::ReasoningTag
                } else {
                    Thinking::None
                },
            ),
            Some(Family::DeepSeek) => chat_body(
                model_id,
                record_id,
                &reply,
                input_tokens,
                output_tokens,
                "finish_reason",
                Thinking::ReasoningContent,
            ),
            Some(Family::Qwen) => chat_body(
                model_id,
                record_id,
                &reply,
                input_tokens,
                output_tokens,
                "finish_reason",
                Thinking::ThinkTag,
            ),
            Some(Family::Llama) => json!({
                "generation": reply_text(&reply),
                "prompt_token_count": input_tokens,
                "generation_token_count": output_tokens,
                "stop_reason": if complete(&reply) { "stop" } else { "length" },
            }),
            Some(Family::TitanText) => json!({
                "inputTextTokenCount": input_tokens,
                "results": [{"tokenCount": output_tokens, "outputText": reply_text(&reply),
                             "completionReason": if complete(&reply) { "FINISH" } else { "LENGTH" }}],
            }),
            Some(Family::Gemini) => {
                gemini_body(model_id, record_id, &reply, input_tokens, output_tokens)
            }
            Some(Family::OpenAiResponses) => {
                responses_body(model_id, record_id, &reply, input_tokens, output_tokens)
            }
            Some(Family::TitanEmbed | Family::NovaEmbed) => {
                return malformed("an embedding model answers embedding requests");
            }
            None => return malformed("unknown model"),
        }
    };
    Answer::Output {
        body,
        input_tokens,
        output_tokens,
    }
}

// ---- request readers: check the body as the family does and keep what the answer needs ----

/// The input tokens of one InvokeModel (or, with `converse`, Converse) body, as the
/// synthetic models count them: what the runtime's `CountTokens` answers. `Err` is the
/// validation message of a body the model would refuse.
pub fn count_tokens(
    model_id: &str,
    family: Option<Family>,
    converse: bool,
    body: &Value,
) -> Result<u64, String> {
    let body = body.as_object().ok_or("The body must be a JSON object")?;
    Ok(tokens(
        &read_request(true, model_id, family, converse, body)?.text,
    ))
}

// ---- response bodies ----

#[cfg(test)]
mod tests {
    use super::{Family, MistralStopKey, answer_with};
    use serde_json::json;

    #[test]
    fn the_mistral_stop_key_follows_the_version_or_the_setting() {
        let body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 50});
        let key_of = |model: &str, key| match answer_with(
            model,
            Some(Family::Mistral),
            false,
            &body,
            "r1",
            1,
            None,
            key,
        ) {
            super::Answer::Output { body, .. } => {
                let choice = body["choices"][0].as_object().cloned().unwrap_or_default();
                ["stop_reason", "finish_reason"]
                    .into_iter()
                    .find(|k| choice.contains_key(*k))
            }
            _ => None,
        };
        let large_2402 = "mistral.mistral-large-2402-v1:0";
        let large_2407 = "mistral.mistral-large-2407-v1:0";
        assert_eq!(
            key_of(large_2402, MistralStopKey::ByVersion),
            Some("stop_reason")
        );
        assert_eq!(
            key_of(large_2407, MistralStopKey::ByVersion),
            Some("finish_reason")
        );
        assert_eq!(
            key_of(large_2407, MistralStopKey::StopReason),
            Some("stop_reason")
        );
        assert_eq!(
            key_of(large_2402, MistralStopKey::FinishReason),
            Some("finish_reason")
        );
    }

    #[test]
    fn halves_cut_at_character_boundaries() {
        for text in [
            "",
            "a",
            "é",
            "éé",
            "aé",
            "日本語のテキスト",
            "{\"k\":\"ü\"}",
        ] {
            let half = super::first_half(text);
            assert!(text.starts_with(half));
            assert!(half.len() <= text.len() / 2);
        }
    }

    use super::*;

    fn output(answer: Answer) -> Value {
        match answer {
            Answer::Output { body, .. } => body,
            Answer::Error { message, .. } => panic!("error record: {message}"),
        }
    }

    #[test]
    fn families_are_found_in_every_id_form() {
        assert_eq!(
            family_of("anthropic.claude-3-haiku-20240307-v1:0"),
            Some(Family::Anthropic)
        );
        assert_eq!(
            family_of("us.anthropic.claude-3-haiku-20240307-v1:0"),
            Some(Family::Anthropic)
        );
        assert_eq!(
            family_of("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0"),
            Some(Family::Nova)
        );
        assert_eq!(
            family_of("meta.llama3-1-8b-instruct-v1:0"),
            Some(Family::Llama)
        );
        assert_eq!(family_of("cohere.command-r-v1:0"), None);
    }

    #[test]
    fn a_forced_claude_tool_gets_a_call() -> Result<(), Box<dyn std::error::Error>> {
        let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "tools": [{"name": "p", "description": "d", "input_schema": {"type": "object",
                "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 6}}, "required": ["n"]}}],
            "tool_choice": {"type": "tool", "name": "p"}});
        let out = output(answer(
            "anthropic.claude-3-haiku-20240307-v1:0",
            Some(Family::Anthropic),
            false,
            &body,
            "r1",
            1,
            None,
        ));
        assert_eq!(out["stop_reason"], "tool_use");
        assert_eq!(out["content"][0]["name"], "p");
        let n = out["content"][0]["input"]["n"]
            .as_i64()
            .ok_or("expected value missing")?;
        assert!((5..=6).contains(&n));
        Ok(())
    }

    #[test]
    fn invalid_bodies_get_a_400_error_record() {
        let model = "anthropic.claude-3-haiku-20240307-v1:0";
        let no_version = json!({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]});
        let extraneous = json!({"anthropic_version": "v", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "t", "input_schema": {"type": "object"}, "parameters": {}}]});
        for body in [
            no_version,
            extraneous,
            json!("text"),
            json!({"prompt": "x"}),
        ] {
            assert!(
                matches!(
                    answer(model, family_of(model), false, &body, "r", 0, None),
                    Answer::Error { code: 400, .. }
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn a_schema_in_the_prompt_is_answered_with_json() -> Result<(), Box<dyn std::error::Error>> {
        let prompt = "[INST] Answer with one JSON object that follows this JSON schema, and nothing else:\n\
                      {\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}},\"required\":[\"a\"]}\n\nText [/INST]";
        let out = output(answer(
            "mistral.mistral-7b-instruct-v0:2",
            Some(Family::Mistral),
            false,
            &json!({"prompt": prompt}),
            "r",
            3,
            None,
        ));
        let text = out["outputs"][0]["text"]
            .as_str()
            .ok_or("expected value missing")?;
        assert!(text.contains("\"a\":"), "{text}");
        Ok(())
    }

    #[test]
    fn converse_jobs_refuse_tools() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "toolConfig": {"tools": []}});
        assert!(matches!(
            answer(
                "amazon.nova-lite-v1:0",
                Some(Family::Nova),
                true,
                &body,
                "r",
                0,
                None
            ),
            Answer::Error { code: 400, .. }
        ));
    }
}
