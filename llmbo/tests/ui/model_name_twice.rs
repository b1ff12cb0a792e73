use llmbo::BatchInferer;

fn main() {
    let _builder = BatchInferer::builder()
        .model_name("anthropic.claude-3-haiku-20240307-v1:0")
        .model_name("amazon.nova-lite-v1:0");
}
