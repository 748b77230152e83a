//! The `leadgate` binary as a child process: acknowledged leads survive SIGKILL, and a second
//! process on the same data directory fails at once.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{client, json_body};

pub(crate) const TOKEN: &str = "process-test-token-0123456789abcdef012345";
/// Generous: start-up may include redb's repair after a kill.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A `leadgate` child process, killed (SIGKILL) and reaped when dropped, so a failing test
/// never leaves a server behind.
struct ChildGuard {
    child: Child,
    stderr_lines: Arc<Mutex<Vec<String>>>,
}

impl ChildGuard {
    fn kill(&mut self) {
        // `Child::kill` sends SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stderr(&self) -> String {
        self.stderr_lines.lock().unwrap().join("\n")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `leadgate serve --listen 127.0.0.1:0 --data DIR`, with a clean `LEADGATE_*` environment.
pub(crate) fn serve_command(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadgate"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data")
        .arg(data_dir)
        .current_dir(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LEADGATE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("LEADGATE_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    cmd
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The port of a `... listening on http://127.0.0.1:PORT ...` log line.
fn listening_port(line: &str) -> Option<u16> {
    const PREFIX: &str = "listening on http://127.0.0.1:";
    let line = strip_ansi(line);
    let rest = &line[line.find(PREFIX)? + PREFIX.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A running server child and its base URL.
pub(crate) struct Server {
    guard: ChildGuard,
    pub(crate) base: String,
}

impl Server {
    /// The child's process id, e.g. to read its `/proc/<pid>/status`.
    pub(crate) fn pid(&self) -> u32 {
        self.guard.child.id()
    }

    /// `kill -9`.
    pub(crate) fn kill(&mut self) {
        self.guard.kill();
    }

    /// What the child wrote to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.guard.stderr()
    }
}

/// Starts the binary on `data_dir` and waits (bounded) for its "listening on" line.
pub(crate) fn start_server(data_dir: &Path) -> Server {
    start_server_from(serve_command(data_dir))
}

/// Spawns `cmd` and waits (bounded) for its "listening on" line.
pub(crate) fn start_server_from(mut cmd: Command) -> Server {
    let mut child = cmd.spawn().expect("spawn leadgate serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let stderr_lines = Arc::new(Mutex::new(Vec::new()));
    let guard = ChildGuard {
        child,
        stderr_lines: stderr_lines.clone(),
    };

    // Drain stderr for the child's whole life, so it never blocks on a full pipe.
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
            if let Some(port) = listening_port(&line) {
                let _ = port_tx.send(port);
            }
            stderr_lines.lock().unwrap().push(line);
        }
    });

    match port_rx.recv_timeout(START_TIMEOUT) {
        Ok(port) => Server {
            guard,
            base: format!("http://127.0.0.1:{port}"),
        },
        Err(e) => panic!(
            "leadgate did not report `listening on` ({e}); stderr:\n{}",
            guard.stderr()
        ),
    }
}

async fn create_campaign(client: &reqwest::Client, base: &str, slug: &str) {
    let resp = client
        .post(format!("{base}/api/campaigns"))
        .bearer_auth(TOKEN)
        .json(
            &json!({"slug": slug, "name": "抖音直播", "kind": "livestream", "form": "livestream"}),
        )
        .send()
        .await
        .expect("create campaign");
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 201, "{body}");
}

/// Every lead of `campaign`, following `next_cursor`.
async fn all_leads(client: &reqwest::Client, base: &str, campaign: &str) -> Vec<Value> {
    let mut leads = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut url = format!("{base}/api/leads?campaign={campaign}&limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={}", crate::helpers::encode(c)));
        }
        let resp = client
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("list leads");
        let (status, page) = json_body(resp).await;
        assert_eq!(status, 200, "{page}");
        leads.extend(page["leads"].as_array().expect("leads").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return leads,
        }
    }
    panic!("pagination did not end");
}

