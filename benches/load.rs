//! Load bench: the release `leadgate serve` on 127.0.0.1 with a fresh data dir, driven by
//! N keep-alive connections posting realistic ~400-byte forms with UTM parameters for a
//! fixed time; then a bare hyper server that reads the body and answers 303, driven the
//! same way in the same run. Prints req/s, latency percentiles, leads per commit, server
//! RSS and the ratio to the bare server.
//!
//! `cargo bench --bench load` (about a minute). Knobs, all optional:
//! `LEADGATE_BENCH_SECS=5` seconds per run, `LEADGATE_BENCH_CONNS=16,64,256`,
//! `LEADGATE_BENCH_PREFILL=1000000` leads generated into the store before the run.
//! Only ever targets 127.0.0.1, and every run stops by itself.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

const TOKEN: &str = "bench-admin-token-0123456789abcdef";
const BARE_ENV: &str = "LEADGATE_BENCH_BARE_SERVER";

fn main() {
    if std::env::var_os(BARE_ENV).is_some() {
        return bare_server();
    }
    let secs: u64 = env_or("LEADGATE_BENCH_SECS", 5);
    let prefill: usize = env_or("LEADGATE_BENCH_PREFILL", 0);
    let conns: Vec<usize> = std::env::var("LEADGATE_BENCH_CONNS")
        .unwrap_or_else(|_| "16,64,256".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    if prefill > 0 {
        let started = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_leadgate"))
            .args(["demo", "--scale", &prefill.to_string(), "--data"])
            .arg(dir.path())
            .status()
            .expect("run leadgate demo --scale");
        assert!(status.success());
        println!(
            "prefilled {prefill} leads in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    let mut server = Server::start(leadgate_command(dir.path()));
    runtime.block_on(create_campaign(server.addr));
    let mut results = Vec::new();
    for &n in &conns {
        let before = runtime.block_on(batch_totals(server.addr));
        let stats = runtime.block_on(drive(
            server.addr,
            "/f/bench",
            n,
            Duration::from_secs(secs),
            StatusCode::SEE_OTHER,
        ));
        let after = runtime.block_on(batch_totals(server.addr));
        let commits = (after.1 - before.1).max(1.0);
        let per_commit = (after.0 - before.0) / commits;
        let commit_ms = 1000.0 * (after.2 - before.2) / commits;
        results.push((n, stats, per_commit, commit_ms));
    }
    let leads_rss = server.peak_rss_kib();
    server.stop();

    let mut bare = Server::start({
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(BARE_ENV, "1");
        cmd
    });
    let mut bare_results = Vec::new();
    for &n in &conns {
        bare_results.push(runtime.block_on(drive(
            bare.addr,
            "/f/bench",
            n,
            Duration::from_secs(secs),
            StatusCode::SEE_OTHER,
        )));
    }
    let bare_rss = bare.peak_rss_kib();
    bare.stop();

    println!();
    println!(
        "durable ingest, POST /f/{{slug}} ~400 B forms, {secs} s per run, 2-core machine, client on the same machine"
    );
    println!(
        "conns | leadgate req/s | p50 ms | p99 ms | p999 ms | leads/commit | commit ms | errors | bare 303 req/s | bare p99 ms | ratio"
    );
    for ((n, stats, per_commit, commit_ms), bare) in results.iter().zip(&bare_results) {
        println!(
            "{n:5} | {:14.0} | {:6.2} | {:6.2} | {:7.2} | {:12.1} | {:9.2} | {:6} | {:14.0} | {:11.2} | {:5.1}%",
            stats.rps(),
            stats.percentile(0.50),
            stats.percentile(0.99),
            stats.percentile(0.999),
            per_commit,
            commit_ms,
            stats.errors,
            bare.rps(),
            bare.percentile(0.99),
            100.0 * stats.rps() / bare.rps().max(1.0)
        );
    }
    println!(
        "peak RSS: leadgate {} MB, bare hyper {} MB",
        leads_rss / 1024,
        bare_rss / 1024
    );
    let store = dir.path().join("leadgate.redb");
    let bytes = std::fs::metadata(&store).map(|m| m.len()).unwrap_or(0);
    let stored: u64 = results.iter().map(|(_, s, _, _)| s.ok).sum::<u64>() + prefill as u64;
    println!(
        "store: {} MB for {stored} leads = {} bytes per lead",
        bytes / 1_000_000,
        bytes / stored.max(1)
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn leadgate_command(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadgate"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--rate-limit",
        "off",
        "--global-rate-limit",
        "off",
        "--max-connections",
        "10000",
        "--data",
    ])
    .arg(data)
    .env("LEADGATE_ADMIN_TOKEN", TOKEN)
    .env("LEADGATE_LOG", "warn,leadgate=info");
    cmd
}

/// A server child process that printed `listening on http://ADDR`.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    /// Peak resident set size of the server process.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Default)]
struct Stats {
    ok: u64,
    errors: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let index =
            ((self.latencies_us.len() as f64 * q) as usize).min(self.latencies_us.len() - 1);
        f64::from(self.latencies_us[index]) / 1000.0
    }
}

/// `n` keep-alive connections posting forms until `duration` is over.
async fn drive(
    addr: SocketAddr,
    path: &'static str,
    n: usize,
    duration: Duration,
    expect: StatusCode,
) -> Stats {
    let sequence = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let sequence = sequence.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let Ok(mut sender) = connect(addr).await else {
                stats.errors += 1;
                return stats;
            };
            while Instant::now() < deadline {
                let i = sequence.fetch_add(1, Ordering::Relaxed);
                let request = Request::post(path)
                    .header("host", "127.0.0.1")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Full::new(Bytes::from(form_body(i))))
                    .unwrap();
                let sent = Instant::now();
                match sender.send_request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.into_body().collect().await;
                        if status == expect {
                            stats.ok += 1;
                            stats
                                .latencies_us
                                .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        } else {
                            stats.errors += 1;
                        }
                    }
                    Err(_) => {
                        stats.errors += 1;
                        match connect(addr).await {
                            Ok(fresh) => sender = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            stats
        }));
    }
    let mut total = Stats::default();
    for task in tasks {
        let stats = task.await.unwrap();
        total.ok += stats.ok;
        total.errors += stats.errors;
        total.latencies_us.extend(stats.latencies_us);
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    total
}

