//! The batch API and the store of a run on a provider other than Bedrock, from its settings:
//! what the builder makes and what a resumed run makes again.
//!
//! The API key is never persisted: it comes from the builder or the provider's environment
//! variable (`ANTHROPIC_API_KEY`). The base URL comes from the builder, else the provider's
//! environment variable (`ANTHROPIC_BASE_URL`), else the run's record, else the provider's
//! own address.

use std::sync::Arc;

use crate::backend::Backend;
use crate::error::Error;
use crate::model::Provider;
use crate::settings::RunSettings;
use crate::shards::ShardLimits;
use crate::store::{FileStore, RunStore};

/// The folder a run on a batch API other than Bedrock is kept in when the builder names none.
pub(crate) const DEFAULT_STORE: &str = "llmbo-runs";

/// The environment variables of a provider's key and base URL.
fn env_names(provider: Provider) -> (&'static str, &'static str) {
    match provider {
        Provider::Anthropic => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        Provider::OpenAi => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        Provider::Gemini | Provider::Bedrock => ("GEMINI_API_KEY", "GEMINI_BASE_URL"),
    }
}

/// A provider's per-job limits, where the user gave none (Anthropic, "Batch processing",
/// <https://docs.claude.com/en/docs/build-with-claude/batch-processing>: 100,000 requests or
/// 256 MB; OpenAI, "Batch API", <https://platform.openai.com/docs/guides/batch>: 50,000
/// requests and 200 MB; Google, "Batch API", <https://ai.google.dev/gemini-api/docs/batch-mode>:
/// 2 GB files). No minimum: a batch of one is a batch.
pub(crate) fn limits(provider: Provider) -> ShardLimits {
    match provider {
        #[cfg(feature = "anthropic")]
        Provider::Anthropic => ShardLimits {
            min_records: 1,
            max_records: crate::batch_api::anthropic::MAX_REQUESTS,
            max_bytes: crate::batch_api::anthropic::MAX_BYTES,
        },
        #[cfg(feature = "gemini")]
        Provider::Gemini => ShardLimits {
            min_records: 1,
            max_records: crate::batch_api::gemini::MAX_REQUESTS,
            max_bytes: crate::batch_api::gemini::MAX_BYTES,
        },
        #[cfg(feature = "openai")]
        Provider::OpenAi => ShardLimits {
            min_records: 1,
            max_records: crate::batch_api::openai::MAX_REQUESTS,
            max_bytes: crate::batch_api::openai::MAX_BYTES,
        },
        _ => ShardLimits {
            min_records: 1,
            ..ShardLimits::default()
        },
    }
}

/// The base URL a run's calls go to: the given one, else the environment's, else the
/// record's, else the provider's own.
pub(crate) fn base_url(settings: &RunSettings, given: Option<&str>) -> Option<String> {
    let (_, url_env) = env_names(settings.provider);
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    given
        .map(str::to_owned)
        .or_else(|| from_env(url_env))
        // The `google-genai` SDK's own variable.
        .or_else(|| {
            (settings.provider == Provider::Gemini)
                .then(|| from_env("GOOGLE_GEMINI_BASE_URL"))
                .flatten()
        })
        .or_else(|| settings.base_url.clone())
}

/// The store `settings.store` names: a local folder (made when first written), or
/// `s3://bucket/prefix` with the AWS configuration given (else the usual chain).
pub(crate) async fn open_store(
    settings: &RunSettings,
    sdk_config: Option<aws_config::SdkConfig>,
    force_path_style: Option<bool>,
) -> Result<Arc<dyn FileStore>, Error> {
    let root = settings.store.as_deref().unwrap_or(DEFAULT_STORE);
    if root.starts_with("s3://") {
        let sdk = crate::aws::sdk_config_or_default(sdk_config).await;
        let store = crate::aws::S3FileStore::open(&sdk, root, force_path_style).await?;
        return Ok(Arc::new(store));
    }
    Ok(Arc::new(crate::store::folder::FolderStore::new(root)?))
}

/// A run's batch API and store.
type Connected = (Arc<dyn Backend>, Arc<dyn RunStore>);

/// The batch API and the store of a run on `settings.provider`, with the key given or the
/// environment's.
#[cfg_attr(
    not(any(feature = "anthropic", feature = "openai", feature = "gemini")),
    allow(unused_variables)
)]
pub(crate) fn connect(
    settings: &RunSettings,
    key: Option<&str>,
    store: Arc<dyn FileStore>,
) -> Result<Connected, Error> {
    let provider = settings.provider;
    let (key_env, _) = env_names(provider);
    let key = key
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .or_else(|| std::env::var(key_env).ok().filter(|v| !v.is_empty()))
        .ok_or_else(|| Error::InvalidConfig {
            field: "api_key",
            reason: format!(
                "no {} API key: set {key_env}, or give the builder `.api_key(..)`",
                provider.name()
            ),
        })?;
    match provider {
        #[cfg(feature = "anthropic")]
        Provider::Anthropic => {
            use crate::batch_api::anthropic;
            let url = settings
                .base_url
                .as_deref()
                .unwrap_or(anthropic::DEFAULT_BASE_URL);
            let backend = anthropic::Anthropic::new(
                url,
                crate::batch_api::http::ApiKey::new(key),
                store.clone(),
            )?;
            Ok((Arc::new(backend), store))
        }
        #[cfg(feature = "openai")]
        Provider::OpenAi => {
            use crate::batch_api::openai;
            let url = settings
                .base_url
                .as_deref()
                .unwrap_or(openai::DEFAULT_BASE_URL);
            let backend =
                openai::OpenAi::new(url, crate::batch_api::http::ApiKey::new(key), store.clone())?;
            Ok((Arc::new(backend), store))
        }
        #[cfg(feature = "gemini")]
        Provider::Gemini => {
            use crate::batch_api::gemini;
            let url = settings
                .base_url
                .as_deref()
                .unwrap_or(gemini::DEFAULT_BASE_URL);
            let backend =
                gemini::Gemini::new(url, crate::batch_api::http::ApiKey::new(key), store.clone())?;
            Ok((Arc::new(backend), store))
        }
        other => Err(Error::InvalidConfig {
            field: "provider",
            reason: format!(
                "this llmbo was built without {}: enable its cargo feature (`{}`)",
                other.name(),
                other.name().to_lowercase()
            ),
        }),
    }
}
