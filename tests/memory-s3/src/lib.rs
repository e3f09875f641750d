//! memory-s3: an S3 endpoint for benchmarks that is not the bottleneck.
//!
//! It serves deterministic synthetic objects from memory — ListObjects (v1 and v2), HEAD and
//! (ranged) GET — correct to the S3 protocol for what a backup and the usual download clients
//! need: 1,000-key pages with continuation tokens, `prefix`, `delimiter`, `start-after`,
//! `encoding-type=url`, ETags, `Range` (206/416), `partNumber`, `If-Match` (412) and friends,
//! path-style and virtual-host-style addressing. Any SigV4 signature (header or presigned) is
//! accepted without being checked.
//!
//! Objects are never materialised: their bytes are slices of one shared 1 MiB pseudo-random pool
//! (see [`store`]), so a 1 GiB object costs no memory and a GET is a few `writev`s of static
//! buffers. Buckets are described by specs like `big:1x1GiB` (see [`spec`]).
//!
//! The binary (`memory-s3 --listen 127.0.0.1:0 --bucket big:1x1GiB …`) prints
//! `ENDPOINT http://ADDR` on stdout once it accepts connections; `GET /_memory-s3/stats` returns
//! its request counters.

pub mod s3;
pub mod server;
pub mod spec;
pub mod store;
pub mod text;

pub use server::{spawn, Options, Running};
pub use spec::{parse_bucket, BucketSpec};
pub use store::{object_bytes, Bucket, Store};

/// Command-line usage of the server.
pub const USAGE: &str = "\
usage: memory-s3 [--listen ADDR] [--threads N] [--sndbuf BYTES] [--spec FILE] --bucket SPEC...

  --listen ADDR    address to listen on (default 127.0.0.1:0: a free port)
  --threads N      runtime worker threads (default: one per CPU)
  --sndbuf BYTES   SO_SNDBUF of connections (default: kernel autotuning)
  --bucket SPEC    NAME:COUNTxSIZE[@PREFIX][,COUNTxSIZE[@PREFIX]...][:mtime=SECS]
                   e.g. big:1x1GiB  small4k:10000x4KiB  listing:1000000x0
  --spec FILE      bucket specs, one per line (# comments)

Prints `ENDPOINT http://ADDR` on stdout when ready; GET /_memory-s3/stats shows counters.";

/// Parsed command line.
#[derive(Clone, Debug)]
pub struct Cli {
    pub listen: std::net::SocketAddr,
    pub options: Options,
    pub buckets: Vec<BucketSpec>,
}

/// Parses the arguments (without the program name).
pub fn parse_cli(args: &[String]) -> Result<Cli, String> {
    let mut listen: std::net::SocketAddr = "127.0.0.1:0".parse().expect("valid");
    let mut options = Options::default();
    let mut buckets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--listen" => {
                let v = value()?;
                listen = v
                    .parse()
                    .map_err(|_| format!("--listen {v:?}: not an address"))?;
            }
            "--threads" => {
                let v = value()?;
                options.threads = v.parse().map_err(|_| format!("--threads {v:?}"))?;
            }
            "--sndbuf" => {
                let v = value()?;
                options.sndbuf = Some(spec::parse_size(&v)? as usize);
            }
            "--bucket" => buckets.push(parse_bucket(&value()?)?),
            "--spec" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                for line in text.lines().map(str::trim) {
                    if !line.is_empty() && !line.starts_with('#') {
                        buckets.push(parse_bucket(line)?);
                    }
                }
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if buckets.is_empty() {
        return Err(format!("no --bucket given\n\n{USAGE}"));
    }
    let mut names: Vec<&str> = buckets.iter().map(|b| b.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("bucket {} given twice", w[0]));
    }
    Ok(Cli {
        listen,
        options,
        buckets,
    })
}

/// Runs the server of `cli` in this thread until the process ends: builds the buckets, binds,
/// prints `ENDPOINT http://ADDR` (and flushes stdout), serves.
pub fn run(cli: Cli) -> std::io::Result<()> {
    use std::io::Write;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let store = Store::from_specs(&cli.buckets, threads);
    let rt = server::runtime(cli.options.threads)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cli.listen).await?;
        let addr = listener.local_addr()?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ENDPOINT http://{addr}")?;
            out.flush()?;
        }
        let state = std::sync::Arc::new(s3::State::new(store));
        server::serve(listener, state, cli.options).await;
        Ok(())
    })
}
