//! The `leadgate` command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Args, Parser, Subcommand};
use leadgate::config::{Config, Settings};

#[derive(Parser)]
#[command(
    name = "leadgate",
    version,
    about = "Lead-capture edge gateway: landing forms, QR codes, call tracking and campaign ROI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Replace the admin token with a new one (the server must be stopped).
    ResetToken(StoreArgs),
    /// Print the ROI summary from a stopped server's store.
    Roi(RoiArgs),
    /// Write a campaign's QR code to a file (PNG or SVG), for print shops and designers.
    Qr(QrArgs),
    /// Verify a stopped server's store: counters, indexes and tokens against the rows.
    Check(StoreArgs),
    /// Fill an empty store with generated data, to measure the summary and the store at scale.
    Demo(DemoArgs),
    /// Rewrite a stopped server's store file without its free space.
    Compact(StoreArgs),
    /// Write a consistent backup of the store to a file (the server may be running).
    Backup(BackupArgs),
    /// Put a backup in place as the store (the server must be stopped).
    Restore(RestoreArgs),
}

#[derive(Args)]
struct BackupArgs {
    /// File to write (created 0600; written beside it and renamed when whole).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct RestoreArgs {
    /// The backup file (`leadgate backup` or `GET /api/backup`).
    #[arg(long)]
    from: PathBuf,
    /// Replace what the data directory holds.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct DemoArgs {
    /// Leads to generate (over 1,000 campaigns and the past year; 10% of contacts convert).
    #[arg(long)]
    scale: usize,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct QrArgs {
    /// The campaign's slug.
    slug: String,
    /// Placement, e.g. booth-a or poster ([a-z0-9_-], 1 to 32 characters).
    #[arg(long)]
    variant: Option<String>,
    /// png or svg [default: from the --out file's extension, else png].
    #[arg(long, value_parser = ["png", "svg"])]
    format: Option<String>,
    /// Edge of the PNG in pixels (64 to 4096).
    #[arg(long, default_value_t = 1024)]
    size: u32,
    /// Error correction: L, M, Q or H.
    #[arg(long, default_value = "Q")]
    ecc: String,
    /// Public base URL that the code encodes [default: LEADGATE_PUBLIC_URL, the config file, or http://127.0.0.1:8080].
    #[arg(long, env = "LEADGATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// File to write.
    #[arg(long)]
    out: PathBuf,
    /// TOML config file.
    #[arg(long, env = "LEADGATE_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct RoiArgs {
    /// last_touch, first_touch, linear, time_decay, position_based or markov.
    #[arg(long, default_value = "last_touch")]
    model: String,
    /// First day (YYYY-MM-DD, reporting time zone), inclusive.
    #[arg(long)]
    from: Option<String>,
    /// Last day (YYYY-MM-DD, reporting time zone), inclusive.
    #[arg(long)]
    to: Option<String>,
    /// campaign, channel or kind.
    #[arg(long, default_value = "campaign")]
    group_by: String,
    /// Touches older than this many days before a conversion get no credit.
    #[arg(long)]
    lookback_days: Option<u32>,
    /// Half-life of the time_decay model, in days.
    #[arg(long)]
    half_life_days: Option<f64>,
    /// table, csv or json.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    format: String,
    /// Column titles for csv: zh or en (default: field names).
    #[arg(long, value_parser = ["zh", "en"])]
    lang: Option<String>,
    /// Report over every node's data in this PostgreSQL (postgres://…, as the nodes'
    /// --replicate) instead of one node's store; no data directory needed.
    #[arg(long)]
    postgres: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Data directory holding the store.
    #[arg(long, env = "LEADGATE_DATA")]
    data: Option<PathBuf>,
    /// TOML config file (same setting names, in snake_case).
    #[arg(long, env = "LEADGATE_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "LEADGATE_LISTEN")]
    listen: Option<String>,
    /// Public base URL that links and QR codes use [default: http://{listen}].
    #[arg(long, env = "LEADGATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Submissions and scans per client address, like 300/10m, or off [default: 300/10m].
    #[arg(long, env = "LEADGATE_RATE_LIMIT")]
    rate_limit: Option<String>,
    /// Directory of form definitions [default: ./forms if present, else the built-in forms].
    #[arg(long, env = "LEADGATE_FORMS")]
    forms: Option<PathBuf>,
    /// Ceiling over all rate-limited requests together, like 50000/1s, or off [default: 50000/1s].
    #[arg(long, env = "LEADGATE_GLOBAL_RATE_LIMIT")]
    global_rate_limit: Option<String>,
    /// Proxies whose X-Forwarded-For is believed: addresses or ranges, comma-separated.
    #[arg(long, env = "LEADGATE_TRUSTED_PROXIES")]
    trusted_proxies: Option<String>,
    /// Origins whose pages may post to /f/{slug} (embedded widgets), comma-separated.
    #[arg(long, env = "LEADGATE_CORS_ORIGINS")]
    cors_origins: Option<String>,
    /// Open connections at most [default: 4096].
    #[arg(long, env = "LEADGATE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Open connections from one client address at most [default: 256, and at most half of --max-connections].
    #[arg(long, env = "LEADGATE_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,
    /// The store's page cache in MB, which bounds the server's memory [default: 16].
    #[arg(long, env = "LEADGATE_CACHE_MB")]
    cache_mb: Option<usize>,
    /// Whether each commit saves what a restart after a crash needs: off, commits are
    /// cheaper on a big store and the first start after a crash walks the whole file [default: on].
    #[arg(long, env = "LEADGATE_QUICK_REPAIR", value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    quick_repair: Option<bool>,
    /// Erase leads older than this many days, at start-up and then daily [default: keep].
    #[arg(long, env = "LEADGATE_RETAIN_DAYS")]
    retain_days: Option<u32>,
    /// This node's name in delivered events [default: the host name].
    #[arg(long, env = "LEADGATE_NODE_ID")]
    node_id: Option<String>,
    /// Replicate this node's leads and events to PostgreSQL (postgres://user:password@host/db).
    #[arg(long, env = "LEADGATE_REPLICATE", hide_env_values = true)]
    replicate: Option<String>,
    /// Let destinations be on loopback or private networks (an on-premises CRM).
    #[arg(long, env = "LEADGATE_ALLOW_PRIVATE_DESTINATIONS", value_parser = clap::builder::FalseyValueParser::new())]
    allow_private_destinations: bool,
    /// Load sample campaigns into an empty store.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::ResetToken(args) => reset_token(args),
        Command::Roi(args) => roi(args),
        Command::Qr(args) => qr(args),
        Command::Check(args) => check(args),
        Command::Demo(args) => demo(args),
        Command::Compact(args) => compact(args),
        Command::Backup(args) => backup(args),
        Command::Restore(args) => restore(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("leadgate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LEADGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .init();
}

/// Settings only the environment can give (secrets and the reporting zone).
fn env_settings() -> anyhow::Result<Settings> {
    let var = |name: &str| std::env::var(name).ok();
    Ok(Settings {
        admin_token: var("LEADGATE_ADMIN_TOKEN"),
        call_secret: var("LEADGATE_CALL_SECRET"),
        tz: var("LEADGATE_TZ"),
        header_timeout: env_seconds("LEADGATE_HEADER_TIMEOUT")?,
        body_timeout: env_seconds("LEADGATE_BODY_TIMEOUT")?,
        ..Settings::default()
    })
}

/// A whole number of seconds from the environment; a bad value stops start-up.
fn env_seconds(name: &str) -> anyhow::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow!("{name}={text:?} must be a whole number of seconds")),
        Err(_) => Ok(None),
    }
}

