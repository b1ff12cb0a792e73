//! CreateModelInvocationJob: the request checked field by field as Bedrock checks it, the
//! idempotency token, the name in use, and the job recorded and started.

use chrono::Duration as ChronoDuration;

use super::*;

pub(super) fn create(shared: &Arc<Shared>, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return validation("The request body is not valid JSON".into());
    };
    if !request.is_object() {
        return validation("The request body must be a JSON object".into());
    }
    for member in [
        "jobName",
        "roleArn",
        "modelId",
        "inputDataConfig",
        "outputDataConfig",
    ] {
        if request.get(member).is_none_or(Value::is_null) {
            return validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(member)
            ));
        }
    }
    let name = request["jobName"].as_str().unwrap_or_default();
    if name.len() > 63 || !is_job_name(name) {
        return constraint(
            "jobName",
            name,
            &format!("Member must satisfy regular expression pattern: {JOB_NAME}"),
        );
    }
    let role_arn = request["roleArn"].as_str().unwrap_or_default();
    if role_arn.len() > 2048 || !is_role_arn(role_arn) {
        return constraint(
            "roleArn",
            role_arn,
            &format!("Member must satisfy regular expression pattern: {ROLE_ARN}"),
        );
    }
    let model_id = request["modelId"].as_str().unwrap_or_default();
    if model_id.is_empty() || model_id.len() > 2048 {
        return constraint(
            "modelId",
            model_id,
            "Member must have length between 1 and 2048",
        );
    }
    let token = request.get("clientRequestToken").and_then(Value::as_str);
    if let Some(token) = token
        && !is_token(token)
    {
        return constraint(
            "clientRequestToken",
            token,
            &format!("Member must satisfy regular expression pattern: {TOKEN}"),
        );
    }
    let Some(input_uri) = str_at(&request, &["inputDataConfig", "s3InputDataConfig", "s3Uri"])
    else {
        return validation("inputDataConfig must contain s3InputDataConfig with an s3Uri".into());
    };
    let Some(output_uri) = str_at(
        &request,
        &["outputDataConfig", "s3OutputDataConfig", "s3Uri"],
    ) else {
        return validation("outputDataConfig must contain s3OutputDataConfig with an s3Uri".into());
    };
    for (field, uri) in [
        ("inputDataConfig.s3InputDataConfig.s3Uri", input_uri),
        ("outputDataConfig.s3OutputDataConfig.s3Uri", output_uri),
    ] {
        // S3 takes `..` as part of a key's name; llmbo-local refuses such keys (a known
        // difference).
        if crate::runner::steps_out(uri) {
            return validation(format!(
                "{field} {uri} has a `.` or `..` path segment, which llmbo-local does not serve"
            ));
        }
        if uri.len() > 1024 || !is_s3_uri(uri) {
            return constraint(
                field,
                uri,
                &format!("Member must satisfy regular expression pattern: {S3_URI}"),
            );
        }
    }
    if let Some(format) = str_at(
        &request,
        &["inputDataConfig", "s3InputDataConfig", "s3InputFormat"],
    ) && format != "JSONL"
    {
        return constraint(
            "inputDataConfig.s3InputDataConfig.s3InputFormat",
            format,
            "Member must satisfy enum value set: [JSONL]",
        );
    }
    let timeout_hours = match request.get("timeoutDurationInHours") {
        None | Some(Value::Null) => 24,
        Some(value) => match value.as_u64() {
            Some(hours @ 24..=168) => hours as u32,
            _ => {
                return constraint(
                    "timeoutDurationInHours",
                    &value.to_string(),
                    "Member must have value between 24 and 168",
                );
            }
        },
    };
    let invocation_type = match request.get("modelInvocationType").and_then(Value::as_str) {
        None => None,
        Some(kind @ ("InvokeModel" | "Converse")) => Some(kind.to_owned()),
        Some(other) => {
            return constraint(
                "modelInvocationType",
                other,
                "Member must satisfy enum value set: [InvokeModel, Converse]",
            );
        }
    };
    if let Some(tags) = request.get("tags") {
        let Some(tags) = tags.as_array().filter(|t| t.len() <= 200) else {
            return validation("tags must be a list of at most 200 tags".into());
        };
        if let Some(refused) = super::tags::check_tags(tags) {
            return refused;
        }
    }
    if let Some(vpc) = request.get("vpcConfig") {
        let subnets = vpc
            .get("subnetIds")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let groups = vpc
            .get("securityGroupIds")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if !(1..=16).contains(&subnets) || !(1..=5).contains(&groups) {
            return validation(
                "vpcConfig needs 1 to 16 subnetIds and 1 to 5 securityGroupIds".into(),
            );
        }
    }
    if let Some(refusal) = crate::catalog::batch_refusal(model_id) {
        return validation(refusal);
    }
    if !shared.serves(model_id) {
        return validation(format!(
            "The provided model identifier {model_id} is invalid or does not support batch inference."
        ));
    }
    let role_known = shared
        .roles
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains_key(role_arn);
    if !role_known {
        return validation(format!(
            "The provided role {role_arn} could not be assumed by Amazon Bedrock; check that it exists and trusts bedrock.amazonaws.com."
        ));
    }
    // What real create checks of S3 (with the service role's permissions): the buckets exist
    // and belong to the owner named, and the input is there. It refuses otherwise with a
    // validation error, not a 404 (the exact sentences are UNCERTAIN).
    for (config, uri, access) in [
        ("inputDataConfig", input_uri, "GetObject"),
        ("outputDataConfig", output_uri, "PutObject"),
    ] {
        let bucket = bucket_of(uri);
        if !shared.bucket_exists(bucket) {
            return validation(format!(
                "Unable to validate {access} permissions for {uri}: the S3 bucket {bucket} does not exist."
            ));
        }
        let member = if config == "inputDataConfig" {
            "s3InputDataConfig"
        } else {
            "s3OutputDataConfig"
        };
        if let Some(owner) = str_at(&request, &[config, member, "s3BucketOwner"])
            && owner != shared.settings.account_id
        {
            return validation(format!(
                "Unable to validate {access} permissions for {uri}: the bucket is not owned by account {owner}."
            ));
        }
    }
    if !crate::runner::input_exists(&shared.objects, input_uri) {
        return validation(format!(
            "Unable to validate GetObject permissions for {input_uri}: no object or prefix exists at that location."
        ));
    }

    let now = Utc::now();
    let mut jobs = lock(&shared.jobs);
    // The same token and job name is the same request: answer it again, start nothing.
    if let Some(token) = token
        && let Some(existing) = jobs
            .iter()
            .find(|j| j.client_request_token.as_deref() == Some(token) && j.name == name)
    {
        return Reply::json(200, &json!({"jobArn": existing.arn}));
    }
    // Any other request with a name an existing job has is refused, as Bedrock refuses it
    // (the exception's type is not documented for batch jobs; Bedrock's other job kinds send
    // a ValidationException with this message).
    if jobs.iter().any(|j| j.name == name) {
        return validation("The provided job name is currently in use.".into());
    }
    let running = jobs
        .iter()
        .filter(|j| j.model_id == model_id && !j.status.is_terminal())
        .count();
    if running >= shared.settings.quotas.max_concurrent_jobs_per_model {
        return Reply::json_error(
            400,
            "ServiceQuotaExceededException",
            &format!(
                "The number of submitted and in-progress batch inference jobs for {model_id} has reached the quota of {}.",
                shared.settings.quotas.max_concurrent_jobs_per_model
            ),
        );
    }
    let id = job_id(shared.next_number(), name);
    let arn = format!(
        "arn:aws:bedrock:{}:{}:model-invocation-job/{id}",
        shared.settings.region, shared.settings.account_id
    );
    let mut input_data_config = request["inputDataConfig"].clone();
    if let Some(config) = input_data_config
        .get_mut("s3InputDataConfig")
        .and_then(Value::as_object_mut)
    {
        config.entry("s3InputFormat").or_insert(json!("JSONL"));
    }
    let job = Job {
        id: id.clone(),
        arn: arn.clone(),
        name: name.to_owned(),
        model_id: model_id.to_owned(),
        role_arn: role_arn.to_owned(),
        client_request_token: token.map(str::to_owned),
        input_data_config,
        output_data_config: request["outputDataConfig"].clone(),
        input_uri: input_uri.to_owned(),
        output_uri: output_uri.to_owned(),
        vpc_config: request.get("vpcConfig").cloned(),
        tags: super::tags::tags_of(request.get("tags")),
        timeout_hours,
        invocation_type,
        status: JobStatus::Submitted,
        message: None,
        submit_time: now,
        last_modified: now,
        end_time: None,
        expiration_time: now + ChronoDuration::hours(i64::from(timeout_hours)),
        counts: None,
    };
    jobs.push(job);
    drop(jobs);
    crate::runner::spawn(shared, id);
    Reply::json(200, &json!({ "jobArn": arn }))
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

/// Twelve lower-case alphanumerics, unique per server.
pub(super) fn job_id(n: u64, name: &str) -> String {
    crate::batch_apis::base36(crate::faults::mix(n, 11, name.as_bytes()), 12)
}

/// The bucket of an `s3://bucket/key` URI.
pub(crate) fn bucket_of(uri: &str) -> &str {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    rest.split('/').next().unwrap_or(rest)
}
