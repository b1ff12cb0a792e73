//! # llmbo-local — an offline Amazon Bedrock for batch inference
//!
//! One local HTTP endpoint serves S3 (through the `s3s` crates), IAM `GetRole` and the
//! Bedrock batch control plane (`CreateModelInvocationJob`, `GetModelInvocationJob`,
//! `ListModelInvocationJobs`, `StopModelInvocationJob`), routing each request by the service
//! named in its SigV4 signature. Jobs run through Bedrock's statuses and write their output
//! where Bedrock does, answered by a deterministic synthetic model in each family's own
//! response format. Any AWS SDK drives it unchanged.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let local = llmbo_local::LocalBedrock::start().await?;
//! let bedrock = aws_sdk_bedrock::Client::new(&local.sdk_config());
//! let s3 = aws_sdk_s3::Client::from_conf(
//!     aws_sdk_s3::config::Builder::from(&local.sdk_config()).force_path_style(true).build(),
//! );
//! # Ok(()) }
//! ```
//!
//! Defaults: region `us-east-1`, credentials `test`/`test`, bucket `llmbo-local`, role
//! `arn:aws:iam::000000000000:role/llmbo-local`, fast job speed, no faults. Dropping the
//! handle stops the server and its jobs.
#![warn(missing_docs)]

mod anthropic;
mod batch_apis;
mod bedrock;
mod catalog;
mod config;
pub mod embed;
mod faults;
pub mod fixtures;
mod gemini;
mod http_util;
mod iam;
mod jobs;
mod media_objects;
mod objects;
mod openai;
mod quotas;
mod runner;
mod runtime;
mod s3;
pub mod schema_gen;
mod server;
mod sigv4;
mod state;
pub mod strict;
pub mod synth;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::{MistralStopKey, Quotas, Speed};
pub use faults::{
    ControlFault, ControlFaultKind, FaultConfig, JobFault, Malformed, RecordFault, Rng,
};
pub use jobs::{Counts, JobStatus};

/// Why the server could not start, or a bucket or role could not be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data folder could not be created or used.
    #[error("data folder {path}: {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A bucket name or role ARN is not valid.
    #[error("invalid {what}: {value}")]
    Invalid {
        /// What it is.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// The S3 file-system backend failed to start.
    #[error("S3 backend: {0}")]
    S3(String),
}

/// Connections served at once unless [`LocalBedrockBuilder::max_connections`] says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// How long a request body may send nothing before the request is cut, unless
/// [`LocalBedrockBuilder::body_timeout`] says otherwise (S3 answers `RequestTimeout` after
/// about 20 seconds of a silent socket).
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Settings for [`LocalBedrock`]; every one has a default. Its `Debug` shows no secret.
#[derive(Clone)]
pub struct LocalBedrockBuilder {
    bind: IpAddr,
    port: u16,
    region: String,
    account_id: String,
    access_key: String,
    secret_key: String,
    api_key: String,
    bucket: String,
    role_name: String,
    data_dir: Option<PathBuf>,
    speed: Speed,
    quotas: Quotas,
    faults: FaultConfig,
    custom_models: Vec<(String, synth::Family)>,
    mistral_stop_key: MistralStopKey,
    max_connections: usize,
    body_timeout: std::time::Duration,
}

impl Default for LocalBedrockBuilder {
    fn default() -> Self {
        LocalBedrockBuilder {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            access_key: "test".into(),
            secret_key: "test".into(),
            api_key: "test".into(),
            bucket: "llmbo-local".into(),
            role_name: "llmbo-local".into(),
            data_dir: None,
            speed: Speed::fast(),
            quotas: Quotas::default(),
            faults: FaultConfig::default(),
            custom_models: Vec::new(),
            mistral_stop_key: MistralStopKey::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            body_timeout: DEFAULT_BODY_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for LocalBedrockBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBedrockBuilder")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("api_key", &"<redacted>")
            .field("bucket", &self.bucket)
            .field("role_name", &self.role_name)
            .field("data_dir", &self.data_dir)
            .field("speed", &self.speed)
            .field("quotas", &self.quotas)
            .finish_non_exhaustive()
    }
}

impl LocalBedrockBuilder {
    /// The Bedrock API key (`Authorization: Bearer …`, what SDKs send when
    /// `AWS_BEARER_TOKEN_BEDROCK` is set) Bedrock calls may carry instead of a signature;
    /// default `test`. Any other token is refused.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    /// The address to listen on (default `127.0.0.1`: nothing outside this machine reaches it).
    pub fn bind(mut self, address: IpAddr) -> Self {
        self.bind = address;
        self
    }

