//! The control plane's signature checks, as AWS makes them, through the Rust SDK: a request
//! signed 20 minutes ago, one scoped to another region, a wrong secret; and Bedrock API keys
//! (`Authorization: Bearer …`).

use std::time::{Duration, SystemTime};

use aws_sdk_bedrock::error::ProvideErrorMetadata;
use llmbo_local::LocalBedrock;

#[derive(Debug)]
struct Late(Duration);

impl aws_smithy_async::time::TimeSource for Late {
    fn now(&self) -> SystemTime {
        SystemTime::now() - self.0
    }
}

async fn list_error(config: aws_sdk_bedrock::Config) -> Option<(String, String)> {
    let client = aws_sdk_bedrock::Client::from_conf(config);
    match client.list_model_invocation_jobs().send().await {
        Ok(_) => None,
        Err(err) => Some((
            err.code().unwrap_or_default().to_owned(),
            err.message().unwrap_or_default().to_owned(),
        )),
    }
}

fn one_attempt(local: &LocalBedrock) -> aws_sdk_bedrock::config::Builder {
    aws_sdk_bedrock::config::Builder::from(&local.sdk_config())
        .retry_config(aws_sdk_bedrock::config::retry::RetryConfig::disabled())
}

#[tokio::test]
async fn signatures_are_checked_for_time_region_and_secret() {
    let local = LocalBedrock::start().await.unwrap();
    assert_eq!(list_error(one_attempt(&local).build()).await, None);
    // Signed 20 minutes ago: expired, as AWS says it.
    let late = one_attempt(&local)
        .time_source(Late(Duration::from_secs(20 * 60)))
        .build();
    let (code, message) = list_error(late).await.expect("refused");
    assert_eq!(code, "InvalidSignatureException");
    assert!(message.starts_with("Signature expired: "), "{message}");
    // 10 minutes is within AWS's 15.
    let slow = one_attempt(&local)
        .time_source(Late(Duration::from_secs(10 * 60)))
        .build();
    assert_eq!(list_error(slow).await, None);
    // Scoped to another region than the endpoint's.
    let elsewhere = one_attempt(&local)
        .region(aws_sdk_bedrock::config::Region::new("eu-west-1"))
        .build();
    assert_eq!(
        list_error(elsewhere).await,
        Some((
            "InvalidSignatureException".into(),
            "Credential should be scoped to a valid region.".into()
        ))
    );
    // A wrong secret.
    let wrong = one_attempt(&local)
        .credentials_provider(aws_sdk_bedrock::config::Credentials::new(
            "test", "wrong", None, None, "test",
        ))
        .build();
    assert_eq!(
        list_error(wrong).await.map(|e| e.0),
        Some("InvalidSignatureException".into())
    );
}

#[tokio::test]
async fn bedrock_api_keys_work_and_a_wrong_one_is_refused() {
    let local = LocalBedrock::builder()
        .api_key("bedrock-api-key-local")
        .start()
        .await
        .unwrap();
    let with_key = |key: &str| {
        one_attempt(&local)
            // No signature could pass: only the key can.
            .credentials_provider(aws_sdk_bedrock::config::Credentials::new(
                "nobody", "nothing", None, None, "test",
            ))
            .bearer_token(aws_sdk_bedrock::config::Token::new(key, None))
            .auth_scheme_preference([
                aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID,
            ])
            .build()
    };
    assert_eq!(list_error(with_key("bedrock-api-key-local")).await, None);
    assert_eq!(
        list_error(with_key("bedrock-api-key-other")).await,
        Some((
            "AccessDeniedException".into(),
            "Authentication failed: Please make sure your API Key is valid.".into()
        ))
    );
    // A key is for Bedrock only: S3 still wants a signature.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&local.sdk_config())
            .force_path_style(true)
            .build(),
    );
    assert!(s3.list_buckets().send().await.is_ok());
}