/// One acknowledged submission.
#[derive(Debug, Clone)]
struct Acked {
    lead_id: String,
    phone: String,
    name: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_leads_survive_sigkill() {
    const TASKS: usize = 4;
    const PER_TASK: usize = 10;

    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path());
    let http = client();
    create_campaign(&http, &server.base, "live").await;

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let http = http.clone();
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..PER_TASK {
                let n = t * PER_TASK + i;
                let phone = format!("1390000{n:04}");
                let name = format!("观众{n}号");
                let resp = http
                    .post(format!("{base}/f/live"))
                    .json(&json!({"phone": phone, "name": name, "utm_source": "douyin"}))
                    .send()
                    .await
                    .expect("submission");
                let (status, body) = json_body(resp).await;
                assert_eq!(status, 201, "submission {n}: {body}");
                acked.push(Acked {
                    lead_id: body["lead_id"].as_str().expect("lead_id").to_owned(),
                    phone: format!("+86{phone}"),
                    name,
                });
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.expect("submitting task"));
    }
    // Right after the last acknowledgement: no graceful shutdown, no chance to flush.
    server.guard.kill();
    assert_eq!(acked.len(), TASKS * PER_TASK);

    let restarted = start_server(dir.path());
    let leads = all_leads(&http, &restarted.base, "live").await;
    for a in &acked {
        let lead = leads
            .iter()
            .find(|l| l["id"] == json!(a.lead_id))
            .unwrap_or_else(|| panic!("acknowledged lead {a:?} lost after SIGKILL"));
        assert_eq!(lead["phone"], json!(a.phone), "{lead}");
        assert_eq!(lead["name"], json!(a.name), "{lead}");
        assert_eq!(lead["campaign"], "live", "{lead}");
        assert_eq!(lead["source"], "api", "{lead}");
    }
    assert_eq!(leads.len(), acked.len(), "no extra or doubled leads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_process_on_same_data_dir_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_server(dir.path());

    let started = Instant::now();
    let mut second = serve_command(dir.path())
        .spawn()
        .expect("spawn second leadgate");
    let mut stderr = second.stderr.take().expect("piped stderr");
    let mut second = ChildGuard {
        child: second,
        stderr_lines: Arc::default(),
    };
    let status = loop {
        if let Some(status) = second.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "second leadgate on the same data dir still running after 2 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut message = String::new();
    stderr.read_to_string(&mut message).unwrap();
    assert!(
        !status.success(),
        "second process must fail, got {status}; stderr:\n{message}"
    );
    let path = dir.path().display().to_string();
    let canonical = dir.path().canonicalize().unwrap().display().to_string();
    assert!(
        message.contains(&path) || message.contains(&canonical),
        "stderr names the data dir {path}:\n{message}"
    );
    second.kill();

    // The first server is unharmed.
    let resp = client()
        .get(format!("{}/healthz", first.base))
        .send()
        .await
        .expect("healthz of first server");
    assert_eq!(resp.status(), 200);
}

/// Runs `leadgate` with `args` until it exits (at most 10 s); returns success and stderr.
pub(crate) fn run_to_exit(mut cmd: Command) -> (bool, String) {
    let mut child = ChildGuard {
        child: cmd.spawn().expect("spawn leadgate"),
        stderr_lines: Arc::default(),
    };
    let mut stderr = child.child.stderr.take().expect("piped stderr");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "leadgate did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut message = String::new();
    stderr.read_to_string(&mut message).unwrap();
    (status.success(), message)
}

#[test]
fn a_bad_setting_stops_start_up_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_command(dir.path());
    cmd.args(["--public-url", "ftp://leads.example.com"]);
    let (ok, message) = run_to_exit(cmd);
    assert!(!ok);
    assert!(message.contains("public URL"), "{message}");

    let mut cmd = serve_command(dir.path());
    cmd.env("LEADGATE_TZ", "Mars/Olympus");
    let (ok, message) = run_to_exit(cmd);
    assert!(!ok);
    assert!(message.contains("time zone"), "{message}");
}

#[test]
fn the_config_file_is_read_and_env_beats_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("leadgate.toml");
    std::fs::write(&config, "rate_limit = \"lots\"\n").unwrap();
    let mut cmd = serve_command(dir.path());
    cmd.arg("--config").arg(&config);
    let (ok, message) = run_to_exit(cmd);
    assert!(!ok, "a bad rate_limit in the file must stop start-up");
    assert!(message.contains("rate limit"), "{message}");

    // The same file, overridden by the environment: the server starts.
    let mut cmd = serve_command(dir.path());
    cmd.arg("--config")
        .arg(&config)
        .env("LEADGATE_RATE_LIMIT", "off");
    let server = start_server_from(cmd);
    drop(server);

    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let mut cmd = serve_command(dir.path());
    cmd.arg("--config").arg(&config);
    let (ok, message) = run_to_exit(cmd);
    assert!(!ok);
    assert!(
        message.contains("lisen"),
        "a typo in the file is named: {message}"
    );
}

