//! `bedrock-runtime`: InvokeModel, Converse and CountTokens, for records answered on demand and
//! the preflight's token calibration.

use std::sync::Arc;

use super::{Aws, aws_error};
use crate::error::Error;

/// Keeps a successful response's body as the SDK read it (see [`Aws::converse`]).
#[derive(Debug)]
struct KeepResponse(Arc<std::sync::Mutex<Option<Vec<u8>>>>);

impl aws_sdk_bedrockruntime::config::Intercept for KeepResponse {
    fn name(&self) -> &'static str {
        "llmbo::KeepResponse"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_bedrockruntime::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _components: &aws_sdk_bedrockruntime::config::RuntimeComponents,
        _cfg: &mut aws_sdk_bedrockruntime::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let response = context.response();
        if response.status().is_success()
            && let Some(bytes) = response.body().bytes()
            && let Ok(mut kept) = self.0.lock()
        {
            *kept = Some(bytes.to_vec());
        }
        Ok(())
    }
}

impl Aws {
    /// One on-demand `InvokeModel` call with `body` (a batch record's `modelInput`): the
    /// response body. `service_tier` goes in `X-Amzn-Bedrock-Service-Tier`.
    pub(crate) async fn invoke(
        &self,
        model_id: &str,
        body: Vec<u8>,
        service_tier: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        let mut call = self
            .runtime
            .invoke_model()
            .model_id(model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(aws_sdk_bedrockruntime::primitives::Blob::new(body));
        if let Some(tier) = service_tier {
            call = call.service_tier(aws_sdk_bedrockruntime::types::ServiceTierType::from(tier));
        }
        let answer = call.send().await.map_err(|e| aws_error("InvokeModel", e))?;
        Ok(answer.body.into_inner())
    }

    /// One on-demand `Converse` call with `body`, a Converse-type batch record's `modelInput`
    /// (which is a Converse request without the model id, service tier included), sent as it
    /// is: the response body, which is what a Converse batch job writes as `modelOutput`.
    ///
    /// The SDK's Converse takes typed input and returns typed output; the record's JSON is put
    /// in place of the serialized (empty) request just before signing, and the response's bytes
    /// are kept as the SDK read them, so no field the SDK's types lack is lost either way.
    pub(crate) async fn converse(&self, model_id: &str, body: Vec<u8>) -> Result<Vec<u8>, Error> {
        let answer = Arc::new(std::sync::Mutex::new(None));
        let length = body.len().to_string();
        self.runtime
            .converse()
            .model_id(model_id)
            .customize()
            .mutate_request(move |request| {
                *request.body_mut() = aws_sdk_s3::primitives::SdkBody::from(body.clone());
                request
                    .headers_mut()
                    .insert("content-length", length.clone());
            })
            .interceptor(KeepResponse(Arc::clone(&answer)))
            .send()
            .await
            .map_err(|e| aws_error("Converse", e))?;
        let kept = answer.lock().ok().and_then(|mut kept| kept.take());
        kept.ok_or_else(|| Error::Internal {
            what: "an on-demand Converse call",
            reason: "the response body was not kept".into(),
        })
    }

    /// The input tokens of one InvokeModel body, by the runtime's `CountTokens`.
    pub(crate) async fn count_tokens(
        &self,
        model_id: &str,
        body: &serde_json::Value,
    ) -> Result<u64, Error> {
        use aws_sdk_bedrockruntime::types::{CountTokensInput, InvokeModelTokensRequest};
        let request = InvokeModelTokensRequest::builder()
            .body(aws_sdk_bedrockruntime::primitives::Blob::new(
                serde_json::to_vec(body).unwrap_or_default(),
            ))
            .build()
            .map_err(|err| Error::Internal {
                what: "building a CountTokens request",
                reason: err.to_string(),
            })?;
        let answer = self
            .runtime
            .count_tokens()
            .model_id(model_id)
            .input(CountTokensInput::InvokeModel(request))
            .send()
            .await
            .map_err(|e| aws_error("CountTokens", e))?;
        Ok(u64::try_from(answer.input_tokens()).unwrap_or(0))
    }
}
