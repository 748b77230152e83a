//! Throwaway PostgreSQL clusters for the replication tests: `initdb` into a temporary
//! directory, `pg_ctl start` on a free 127.0.0.1 port, and `pg_ctl stop -m immediate`
//! (a crash, as far as PostgreSQL can tell) plus removal when dropped. Each test gets its
//! own cluster (initdb takes about 1.5 s), so a test that stops PostgreSQL disturbs no
//! other. Without PostgreSQL installed the tests say SKIPPED, unless
//! `LEADGATE_REQUIRE_POSTGRES=1` (set by CI).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    /// Whether the OS user `postgres` runs the cluster (we are root: initdb refuses root).
    as_postgres: bool,
    /// `ssl=on` with a server certificate for `localhost` signed by [`Cluster::ca_file`].
    tls: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb` and `pg_ctl`.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A running cluster, or `None` (after saying SKIPPED) where PostgreSQL is not installed.
pub fn cluster_or_skip(test: &str) -> Option<Cluster> {
    Some(Cluster::start(installed_or_skip(test)?, false))
}

/// As [`cluster_or_skip`], serving TLS (`ssl=on`) with a certificate issued for
/// `localhost` (not for 127.0.0.1) by a throwaway CA: see [`Cluster::ca_file`].
pub fn tls_cluster_or_skip(test: &str) -> Option<Cluster> {
    Some(Cluster::start(installed_or_skip(test)?, true))
}

fn installed_or_skip(test: &str) -> Option<PathBuf> {
    let bin = bin_dir();
    if bin.is_none() {
        assert!(
            std::env::var("LEADGATE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "{test}: PostgreSQL is not installed but LEADGATE_REQUIRE_POSTGRES=1"
        );
        eprintln!("SKIPPED {test}: no PostgreSQL (apt-get install postgresql)");
    }
    bin
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    fn start(bin: PathBuf, tls: bool) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory for PostgreSQL");
        let as_postgres = is_root();
        if as_postgres {
            let owned = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(owned.success(), "chown postgres {}", dir.path().display());
        }
        let mut cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            as_postgres,
            tls,
        };
        if tls {
            cluster.make_certificates();
        }
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        // The port was free when picked but is not held until PostgreSQL binds it, so another
        // test (or its cluster) may take it first: then try another one.
        for attempt in 1.. {
            match cluster.pg_ctl_start() {
                Ok(()) => break,
                Err(failure) if attempt < 3 && failure.contains("already in use") => {
                    eprintln!("port {} was taken; trying another", cluster.port);
                    cluster.port = free_port();
                }
                Err(failure) => panic!("{failure}"),
            }
        }
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when we are root); panics with its
    /// output when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// One of PostgreSQL's programs, run as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// `pg_ctl start -w` (again, after [`Cluster::crash`]).
    pub fn start_again(&self) {
        if let Err(failure) = self.pg_ctl_start() {
            panic!("{failure}");
        }
    }

    /// `pg_ctl start -w`; on failure, what pg_ctl said and the server's log (the log goes
    /// with the temporary directory, so it has to be read now to explain the failure).
    fn pg_ctl_start(&self) -> Result<(), String> {
        let data = self.data_dir();
        let socket_dir = self.dir.path();
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            socket_dir.display()
        );
        if self.tls {
            let tls = self.tls_dir();
            options += &format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                tls.join("server.crt").display(),
                tls.join("server.key").display()
            );
        }
        let log = self.dir.path().join("log");
        // pg_ctl waits 60 s by default; a CI machine running many clusters and builds at
        // once has been seen to need longer.
        let out = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-o", &options])
            .args(["-l", log.to_str().unwrap(), "-t", "180", "start", "-w"])
            .output()
            .expect("run pg_ctl");
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "pg_ctl start on port {} failed: {}{}\nserver log:\n{}",
            self.port,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_else(|e| format!("(unreadable: {e})"))
        ))
    }

    /// `pg_ctl stop -m immediate`: PostgreSQL goes away at once, without a clean shutdown.
    pub fn crash(&self) {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
                "-w",
            ],
        );
    }

    /// What the server has logged (every start appends to one file).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("tls")
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.tls_dir().join("ca.crt")
    }

    /// The PEM file of a CA that signed nothing this cluster shows.
    pub fn other_ca_file(&self) -> PathBuf {
        self.tls_dir().join("other-ca.crt")
    }

    /// A CA and a server certificate for `localhost` (P-256, valid two days) made with the
    /// `openssl` command Debian's postgresql package brings; the key readable only by the
    /// user that runs the cluster, as PostgreSQL insists.
    fn make_certificates(&self) {
        let tls = self.tls_dir();
        std::fs::create_dir(&tls).unwrap();
        std::fs::write(
            tls.join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        let steps = [
            format!(
                "req -x509 {ec} -keyout ca.key -out ca.crt -days 2 -subj /CN=leadgate-test-CA \
                 -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign"
            ),
            format!(
                "req -x509 {ec} -keyout other-ca.key -out other-ca.crt -days 2 \
                 -subj /CN=leadgate-test-other-CA -addext basicConstraints=critical,CA:TRUE"
            ),
            format!("req {ec} -keyout server.key -out server.csr -subj /CN=localhost"),
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
             -days 2 -extfile server.ext"
                .to_owned(),
        ];
        for args in steps {
            let args: Vec<&str> = args.split_whitespace().collect();
            let out = Command::new("openssl")
                .args(&args)
                .current_dir(&tls)
                .output()
                .expect("run openssl (Debian: apt-get install openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            tls.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        if self.as_postgres {
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&tls)
                .status()
                .expect("run chown");
            assert!(owned.success());
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the test cluster");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        // Quietly: it may be stopped already.
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
                "-w",
            ])
            .output();
    }
}

/// Polls `check` every 50 ms until it gives `Some`, or panics after `limit` saying `what`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
