//! What a run will cost, before it runs: input tokens estimated from each body's size (the
//! family's characters per token, calibrated with the runtime's `CountTokens` on a sample where
//! it answers), output tokens bounded by each record's `max_tokens`, and the user's prices.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Price;

/// Characters (bytes of JSON) per token, by model id prefix: `(prefix, chars per token,
/// relative uncertainty, source)`. Rules of thumb, not measurements of these tokenizers;
/// calibration with `CountTokens` replaces them where it answers. The last row is the default.
pub const CHARS_PER_TOKEN: &[(&str, f64, f64, &str)] = &[
    (
        "anthropic.",
        3.5,
        0.3,
        "Anthropic: about 3.5 characters of English a token (UNCERTAIN)",
    ),
    (
        "amazon.",
        4.0,
        0.3,
        "rule of thumb for BPE tokenizers (UNCERTAIN)",
    ),
    (
        "meta.",
        4.0,
        0.3,
        "rule of thumb for BPE tokenizers (UNCERTAIN)",
    ),
    (
        "mistral.",
        3.7,
        0.3,
        "rule of thumb for BPE tokenizers (UNCERTAIN)",
    ),
    (
        "openai.",
        4.0,
        0.3,
        "OpenAI: about 4 characters of English a token",
    ),
    ("", 4.0, 0.4, "rule of thumb for BPE tokenizers (UNCERTAIN)"),
];

/// Output tokens assumed for a record whose body sets no limit.
pub const DEFAULT_OUTPUT_BOUND: u64 = 4096;

/// A model's characters per token and the relative uncertainty of that figure.
///
/// ```
/// let (ratio, uncertainty) = llmbo::cost::chars_per_token("us.anthropic.claude-3-haiku-20240307-v1:0");
/// assert_eq!(ratio, 3.5);
/// assert!(uncertainty > 0.0);
/// ```
pub fn chars_per_token(model: &str) -> (f64, f64) {
    let id = crate::model::normalize_model_id(model);
    CHARS_PER_TOKEN
        .iter()
        .find(|(prefix, ..)| id.starts_with(prefix))
        .map_or((4.0, 0.4), |(_, ratio, uncertainty, _)| {
            (*ratio, *uncertainty)
        })
}

/// The most output tokens a body asks for, in whichever field its family uses; `Some(0)` for
/// an embedding body.
fn output_bound(body: &Value) -> Option<u64> {
    let field = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
    if body.get("inputText").is_some() && body.get("textGenerationConfig").is_none()
        || body.get("taskType").is_some()
    {
        return Some(0);
    }
    ["max_tokens", "max_completion_tokens", "max_gen_len"]
        .iter()
        .find_map(|key| field(body, key))
        .or_else(|| {
            let config = body.get("inferenceConfig")?;
            field(config, "maxTokens").or_else(|| field(config, "max_new_tokens"))
        })
        .or_else(|| field(body.get("textGenerationConfig")?, "maxTokenCount"))
}

/// Estimated tokens of a set of records (kept in the run record, to set beside the counts
/// the jobs report).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenEstimate {
    /// Records counted.
    pub records: usize,
    /// Bytes of request bodies.
    pub body_bytes: u64,
    /// Characters per token used.
    pub chars_per_token: f64,
    /// Its relative uncertainty (0.3 is ±30%).
    pub uncertainty: f64,
    /// Whether `chars_per_token` was measured with `CountTokens` on a sample of these records.
    pub calibrated: bool,
    /// Input tokens, low end.
    pub input_low: u64,
    /// Input tokens, high end.
    pub input_high: u64,
    /// Output tokens at most: every record's `max_tokens`, summed.
    pub output_max: u64,
    /// Records whose body sets no output limit ([`DEFAULT_OUTPUT_BOUND`] is assumed).
    pub unbounded: usize,
    /// Input tokens of documents, images and video, by each family's rule (in `input_low`
    /// and `input_high` already; their base64 is not counted as text).
    #[serde(default)]
    pub media_tokens: u64,
}

impl TokenEstimate {
    /// The cost range at `price`: the low end pays the fewest input tokens and no output, the
    /// high end the most input tokens and every output token allowed.
    pub fn cost(&self, price: Price) -> CostRange {
        let per = |tokens: u64, per_1k: f64| tokens as f64 / 1000.0 * per_1k;
        CostRange {
            low: per(self.input_low, price.input_per_1k),
            high: per(self.input_high, price.input_per_1k)
                + per(self.output_max, price.output_per_1k),
        }
    }
}

