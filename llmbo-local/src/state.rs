//! What every part of the server shares.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use tokio::task::AbortHandle;

use crate::config::{Quotas, Speed};
use crate::faults::Faults;
use crate::iam::Role;
use crate::jobs::Job;
use crate::s3::BucketRegions;
use crate::synth::Family;

/// Fixed settings of one server.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) region: String,
    pub(crate) account_id: String,
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    /// The Bedrock API key bearer tokens must carry.
    pub(crate) api_key: String,
    pub(crate) quotas: Quotas,
    pub(crate) speed: Speed,
    /// Model-id prefixes served as a given family, beyond the built-in ones.
    pub(crate) custom_models: Vec<(String, Family)>,
    /// Where Mistral chat answers put their stop reason.
    pub(crate) mistral_stop_key: crate::config::MistralStopKey,
    /// Connections served at once.
    pub(crate) max_connections: usize,
    /// How long a request body may be silent.
    pub(crate) body_timeout: std::time::Duration,
}

pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) faults: Arc<Faults>,
    pub(crate) roles: RwLock<BTreeMap<String, Role>>,
    pub(crate) regions: BucketRegions,
    /// The root of the objects: one folder per bucket (see `objects::layout`).
    pub(crate) s3_root: PathBuf,
    /// The objects' bytes, as the S3 side writes and reads them (the runner writes through it).
    pub(crate) objects: Arc<crate::objects::Objects>,
    pub(crate) jobs: Mutex<Vec<Job>>,
    /// The Anthropic Message Batches of this server.
    pub(crate) anthropic_batches: crate::anthropic::Batches,
    /// The OpenAI files and batches of this server.
    pub(crate) openai: crate::openai::State,
    /// The Gemini API's batches and files.
    pub(crate) gemini: crate::gemini::State,
    pub(crate) tasks: Mutex<Vec<AbortHandle>>,
    counter: AtomicU64,
    /// On-demand calls answered (InvokeModel and Converse that reached a model).
    pub(crate) runtime_calls: AtomicU64,
}

/// Locks a mutex whose data stays valid even if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(
        settings: Settings,
        faults: Faults,
        s3_root: PathBuf,
        regions: BucketRegions,
        objects: Arc<crate::objects::Objects>,
    ) -> Self {
        Shared {
            settings,
            faults: Arc::new(faults),
            roles: RwLock::default(),
            regions,
            s3_root,
            objects,
            jobs: Mutex::default(),
            anthropic_batches: Mutex::default(),
            openai: crate::openai::State::default(),
            gemini: crate::gemini::State::default(),
            tasks: Mutex::default(),
            // From the clock, so a server restarted on a kept data folder never mints an
            // id (and an output folder) an earlier one used.
            counter: AtomicU64::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64),
            ),
            runtime_calls: AtomicU64::new(0),
        }
    }

    /// The family a model id is answered as: a custom prefix first, then the built-in ones.
    pub(crate) fn family_of(&self, model_id: &str) -> Option<Family> {
        let id = model_id.rsplit('/').next().unwrap_or(model_id);
        self.settings
            .custom_models
            .iter()
            .find(|(prefix, _)| id.starts_with(prefix.as_str()))
            .map(|(_, family)| *family)
            .or_else(|| crate::synth::family_of(model_id))
    }

    /// Whether a job may name this model: one the catalog lists (bare, as a profile or an
    /// ARN), a custom model the server was given, or an application inference profile. An id
    /// of a served family that the catalog does not list is refused, as AWS refuses a model
    /// it does not know.
    pub(crate) fn serves(&self, model_id: &str) -> bool {
        let id = model_id.rsplit('/').next().unwrap_or(model_id);
        model_id.contains("application-inference-profile")
            || self
                .settings
                .custom_models
                .iter()
                .any(|(prefix, _)| id.starts_with(prefix.as_str()))
            || (crate::catalog::model(crate::catalog::bare(model_id)).is_some()
                && self.family_of(model_id).is_some())
    }

    /// A fresh number for ids.
    pub(crate) fn next_number(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A request id in AWS's UUID shape.
    pub(crate) fn request_id(&self) -> String {
        let n = crate::faults::splitmix(self.next_number() ^ 0x5eed);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (n >> 32) as u32,
            (n >> 16) as u16,
            n & 0xfff,
            (n >> 4) & 0xfff,
            n & 0xffff_ffff_ffff
        )
    }

    pub(crate) fn bucket_exists(&self, bucket: &str) -> bool {
        self.regions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(bucket)
            && self.s3_root.join(bucket).is_dir()
    }

    pub(crate) fn with_job<R>(&self, id: &str, f: impl FnOnce(&mut Job) -> R) -> Option<R> {
        let mut jobs = lock(&self.jobs);
        jobs.iter_mut().find(|job| job.id == id).map(f)
    }
}
