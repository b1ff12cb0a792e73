//! Where everything is: the S3 keys of a run and the names of its local files, in one place.
//!
//! ```text
//! s3://<bucket>/input/<job name>.jsonl          one job's requests
//! s3://<bucket>/input/<job name>/                a job whose records name S3 media: its
//!                                                JSONL and copies of the media
//! s3://<bucket>/input/<run name>.run.json       the run record
//! s3://<bucket>/output/<job id>/<input>.out     what Bedrock writes, and manifest.json.out
//! <output_dir>/<job name>.jsonl, <job name>_out.jsonl, <job name>_manifest.json
//! ```

/// The key of a job's input JSONL.
pub(crate) fn input_key(job_name: &str) -> String {
    format!("input/{job_name}.jsonl")
}

/// The folder of a job whose records name S3 media: its input JSONL and the media, which
/// Bedrock reads from the folder its job's input names and from nowhere else.
pub(crate) fn job_folder(job_name: &str) -> String {
    format!("input/{job_name}/")
}

/// The key of the input JSONL of a job with a folder of its own.
pub(crate) fn folder_input_key(job_name: &str) -> String {
    format!("input/{job_name}/{job_name}.jsonl")
}

/// The key of a run's record.
pub(crate) fn run_key(run_name: &str) -> String {
    format!("input/{run_name}.run.json")
}

/// The folder of the store every job's output location is.
pub(crate) const OUTPUT_PREFIX: &str = "output/";

/// `s3://bucket/key`.
pub(crate) fn s3_uri(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// `s3://bucket/key` → (`bucket`, `key`); a bare `bucket/key` is read the same way.
pub(crate) fn split_s3_uri(uri: &str) -> (&str, &str) {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    rest.split_once('/').unwrap_or((rest, ""))
}

/// Where Bedrock writes a job's output: the bucket, and the folder `<output prefix>/<job id>/`.
pub(crate) fn job_output_folder<'a>(output_uri: &'a str, job_arn: &str) -> (&'a str, String) {
    let (bucket, prefix) = split_s3_uri(output_uri);
    let separator = if prefix.is_empty() || prefix.ends_with('/') {
        ""
    } else {
        "/"
    };
    (bucket, format!("{prefix}{separator}{}/", job_id(job_arn)))
}

/// A job's id: the last part of its ARN, also its output folder's name.
pub(crate) fn job_id(job_arn: &str) -> &str {
    job_arn.rsplit('/').next().unwrap_or(job_arn)
}

/// The local copy of a job's input.
pub(crate) fn local_input(job_name: &str) -> String {
    format!("{job_name}.jsonl")
}

/// The local copy of a job's `index`-th output file.
pub(crate) fn local_output(job_name: &str, index: usize) -> String {
    match index {
        0 => format!("{job_name}_out.jsonl"),
        i => format!("{job_name}_out_{i}.jsonl"),
    }
}

/// The local copy of a job's `manifest.json.out`.
pub(crate) fn local_manifest(job_name: &str) -> String {
    format!("{job_name}_manifest.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_folders_follow_bedrock() {
        let arn = "arn:aws:bedrock:us-east-1:000000000000:model-invocation-job/abc123def456";
        assert_eq!(
            job_output_folder("s3://b/output/", arn),
            ("b", "output/abc123def456/".to_owned())
        );
        assert_eq!(
            job_output_folder("s3://b/out", arn),
            ("b", "out/abc123def456/".to_owned())
        );
        assert_eq!(
            job_output_folder("s3://b", arn),
            ("b", "abc123def456/".to_owned())
        );
        assert_eq!(split_s3_uri("s3://b/input/x.jsonl"), ("b", "input/x.jsonl"));
    }
}
