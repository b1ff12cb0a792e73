//! What a run costs: prices per model, supplied by the user, and the token estimate a
//! preflight prices before anything is billed.

mod estimate;

pub use estimate::{
    CHARS_PER_TOKEN, CostRange, DEFAULT_OUTPUT_BOUND, TokenEstimate, TokenEstimator,
    chars_per_token,
};

use crate::adapter::Usage;
use crate::error::Error;
use crate::model::Provider;

/// What one model costs, per 1,000 tokens (batch prices, in any currency you like).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Per 1,000 input tokens.
    pub input_per_1k: f64,
    /// Per 1,000 output tokens.
    pub output_per_1k: f64,
}

/// Prices per model, supplied by you (llmbo ships none: they change and differ by region).
///
/// ```
/// use llmbo::adapter::Usage;
/// use llmbo::cost::{Price, PriceTable};
/// let prices = PriceTable::new()
///     .with("anthropic.claude-3-haiku-20240307-v1:0", Price { input_per_1k: 0.000125, output_per_1k: 0.000625 });
/// let usage = Usage { input_tokens: 2_000, output_tokens: 1_000 };
/// // Any form of the model id finds its price: a cross-region profile, an ARN.
/// let cost = prices.cost("us.anthropic.claude-3-haiku-20240307-v1:0", &usage);
/// assert!(cost.is_some_and(|cost| (cost - 0.000875).abs() < 1e-12));
/// assert_eq!(prices.cost("amazon.nova-lite-v1:0", &usage), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    prices: Vec<(String, Price)>,
    on_demand: Vec<(String, Price)>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the price of a model id: a Bedrock id (any form Bedrock takes), or
    /// a model of another batch API as `<provider>/<model>` (`anthropic/claude-haiku-4-5`,
    /// `openai/gpt-4o-mini`; see [`with_provider`](Self::with_provider)).
    #[must_use]
    pub fn with(mut self, model: &str, price: Price) -> Self {
        let model = key_of(model);
        self.prices.retain(|(m, _)| *m != model);
        self.prices.push((model, price));
        self
    }

    /// Adds (or replaces) the on-demand price of a model id, for the records that go on demand.
    #[must_use]
    pub fn with_on_demand(mut self, model: &str, price: Price) -> Self {
        let model = key_of(model);
        self.on_demand.retain(|(m, _)| *m != model);
        self.on_demand.push((model, price));
        self
    }

    /// A table from JSON text: an object of model ids, each with its batch prices per 1,000
    /// tokens and, optionally, its on-demand ones (the file `llmbo --prices FILE` reads).
    ///
    /// ```
    /// let prices = llmbo::cost::PriceTable::from_json(r#"{
    ///   "anthropic.claude-3-haiku-20240307-v1:0": {
    ///     "input_per_1k": 0.000125, "output_per_1k": 0.000625,
    ///     "on_demand": {"input_per_1k": 0.00025, "output_per_1k": 0.00125}}}"#)?;
    /// assert_eq!(prices.price("anthropic.claude-3-haiku-20240307-v1:0").map(|p| p.output_per_1k), Some(0.000625));
    /// assert!(llmbo::cost::PriceTable::from_json(r#"{"m": {"input_per_1k": -1, "output_per_1k": 0}}"#).is_err());
    /// # Ok::<(), llmbo::Error>(())
    /// ```
    pub fn from_json(text: &str) -> Result<PriceTable, Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Row {
            input_per_1k: f64,
            output_per_1k: f64,
            on_demand: Option<Pair>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Pair {
            input_per_1k: f64,
            output_per_1k: f64,
        }
        let invalid = |reason: String| Error::InvalidConfig {
            field: "prices",
            reason,
        };
        let rows: std::collections::BTreeMap<String, Row> = serde_json::from_str(text)
            .map_err(|err| invalid(format!("not a price table: {err}")))?;
        let check = |model: &str, input: f64, output: f64| {
            if input.is_finite() && output.is_finite() && input >= 0.0 && output >= 0.0 {
                Ok(Price {
                    input_per_1k: input,
                    output_per_1k: output,
                })
            } else {
                Err(invalid(format!(
                    "{model}: prices must be numbers of 0 or more"
                )))
            }
        };
        let mut table = PriceTable::new();
        for (model, row) in rows {
            table = table.with(&model, check(&model, row.input_per_1k, row.output_per_1k)?);
            if let Some(pair) = row.on_demand {
                table = table.with_on_demand(
                    &model,
                    check(&model, pair.input_per_1k, pair.output_per_1k)?,
                );
            }
        }
        Ok(table)
    }

    /// The on-demand price of a model (a Bedrock id, or `<provider>/<model>`).
    pub fn on_demand_price(&self, model: &str) -> Option<Price> {
        let model = key_of(model);
        self.on_demand
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, price)| *price)
    }

    /// The price of a model: a Bedrock id in any form Bedrock accepts, or `<provider>/<model>`.
    pub fn price(&self, model: &str) -> Option<Price> {
        let model = key_of(model);
        self.prices
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, price)| *price)
    }

    /// Adds (or replaces) the price of `model` on `provider`, by the provider's name for it
    /// (`claude-haiku-4-5` on Anthropic): the same table prices one model on Bedrock and on
    /// the provider's own API apart.
    ///
    /// ```
    /// use llmbo::cost::{Price, PriceTable};
    /// use llmbo::model::Provider;
    /// let prices = PriceTable::new()
    ///     .with_provider(Provider::Anthropic, "claude-haiku-4-5", Price { input_per_1k: 0.0005, output_per_1k: 0.0025 })
    ///     .with("anthropic.claude-haiku-4-5-20251001-v1:0", Price { input_per_1k: 0.00055, output_per_1k: 0.00275 });
    /// assert_eq!(prices.price_on(Provider::Anthropic, "claude-haiku-4-5").map(|p| p.input_per_1k), Some(0.0005));
    /// assert_eq!(prices.price("anthropic/claude-haiku-4-5").map(|p| p.input_per_1k), Some(0.0005));
    /// assert_eq!(prices.price_on(Provider::Bedrock, "us.anthropic.claude-haiku-4-5-20251001-v1:0").map(|p| p.input_per_1k), Some(0.00055));
    /// ```
    #[must_use]
    pub fn with_provider(self, provider: Provider, model: &str, price: Price) -> Self {
        let key = provider_key(provider, model);
        self.with(&key, price)
    }

    /// The price of `model` on `provider` (llmbo's id, `anthropic.claude-haiku-4-5`, or the
    /// provider's name, `claude-haiku-4-5`).
    pub fn price_on(&self, provider: Provider, model: &str) -> Option<Price> {
        self.price(&provider_key(provider, model))
    }

    /// The on-demand price of `model` on `provider`.
    pub fn on_demand_price_on(&self, provider: Provider, model: &str) -> Option<Price> {
        self.on_demand_price(&provider_key(provider, model))
    }

    /// What `usage` costs with `model`.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.price(model)?;
        Some(
            usage.input_tokens as f64 / 1000.0 * price.input_per_1k
                + usage.output_tokens as f64 / 1000.0 * price.output_per_1k,
        )
    }
}

