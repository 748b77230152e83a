//! Transport: start-up, the accept loop, per-connection limits and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::app;
use crate::config::Config;
use crate::conns::{Activity, PerAddress};
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
/// How long a connection told to close (idle, or shutdown) may take to finish closing while
/// no request is in flight: an HTTP/2 graceful close waits for the client to acknowledge a
/// PING, and a client that never does must not keep the connection. "In flight" ends when
/// an answer is built, not when its last byte has left (hyper buffers the body), so this
/// is also the time a slow client has to finish downloading a large export after the close.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// Everything `serve` builds before it accepts the first connection.
pub async fn prepare(config: &Config) -> Result<AppState> {
    let forms = match &config.forms_dir {
        Some(dir) => FormSet::load_dir(dir).map_err(Error::internal)?,
        None => FormSet::builtin(),
    };
    let path = config.store_path();
    let tz = config.tz.clone();
    let options = crate::store::OpenOptions {
        faults: config.commit_faults.clone(),
        writer_queue: config.writer_queue,
        cache_bytes: Some(config.cache_mb << 20),
        quick_repair: config.quick_repair,
    };
    let store = tokio::task::spawn_blocking(move || Store::open_with(&path, tz, options))
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
    if config.replicate.is_some() {
        // Before anything is written: every event from now on is kept until PostgreSQL
        // has it (a new node ships from its event 1).
        store.register_replica().await?;
    } else if store
        .event_cursor(crate::replica::CONSUMER.into())
        .await?
        .is_some()
    {
        // Kept, not dropped: forgetting the consumer would lose what PostgreSQL lacks.
        let waiting = store.event_backlog(crate::replica::CONSUMER.into()).await?;
        tracing::warn!(
            "this node replicated to PostgreSQL before: its outbox keeps events for it \
             ({waiting} waiting now, and every new one); start with --replicate to ship them"
        );
    }
    if config.demo {
        crate::demo::load(&store, &forms, jiff::Timestamp::now()).await?;
    }
    let mut relay_settings = crate::relay::Settings::new(
        config.node_id.clone(),
        config.public_url.clone(),
        config.allow_private_destinations,
    );
    relay_settings.retry_delays = config.delivery_retry_delays.clone();
    let mut service = Service::new(store, forms, relay_settings)?;
    service.clock = config.clock.clone();
    if let Some(target) = &config.replicate {
        let settings = crate::replica::Settings {
            node: config.node_id.clone(),
            target: target.clone(),
            retry_delays: config.replica_retry_delays.clone(),
            heartbeat: config.replica_heartbeat,
            pull_every: config.replica_pull_every,
            batch: config.replica_batch.max(1),
            clock: config.clock.clone(),
        };
        let replica =
            crate::replica::Replica::new(service.store.clone(), settings, service.metrics.clone())
                .telling(service.relays.clone());
        service.replica = Some(replica);
    }
    Ok(AppState {
        service: Arc::new(service),
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

/// Looks for leads past their follow-up deadline every `every` (and once at start, so
/// deadlines that passed while the server was down are reminded of at once).
fn spawn_overdue_checker(
    service: Arc<Service>,
    clock: crate::clock::Clock,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(error) = crate::service::leads::remind_overdue(&service, clock.now()).await {
                tracing::warn!("overdue leads not checked: {error}");
            }
        }
    })
}

/// Erasure's background work every `every`: retention daily, and the rewrite that takes
/// erased values off the disk (see `service::erasures::Upkeep`).
fn spawn_privacy_upkeep(
    service: Arc<Service>,
    mut upkeep: crate::service::erasures::Upkeep,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            upkeep.round(&service).await;
        }
    })
}

/// Sends the scheduled reports that are due, every `every`. The first look is at once, so
/// a report missed while the server was down goes out at the start.
fn spawn_scheduler(service: Arc<Service>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        // A slow look (a big ROI roll-up) is not followed by a burst of catch-up looks.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            crate::service::schedules::send_due(&service).await;
        }
    })
}

