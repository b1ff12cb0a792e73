//! Service Quotas: the batch quotas of one model.

use super::{Aws, aws_error};
use crate::error::Error;

impl Aws {
    /// Bedrock's batch quotas for the model named `model_name` in the catalog: `(quota name,
    /// value)` for each quota whose name ends with `for <model name>`.
    #[cfg(feature = "service-quotas")]
    pub(crate) async fn batch_quotas(&self, model_name: &str) -> Result<Vec<(String, f64)>, Error> {
        let suffix = format!(" for {model_name}");
        let mut found = Vec::new();
        let mut token = None;
        // Bedrock has a few thousand quotas; 100 a page.
        for _ in 0..60 {
            let page = self
                .quotas
                .list_service_quotas()
                .service_code("bedrock")
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| aws_error("ListServiceQuotas", e))?;
            for quota in page.quotas() {
                if let (Some(name), Some(value)) = (quota.quota_name(), quota.value())
                    && name.ends_with(&suffix)
                {
                    found.push((name.to_owned(), value));
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(found)
    }
}
