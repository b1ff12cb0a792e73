//! Embedding runs through llmbo-local: one vector per text, in input order, of the dimension
//! asked for, unit length when normalized, and the nearest neighbour of a query text is its
//! near-duplicate. Invalid settings are refused before upload, naming the allowed values.

use std::time::Duration;

use llmbo::embedding::EmbeddingPurpose;
use llmbo::{EmbeddingBatchInferer, Error, ModelInput};
use llmbo_local::LocalBedrock;

const POLL: Duration = Duration::from_millis(20);
const TITAN: &str = "amazon.titan-embed-text-v2:0";
const NOVA: &str = "amazon.nova-2-multimodal-embeddings-v1:0";

/// A text of six words picked by hashing `i` from a vocabulary of 5,000, and its own word.
fn text(i: usize) -> String {
    let pick = |j: usize| {
        let mut h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (j as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        h ^= h >> 29;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 32;
        h % 5_000
    };
    let words: Vec<String> = (0..6).map(|j| format!("w{}", pick(j))).collect();
    format!("{} doc{i}", words.join(" "))
}

fn texts(n: usize) -> Vec<(String, ModelInput)> {
    (0..n)
        .map(|i| (format!("t{i:06}"), ModelInput::new().user(text(i))))
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

async fn builder(
    local: &LocalBedrock,
    model: &str,
    job: &str,
) -> llmbo::builder::Configured<llmbo::mode::Embeddings> {
    EmbeddingBatchInferer::builder()
        .model_name(model)
        .bucket_name(local.bucket())
        .region(local.region())
        .job_name(job)
        .role_arn(local.role_arn())
        .sdk_config(local.sdk_config())
}

#[tokio::test]
async fn titan_vectors_come_back_in_order_normalized_and_searchable() {
    let local = LocalBedrock::start().await.unwrap();
    const N: usize = 120_000;
    let run = builder(&local, TITAN, "titan")
        .await
        .dimensions(256)
        .build()
        .await
        .unwrap()
        .start_run(texts(N))
        .await
        .unwrap();
    // Titan V2's own quota (100,000 records a job): two jobs, not three.
    assert_eq!(run.run_record().shards.len(), 2);
    assert_eq!(run.run_record().settings.limits.max_records, 100_000);
    let results = run.create().await.unwrap().finish(POLL).await.unwrap();
    assert_eq!(results.records.len(), N);
    let mut vectors = Vec::with_capacity(N);
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("t{i:06}"));
        let embedding = record.outcome.as_ref().unwrap();
        assert_eq!(embedding.vector.len(), 256);
        let norm = dot(&embedding.vector, &embedding.vector).sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "record {i}: |v| = {norm}");
        assert!(embedding.input_tokens.is_some_and(|t| t > 0));
        vectors.push(embedding.vector.clone());
    }
    // Each text's own vector, asked again in another job, is the same: it belongs to its text.
    let probe: Vec<usize> = vec![0, 1, 4_321, N - 1];
    let again = builder(&local, TITAN, "titan-probe")
        .await
        .dimensions(256)
        .min_records(1)
        .build()
        .await
        .unwrap();
    let queries: Vec<(String, ModelInput)> = probe
        .iter()
        .flat_map(|&i| {
            // The text with its last word changed: a near-duplicate.
            let near = text(i)
                .rsplit_once(' ')
                .map(|(head, _)| format!("{head} other"))
                .unwrap();
            [
                (format!("same{i}"), ModelInput::new().user(text(i))),
                (format!("near{i}"), ModelInput::new().user(near)),
            ]
        })
        .chain((0..92).map(|k| {
            (
                format!("pad{k}"),
                ModelInput::new().user(format!("padding {k}")),
            )
        }))
        .collect();
    let answers = again.auto(queries, POLL).await.unwrap();
    for (n, &i) in probe.iter().enumerate() {
        let same = &answers.records[2 * n].outcome.as_ref().unwrap().vector;
        assert_eq!(same, &vectors[i], "text {i} embeds the same in another job");
        let near = &answers.records[2 * n + 1].outcome.as_ref().unwrap().vector;
        let best = (0..N)
            .max_by(|&a, &b| dot(near, &vectors[a]).total_cmp(&dot(near, &vectors[b])))
            .unwrap();
        assert_eq!(
            best, i,
            "the nearest neighbour of text {i}'s near-duplicate"
        );
    }
}