/// Runs one connection until it ends. It is closed gracefully (HTTP/2 GOAWAY, or no more
/// keep-alive for HTTP/1.1; requests in flight finish) when the server shuts down or when it
/// has had no request in flight for `idle_timeout`: hyper closes neither an HTTP/2
/// connection with no stream whose client answers PINGs, nor would anything else.
async fn drive<I, S, B>(
    connection: auto::Connection<'_, I, S, TokioExecutor>,
    activity: &Activity,
    idle_timeout: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<B>,
        >,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    let mut connection = std::pin::pin!(connection);
    // Set once the connection was asked to close: from then on, only the grace matters.
    let mut closing_since: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now();
        // While a request is in flight there is no idle deadline; look again a timeout
        // later (the request's own timeouts bound it), or when the connection wakes us.
        let wake_at = match closing_since {
            Some(since) => since + CLOSE_GRACE,
            None => activity
                .idle_deadline(idle_timeout)
                .unwrap_or(now + idle_timeout),
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!("connection ended: {error}");
                }
                return;
            }
            _ = shutdown.changed(), if closing_since.is_none() => {
                // A changed value or a dropped sender: either way the server is stopping.
                connection.as_mut().graceful_shutdown();
                closing_since = Some(tokio::time::Instant::now());
            }
            () = tokio::time::sleep_until(wake_at) => {
                let now = tokio::time::Instant::now();
                match closing_since {
                    None => {
                        if activity.idle_deadline(idle_timeout).is_some_and(|at| at <= now) {
                            tracing::debug!("closing a connection idle for {idle_timeout:?}");
                            connection.as_mut().graceful_shutdown();
                            closing_since = Some(now);
                        }
                    }
                    // A request that slipped in before the close is let finish.
                    Some(_) if activity.idle_deadline(Duration::ZERO).is_none() => {
                        closing_since = Some(now);
                    }
                    Some(_) => return,
                }
            }
        }
    }
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
    // Each connection task holds a receiver: `true` asks it to close gracefully, and the
    // sender sees every receiver gone once all connections have ended.
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
    // One address may never take more than half of all slots, whatever the setting, so
    // other clients can still connect when the global cap is set low.
    let per_address = PerAddress::new(
        config
            .max_connections_per_ip
            .min((config.max_connections / 2).max(1)),
    );
    let evictor = spawn_evictor(state.clone());
    let flusher = spawn_view_flusher(service.clone());
    // Destinations' backlogs (left by a crash, too) go out from the stored cursors on.
    service.relays.start().await?;
    // Never fails for PostgreSQL being away: the task keeps trying while the node serves.
    if let Some(replica) = &service.replica {
        replica.start().await?;
    }
    // `leadgate backup` on this data directory asks here while the store is locked.
    #[cfg(unix)]
    let backup_socket = crate::backup_socket::listen(service.clone(), &config.data_dir);
    let overdue_checker = spawn_overdue_checker(
        service.clone(),
        config.clock.clone(),
        config.follow_up_check,
    );
    let scheduler = spawn_scheduler(service.clone(), config.schedule_tick);
    let privacy = spawn_privacy_upkeep(
        service.clone(),
        crate::service::erasures::Upkeep::new(config.retain_days, config.rewrite_delay),
        config.privacy_tick,
    );
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
                // Counted by the socket's peer address: X-Forwarded-For comes with each
                // request, not with the connection, so a proxy's clients share its count
                // (the cap is far above what one proxy's visitors need at once).
                // A trusted proxy carries many visitors: it is held by the global cap only.
                let capped = !state.limits.is_trusted_proxy(peer.ip());
                let address_slot = if capped {
                    match per_address.try_acquire(peer.ip()) {
                        Some(slot) => Some(slot),
                        None => {
                            // Refused here, in the loop, without a task: dropping the stream
                            // closes it at once, and the next address's connection is
                            // accepted right after.
                            tracing::debug!("refused a connection from {}: at its address's cap", peer.ip());
                            drop(stream);
                            continue;
                        }
                    }
                } else {
                    None
                };
                // Answers are small and latency matters more than packet count.
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let activity = Activity::new();
                let service = {
                    let activity = activity.clone();
                    service_fn(move |request| {
                        // In flight from the request head until the answer is built; a
                        // whole body is sent in one go, so that is the stream's life, and
                        // a streamed one (a backup) holds it until its last chunk.
                        let in_flight = activity.begin();
                        let state = state.clone();
                        async move {
                            let reply = app::handle(state, request, peer).await;
                            Ok::<_, Infallible>(reply.map(|body| body.holding(in_flight)))
                        }
                    })
                };
                let builder = builder.clone();
                let closing = closing_rx.clone();
                let header_timeout = config.header_timeout;
                let idle_timeout = config.h2_idle_timeout;
                tokio::spawn(async move {
                    // hyper's head timeout starts only once it knows the protocol: a client
                    // that connects and says nothing would hold its slot for ever.
                    if request_starts(&stream, header_timeout).await {
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        drive(connection, &activity, idle_timeout, closing).await;
                    }
                    drop(address_slot);
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    // Every background task is waited for after its abort: each holds the store, which
    // must be closed before this returns (an aborted task is dropped only when next
    // polled, and until then its clone keeps the file open and locked). A reminder or
    // report being written is written whole or not at all, and then sent at the next start.
    evictor.abort();
    flusher.abort();
    overdue_checker.abort();
    scheduler.abort();
    privacy.abort();
    let _ = evictor.await;
    let _ = flusher.await;
    let _ = overdue_checker.await;
    let _ = scheduler.await;
    let _ = privacy.await;
    drop(listener);
    #[cfg(unix)]
    if let Some(socket) = backup_socket {
        socket.close().await;
    }
    tracing::info!("shutting down: finishing requests in flight");
    drop(state);
    let _ = closing_tx.send(true);
    drop(closing_rx);
    if tokio::time::timeout(DRAIN_TIMEOUT, closing_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN_TIMEOUT:?}; closing anyway");
    }
    // The relays store where they are (an event sent but not yet recorded is sent again
    // at the next start), the last second's form views are written, then the store closes.
    if tokio::time::timeout(DRAIN_TIMEOUT, service.relays.stop())
        .await
        .is_err()
    {
        tracing::warn!("the relays did not stop within {DRAIN_TIMEOUT:?}");
    }
    if let Some(replica) = &service.replica
        && tokio::time::timeout(DRAIN_TIMEOUT, replica.stop())
            .await
            .is_err()
    {
        tracing::warn!("replication did not stop within {DRAIN_TIMEOUT:?}");
    }
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
