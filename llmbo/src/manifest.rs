//! `manifest.json.out`: the counts Bedrock writes when a job ends.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The statistics of a finished job, as Bedrock writes them to `manifest.json.out`.
///
/// Fields Bedrock may add later are kept in [`Manifest::extra`] rather than rejected, and are
/// written back out unchanged.
///
/// ```
/// let line = r#"{"totalRecordCount":150,"processedRecordCount":150,"successRecordCount":148,
///               "errorRecordCount":2,"inputTokenCount":9000,"outputTokenCount":3100}"#;
/// let manifest: llmbo::Manifest = serde_json::from_str(line)?;
/// assert_eq!(manifest.error_record_count, 2);
/// assert_eq!(manifest.output_token_count, Some(3100));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Records in the input.
    pub total_record_count: u64,
    /// Records the job got to, successfully or not.
    pub processed_record_count: u64,
    /// Records answered with a model output.
    pub success_record_count: u64,
    /// Records answered with an error.
    pub error_record_count: u64,
    /// Input tokens over all records, when Bedrock reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_token_count: Option<u64>,
    /// Output tokens over all records, when Bedrock reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_token_count: Option<u64>,
    /// Any other field, kept as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Manifest {
    /// Records the job never got to (`total - processed`), as after an expired or stopped job.
    pub fn unprocessed_record_count(&self) -> u64 {
        self.total_record_count
            .saturating_sub(self.processed_record_count)
    }
}