/// An estimated cost, lowest to highest, in the currency of the price table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostRange {
    /// The least the records can cost.
    pub low: f64,
    /// The most they can cost.
    pub high: f64,
}

impl CostRange {
    /// Both ranges together.
    pub fn plus(self, other: CostRange) -> CostRange {
        CostRange {
            low: self.low + other.low,
            high: self.high + other.high,
        }
    }
}

/// Adds records up into a [`TokenEstimate`], one body at a time, in constant memory.
#[derive(Debug, Clone)]
pub struct TokenEstimator {
    ratio: f64,
    uncertainty: f64,
    calibrated: bool,
    records: usize,
    bytes: u64,
    output: u64,
    unbounded: usize,
    media_tokens: u64,
}

impl TokenEstimator {
    /// An estimator at `model`'s characters per token.
    pub fn new(model: &str) -> Self {
        let (ratio, uncertainty) = chars_per_token(model);
        TokenEstimator {
            ratio,
            uncertainty,
            calibrated: false,
            records: 0,
            bytes: 0,
            output: 0,
            unbounded: 0,
            media_tokens: 0,
        }
    }

    /// Replaces the ratio with one measured on a sample: `samples` are `(body bytes, tokens
    /// CountTokens gave)`. The uncertainty is the sample's widest relative deviation (at least
    /// 5%). Fewer than one usable sample changes nothing.
    pub fn calibrate(&mut self, samples: &[(u64, u64)]) {
        let ratios: Vec<f64> = samples
            .iter()
            .filter(|(bytes, tokens)| *bytes > 0 && *tokens > 0)
            .map(|(bytes, tokens)| *bytes as f64 / *tokens as f64)
            .collect();
        if ratios.is_empty() {
            return;
        }
        let bytes: u64 = samples
            .iter()
            .map(|(b, t)| if *t > 0 { *b } else { 0 })
            .sum();
        let tokens: u64 = samples
            .iter()
            .map(|(b, t)| if *b > 0 { *t } else { 0 })
            .sum();
        let ratio = bytes as f64 / tokens as f64;
        let spread = ratios
            .iter()
            .map(|r| (r - ratio).abs() / ratio)
            .fold(0.05_f64, f64::max);
        self.ratio = ratio;
        self.uncertainty = spread.min(0.9);
        self.calibrated = true;
    }

    /// Counts one record's body.
    pub fn add(&mut self, body: &Value, body_bytes: u64) {
        self.add_bounded(output_bound(body), body_bytes);
    }

    /// Counts one record by its size and its output limit (`None`: not set, so
    /// [`DEFAULT_OUTPUT_BOUND`] is assumed), without reading its body.
    pub fn add_bounded(&mut self, max_output: Option<u64>, body_bytes: u64) {
        self.records += 1;
        self.bytes += body_bytes;
        match max_output {
            Some(n) => self.output += n,
            None => {
                self.output += DEFAULT_OUTPUT_BOUND;
                self.unbounded += 1;
            }
        }
    }

    /// Counts a record's media: their tokens by their family's rule (see
    /// [`media_tokens`](crate::input::media_tokens)), and their base64 bytes, which the body's
    /// size then does not count as text.
    pub fn add_media(&mut self, tokens: u64, base64_bytes: u64) {
        self.media_tokens += tokens;
        self.bytes = self.bytes.saturating_sub(base64_bytes);
    }

    /// The estimate so far.
    pub fn estimate(&self) -> TokenEstimate {
        let tokens = self.bytes as f64 / self.ratio;
        // The media rules are the providers' own, within the same margin as the text's.
        let media = self.media_tokens as f64;
        TokenEstimate {
            records: self.records,
            body_bytes: self.bytes,
            chars_per_token: self.ratio,
            uncertainty: self.uncertainty,
            calibrated: self.calibrated,
            input_low: ((tokens + media) * (1.0 - self.uncertainty))
                .floor()
                .max(0.0) as u64,
            input_high: ((tokens + media) * (1.0 + self.uncertainty)).ceil() as u64,
            media_tokens: self.media_tokens,
            output_max: self.output,
            unbounded: self.unbounded,
        }
    }
}