/// Whether the server at `base` keeps a new connection from 127.0.0.1 open (not closed
/// within `watch`: short to see one kept, long to see one closed on a loaded machine).
fn connection_kept(base: &str, watch: Duration) -> (bool, std::net::TcpStream) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to leadgate");
    stream.set_read_timeout(Some(watch)).unwrap();
    let mut byte = [0u8; 1];
    let kept = match stream.read(&mut byte) {
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    };
    (kept, stream)
}

/// `max_connections_per_ip` from the environment beats the config file, the flag beats
/// the environment, and a bad value stops start-up naming the setting.
#[test]
fn max_connections_per_ip_from_flag_env_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("leadgate.toml");
    std::fs::write(&config, "max_connections_per_ip = 0\n").unwrap();
    let mut cmd = serve_command(dir.path());
    cmd.arg("--config").arg(&config);
    let (ok, message) = run_to_exit(cmd);
    assert!(
        !ok,
        "max_connections_per_ip = 0 in the file must stop start-up"
    );
    assert!(message.contains("max connections per IP"), "{message}");

    for (env, flag, cap) in [("2", None, 2), ("2", Some("3"), 3)] {
        let mut cmd = serve_command(dir.path());
        cmd.arg("--config")
            .arg(&config)
            .env("LEADGATE_MAX_CONNECTIONS_PER_IP", env);
        if let Some(flag) = flag {
            cmd.args(["--max-connections-per-ip", flag]);
        }
        let server = start_server_from(cmd);
        let mut held = Vec::new();
        for n in 1..=cap {
            let (kept, stream) = connection_kept(&server.base, Duration::from_secs(1));
            assert!(
                kept,
                "env {env}, flag {flag:?}: connection {n} of {cap} was closed"
            );
            held.push(stream);
        }
        let (kept, _) = connection_kept(&server.base, Duration::from_secs(10));
        assert!(
            !kept,
            "env {env}, flag {flag:?}: connection {} from one address was kept",
            cap + 1
        );
        drop(held);
        drop(server);
    }
}

#[test]
fn a_bad_form_file_stops_start_up_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let forms = dir.path().join("forms");
    std::fs::create_dir(&forms).unwrap();
    std::fs::write(
        forms.join("default.toml"),
        "title = \"t\"\n[[fields]]\nname = \"name\"\nlabel = \"姓名\"\ntype = \"text\"\n",
    )
    .unwrap();
    let mut cmd = serve_command(dir.path());
    cmd.arg("--forms").arg(&forms);
    let (ok, message) = run_to_exit(cmd);
    assert!(!ok);
    assert!(message.contains("default.toml"), "{message}");
    assert!(message.contains("phone or an email"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_admin_token_is_printed_once_and_kept_as_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = serve_command(dir.path());
    cmd.env_remove("LEADGATE_ADMIN_TOKEN");
    let mut server = start_server_from(cmd);
    let stderr = server.guard.stderr();
    let token = stderr
        .split_whitespace()
        .find(|word| word.starts_with("lg_"))
        .unwrap_or_else(|| panic!("no token printed:\n{stderr}"))
        .to_owned();
    let http = client();
    let campaigns = |base: String, token: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/api/campaigns"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(campaigns(server.base.clone(), token.clone()).await, 200);
    server.guard.kill();

    let stored = std::fs::read(dir.path().join("leadgate.redb")).unwrap();
    assert!(
        !stored.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token itself must not be stored"
    );

    let mut cmd = serve_command(dir.path());
    cmd.env_remove("LEADGATE_ADMIN_TOKEN");
    let restarted = start_server_from(cmd);
    assert!(
        !restarted.guard.stderr().contains(&token),
        "printed only on the first start"
    );
    assert_eq!(campaigns(restarted.base.clone(), token.clone()).await, 200);
    drop(restarted);

    // `reset-token` on the stopped server: a new token, the old one refused, and the
    // reset in the audit log.
    let output = Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args(["reset-token", "--data"])
        .arg(dir.path())
        .env_remove("LEADGATE_ADMIN_TOKEN")
        .output()
        .expect("run leadgate reset-token");
    assert!(output.status.success(), "{output:?}");
    let new_token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(new_token.starts_with("lg_") && new_token != token);
    let mut cmd = serve_command(dir.path());
    cmd.env_remove("LEADGATE_ADMIN_TOKEN");
    let reset = start_server_from(cmd);
    assert_eq!(campaigns(reset.base.clone(), token).await, 401);
    assert_eq!(campaigns(reset.base.clone(), new_token.clone()).await, 200);
    let log: serde_json::Value = http
        .get(format!("{}/api/audit", reset.base))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = &log["entries"][0];
    assert_eq!(
        (&entry["action"], &entry["credential"]),
        (&serde_json::json!("token.reset"), &serde_json::json!("cli")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_requests_in_flight_finish_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path());
    let http = client();
    create_campaign(&http, &server.base, "live").await;

    // Submissions race the signal: each either is acknowledged (and must then be stored)
    // or fails as a whole; none may be half-done.
    let mut tasks = Vec::new();
    for n in 0..20 {
        let http = http.clone();
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            let resp = http
                .post(format!("{base}/f/live"))
                .json(&json!({"phone": format!("1370000{n:04}")}))
                .send()
                .await
                .ok()?;
            let (status, body) = json_body(resp).await;
            (status == 201).then(|| body["lead_id"].as_str().unwrap().to_owned())
        }));
    }
    let pid = server.guard.child.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(signalled.success());
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.unwrap());
    }
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.guard.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let restarted = start_server(dir.path());
    let leads = all_leads(&http, &restarted.base, "live").await;
    for id in &acked {
        assert!(
            leads.iter().any(|l| l["id"] == json!(id)),
            "acknowledged {id} lost"
        );
    }
}

