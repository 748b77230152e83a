//! Transport: start-up, the accept loop, per-connection limits and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::forms::FormSet;
use crate::limits::Limits;
use crate::service::Service;
use crate::state::{AppState, hash_token};
use crate::store::Store;

/// Largest request head (request line and headers) a client may send.
const MAX_HEAD_BYTES: usize = 32 * 1024;
/// How often limiter entries of quiet addresses are dropped.
const EVICT_EVERY: Duration = Duration::from_secs(60);
/// How long shutdown waits for in-flight requests before it gives up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `serve` builds before it accepts the first connection.
pub async fn prepare(config: &Config) -> Result<AppState> {
    let forms = match &config.forms_dir {
        Some(dir) => FormSet::load_dir(dir).map_err(Error::internal)?,
        None => FormSet::builtin(),
    };
    let path = config.store_path();
    let tz = config.tz.clone();
    let faults = config.commit_faults.clone();
    let capacity = config.writer_queue;
    let store = tokio::task::spawn_blocking(move || Store::open_with(&path, tz, faults, capacity))
        .await
        .map_err(|e| Error::internal(format!("store open task failed: {e}")))??;
    let admin_token_hash = match &config.admin_token {
        Some(token) => hash_token(token),
        None => match store.admin_token_hash().await? {
            Some(hash) => hash,
            None => {
                let token = crate::generate_admin_token()?;
                let hash = hash_token(&token);
                store.set_admin_token_hash(hash).await?;
                announce_token(&token);
                hash
            }
        },
    };
    if config.demo {
        crate::demo::load(&store, &forms, jiff::Timestamp::now()).await?;
    }
    Ok(AppState {
        service: Arc::new(Service::new(store, forms)),
        public_url: config.public_url.clone(),
        admin_token_hash,
        call_secret: config.call_secret.as_ref().map(|s| s.as_bytes().to_vec()),
        limits: Limits::new(
            config.rate_limit,
            config.global_rate_limit,
            config.trusted_proxies.clone(),
        ),
        cors_origins: config.cors_origins.clone(),
        body_timeout: config.body_timeout,
        last_probe: std::sync::Mutex::new(None),
    })
}

/// The first start prints the generated token once; only its hash is kept.
fn announce_token(token: &str) {
    eprintln!(
        "\n  Admin token (shown once, keep it safe; `leadgate reset-token` makes a new one):\n\n    {token}\n\n  Use it as: Authorization: Bearer {token}\n"
    );
}

/// The HTTP/2 connection preface; a client may send it in pieces.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits until the client has sent enough to tell HTTP/1 from HTTP/2 (any byte that
/// cannot begin the HTTP/2 preface, or the whole preface), at most `timeout`. False when
/// the client closed or stayed silent.
async fn request_starts(stream: &tokio::net::TcpStream, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 24];
    loop {
        // `timeout_at` polls the peek first, and a peek with bytes waiting is always ready:
        // the deadline must be checked by hand.
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return false,
            Ok(Ok(n)) if n >= H2_PREFACE.len() || !H2_PREFACE.starts_with(&buf[..n]) => {
                return true;
            }
            // Part of the preface: peek would return the same bytes at once, so wait a
            // little for the rest.
            Ok(Ok(_)) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// Periodically forgets rate-limit entries of addresses that went quiet.
fn spawn_evictor(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVICT_EVERY);
        loop {
            tick.tick().await;
            state.limits.evict();
        }
    })
}

/// Writes the form views summed in memory, once a second (at most a second of view counts
/// is lost in a crash).
fn spawn_view_flusher(service: Arc<Service>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if let Err(error) = crate::service::visits::flush(&service).await {
                tracing::warn!("form views not written yet: {error}");
            }
        }
    })
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests
/// finish (their commits included) and closes the store.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let state = Arc::new(prepare(&config).await?);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            "listening on http://{addr} (public URL {})",
            config.public_url
        );
    }
    let service = state.service.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        // HTTP/2 has no head timeout: ping idle connections, drop those that never answer.
        .keep_alive_interval(Some(config.header_timeout))
        .keep_alive_timeout(config.header_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    let evictor = spawn_evictor(state.clone());
    let flusher = spawn_view_flusher(service.clone());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the connection cap, stop accepting: new clients wait in the kernel's queue.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(connection) => connection,
                    Err(error) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Answers are small and latency matters more than packet count.
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(app::handle(state, request, peer).await) }
                });
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let header_timeout = config.header_timeout;
                tokio::spawn(async move {
                    // hyper's head timeout starts only once it knows the protocol: a client
                    // that connects and says nothing would hold its slot for ever.
                    if request_starts(&stream, header_timeout).await {
                        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                        if let Err(error) = watcher.watch(connection).await {
                            tracing::debug!("connection ended: {error}");
                        }
                    }
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    evictor.abort();
    flusher.abort();
    drop(listener);
    tracing::info!("shutting down: finishing requests in flight");
    drop(state);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN_TIMEOUT:?}; closing anyway");
    }
    // The last second's form views, then the store.
    if let Err(error) = crate::service::visits::flush(&service).await {
        tracing::warn!("the last form views were not written: {error}");
    }
    let store = service.store.clone();
    drop(service);
    if tokio::time::timeout(DRAIN_TIMEOUT, store.close())
        .await
        .is_err()
    {
        tracing::warn!("the store writer did not finish within {DRAIN_TIMEOUT:?}");
    }
    tracing::info!("stopped");
    Ok(())
}
