//! Which adapter serves which model.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use regex::Regex;

use super::{
    AnthropicAdapter, ConverseAdapter, DeepSeekAdapter, DefaultAdapter, GeminiAdapter,
    InvocationType, LlamaAdapter, MistralPromptAdapter, ModelProviderAdapter, NovaAdapter,
    NovaEmbedAdapter, NovaParamStyle, OpenAiAdapter, QwenAdapter, TitanEmbedAdapter,
};
use crate::error::Error;
use crate::model::normalize_model_id;

struct Entry {
    pattern: String,
    regex: Regex,
    adapter: Arc<dyn ModelProviderAdapter>,
}

/// The process-wide map from model-id patterns to adapters, as in the original library.
///
/// Patterns are regular expressions matched at the start of the model id, newest
/// registration first; they are tried against the id as given and against its normalized
/// form ([`normalize_model_id`]), so `anthropic\.` also serves `us.anthropic.…` and
/// foundation-model ARNs. A model that no pattern matches gets the [`DefaultAdapter`] with a
/// one-time warning. To use an adapter for one inferer only, without global state, give it
/// to that inferer's builder instead.
///
/// ```
/// use llmbo::ModelAdapterRegistry;
/// let adapter = ModelAdapterRegistry::get_adapter("eu.anthropic.claude-3-haiku-20240307-v1:0");
/// assert_eq!(adapter.name(), "anthropic");
/// let adapter = ModelAdapterRegistry::get_adapter(
///     "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0");
/// assert_eq!(adapter.name(), "amazon-nova");
/// ```
pub struct ModelAdapterRegistry {
    entries: Vec<Entry>,
}

fn global() -> &'static RwLock<ModelAdapterRegistry> {
    static REGISTRY: OnceLock<RwLock<ModelAdapterRegistry>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(ModelAdapterRegistry::with_builtins()))
}

fn compile(pattern: &str) -> Result<Regex, Error> {
    Regex::new(&format!("^(?:{pattern})")).map_err(|err| Error::InvalidConfig {
        field: "pattern",
        reason: format!("`{pattern}` is not a valid regular expression: {err}"),
    })
}

impl ModelAdapterRegistry {
    fn with_builtins() -> Self {
        let mut registry = ModelAdapterRegistry {
            entries: Vec::new(),
        };
        let nova_2 = NovaAdapter {
            param_style: NovaParamStyle::CamelCase,
            ..NovaAdapter::default()
        };
        let builtins: [(&str, Arc<dyn ModelProviderAdapter>); 11] = [
            (r"anthropic\.", Arc::new(AnthropicAdapter::default())),
            (r"amazon\.nova", Arc::new(NovaAdapter::default())),
            (r"amazon\.nova-2", Arc::new(nova_2)),
            (r"mistral\.", Arc::new(MistralPromptAdapter)),
            (r"meta\.llama", Arc::new(LlamaAdapter)),
            (r"openai\.", Arc::new(OpenAiAdapter)),
            (r"deepseek\.", Arc::new(DeepSeekAdapter)),
            (r"qwen\.", Arc::new(QwenAdapter)),
            (r"google\.gemini", Arc::new(GeminiAdapter)),
            (
                r"amazon\.titan-embed-text-v2",
                Arc::new(TitanEmbedAdapter::default()),
            ),
            (
                r"amazon\.nova-2-multimodal-embeddings",
                Arc::new(NovaEmbedAdapter::default()),
            ),
        ];
        for (pattern, adapter) in builtins {
            // The built-in patterns are literals that compile; a failure would be caught by
            // every test that looks up an adapter.
            if let Ok(regex) = compile(pattern) {
                registry.entries.push(Entry {
                    pattern: pattern.to_owned(),
                    regex,
                    adapter,
                });
            }
        }
        registry
    }

    /// Serves models whose id matches `pattern` (a regular expression, matched at the start)
    /// with `adapter`. A newer registration wins over older ones; registering the same
    /// pattern again replaces the adapter. An invalid pattern is an error.
    pub fn register(
        pattern: &str,
        adapter: impl ModelProviderAdapter + 'static,
    ) -> Result<(), Error> {
        Self::register_arc(pattern, Arc::new(adapter))
    }

    /// [`register`](Self::register) for an adapter that is already shared.
    pub fn register_arc(
        pattern: &str,
        adapter: Arc<dyn ModelProviderAdapter>,
    ) -> Result<(), Error> {
        let regex = compile(pattern)?;
        let mut registry = global().write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = registry.entries.iter().position(|e| e.pattern == pattern) {
            let replaced = registry.entries.remove(old);
            tracing::info!(
                pattern,
                old = replaced.adapter.name(),
                new = adapter.name(),
                "replacing the adapter registered for this model pattern"
            );
        }
        registry.entries.push(Entry {
            pattern: pattern.to_owned(),
            regex,
            adapter,
        });
        Ok(())
    }

