//! `Outbound` against real sockets on 127.0.0.1: a small hyper server that records what
//! arrives, and raw TCP servers for receivers that misbehave.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// What the test server saw of one request.
struct Received {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

struct TestServer {
    addr: SocketAddr,
    /// Accepted TCP connections: 0 proves nothing was even attempted.
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl TestServer {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

type Answerer = dyn Fn(SocketAddr) -> Response<Full<Bytes>> + Send + Sync;

/// An HTTP/1 server on 127.0.0.1 answering every request with `answer(its address)`.
async fn start(
    answer: impl Fn(SocketAddr) -> Response<Full<Bytes>> + Send + Sync + 'static,
) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = TestServer {
        addr: listener.local_addr().unwrap(),
        connections: Arc::default(),
        received: Arc::default(),
    };
    let answer: Arc<Answerer> = Arc::new(answer);
    let (addr, connections, received) = (
        server.addr,
        server.connections.clone(),
        server.received.clone(),
    );
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            connections.fetch_add(1, Ordering::SeqCst);
            let (answer, received) = (answer.clone(), received.clone());
            let service = service_fn(move |request: Request<Incoming>| {
                let (answer, received) = (answer.clone(), received.clone());
                async move {
                    let seen = record(request).await?;
                    received.lock().unwrap().push(seen);
                    Ok::<_, hyper::Error>(answer(addr))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    server
}

async fn record(request: Request<Incoming>) -> Result<Received, hyper::Error> {
    let (parts, body) = request.into_parts();
    Ok(Received {
        method: parts.method.to_string(),
        path: parts.uri.to_string(),
        headers: parts.headers,
        body: body.collect().await?.to_bytes().to_vec(),
    })
}

fn answer(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(body.into()))
        .unwrap()
}

/// A receiver that writes `head` (raw HTTP, maybe empty) on every connection without
/// reading the request, then either sends body bytes for ever (`endless`) or holds the
/// connection open in silence.
async fn raw_server(head: &'static str, endless: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                // Only after the request: hyper rejects an answer that comes before it.
                read_request(&mut stream).await;
                let _ = stream.write_all(head.as_bytes()).await;
                if endless {
                    let chunk = [b'x'; 8192];
                    while stream.write_all(&chunk).await.is_ok() {}
                } else {
                    std::future::pending::<()>().await;
                }
            });
        }
    });
    addr
}

/// Reads one request's head and its `content-length` body, as little as that takes.
async fn read_request(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let body_start = loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&seen[..body_start]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |value| value.trim().parse().unwrap());
    while seen.len() < body_start + length {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
}

fn request(url: String) -> OutgoingRequest {
    OutgoingRequest {
        url,
        headers: vec![
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("webhook-id".into(), "01KTESTEVENT".into()),
        ],
        body: br#"{"type":"test"}"#.to_vec(),
    }
}

#[test]
fn client_builds_with_rustls_outside_a_runtime() {
    // reqwest 0.13 picks rustls' crypto provider and the platform verifier while building:
    // a missing provider would panic here, not at the first https delivery.
    Outbound::new(false).unwrap();
    Outbound::new(true).unwrap();
}

