use llmbo::{BatchInferer, state::Submitted};

fn load_too_early(inferer: BatchInferer<Submitted>) {
    let _results = inferer.load_results();
}

fn main() {}