    /// The port (default `0`: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The region of the endpoint and of the default bucket.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// The access key and secret every request must be signed with.
    pub fn credentials(
        mut self,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Self {
        self.access_key = access_key.into();
        self.secret_key = secret_key.into();
        self
    }

    /// The bucket created at start-up.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = bucket.into();
        self
    }

    /// The name of the role created at start-up.
    pub fn role_name(mut self, name: impl Into<String>) -> Self {
        self.role_name = name.into();
        self
    }

    /// Where buckets are stored (default: a private temporary folder removed on drop).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// How fast jobs run.
    pub fn speed(mut self, speed: Speed) -> Self {
        self.speed = speed;
        self
    }

    /// The batch quotas jobs are held to.
    pub fn quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// Where Mistral chat answers put their stop reason; see [`MistralStopKey`].
    pub fn mistral_stop_key(mut self, key: MistralStopKey) -> Self {
        self.mistral_stop_key = key;
        self
    }

    /// How many connections are served at once (default [`DEFAULT_MAX_CONNECTIONS`]): a
    /// client past the bound waits to be accepted, so no crowd of clients (or of idle
    /// keep-alive connections) can take the server's memory or file descriptors. A connection
    /// that sends no request headers for 30 seconds is closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long a request body may send nothing before the request is cut and its
    /// connection closed (default [`DEFAULT_BODY_TIMEOUT`]), so slow bodies cannot hold every
    /// connection slot.
    pub fn body_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.body_timeout = timeout.max(std::time::Duration::from_millis(1));
        self
    }

    /// The faults to inject.
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// Serves model ids starting with `prefix` (say, `my-model`) as `family`, for models the
    /// emulator does not know, such as one a custom adapter is written for.
    pub fn custom_model(mut self, prefix: impl Into<String>, family: synth::Family) -> Self {
        self.custom_models.push((prefix.into(), family));
        self
    }

    /// Starts the server on the current Tokio runtime.
    pub async fn start(self) -> Result<LocalBedrock, StartError> {
        let (temp, data_dir) = match &self.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("llmbo-local-")
                    .tempdir()
                    .map_err(|source| StartError::DataDir {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                let path = temp.path().to_path_buf();
                (Some(temp), path)
            }
        };
        let s3_root = data_dir.join("s3");
        std::fs::create_dir_all(&s3_root).map_err(|source| StartError::DataDir {
            path: s3_root.clone(),
            source,
        })?;
        let regions: s3::BucketRegions = Arc::new(RwLock::new(HashMap::new()));
        // Buckets left in a data folder from an earlier run keep being served.
        if let Ok(entries) = std::fs::read_dir(&s3_root) {
            let mut known = regions
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for entry in entries.flatten() {
                if entry.path().is_dir()
                    && let Some(name) = entry.file_name().to_str()
                    && !name.starts_with('.')
                {
                    known.insert(name.to_owned(), self.region.clone());
                }
            }
        }
        let settings = state::Settings {
            region: self.region.clone(),
            account_id: self.account_id.clone(),
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            api_key: self.api_key.clone(),
            quotas: self.quotas,
            speed: self.speed,
            custom_models: self.custom_models.clone(),
            mistral_stop_key: self.mistral_stop_key,
            max_connections: self.max_connections,
            body_timeout: self.body_timeout,
        };
        let objects = Arc::new(objects::Objects::new(s3_root.clone()));
        let shared = Arc::new(state::Shared::new(
            settings,
            faults::Faults::new(self.faults.clone()),
            s3_root,
            Arc::clone(&regions),
            Arc::clone(&objects),
        ));
        let local_s3 = s3::LocalS3 {
            regions,
            account_id: self.account_id.clone(),
            faults: Arc::clone(&shared.faults),
            objects,
        };
        let mut builder = s3s::service::S3ServiceBuilder::new(local_s3);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            self.access_key.clone(),
            self.secret_key.clone(),
        ));
        let s3_service = builder.build();

        let addr = SocketAddr::new(self.bind, self.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let server = tokio::spawn(server::serve(listener, Arc::clone(&shared), s3_service));
        let local = LocalBedrock {
            addr: local_addr,
            shared,
            server,
            _temp: temp,
            data_dir,
            bucket: self.bucket.clone(),
            role_arn: format!("arn:aws:iam::{}:role/{}", self.account_id, self.role_name),
        };
        local.add_bucket(&self.bucket, &self.region)?;
        local.add_role(&local.role_arn.clone())?;
        Ok(local)
    }
}