#[tokio::test]
async fn post_delivers_headers_and_body_and_returns_the_answer() {
    let server = start(|_| answer(200, "ok, thanks")).await;
    let outbound = Outbound::new(true).unwrap();
    let got = outbound
        .post(&request(server.url("/hook?x=1")))
        .await
        .unwrap();
    assert_eq!(
        got,
        Answer {
            status: 200,
            body: b"ok, thanks".to_vec()
        }
    );
    let received = server.received.lock().unwrap();
    let [seen] = received.as_slice() else {
        panic!("{} requests", received.len())
    };
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/hook?x=1");
    assert_eq!(
        seen.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert_eq!(seen.headers["webhook-id"], "01KTESTEVENT");
    assert_eq!(seen.headers["user-agent"], USER_AGENT);
    assert_eq!(seen.body, br#"{"type":"test"}"#);
}

#[tokio::test]
async fn private_address_is_refused_without_connecting() {
    let server = start(|_| answer(200, "")).await;
    let outbound = Outbound::new(false).unwrap();
    let port = server.addr.port();
    let literal = outbound.post(&request(server.url("/"))).await;
    assert_eq!(literal, Err("private address 127.0.0.1 refused".into()));
    let mapped = outbound
        .post(&request(format!("http://[::ffff:127.0.0.1]:{port}/")))
        .await;
    assert_eq!(
        mapped,
        Err("private address ::ffff:127.0.0.1 refused".into())
    );
    // A name goes through the resolver, which drops the loopback addresses it finds.
    let named = outbound
        .post(&request(format!("http://localhost:{port}/")))
        .await
        .unwrap_err();
    assert!(
        named == "private address 127.0.0.1 refused" || named == "private address ::1 refused",
        "{named}"
    );
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn allowed_private_name_is_resolved_and_reached() {
    let server = start(|_| answer(204, "")).await;
    let outbound = Outbound::new(true).unwrap();
    let url = format!("http://localhost:{}/", server.addr.port());
    assert_eq!(outbound.post(&request(url)).await.unwrap().status, 204);
    assert_eq!(server.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn redirect_is_returned_not_followed() {
    let server = start(|addr| {
        Response::builder()
            .status(302)
            .header("location", format!("http://{addr}/elsewhere"))
            .body(Full::new(Bytes::new()))
            .unwrap()
    })
    .await;
    let outbound = Outbound::new(true).unwrap();
    let got = outbound.post(&request(server.url("/hook"))).await.unwrap();
    assert_eq!(got.status, 302);
    let received = server.received.lock().unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/hook");
}

#[tokio::test]
async fn long_answer_is_cut_to_64_kib() {
    let long: Vec<u8> = (0..100 * 1024).map(|i| (i % 251) as u8).collect();
    let sent = long.clone();
    let server = start(move |_| answer(200, sent.clone())).await;
    let outbound = Outbound::new(true).unwrap();
    let got = outbound.post(&request(server.url("/"))).await.unwrap();
    assert_eq!(got.body.len(), MAX_ANSWER_BYTES);
    assert_eq!(got.body, long[..MAX_ANSWER_BYTES]);
}

#[tokio::test]
async fn endless_answer_stops_being_read_at_64_kib() {
    let addr = raw_server(
        "HTTP/1.1 200 OK\r\ncontent-length: 1000000000000\r\n\r\n",
        true,
    )
    .await;
    let outbound = Outbound::with_timeout(true, Duration::from_secs(10)).unwrap();
    let started = Instant::now();
    let got = outbound
        .post(&request(format!("http://{addr}/")))
        .await
        .unwrap();
    assert_eq!(got.body, vec![b'x'; MAX_ANSWER_BYTES]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn closed_port_is_connection_refused() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let outbound = Outbound::new(true).unwrap();
    let got = outbound
        .post(&request(format!("http://127.0.0.1:{port}/")))
        .await;
    assert_eq!(got, Err(format!("connection refused: 127.0.0.1:{port}")));
}

#[tokio::test]
async fn silent_receiver_times_out() {
    let addr = raw_server("", false).await;
    let outbound = Outbound::with_timeout(true, Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let got = outbound.post(&request(format!("http://{addr}/"))).await;
    let took = started.elapsed();
    assert_eq!(got, Err("timed out after 300 ms".into()));
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[tokio::test]
async fn answer_that_stalls_mid_body_times_out() {
    // The timeout covers the answer too: a receiver that trickles cannot hold a worker.
    let addr = raw_server("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", false).await;
    let outbound = Outbound::with_timeout(true, Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    let got = outbound.post(&request(format!("http://{addr}/"))).await;
    assert_eq!(got, Err("timed out after 300 ms".into()));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn https_to_a_plain_http_receiver_fails_in_tls() {
    // Runs a real rustls handshake: the provider and verifier work at send time too.
    let server = start(|_| answer(200, "")).await;
    let outbound = Outbound::new(true).unwrap();
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    let error = outbound.post(&request(url)).await.unwrap_err();
    let prefix = format!("could not connect to 127.0.0.1:{}: ", server.addr.port());
    assert!(error.starts_with(&prefix), "{error}");
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn bad_requests_are_refused_before_sending() {
    let outbound = Outbound::new(true).unwrap();
    let mut bad_header = request("http://127.0.0.1:9/".into());
    bad_header.headers.push(("bad name".into(), "x".into()));
    assert_eq!(
        outbound.post(&bad_header).await,
        Err(r#"invalid header name "bad name""#.into())
    );
    let bad_url = request("ftp://1.1.1.1/".into());
    assert_eq!(
        outbound.post(&bad_url).await,
        Err("URL scheme must be http or https, not ftp".into())
    );
}

#[test]
fn durations_read_as_written() {
    assert_eq!(duration_text(REQUEST_TIMEOUT), "15 s");
    assert_eq!(duration_text(Duration::from_millis(300)), "300 ms");
}