fn file_settings(path: Option<&PathBuf>) -> anyhow::Result<Settings> {
    match path {
        Some(path) => Settings::from_file(path).map_err(|e| anyhow!(e)),
        None => Ok(Settings::default()),
    }
}

/// The config, and whether the public URL was left to default to the listen address.
fn build_config(args: ServeArgs) -> anyhow::Result<(Config, bool)> {
    let file = file_settings(args.store.config.as_ref())?;
    let flags = Settings {
        listen: args.listen,
        data: args.store.data,
        public_url: args.public_url,
        rate_limit: args.rate_limit,
        forms: args.forms,
        global_rate_limit: args.global_rate_limit,
        trusted_proxies: args.trusted_proxies,
        cors_origins: args.cors_origins,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        cache_mb: args.cache_mb,
        quick_repair: args.quick_repair,
        retain_days: args.retain_days,
        node_id: args.node_id,
        allow_private_destinations: args.allow_private_destinations.then_some(true),
        replicate: args.replicate,
        ..Settings::default()
    };
    let settings = flags.or(env_settings()?).or(file);
    let public_url_from_listen = settings.public_url.is_none();
    let mut config = settings.into_config(args.demo).map_err(|e| anyhow!(e))?;
    if config.forms_dir.is_none() && PathBuf::from("forms").join("default.toml").is_file() {
        config.forms_dir = Some(PathBuf::from("forms"));
    }
    Ok((config, public_url_from_listen))
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (mut config, public_url_from_listen) = build_config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        if public_url_from_listen {
            // With port 0 the real port is known only now; links and QR codes need it.
            let bound = listener.local_addr().context("cannot read the bound address")?;
            config.public_url = format!("http://{bound}");
            if bound.ip().is_unspecified() {
                tracing::warn!("listening on all interfaces: set --public-url to the address visitors use, or links and QR codes will not work");
            }
        }
        leadgate::server::serve(config, listener, shutdown_signal()).await.map_err(|e| anyhow!(e))
    })
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// The settings of a command (flags, environment, config file), whether or not a store
/// exists.
fn settings_config(args: &StoreArgs) -> anyhow::Result<Config> {
    let file = file_settings(args.config.as_ref())?;
    let settings = Settings {
        data: args.data.clone(),
        ..Settings::default()
    }
    .or(env_settings()?)
    .or(file);
    settings.into_config(false).map_err(|e| anyhow!(e))
}

