//! llmbo-local in a process of its own, as Bedrock would be, for the programs that measure
//! llmbo alone: a program started with `--serve <dir>` serves until its stdin closes.
#![allow(dead_code)] // each program uses what it needs of it

use std::error::Error;

use llmbo_local::LocalBedrock;

/// Peak resident set size of this process, in KiB (Linux: `VmHWM`).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs this program again with `args` (a size to measure, in a process of its own, so its
/// peak RSS is its own) and returns what it printed, with its `wall_s=` and `peak_rss_kib=`.
pub fn measured_child(args: &[&std::ffi::OsStr]) -> Result<(String, f64, u64), Box<dyn Error>> {
    // The allocator as a user has it: glibc's default arenas unless you set MALLOC_ARENA_MAX.
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{text}");
    if !output.status.success() {
        return Err(format!(
            "the run of {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let wall = field("wall_s=").ok_or("no wall time")?;
    let rss = field("peak_rss_kib=").ok_or("no peak RSS")? as u64;
    Ok((text, wall, rss))
}

/// When this process was started with `--serve <dir>`: serves llmbo-local from `dir` until
/// stdin closes (its endpoint printed first) and says so; otherwise `false`.
pub fn serve_if_asked() -> Result<bool, Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("--serve") {
        return Ok(false);
    }
    let dir = args.get(2).ok_or("--serve needs a data directory")?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let local = LocalBedrock::builder().data_dir(dir).start().await?;
        println!("{}", local.endpoint_url());
        tokio::task::spawn_blocking(|| {
            let mut rest = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut rest)
        })
        .await??;
        eprintln!("llmbo-local peak_rss_kib={}", peak_rss_kib().unwrap_or(0));
        Ok::<(), Box<dyn Error>>(())
    })?;
    Ok(true)
}

/// llmbo-local in a child process (this program with `--serve`), and an AWS configuration
/// pointed at it.
pub struct Server {
    pub endpoint: String,
    pub sdk: aws_config::SdkConfig,
    child: std::process::Child,
    _data: tempfile::TempDir,
}

impl Server {
    pub async fn start() -> Result<Self, Box<dyn Error>> {
        use std::io::BufRead;
        let data = tempfile::tempdir()?;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .arg("--serve")
            .arg(data.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let mut endpoint = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufReader::new(out).read_line(&mut endpoint)?;
        }
        let endpoint = endpoint.trim().to_owned();
        if endpoint.is_empty() {
            return Err("llmbo-local did not start".into());
        }
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "bench",
            ))
            .load()
            .await;
        Ok(Server {
            endpoint,
            sdk,
            child,
            _data: data,
        })
    }

    /// Closes the child's stdin and waits for it to end.
    pub fn stop(mut self) -> Result<(), Box<dyn Error>> {
        drop(self.child.stdin.take());
        self.child.wait()?;
        Ok(())
    }
}
