use llmbo::{BatchInferer, state::Submitted};

async fn download_too_early(inferer: BatchInferer<Submitted>) {
    let _downloaded = inferer.download_results().await;
}

fn main() {}