#[tokio::test]
async fn nova_and_titan_settings_are_checked_before_upload() {
    let local = LocalBedrock::start().await.unwrap();
    let refused = |model: &'static str, job: &'static str| {
        let local = &local;
        async move { builder(local, model, job).await }
    };
    let err = refused(TITAN, "bad-dim")
        .await
        .dimensions(300)
        .build()
        .await
        .unwrap_err();
    match &err {
        Error::InvalidConfig {
            field: "embedding",
            reason,
        } => {
            assert!(
                reason.contains("256, 512, 1024") && reason.contains("300"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    let err = refused(NOVA, "bad-nova")
        .await
        .normalize(false)
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Titan V2"), "{err}");
    let err = refused("anthropic.claude-3-haiku-20240307-v1:0", "not-embed")
        .await
        .build()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an embedding model"), "{err}");
    // Nova: 384 dimensions, a retrieval purpose, unit vectors.
    let results = refused(NOVA, "nova")
        .await
        .dimensions(384)
        .embedding_purpose(EmbeddingPurpose::TextRetrieval)
        .build()
        .await
        .unwrap()
        .auto(texts(150), POLL)
        .await
        .unwrap();
    for (i, record) in results.records.iter().enumerate() {
        assert_eq!(record.record_id, format!("t{i:06}"));
        let v = &record.outcome.as_ref().unwrap().vector;
        assert_eq!(v.len(), 384);
        assert!((dot(v, v) - 1.0).abs() < 1e-4);
    }
}

#[tokio::test]
async fn llmbo_local_refuses_an_invalid_dimension_as_bedrock_does() {
    let local = LocalBedrock::start().await.unwrap();
    let inputs: Vec<(String, ModelInput)> = (0..100)
        .map(|i| {
            let dimensions = if i % 2 == 0 { 512 } else { 300 };
            (
                format!("r{i:03}"),
                ModelInput::raw(
                    serde_json::json!({"inputText": format!("text {i}"), "dimensions": dimensions}),
                ),
            )
        })
        .collect();
    let inferer = || {
        llmbo::BatchInferer::builder()
            .model_name(TITAN)
            .bucket_name(local.bucket())
            .region(local.region())
            .job_name("raw-embed")
            .role_arn(local.role_arn())
            .sdk_config(local.sdk_config())
    };
    // The preflight finds the 50 bad dimensions before upload.
    let refused = inferer()
        .build()
        .await
        .unwrap()
        .auto(inputs.clone(), POLL)
        .await;
    match refused {
        Err(llmbo::Error::Refused { findings }) => {
            assert_eq!(findings.groups[0].count, 50);
            assert_eq!(findings.groups[0].first[0].record_id, "r001");
        }
        other => panic!("not refused: {other:?}"),
    }
    // Sent anyway, llmbo-local refuses each as Bedrock does.
    let results = inferer()
        .skip_preflight_checks()
        .build()
        .await
        .unwrap()
        .auto(inputs, POLL)
        .await
        .unwrap();
    for (i, record) in results.records.iter().enumerate() {
        match (&record.outcome, i % 2) {
            (Ok(output), 0) => assert_eq!(output["embedding"].as_array().unwrap().len(), 512),
            (Err(llmbo::RecordError::Bedrock { code, message }), 1) => {
                assert_eq!(code, "400");
                assert!(
                    message.contains("#/dimensions: 300 is not a valid enum value"),
                    "{message}"
                );
            }
            other => panic!("record {i}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nova_embeds_images_from_bytes_and_s3_and_a_text_finds_its_own_image() {
    use llmbo::input::Part;
    let local = LocalBedrock::start().await.unwrap();
    let s3 = aws_sdk_s3::Client::new(&local.sdk_config());
    s3.create_bucket().bucket("photos").send().await.unwrap();
    const N: usize = 120;
    let mut images = Vec::with_capacity(N);
    for i in 0..N {
        // What each picture shows is its text: llmbo-local's model sees a PNG's tEXt.
        let png = llmbo_local::fixtures::png(&[&text(i)], 16, 16);
        let part = if i % 3 == 0 {
            let key = format!("p/{i}.png");
            s3.put_object()
                .bucket("photos")
                .key(&key)
                .body(png.into())
                .send()
                .await
                .unwrap();
            Part::image_s3(format!("s3://photos/{key}"))
        } else {
            Part::image(png)
        };
        images.push((format!("img{i:04}"), ModelInput::new().user_parts([part])));
    }
    let pictures = builder(&local, NOVA, "nova-images")
        .await
        .dimensions(1024)
        .embedding_purpose(EmbeddingPurpose::GenericIndex)
        .build()
        .await
        .unwrap()
        .auto(images, POLL)
        .await
        .unwrap();
    let texts = builder(&local, NOVA, "nova-texts")
        .await
        .dimensions(1024)
        .embedding_purpose(EmbeddingPurpose::GenericRetrieval)
        .build()
        .await
        .unwrap()
        .auto(texts(N), POLL)
        .await
        .unwrap();
    let vectors: Vec<&Vec<f32>> = pictures
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(r.record_id, format!("img{i:04}"));
            &r.outcome.as_ref().unwrap().vector
        })
        .collect();
    for (i, query) in texts.records.iter().enumerate() {
        let q = &query.outcome.as_ref().unwrap().vector;
        let best = (0..N)
            .max_by(|&a, &b| dot(q, vectors[a]).total_cmp(&dot(q, vectors[b])))
            .unwrap();
        assert_eq!(best, i, "text {i} found image {best}");
    }
    // An image with text beside it is two things: refused at prepare, naming the record.
    let mixed = vec![(
        "both".to_owned(),
        ModelInput::new().user_parts([
            Part::text("a caption"),
            Part::image(llmbo_local::fixtures::png(&["x"], 2, 2)),
        ]),
    )];
    let err = builder(&local, NOVA, "nova-mixed")
        .await
        .build()
        .await
        .unwrap()
        .prepare_run(mixed)
        .unwrap_err();
    assert!(
        err.to_string().contains("`both`") && err.to_string().contains("one thing"),
        "{err}"
    );
}