/// The providers a price table names as `<provider>/<model>`.
const PROVIDERS: [Provider; 3] = [Provider::Anthropic, Provider::OpenAi, Provider::Gemini];

/// A table's key of a model id: `<provider>/<model>` as given (lower-case provider), a
/// Bedrock id in its bare form.
fn key_of(model: &str) -> String {
    for provider in PROVIDERS {
        let slug = provider.name().to_lowercase();
        if let Some(name) = model.strip_prefix(&slug).and_then(|m| m.strip_prefix('/')) {
            return format!("{slug}/{name}");
        }
    }
    crate::model::normalize_model_id(model).to_owned()
}

/// The key of `model` on `provider`.
fn provider_key(provider: Provider, model: &str) -> String {
    match provider {
        Provider::Bedrock => crate::model::normalize_model_id(model).to_owned(),
        other => format!("{}/{}", other.name().to_lowercase(), other.api_model(model)),
    }
}

/// What a run's tokens cost, batch and on demand apart.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct CostEstimate {
    /// The tokens answered in batch jobs, at the batch price.
    pub batch: Option<f64>,
    /// The tokens answered on demand, at the on-demand price (`Some(0.0)` when none were).
    pub on_demand: Option<f64>,
}

impl CostEstimate {
    /// Both parts, when both have a price.
    pub fn total(&self) -> Option<f64> {
        Some(self.batch? + self.on_demand?)
    }
}