/// A running offline Bedrock. Dropping it stops the server and every job.
pub struct LocalBedrock {
    addr: SocketAddr,
    shared: Arc<state::Shared>,
    server: JoinHandle<()>,
    _temp: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    bucket: String,
    role_arn: String,
}

impl std::fmt::Debug for LocalBedrock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret key is left out on purpose.
        f.debug_struct("LocalBedrock")
            .field("endpoint", &self.endpoint_url())
            .field("region", &self.region())
            .field("bucket", &self.bucket)
            .field("role_arn", &self.role_arn)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl LocalBedrock {
    /// Starts a server with the defaults.
    pub async fn start() -> Result<Self, StartError> {
        Self::builder().start().await
    }

    /// Settings for a server.
    pub fn builder() -> LocalBedrockBuilder {
        LocalBedrockBuilder::default()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An `SdkConfig` for this endpoint: its URL, region and static test credentials. Build S3
    /// clients from it with `force_path_style(true)` (an `SdkConfig` cannot carry that).
    pub fn sdk_config(&self) -> SdkConfig {
        let settings = &self.shared.settings;
        let credentials = Credentials::new(
            settings.access_key.clone(),
            settings.secret_key.clone(),
            None,
            None,
            "llmbo-local",
        );
        SdkConfig::builder()
            .region(Region::new(settings.region.clone()))
            .endpoint_url(self.endpoint_url())
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .behavior_version(BehaviorVersion::latest())
            .build()
    }

    /// The bucket created at start-up.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The ARN of the role created at start-up.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.shared.settings.region
    }

    /// The account id in every ARN.
    pub fn account_id(&self) -> &str {
        &self.shared.settings.account_id
    }

    /// The folder holding one sub-folder per bucket, each object a file at its key.
    pub fn s3_root(&self) -> &Path {
        &self.shared.s3_root
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Creates a bucket in `region` (which may differ from the server's, to test region checks).
    pub fn add_bucket(&self, name: &str, region: &str) -> Result<(), StartError> {
        let valid = (3..=63).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid {
            return Err(StartError::Invalid {
                what: "bucket name",
                value: name.to_owned(),
            });
        }
        let path = self.shared.s3_root.join(name);
        std::fs::create_dir_all(&path).map_err(|source| StartError::DataDir { path, source })?;
        self.shared
            .regions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), region.to_owned());
        Ok(())
    }

    /// Creates a role that Bedrock jobs may use.
    pub fn add_role(&self, arn: &str) -> Result<(), StartError> {
        let role = iam::Role::from_arn(arn).ok_or_else(|| StartError::Invalid {
            what: "role ARN",
            value: arn.to_owned(),
        })?;
        self.shared
            .roles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(arn.to_owned(), role);
        Ok(())
    }

    /// How many on-demand calls (InvokeModel, Converse) reached a model so far: for tests
    /// that check nothing is asked twice.
    pub fn runtime_calls(&self) -> u64 {
        self.shared
            .runtime_calls
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many calls were answered with an injected throttling error so far
    /// (`FaultConfig::throttle_rate`): for tests that check throttling happened.
    pub fn throttled_calls(&self) -> u64 {
        self.shared
            .faults
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The status and counts of a job, by ARN or id (for tests that watch the server side).
    pub fn job_status(&self, job: &str) -> Option<(JobStatus, Option<Counts>)> {
        let id = job.rsplit('/').next().unwrap_or(job);
        self.shared.with_job(id, |j| (j.status, j.counts))
    }
}

impl Drop for LocalBedrock {
    fn drop(&mut self) {
        self.server.abort();
        for task in state::lock(&self.shared.tasks).drain(..) {
            task.abort();
        }
    }
}
