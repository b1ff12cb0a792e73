use llmbo::{BatchInferer, state::Uploaded};

fn arn_too_early(inferer: &BatchInferer<Uploaded>) -> &str {
    inferer.job_arn()
}

fn main() {}
