//! `llmbo submit`: check the input file, upload it, create the job(s).

use std::path::Path;

use llmbo::ToolDefinition;
use serde_json::{Value, json};

use crate::args::{Lint, Request, Submit};
use crate::context::{Context, Failure};

/// The inputs of a run, read and checked before anything is sent.
struct Inputs {
    tool: Option<ToolDefinition>,
    /// The records, checked whole; read again as they are prepared, so an input of any size
    /// goes through in flat memory.
    source: Source,
    prices: Option<llmbo::cost::PriceTable>,
}

/// Where the records are: a JSONL file, or a table with --prompt.
enum Source {
    Lines(llmbo::input::InputFile),
    Table {
        table: llmbo::table::InputTable,
        /// Whether the ids are a column's (else they are the row numbers themselves).
        id_column: bool,
    },
}

impl Inputs {
    async fn read(ctx: &Context, request: &Request) -> Result<Inputs, Failure> {
        let tool = match &request.schema {
            Some(path) => Some(read_tool(path, request.tool_name.as_deref())?),
            None => None,
        };
        if tool.is_none() && request.output_strategy.is_some() {
            return Err(Failure::Usage(
                "--output-strategy says how --schema answers are asked for; give --schema too"
                    .into(),
            ));
        }
        let prices = match &request.prices {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    Failure::Usage(format!("{}: cannot read the prices: {err}", path.display()))
                })?;
                Some(
                    llmbo::cost::PriceTable::from_json(&text)
                        .map_err(|err| Failure::Usage(format!("{}: {err}", path.display())))?,
                )
            }
            None => None,
        };
        let source = Source::read(ctx, request).await?;
        Ok(Inputs {
            tool,
            source,
            prices,
        })
    }

    /// Raw bodies that ask for structure (a tool, a native format) say how (the first that
    /// does; one that asks another way is refused by name when prepared); typed lines take the
    /// model's best.
    fn strategy(&self, request: &Request) -> Option<llmbo::OutputStrategy> {
        request.output_strategy.or(match &self.source {
            Source::Lines(file) => file.raw_output_strategy(),
            Source::Table { .. } => None,
        })
    }

    /// How many records there are.
    fn count(&self) -> usize {
        match &self.source {
            Source::Lines(file) => file.records(),
            Source::Table { table, .. } => table.rows(),
        }
    }

    /// The records, read again from the file.
    fn records(&self) -> Result<Box<dyn Iterator<Item = (String, llmbo::ModelInput)>>, Failure> {
        Ok(match &self.source {
            Source::Lines(file) => Box::new(file.read()?),
            Source::Table { table, .. } => Box::new(table.records()?),
        })
    }

    /// Names the table row of each record a preflight finding shows.
    fn name_rows(&self, report: &mut llmbo::preflight::PreflightReport) -> Result<(), Failure> {
        let rows = match &self.source {
            Source::Table {
                table,
                id_column: true,
            } => table.rows_of(&report.findings.shown_ids())?,
            Source::Table { .. } => report
                .findings
                .shown_ids()
                .into_iter()
                .filter_map(|id| Some((id.to_owned(), id.parse().ok()?)))
                .collect(),
            Source::Lines(_) => return Ok(()),
        };
        report.findings.name_rows(&rows);
        Ok(())
    }
}

impl Source {
    async fn read(ctx: &Context, request: &Request) -> Result<Source, Failure> {
        let shown = request.input.display().to_string();
        let table_format = llmbo::table::TableFormat::from_name(&shown);
        let Some(template) = &request.table.prompt else {
            if table_format.is_some() {
                return Err(Failure::Usage(format!(
                    "{shown} is a table: say how each row becomes a prompt with --prompt \"…{{column}}…\" (and --id-column)"
                )));
            }
            let file = llmbo::input::InputFile::check(&request.input).map_err(|err| match err {
                // The input file could not be read: the user's file.
                llmbo::Error::Io { .. } => Failure::Usage(err.to_string()),
                other => other.into(),
            })?;
            return Ok(Source::Lines(file));
        };
        let args = &request.table;
        let mut input = llmbo::table::TableInput::template(template)?;
        if let Some(column) = &args.id_column {
            input = input.id_column(column);
        }
        if let Some(text) = &args.system {
            input = input.system(text);
        }
        if let Some(column) = &args.system_column {
            input = input.system_column(column);
        }
        for column in &args.media_column {
            input = input.media_column(column, llmbo::input::MediaKind::Document);
        }
        let table = if shown.starts_with("s3://") {
            let (sdk, _) = ctx.sdk(None).await?;
            llmbo::table::InputTable::open_s3(&sdk, &shown, input).await
        } else {
            llmbo::table::InputTable::open(&request.input, input)
        }
        .map_err(|err| match err {
            llmbo::Error::Io { .. } => Failure::Usage(err.to_string()),
            other => other.into(),
        })?;
        for warning in table.warnings() {
            eprintln!("warning: {shown}: {warning}");
        }
        Ok(Source::Table {
            table,
            id_column: args.id_column.is_some(),
        })
    }
}