/// The config of a command that works on a stopped server's store.
fn store_config(args: StoreArgs) -> anyhow::Result<Config> {
    let config = settings_config(&args)?;
    if !config.store_path().exists() {
        return Err(anyhow!(
            "no store in {}: start `leadgate serve` once first",
            config.data_dir.display()
        ));
    }
    Ok(config)
}

fn roi(args: RoiArgs) -> anyhow::Result<()> {
    let config = match &args.postgres {
        // Only the settings (the reporting zone): the rows are in PostgreSQL.
        Some(_) => settings_config(&args.store)?,
        None => store_config(args.store.clone())?,
    };
    let get = |key: &str| -> Option<String> {
        match key {
            "model" => Some(args.model.clone()),
            "from" => args.from.clone(),
            "to" => args.to.clone(),
            "group_by" => Some(args.group_by.clone()),
            "lookback_days" => args.lookback_days.map(|d| d.to_string()),
            "half_life_days" => args.half_life_days.map(|d| d.to_string()),
            _ => None,
        }
    };
    let request =
        leadgate::service::reports::RoiRequest::parse(get, &config.tz).map_err(|e| anyhow!(e))?;
    let lang = leadgate::report::Lang::parse(args.lang.as_deref(), leadgate::report::Lang::Fields)
        .map_err(|e| anyhow!(e))?;
    let report = match &args.postgres {
        Some(url) => {
            let target = leadgate::replica::Target::parse(url).map_err(|e| anyhow!(e))?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(leadgate::service::reports::build_from_postgres(
                    &target, request, &config.tz,
                ))
        }
        None => {
            let store = leadgate::store::Store::open(&config.store_path(), config.tz.clone())
                .map_err(|e| anyhow!(e))?;
            let report = leadgate::service::reports::build_blocking(&store, request);
            store.close_blocking();
            report
        }
    };
    let report = report.map_err(|e| anyhow!(e))?;
    let mut out = std::io::stdout().lock();
    match args.format.as_str() {
        "csv" => out.write_all(&leadgate::report::csv(&report, lang))?,
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?)?,
        _ => out.write_all(leadgate::report::table(&report).as_bytes())?,
    }
    Ok(())
}

fn reset_token(args: StoreArgs) -> anyhow::Result<()> {
    let config = store_config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let path = config.store_path();
        let tz = config.tz.clone();
        let store = tokio::task::spawn_blocking(move || leadgate::store::Store::open(&path, tz))
            .await?
            .map_err(|e| anyhow!(e))?;
        let token = leadgate::generate_admin_token().map_err(|e| anyhow!(e))?;
        let entry = leadgate::audit::Entry::new(
            jiff::Timestamp::now(),
            "local".into(),
            &leadgate::audit::Credential::CommandLine,
            "token.reset",
            String::new(),
        );
        leadgate::audit::within(
            entry,
            store.set_admin_token_hash(leadgate::state::hash_token(&token)),
        )
        .await
        .map_err(|e| anyhow!(e))?;
        store.close().await;
        println!("{token}");
        eprintln!(
            "The old admin token no longer works. Keep this one safe; it is not shown again."
        );
        Ok(())
    })
}

