//! A receiver for delivery tests: a small hyper server on 127.0.0.1 that records every
//! request and answers from a script. It stops when dropped.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::oneshot;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A query parameter of the request's address.
    pub fn query(&self, key: &str) -> Option<String> {
        let url = url::Url::parse(&format!("http://x{}", self.target)).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// The answer to the `n`th request (0-based): status and body.
pub type Script = Arc<dyn Fn(usize) -> (u16, String) + Send + Sync>;

pub struct Receiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    _stop: oneshot::Sender<()>,
}

impl Receiver {
    /// Answers every request with `status` and `body`.
    pub async fn answering(status: u16, body: &str) -> Receiver {
        let body = body.to_owned();
        Receiver::scripted(Arc::new(move |_| (status, body.clone()))).await
    }

    /// A receiver answering `status` (with an empty body) until the test stores another
    /// in the returned switch.
    pub async fn switchable(status: u16) -> (Receiver, Arc<std::sync::atomic::AtomicU16>) {
        use std::sync::atomic::{AtomicU16, Ordering};
        let switch = Arc::new(AtomicU16::new(status));
        let answer = switch.clone();
        let receiver = Receiver::scripted(Arc::new(move |_| {
            (answer.load(Ordering::SeqCst), "".into())
        }))
        .await;
        (receiver, switch)
    }

    pub async fn scripted(script: Script) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::on(listener, script)
    }

    /// Serves on `listener` (to come back on a port a test chose before).
    pub fn on(listener: tokio::net::TcpListener, script: Script) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = &mut stopped => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let log = log.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let log = log.clone();
                            let script = script.clone();
                            async move {
                                let target = request
                                    .uri()
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default();
                                let headers = request
                                    .headers()
                                    .iter()
                                    .map(|(n, v)| {
                                        (n.to_string(), v.to_str().unwrap_or_default().to_owned())
                                    })
                                    .collect();
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                let n = {
                                    let mut log = log.lock().unwrap();
                                    log.push(Received {
                                        target,
                                        headers,
                                        body,
                                    });
                                    log.len() - 1
                                };
                                let (status, body) = script(n);
                                let response = hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap();
                                Ok::<_, Infallible>(response)
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            port,
            received,
            _stop: stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until `n` requests have arrived, and returns all so far.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited 10 s for {n} requests, got {}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
