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
    /// Adds another job's counts to these, for a run of several jobs. Token counts stay
    /// unknown only if neither side knows them; unknown fields of `other` are kept when these
    /// lack them.
    ///
    /// ```
    /// let mut a = llmbo::Manifest { total_record_count: 100, input_token_count: Some(5), ..Default::default() };
    /// let b = llmbo::Manifest { total_record_count: 50, input_token_count: Some(7), ..Default::default() };
    /// a.combine(&b);
    /// assert_eq!((a.total_record_count, a.input_token_count), (150, Some(12)));
    /// ```
    ///
    /// The counts come from files in S3: sums saturate at `u64::MAX` rather than overflow.
    pub fn combine(&mut self, other: &Manifest) {
        let sum = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        sum(&mut self.total_record_count, other.total_record_count);
        sum(
            &mut self.processed_record_count,
            other.processed_record_count,
        );
        sum(&mut self.success_record_count, other.success_record_count);
        sum(&mut self.error_record_count, other.error_record_count);
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
        };
        self.input_token_count = add(self.input_token_count, other.input_token_count);
        self.output_token_count = add(self.output_token_count, other.output_token_count);
        for (key, value) in &other.extra {
            self.extra
                .entry(key.clone())
                .or_insert_with(|| value.clone());
        }
    }

    /// Records the job never got to (`total - processed`), as after an expired or stopped job.
    pub fn unprocessed_record_count(&self) -> u64 {
        self.total_record_count
            .saturating_sub(self.processed_record_count)
    }
}