    /// The adapter for `model_name`: the newest registration whose pattern matches, else the
    /// [`DefaultAdapter`] (with a warning, once per model).
    pub fn get_adapter(model_name: &str) -> Arc<dyn ModelProviderAdapter> {
        let normalized = normalize_model_id(model_name);
        let registry = global().read().unwrap_or_else(PoisonError::into_inner);
        let found = registry
            .entries
            .iter()
            .rev()
            .find(|e| e.regex.is_match(normalized) || e.regex.is_match(model_name));
        if let Some(entry) = found {
            return Arc::clone(&entry.adapter);
        }
        drop(registry);
        warn_once(model_name);
        Arc::new(DefaultAdapter::default())
    }

    /// The adapter a job uses: Converse jobs use [`ConverseAdapter`] whatever the model;
    /// InvokeModel jobs use [`get_adapter`](Self::get_adapter).
    pub fn adapter_for(
        model_name: &str,
        invocation: InvocationType,
    ) -> Arc<dyn ModelProviderAdapter> {
        match invocation {
            InvocationType::Converse => Arc::new(ConverseAdapter),
            InvocationType::InvokeModel => Self::get_adapter(model_name),
        }
    }
}

fn warn_once(model_name: &str) {
    static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let first_time = WARNED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(model_name.to_owned());
    if first_time {
        tracing::warn!(
            model = model_name,
            "no adapter is registered for this model; sending Claude-shaped bodies. \
             Register one with ModelAdapterRegistry::register if the model needs another format"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{AnswerReader, RequestWriter};

    #[test]
    fn every_form_of_a_model_id_finds_its_family() {
        let cases = [
            ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic"),
            ("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic"),
            (
                "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "anthropic",
            ),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
                "anthropic",
            ),
            ("amazon.nova-lite-v1:0", "amazon-nova"),
            ("apac.amazon.nova-pro-v1:0", "amazon-nova"),
            ("mistral.mistral-large-2407-v1:0", "mistral-prompt"),
            ("meta.llama3-1-70b-instruct-v1:0", "meta-llama"),
            (
                "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.meta.llama4-scout-17b-instruct-v1:0",
                "meta-llama",
            ),
            ("openai.gpt-oss-120b-1:0", "openai"),
            ("cohere.command-r-v1:0", "default (Claude-shaped)"),
        ];
        for (model, adapter) in cases {
            assert_eq!(
                ModelAdapterRegistry::get_adapter(model).name(),
                adapter,
                "{model}"
            );
        }
    }

    #[test]
    fn nova_2_gets_camel_case_keys() -> Result<(), Box<dyn std::error::Error>> {
        let adapter = ModelAdapterRegistry::get_adapter("us.amazon.nova-2-lite-v1:0");
        let body = adapter.prepare_model_input(
            &crate::model_input::ModelInput::new()
                .user("x")
                .max_tokens(5),
            None,
        )?;
        assert_eq!(body["inferenceConfig"]["maxTokens"], 5);
        Ok(())
    }

    #[test]
    fn user_registrations_win_and_replace() -> Result<(), Box<dyn std::error::Error>> {
        #[derive(Debug)]
        struct Named(&'static str);
        impl RequestWriter for Named {
            fn name(&self) -> &str {
                self.0
            }
            fn prepare_model_input(
                &self,
                _: &crate::model_input::ModelInput,
                _: Option<&crate::output::ToolDefinition>,
            ) -> Result<serde_json::Value, Error> {
                Ok(serde_json::Value::Null)
            }
        }

        impl AnswerReader for Named {
            fn validate_result(
                &self,
                _: &serde_json::Value,
                _: &crate::output::ToolDefinition,
            ) -> Result<serde_json::Value, crate::error::RecordError> {
                Err(crate::error::RecordError::Missing)
            }
            fn output_text(&self, _: &serde_json::Value) -> Option<String> {
                None
            }
            fn usage(&self, _: &serde_json::Value) -> Option<super::super::Usage> {
                None
            }
        }

        ModelAdapterRegistry::register("registry-test-model.*", Named("first"))?;
        assert_eq!(
            ModelAdapterRegistry::get_adapter("registry-test-model-v1").name(),
            "first"
        );
        ModelAdapterRegistry::register("registry-test-model.*", Named("second"))?;
        assert_eq!(
            ModelAdapterRegistry::get_adapter("registry-test-model-v1").name(),
            "second"
        );
        // A narrower, newer pattern wins over the older, wider one.
        ModelAdapterRegistry::register("registry-test-model-v2", Named("narrow"))?;
        assert_eq!(
            ModelAdapterRegistry::get_adapter("registry-test-model-v2").name(),
            "narrow"
        );
        assert_eq!(
            ModelAdapterRegistry::get_adapter("registry-test-model-v3").name(),
            "second"
        );
        // Patterns match at the start only.
        assert_ne!(
            ModelAdapterRegistry::get_adapter("x-registry-test-model").name(),
            "second"
        );
        let err = ModelAdapterRegistry::register("registry-test-(", Named("bad")).unwrap_err();
        assert!(
            err.to_string().contains("not a valid regular expression"),
            "{err}"
        );
        Ok(())
    }

    #[test]
    fn converse_jobs_use_the_converse_adapter() {
        let adapter = ModelAdapterRegistry::adapter_for(
            "anthropic.claude-3-haiku-20240307-v1:0",
            InvocationType::Converse,
        );
        assert_eq!(adapter.name(), "converse");
    }
}