/// Where a run goes: `submit`'s bucket, role and name, or `lint`'s placeholders.
struct Place<'a> {
    /// The AWS configuration and region of a run on Bedrock.
    aws: Option<(llmbo::builder::SdkConfig, String)>,
    bucket: &'a str,
    role: &'a str,
    name: &'a str,
    timeout_hours: u32,
    preflight_only: bool,
    /// Why a lint reads nothing from AWS, when it does not.
    offline: Option<&'static str>,
}

type Ready<O> = llmbo::builder::Configured<O>;

/// Every setting `submit` and `lint` share: the provider's required ones, then the rest.
fn configure<O: llmbo::mode::OutputMode>(
    request: &Request,
    inputs: &Inputs,
    place: &Place<'_>,
) -> Ready<O> {
    use llmbo::model::Provider;
    let api = &request.api;
    let mut builder = match (api.provider.provider(), &place.aws) {
        (Provider::Bedrock, Some((sdk, region))) => llmbo::Inferer::<O>::builder()
            .model_name(&request.model)
            .bucket_name(place.bucket)
            .region(region)
            .job_name(place.name)
            .role_arn(place.role)
            .sdk_config(sdk.clone())
            .time_out_duration_hours(place.timeout_hours),
        (provider, _) => {
            let builder = match provider {
                Provider::OpenAi => llmbo::Inferer::<O>::openai(),
                Provider::Gemini => llmbo::Inferer::<O>::gemini(),
                _ => llmbo::Inferer::<O>::anthropic(),
            }
            .model_name(&request.model)
            .job_name(place.name)
            .store(api.store.clone());
            // A store in S3 is read with the command's AWS configuration.
            let builder = match &place.aws {
                Some((sdk, _)) => builder.sdk_config(sdk.clone()),
                None => builder,
            };
            match &api.base_url {
                Some(url) => builder.base_url(url.clone()),
                None => builder,
            }
        }
    };
    builder = builder.strict(request.strict);
    // Refused by `build` on any provider but OpenAI.
    if let Some(endpoint) = api.openai_endpoint {
        builder = builder.openai_endpoint(endpoint);
    }
    if let Some(n) = request.min_records {
        builder = builder.min_records(n);
    }
    if let Some(n) = request.max_records_per_job {
        builder = builder.max_records_per_job(n);
    }
    if let Some(n) = request.max_concurrent_jobs {
        builder = builder.max_concurrent_jobs(n);
    }
    if let Some(prices) = &inputs.prices {
        builder = builder.prices(prices.clone());
    }
    if let Some(max) = request.max_cost {
        builder = builder.max_estimated_cost(max);
    }
    if place.preflight_only {
        builder = builder.preflight_only();
    }
    if let Some(why) = place.offline {
        builder = builder.preflight_offline(why);
    }
    builder
}

pub async fn run(ctx: &Context, args: Submit) -> Result<(), Failure> {
    // Everything local is checked before anything is sent.
    let request = &args.request;
    let inputs = Inputs::read(ctx, request).await?;
    let bedrock = request.api.provider == crate::args::ProviderArg::Bedrock;
    let (bucket, role) = match (bedrock, &args.bucket, &args.role) {
        (true, Some(bucket), Some(role)) => (bucket.as_str(), role.as_str()),
        (true, None, _) => return Err(Failure::Usage("a run on Bedrock needs --bucket".into())),
        (true, _, None) => return Err(Failure::Usage("a run on Bedrock needs --role".into())),
        (false, None, None) => ("", ""),
        (false, _, _) => {
            return Err(Failure::Usage(
                "--bucket and --role are Bedrock's; a run on another API is kept in --store".into(),
            ));
        }
    };
    let aws = if bedrock || request.api.store.starts_with("s3://") {
        Some(ctx.sdk(None).await?)
    } else {
        None
    };
    let place = Place {
        aws,
        bucket,
        role,
        name: &args.name,
        timeout_hours: args.timeout_hours,
        preflight_only: false,
        offline: None,
    };
    if request.embed {
        let inferer = embedding_builder(request, &inputs, &place).build().await?;
        if args.dry_run {
            let mut report = inferer.preflight(inputs.records()?).await?;
            inputs.name_rows(&mut report)?;
            return print_preflight(ctx, &report);
        }
        let count = inputs.count();
        let run = inferer
            .prepare_run(inputs.records()?)?
            .push_requests_to_s3()
            .await?
            .create()
            .await?;
        return report(ctx, &run.run_record(), &run.run_uri(), count, None);
    }
    let structured = inputs.tool.is_some();
    let count = inputs.count();
    let inferer = text_builder(request, &inputs, &place).build().await?;
    if args.dry_run {
        let mut report = inferer.preflight(inputs.records()?).await?;
        inputs.name_rows(&mut report)?;
        return print_preflight(ctx, &report);
    }
    let strategy = inferer.output_strategy().filter(|_| structured);
    let run = inferer
        .prepare_run(inputs.records()?)?
        .push_requests_to_s3()
        .await?
        .create()
        .await?;
    report(ctx, &run.run_record(), &run.run_uri(), count, strategy)
}