async fn connect(
    addr: SocketAddr,
) -> hyper::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to 127.0.0.1");
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A landing-page post of about 400 bytes: a new visitor (phone and token) each time.
fn form_body(i: u64) -> String {
    format!(
        "name=%E5%BC%A0%E4%B8%89&phone=139{:08}&email=visitor{i}%40example.com&company=%E4%B8%8A%E6%B5%B7%E6%9F%90%E6%9F%90%E8%87%AA%E5%8A%A8%E5%8C%96&title=%E9%87%87%E8%B4%AD%E7%BB%8F%E7%90%86&message=%E8%AF%B7%E5%8F%91%E9%80%81%E8%B5%84%E6%96%99&consent=on&utm_source=douyin&utm_medium=live&utm_campaign=bench&utm_content=host-a&ttclid=E.C.P.{i}&_token=bench-{i}&_hp=",
        i % 100_000_000
    )
}

async fn create_campaign(addr: SocketAddr) {
    let mut sender = connect(addr).await.unwrap();
    let request = Request::post("/api/campaigns")
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            r#"{"slug":"bench","name":"直播压测","kind":"livestream"}"#.as_bytes(),
        )))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert!(
        response.status().is_success(),
        "create campaign: {}",
        response.status()
    );
}

/// (batch-size sum, commit count, commit seconds sum) from `/metrics`.
async fn batch_totals(addr: SocketAddr) -> (f64, f64, f64) {
    let mut sender = connect(addr).await.unwrap();
    let request = Request::get("/metrics")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let body = sender
        .send_request(request)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (
        value("leadgate_commit_batch_size_sum"),
        value("leadgate_commit_batch_size_count"),
        value("leadgate_commit_duration_seconds_sum"),
    )
}

/// The baseline: hyper reading the body and answering 303, nothing else.
fn bare_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        eprintln!("listening on http://{}", listener.local_addr().unwrap());
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: Request<hyper::body::Incoming>| async move {
                        let _ = request.into_body().collect().await;
                        let mut response = Response::new(Full::new(Bytes::new()));
                        *response.status_mut() = StatusCode::SEE_OTHER;
                        response
                            .headers_mut()
                            .insert("location", "/f/bench/thanks".parse().unwrap());
                        Ok::<_, Infallible>(response)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