/// Runs `leadgate check` on a stopped server's data dir; returns its success and output.
pub(crate) fn check_store(data_dir: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args(["check", "--data"])
        .arg(data_dir)
        .env_remove("LEADGATE_DATA")
        .output()
        .expect("run leadgate check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Item 7 of the hardening issue: SIGKILL at varying moments while four clients submit;
/// after every kill the store checks clean (counters = rows, every token has its lead),
/// and at the end every acknowledged lead is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_never_loses_or_half_writes() {
    kill_9_cycles("on").await;
}

/// The same with `--quick-repair off`: commits do not save redb's allocator state, so
/// every start after a kill rebuilds it by walking the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_without_quick_repair_never_loses_or_half_writes() {
    kill_9_cycles("off").await;
}

async fn kill_9_cycles(quick_repair: &str) {
    const CYCLES: u64 = 10;
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    let mut acked: Vec<(String, String)> = Vec::new();
    let start = || {
        let mut command = serve_command(dir.path());
        command.env("LEADGATE_QUICK_REPAIR", quick_repair);
        start_server_from(command)
    };
    // A fixed linear congruential sequence: varied kill moments, the same every run.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for cycle in 0..CYCLES {
        let mut server = start();
        if cycle == 0 {
            create_campaign(&http, &server.base, "live").await;
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let kill_after = 5 + (seed >> 33) % 40;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
        let mut clients = Vec::new();
        for worker in 0..4u64 {
            let http = http.clone();
            let base = server.base.clone();
            let tx = tx.clone();
            clients.push(tokio::spawn(async move {
                for n in 0..10_000u64 {
                    let phone = format!("136{:08}", cycle * 1_000_000 + worker * 100_000 + n);
                    let body = json!({"phone": phone, "name": "压测", "_token": format!("c{cycle}w{worker}n{n}")});
                    let Ok(resp) = http.post(format!("{base}/f/live")).json(&body).send().await else {
                        return;
                    };
                    let (status, body) = json_body(resp).await;
                    if status == 201 {
                        let id = body["lead_id"].as_str().unwrap().to_owned();
                        if tx.send((id, format!("+86{phone}"))).is_err() {
                            return;
                        }
                    }
                }
            }));
        }
        drop(tx);
        let mut this_cycle = 0;
        while let Some(ack) = rx.recv().await {
            acked.push(ack);
            this_cycle += 1;
            if this_cycle == kill_after {
                server.guard.kill();
                break;
            }
        }
        // Answers that raced the kill were acknowledged too: they must survive as well.
        while let Ok(ack) = rx.try_recv() {
            acked.push(ack);
        }
        for client in clients {
            client.abort();
        }
        let (ok, report) = check_store(dir.path());
        assert!(
            ok,
            "cycle {cycle}: store inconsistent after SIGKILL:\n{report}"
        );
        // The check opened the store first: it walked the file only without quick repair.
        assert_eq!(
            report.contains("repairing the store after an unclean stop"),
            quick_repair == "off",
            "cycle {cycle}, quick repair {quick_repair}:\n{report}"
        );
    }
    let server = start();
    let leads = all_leads(&http, &server.base, "live").await;
    let stored: std::collections::HashMap<String, String> = leads
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_owned(),
                l["phone"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (id, phone) in &acked {
        assert_eq!(
            stored.get(id),
            Some(phone),
            "acknowledged lead {id} lost or changed"
        );
    }
    assert!(acked.len() as u64 >= CYCLES * 5);
}

/// Counters are keyed by days of the reporting zone: a store with data keeps its zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_data_refuses_another_reporting_zone() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path());
    let http = client();
    create_campaign(&http, &server.base, "live").await;
    let resp = http
        .post(format!("{}/f/live", server.base))
        .json(&json!({"phone": "13800138000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    server.guard.kill();
    let mut cmd = serve_command(dir.path());
    cmd.env("LEADGATE_TZ", "UTC");
    let (ok, message) = run_to_exit(cmd);
    assert!(!ok);
    assert!(
        message.contains("Asia/Shanghai") && message.contains("LEADGATE_TZ"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_leads_acknowledged_while_a_receiver_is_down_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let with_private = || {
        let mut cmd = serve_command(dir.path());
        cmd.arg("--allow-private-destinations");
        cmd
    };
    let mut server = start_server_from(with_private());
    let http = client();
    create_campaign(&http, &server.base, "live").await;
    // The receiver's port, with nothing listening on it yet.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let resp = http
        .post(format!("{}/api/destinations", server.base))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "CRM", "kind": "webhook", "url": format!("http://127.0.0.1:{port}/hook")}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 201, "{body}");

    let mut acked = Vec::new();
    for n in 0..20 {
        let resp = http
            .post(format!("{}/f/live", server.base))
            .json(&json!({"phone": format!("1390000{n:04}"), "name": "观众"}))
            .send()
            .await
            .unwrap();
        let (status, body) = json_body(resp).await;
        assert_eq!(status, 201, "{body}");
        acked.push(body["lead_id"].as_str().unwrap().to_owned());
    }
    server.guard.kill();

    // The receiver comes back, then the server.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the receiver's port is free again");
    let receiver = crate::receiver::Receiver::on(listener, Arc::new(|_| (200, String::new())));
    let _restarted = start_server_from(with_private());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let delivered: std::collections::BTreeSet<String> = receiver
            .received()
            .iter()
            .map(|r| {
                r.json()["data"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        if acked.iter().all(|id| delivered.contains(id)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the restart only {} of 20 leads were delivered",
            acked.iter().filter(|id| delivered.contains(*id)).count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_round_robin_goes_on_where_it_was_after_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path());
    let http = client();
    let post = |base: String, path: &'static str, body: Value| {
        let http = http.clone();
        async move {
            let resp = http
                .post(format!("{base}{path}"))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            json_body(resp).await
        }
    };
    let mut people = Vec::new();
    for name in ["王芳", "李强", "赵敏"] {
        let (status, person) = post(
            server.base.clone(),
            "/api/salespeople",
            json!({"name": name}),
        )
        .await;
        assert_eq!(status, 201, "{person}");
        people.push(person["id"].as_str().unwrap().to_owned());
    }
    let (status, body) = post(
        server.base.clone(),
        "/api/campaigns",
        json!({"slug": "expo", "name": "展会",
            "assign": {"mode": "round_robin", "salespeople": people}}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut assigned = Vec::new();
    let mut submit = async |base: &str, n: usize| {
        let (status, body) = post(
            base.to_owned(),
            "/f/expo",
            json!({"phone": format!("1390000{n:04}"), "name": "观众", "consent": true}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let id = body["lead_id"].as_str().unwrap().to_owned();
        let resp = http
            .get(format!("{base}/api/leads/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let (_, lead) = json_body(resp).await;
        assigned.push(lead["assigned_to"].as_str().unwrap().to_owned());
    };
    submit(&server.base, 0).await;
    submit(&server.base, 1).await;
    server.guard.kill();
    let restarted = start_server(dir.path());
    submit(&restarted.base, 2).await;
    submit(&restarted.base, 3).await;
    assert_eq!(
        assigned,
        [&people[0], &people[1], &people[2], &people[0]].map(String::clone),
        "one after another across the restart"
    );
}
