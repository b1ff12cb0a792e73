use llmbo::{BatchInferer, ModelInput, state::Ready};

async fn skip_upload(inferer: BatchInferer<Ready>) -> Result<(), llmbo::Error> {
    let prepared = inferer.prepare_run(vec![("1", ModelInput::new().user("hi"))])?;
    let _submitted = prepared.create().await?;
    Ok(())
}

fn main() {}
