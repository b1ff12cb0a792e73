//! The paths of 0.1 still resolve for one release (the crate docs' table says where each
//! moved), so a program written against 0.1 builds unchanged, with a deprecation warning for
//! the renamed run record.
#![allow(deprecated)]

use llmbo::adapter::{
    ModelAdapterRegistry, ModelProviderAdapter, OutputStrategy, normalize_model_id,
};
use llmbo::preflight::{RequestFamily, TokenEstimator};
use llmbo::{
    Embedding, InfererBuilder, InvocationType, JobDetails, JobStatus, Message, PollConfig, Price,
    PriceTable, RecordStream, Role, RunManifest, RunResults, RunSettings, SdkConfig, ShardEntry,
    Stage, StrictLimits, Structured, ToolChoice, Untyped, Usage, plan_shards, strict_schema,
};

#[test]
fn every_old_path_names_the_new_item() {
    fn same<T: 'static, U: 'static>() -> bool {
        std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>()
    }
    assert!(same::<RunManifest, llmbo::run::RunRecord>());
    assert!(same::<JobStatus, llmbo::status::JobStatus>());
    assert!(same::<JobDetails, llmbo::status::JobDetails>());
    assert!(same::<Stage, llmbo::status::Stage>());
    assert!(same::<Price, llmbo::cost::Price>());
    assert!(same::<PriceTable, llmbo::cost::PriceTable>());
    assert!(same::<Usage, llmbo::adapter::Usage>());
    assert!(same::<InvocationType, llmbo::adapter::InvocationType>());
    assert!(same::<Message, llmbo::input::Message>());
    assert!(same::<Role, llmbo::input::Role>());
    assert!(same::<ToolChoice, llmbo::input::ToolChoice>());
    assert!(same::<Embedding, llmbo::embedding::Embedding>());
    assert!(same::<RunSettings, llmbo::settings::RunSettings>());
    assert!(same::<ShardEntry, llmbo::run::ShardEntry>());
    assert!(same::<
        RunResults<serde_json::Value>,
        llmbo::run::RunResults<serde_json::Value>,
    >());
    assert!(same::<
        RecordStream<serde_json::Value>,
        llmbo::run::RecordStream<serde_json::Value>,
    >());
    assert!(same::<PollConfig, llmbo::builder::PollConfig>());
    assert!(same::<SdkConfig, llmbo::builder::SdkConfig>());
    assert!(same::<StrictLimits, llmbo::schema::StrictLimits>());
    assert!(same::<
        Structured<serde_json::Value>,
        llmbo::mode::Structured<serde_json::Value>,
    >());
    assert!(same::<Untyped, llmbo::mode::Untyped>());
    assert!(same::<OutputStrategy, llmbo::OutputStrategy>());
    assert!(same::<ModelAdapterRegistry, llmbo::ModelAdapterRegistry>());
    assert!(same::<RequestFamily, llmbo::model::RequestFamily>());
    assert!(same::<TokenEstimator, llmbo::cost::TokenEstimator>());
    assert!(same::<
        InfererBuilder<Untyped>,
        llmbo::builder::InfererBuilder<Untyped>,
    >());
    assert!(same::<
        Box<dyn ModelProviderAdapter>,
        Box<dyn llmbo::ModelProviderAdapter>,
    >());
    assert_eq!(
        normalize_model_id("us.amazon.nova-lite-v1:0"),
        llmbo::model::normalize_model_id("amazon.nova-lite-v1:0")
    );
    assert_eq!(
        plan_shards(&[1; 200], llmbo::run::ShardLimits::default())
            .map(|p| p.len())
            .ok(),
        Some(1)
    );
    assert!(strict_schema(&serde_json::json!({"type": "object"})).is_ok());
}
