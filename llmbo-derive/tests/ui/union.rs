use llmbo::BatchOutput;

#[derive(BatchOutput)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