fn qr(args: QrArgs) -> anyhow::Result<()> {
    let file = file_settings(args.config.as_ref())?;
    let settings = Settings {
        public_url: args.public_url,
        ..Settings::default()
    }
    .or(file);
    let config = settings.into_config(false).map_err(|e| anyhow!(e))?;
    let slug = leadgate::domain::Slug::parse(&args.slug).map_err(|e| anyhow!(e))?;
    if let Some(variant) = &args.variant
        && !leadgate::qr::is_variant(variant)
    {
        return Err(anyhow!(
            "--variant {variant:?} must be 1 to 32 characters of a-z, 0-9, _ and -"
        ));
    }
    let format = args.format.clone().unwrap_or_else(|| {
        match args.out.extension().and_then(|e| e.to_str()) {
            Some("svg") => "svg".into(),
            _ => "png".into(),
        }
    });
    let size = args.size.to_string();
    let style = leadgate::qr::Style::parse(|key| match key {
        "size" => Some(size.clone()),
        "ecc" => Some(args.ecc.clone()),
        _ => None,
    })
    .map_err(|e| anyhow!(e))?;
    let mut url = format!("{}/q/{slug}", config.public_url);
    if let Some(variant) = &args.variant {
        url.push_str(&format!("?v={variant}"));
    }
    let bytes = match format.as_str() {
        "svg" => leadgate::qr::svg(&url, &style)
            .map_err(|e| anyhow!(e))?
            .into_bytes(),
        _ => leadgate::qr::png(&url, &style).map_err(|e| anyhow!(e))?,
    };
    std::fs::write(&args.out, bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("wrote {} ({format}) encoding {url}", args.out.display());
    Ok(())
}

fn check(args: StoreArgs) -> anyhow::Result<()> {
    let config = store_config(args)?;
    let store = leadgate::store::Store::open(&config.store_path(), config.tz.clone())
        .map_err(|e| anyhow!(e))?;
    let report = store.check_blocking().map_err(|e| anyhow!(e));
    store.close_blocking();
    let report = report?;
    println!(
        "{} leads, {} contacts, {} idempotency keys checked",
        report.leads, report.contacts, report.tokens
    );
    if report.erased > 0 {
        println!("{} erased leads recounted from their stubs", report.erased);
    }
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    if report.problems.is_empty() {
        println!("ok: every counter, index and token agrees with the stored leads");
        Ok(())
    } else {
        Err(anyhow!("{} problems found", report.problems.len()))
    }
}

fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let file = file_settings(args.store.config.as_ref())?;
    let settings = Settings {
        data: args.store.data,
        ..Settings::default()
    }
    .or(env_settings()?)
    .or(file);
    let config = settings.into_config(false).map_err(|e| anyhow!(e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let forms = match &config.forms_dir {
            Some(dir) => leadgate::forms::FormSet::load_dir(dir).map_err(|e| anyhow!(e))?,
            None => leadgate::forms::FormSet::builtin(),
        };
        let path = config.store_path();
        let tz = config.tz.clone();
        let store = tokio::task::spawn_blocking(move || leadgate::store::Store::open(&path, tz)).await?.map_err(|e| anyhow!(e))?;
        let started = std::time::Instant::now();
        let generated = leadgate::demo::generate(&store, &forms, args.scale, jiff::Timestamp::now()).await;
        store.close().await;
        let (leads, conversions) = generated.map_err(|e| anyhow!(e))?;
        let (length, on_disk) = store_size(&config.store_path());
        eprintln!(
            "generated {leads} leads and {conversions} conversion records over {} campaigns in {:.1} s; store {} MB on disk ({} bytes per lead), file length {} MB",
            leadgate::demo::SCALE_CAMPAIGNS,
            started.elapsed().as_secs_f64(),
            on_disk / 1_000_000,
            on_disk / leads.max(1) as u64,
            length / 1_000_000,
        );
        Ok(())
    })
}