/// An embedding run's builder (`--embed`).
fn embedding_builder(
    request: &Request,
    inputs: &Inputs,
    place: &Place<'_>,
) -> Ready<llmbo::mode::Embeddings> {
    let builder = configure::<llmbo::mode::Embeddings>(request, inputs, place);
    match request.dimensions {
        Some(d) => builder.dimensions(d),
        None => builder,
    }
}

/// A text run's builder: untyped, or structured by `--schema`.
fn text_builder(
    request: &Request,
    inputs: &Inputs,
    place: &Place<'_>,
) -> Ready<llmbo::mode::Untyped> {
    let mut builder = configure::<llmbo::mode::Untyped>(request, inputs, place);
    if let Some(tool) = inputs.tool.clone() {
        builder = builder.output_tool(tool);
        if let Some(strategy) = inputs.strategy(request) {
            builder = builder.output_strategy(strategy);
        }
    }
    builder
}

/// `llmbo lint`: the preflight with placeholders for the bucket and role, which are not
/// checked; nothing is uploaded or sent but the catalog, quota and `CountTokens` reads.
pub async fn lint(ctx: &Context, args: Lint) -> Result<(), Failure> {
    let request = &args.request;
    let inputs = Inputs::read(ctx, request).await?;
    // Checking the bodies needs no region: without one, every check that reads AWS is
    // skipped, and the report says so.
    let bedrock = request.api.provider == crate::args::ProviderArg::Bedrock;
    // A store in S3 is read with the command's AWS configuration too.
    let (aws, offline) = if bedrock || request.api.store.starts_with("s3://") {
        let (sdk, region) = ctx.sdk_if_region().await;
        let offline = region.is_none();
        (
            Some((sdk, region.unwrap_or_else(|| "us-east-1".into()))),
            offline,
        )
    } else {
        (None, false)
    };
    let place = Place {
        aws,
        bucket: "llmbo-lint",
        role: "arn:aws:iam::000000000000:role/llmbo-lint",
        name: &args.name,
        timeout_hours: 24,
        preflight_only: true,
        offline: offline.then_some(crate::context::NO_REGION),
    };
    let mut report = if request.embed {
        embedding_builder(request, &inputs, &place)
            .build()
            .await?
            .preflight(inputs.records()?)
            .await?
    } else {
        text_builder(request, &inputs, &place)
            .build()
            .await?
            .preflight(inputs.records()?)
            .await?
    };
    inputs.name_rows(&mut report)?;
    print_preflight(ctx, &report)
}

/// Prints a preflight report (JSON with `--json`); errors in it are exit 2.
fn print_preflight(
    ctx: &Context,
    report: &llmbo::preflight::PreflightReport,
) -> Result<(), Failure> {
    if ctx.json() {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    if report.has_errors() {
        return Err(Failure::Usage(
            "the preflight found errors (above); nothing was uploaded".into(),
        ));
    }
    Ok(())
}

/// Prints what was submitted: the jobs, the strategy of a structured run, the run's URI.
fn report(
    ctx: &Context,
    manifest: &llmbo::run::RunRecord,
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

/// A JSON schema file, read and checked to compile.
pub(crate) fn read_schema(path: &Path) -> Result<Value, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|err| Failure::Usage(format!("{shown}: cannot read the schema: {err}")))?;
    let schema: Value = serde_json::from_str(&text)
        .map_err(|err| Failure::Usage(format!("{shown}: the schema is not JSON: {err}")))?;
    jsonschema::validator_for(&schema)
        .map_err(|err| Failure::Usage(format!("{shown}: not a valid JSON schema: {err}")))?;
    Ok(schema)
}

/// The output tool from a JSON schema file: checked to be a schema before any upload.
fn read_tool(path: &Path, name: Option<&str>) -> Result<ToolDefinition, Failure> {
    let shown = path.display();
    let schema = read_schema(path)?;
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(Failure::Usage(format!(
            "{shown}: a tool's input schema must have \"type\": \"object\" at the top"
        )));
    }
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
