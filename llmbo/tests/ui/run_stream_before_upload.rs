use std::time::Duration;

use llmbo::{BatchInferer, ModelInput, state::Ready};

fn stream_too_early(inferer: BatchInferer<Ready>) -> Result<(), llmbo::Error> {
    let prepared = inferer.prepare_run(vec![("1", ModelInput::new().user("hi"))])?;
    let _stream = prepared.stream(Duration::from_secs(60));
    Ok(())
}

fn main() {}
