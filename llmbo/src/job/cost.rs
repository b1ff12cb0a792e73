//! What a run costs: prices per model, supplied by the user.

use super::results::RunResults;
use crate::adapter::Usage;

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
/// use llmbo::{Price, PriceTable, Usage};
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
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the price of a model id.
    #[must_use]
    pub fn with(mut self, model: &str, price: Price) -> Self {
        let model = crate::adapter::normalize_model_id(model).to_owned();
        self.prices.retain(|(m, _)| *m != model);
        self.prices.push((model, price));
        self
    }

    /// The price of a model, in any form Bedrock accepts its id.
    pub fn price(&self, model: &str) -> Option<Price> {
        let model = crate::adapter::normalize_model_id(model);
        self.prices
            .iter()
            .find(|(m, _)| *m == model)
            .map(|(_, price)| *price)
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

impl<V> RunResults<V> {
    /// The estimated cost of the run's tokens at `model`'s price in `prices`, if it has one.
    pub fn estimated_cost(&self, prices: &PriceTable, model: &str) -> Option<f64> {
        prices.cost(model, &self.usage())
    }
}
