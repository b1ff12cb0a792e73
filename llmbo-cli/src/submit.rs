//! `llmbo submit`: check the input file, upload it, create the job(s).

use std::path::Path;

use llmbo::{BatchInferer, ToolDefinition};
use serde_json::{Value, json};

use crate::args::Submit;
use crate::context::{Context, Failure};

pub async fn run(ctx: &Context, args: Submit) -> Result<(), Failure> {
    // Everything local is checked before anything is sent.
    let tool = match &args.schema {
        Some(path) => Some(read_tool(path, args.tool_name.as_deref())?),
        None => None,
    };
    let records = llmbo::jsonl::read_input_file(&args.input).map_err(|err| match err {
        // The input file could not be read: the user's file.
        llmbo::Error::Io { .. } => Failure::Usage(err.to_string()),
        other => other.into(),
    })?;
    let (sdk, region) = ctx.sdk(None).await?;
    if args.embed {
        let mut builder = llmbo::EmbeddingBatchInferer::builder()
            .model_name(&args.model)
            .bucket_name(&args.bucket)
            .region(&region)
            .job_name(&args.name)
            .role_arn(&args.role)
            .sdk_config(sdk)
            .time_out_duration_hours(args.timeout_hours)
            .min_records(args.min_records)
            .max_records_per_job(args.max_records_per_job)
            .max_concurrent_jobs(args.max_concurrent_jobs);
        if let Some(d) = args.dimensions {
            builder = builder.dimensions(d);
        }
        let count = records.len();
        let run = builder
            .build()
            .await?
            .prepare_run(records)?
            .push_requests_to_s3()
            .await?
            .create()
            .await?;
        return report(ctx, &run.manifest(), &run.run_uri(), count, None);
    }
    let mut builder = BatchInferer::builder()
        .model_name(&args.model)
        .bucket_name(&args.bucket)
        .region(&region)
        .job_name(&args.name)
        .role_arn(&args.role)
        .sdk_config(sdk)
        .time_out_duration_hours(args.timeout_hours)
        .min_records(args.min_records)
        .max_records_per_job(args.max_records_per_job)
        .max_concurrent_jobs(args.max_concurrent_jobs);
    let structured = tool.is_some();
    if let Some(tool) = tool {
        builder = builder.output_tool(tool);
        // Raw bodies that ask for structure (a tool, a native format) say how; typed lines
        // take the model's best.
        let strategy = args.output_strategy.or_else(|| {
            records
                .iter()
                .filter_map(|(_, input)| input.raw_body.as_ref())
                .map(llmbo::adapter::detect_strategy)
                .find(|s| *s != llmbo::OutputStrategy::JsonInPrompt)
        });
        if let Some(strategy) = strategy {
            builder = builder.output_strategy(strategy);
        }
    } else if args.output_strategy.is_some() {
        return Err(Failure::Usage(
            "--output-strategy says how --schema answers are asked for; give --schema too".into(),
        ));
    }
    let count = records.len();
    let inferer = builder.build().await?;
    let strategy = inferer.output_strategy().filter(|_| structured);
    let run = inferer
        .prepare_run(records)?
        .push_requests_to_s3()
        .await?
        .create()
        .await?;
    report(ctx, &run.manifest(), &run.run_uri(), count, strategy)
}

/// Prints what was submitted: the jobs, the strategy of a structured run, the run's URI.
fn report(
    ctx: &Context,
    manifest: &llmbo::RunManifest,
    run_uri: &str,
    count: usize,
    strategy: Option<llmbo::OutputStrategy>,
) -> Result<(), Failure> {
    if ctx.json() {
        let jobs: Vec<Value> = manifest
            .shards
            .iter()
            .map(|s| json!({"jobName": s.job_name, "jobArn": s.job_arn, "records": s.records}))
            .collect();
        println!(
            "{}",
            json!({"runUri": run_uri, "records": count, "jobs": jobs,
                   "outputStrategy": strategy.map(|s| s.as_str())})
        );
    } else {
        println!(
            "submitted {count} records in {} job(s)",
            manifest.shards.len()
        );
        if let Some(strategy) = strategy {
            println!("output strategy: {strategy}");
        }
        for shard in &manifest.shards {
            match &shard.job_arn {
                Some(arn) => println!("  {arn}  {} ({} records)", shard.job_name, shard.records),
                None => println!(
                    "  (waiting for a free slot)  {} ({} records)",
                    shard.job_name, shard.records
                ),
            }
        }
        println!("run manifest: {}", run_uri);
        println!("follow it with: llmbo watch {}", run_uri);
    }
    Ok(())
}

/// The output tool from a JSON schema file: checked to be a schema before any upload.
fn read_tool(path: &Path, name: Option<&str>) -> Result<ToolDefinition, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|err| Failure::Usage(format!("{shown}: cannot read the schema: {err}")))?;
    let schema: Value = serde_json::from_str(&text)
        .map_err(|err| Failure::Usage(format!("{shown}: the schema is not JSON: {err}")))?;
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(Failure::Usage(format!(
            "{shown}: a tool's input schema must have \"type\": \"object\" at the top"
        )));
    }
    jsonschema::validator_for(&schema)
        .map_err(|err| Failure::Usage(format!("{shown}: not a valid JSON schema: {err}")))?;
    let name = name
        .map(str::to_owned)
        .or_else(|| {
            schema
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "output".to_owned());
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        return Err(Failure::Usage(format!(
            "tool name `{name}` must be 1 to 64 letters, digits, `_` or `-`; pass --tool-name"
        )));
    }
    let description = schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("Record the answer.")
        .to_owned();
    Ok(ToolDefinition {
        name,
        description,
        input_schema: schema,
    })
}