/// The store file's length and the bytes it takes on disk. redb grows its file ahead of
/// need (doubling, up to 4 GiB) without writing the new part, so the length overstates
/// what the store uses; the disk holds only the pages written.
fn store_size(path: &std::path::Path) -> (u64, u64) {
    let Ok(metadata) = std::fs::metadata(path) else {
        return (0, 0);
    };
    #[cfg(unix)]
    let on_disk = std::os::unix::fs::MetadataExt::blocks(&metadata) * 512;
    #[cfg(not(unix))]
    let on_disk = metadata.len();
    (metadata.len(), on_disk.min(metadata.len()))
}

fn compact(args: StoreArgs) -> anyhow::Result<()> {
    let config = store_config(args)?;
    let (before, after) =
        leadgate::store::Store::compact_file(&config.store_path()).map_err(|e| anyhow!(e))?;
    println!(
        "{}: {:.1} MB -> {:.1} MB",
        config.store_path().display(),
        before as f64 / 1e6,
        after as f64 / 1e6
    );
    Ok(())
}

fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let config = store_config(args.store)?;
    let out = args.out;
    // Written beside the file and renamed once whole and verified: a backup cut short
    // never takes the name a nightly job (or a restore) will look for.
    let mut partial = out.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let file = create_private(&partial)?;
    let written = write_backup(&config, file, &partial);
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    let (summary, from_server) = written?;
    std::fs::rename(&partial, &out)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        leadgate::store::copy::sync_dir(dir).map_err(|e| anyhow!(e))?;
    }
    let bytes = std::fs::metadata(&out).map_or(0, |m| m.len());
    eprintln!(
        "wrote {} ({:.1} MB, {} tables, {} rows, taken {}{})",
        out.display(),
        bytes as f64 / 1e6,
        summary.copied.tables,
        summary.copied.rows,
        summary.taken_at,
        if from_server {
            " from the running server"
        } else {
            ""
        }
    );
    Ok(())
}

/// The writer queue and page cache of the store `leadgate backup` opens itself.
const BACKUP_QUEUE: usize = 64;
const BACKUP_CACHE: usize = 32 << 20;

/// Writes the backup into `file` (at `path`): from the server running on the data
/// directory if one answers on its socket, else from the store itself. Returns what it
/// holds (verified by reading it back) and whether the server wrote it.
fn write_backup(
    config: &Config,
    file: std::fs::File,
    path: &std::path::Path,
) -> anyhow::Result<(leadgate::store::backup::Summary, bool)> {
    let mut out = std::io::BufWriter::new(file);
    let from_server = leadgate::backup_socket::fetch(&config.data_dir, &mut out)
        .map_err(|e| anyhow!(e))?
        .is_some();
    if !from_server {
        // A backup reads every page once: redb's default 1 GiB cache would only grow.
        let options = leadgate::store::OpenOptions {
            writer_queue: BACKUP_QUEUE,
            cache_bytes: Some(BACKUP_CACHE),
            ..Default::default()
        };
        let store =
            leadgate::store::Store::open_with(&config.store_path(), config.tz.clone(), options)
                .map_err(|e| anyhow!(e))?;
        let written = store.backup_blocking(jiff::Timestamp::now(), &mut out);
        store.close_blocking();
        written.map_err(|e| anyhow!(e))?;
    }
    let file = out.into_inner().map_err(|e| anyhow!(e.into_error()))?;
    file.sync_all().context("cannot write the backup to disk")?;
    drop(file);
    let reread = std::fs::File::open(path).context("cannot read the backup back")?;
    let summary = leadgate::store::backup::verify(reread)
        .map_err(|e| anyhow!("the backup is not whole: {}", e.message))?;
    Ok((summary, from_server))
}

/// Creates `path` readable by its owner only: a backup holds every visitor's phone.
fn create_private(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let config = settings_config(&args.store)?;
    let summary =
        leadgate::store::restore::restore(&args.from, &config.data_dir, &config.tz, args.force)
            .map_err(|e| anyhow!(e))?;
    println!(
        "restored {} tables, {} rows from the backup taken {} into {}",
        summary.backup.copied.tables,
        summary.backup.copied.rows,
        summary.backup.taken_at,
        config.store_path().display()
    );
    if summary.erased_again > 0 {
        println!(
            "erased again {} people whom the replaced store's erasure receipts name (erased after the backup was taken)",
            summary.erased_again
        );
    }
    println!(
        "{} leads, {} contacts checked: ok",
        summary.leads, summary.contacts
    );
    Ok(())
}
