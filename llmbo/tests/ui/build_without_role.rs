use llmbo::BatchInferer;

async fn forget_role() {
    let _inferer = BatchInferer::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .bucket_name("my-bucket")
        .region("eu-west-2")
        .job_name("people")
        .build()
        .await;
}

fn main() {}
