//! leadgate: a lead-capture edge gateway.
//!
//! Landing forms, QR scans and tracking-number calls become source-tagged leads, stored
//! durably in one embedded redb file before the visitor is told "thanks". Marketers then
//! compare what each campaign cost with the deals and orders it brought.
//!
//! # Layout
//!
//! - [`config`]: flags > env > TOML file > defaults, validated once.
//! - [`server`]: transport only (accept loop, timeouts, graceful shutdown); [`conns`]: its
//!   per-address connection counts and per-connection idle tracking.
//! - [`app`]: routing, admin auth, and turning [`Error`]s into responses.
//! - [`routes`]: every address as data: dispatch, metrics names, the OpenAPI check.
//! - [`service`]: every operation once (record a lead from any channel, imports,
//!   conversions, campaigns and costs, the ROI report), typed, without HTTP; the API, the
//!   console and the command line are adapters over it.
//! - [`state`]: what the HTTP adapters share.
//! - `handlers`: the JSON API and public pages over the service layer, one module per area.
//! - [`admin`]: the marketer console (server-rendered pages, CSRF defence, charts).
//! - [`http`]: bounded body reading, content negotiation, response builders.
//! - [`domain`]: newtypes valid by construction (slug, phone, e-mail, money, …).
//! - [`forms`] and [`submission`]: form definitions and validation of a post.
//! - [`campaign`] and [`lead`]: the stored records and their JSON/CSV views.
//! - [`delivery`]: what goes out for an outbox event, without I/O: each destination
//!   kind's signed request and success rule, masked chat texts, per-robot pacing.
//! - [`destination`]: a destination as the marketer set it (kind, address, filters), and
//!   its JSON; [`relay`]: one worker per destination delivering the outbox's events in
//!   order with retries; [`outbound`]: the HTTP client they send with, which refuses
//!   private addresses after DNS resolution.
//! - [`schedule`]: report schedules (which destination gets the ROI summary of which day,
//!   ISO week or month, and when) and their calendar arithmetic; [`clock`]: the wall
//!   clock they read, replaceable in tests.
//! - [`replica`]: replication of the outbox to PostgreSQL (several nodes, one shared
//!   database): schema migrations, exactly-once batches, the shipping task.
//! - [`store`]: the only module that knows redb; a single group-committing writer. Its
//!   `erasure` erases a person (or leads past retention) keeping the counters and the
//!   journeys anonymous; `copy` writes a snapshot into a fresh file, which the writer puts
//!   in place after erasures so that deleted values leave the disk.
//! - [`templates`]: askama page structs (HTML in `templates/`).
#![forbid(unsafe_code)]

pub mod activity;
pub mod admin;
pub mod app;
pub mod attribution;
pub mod audit;
pub mod backup_socket;
pub mod campaign;
pub mod clock;
pub mod columns;
pub mod config;
pub mod conns;
pub mod conversion;
pub mod cost;
pub mod delivery;
pub mod demo;
pub mod destination;
pub mod domain;
pub mod error;
pub mod faults;
pub mod forms;
pub(crate) mod handlers;
pub mod http;
pub mod import;
pub mod lead;
pub mod limits;
pub mod markov;
pub mod metrics;
pub mod openapi;
pub mod outbound;
pub mod qr;
pub mod qr_target;
pub mod relay;
pub mod replica;
pub mod report;
pub mod roi;
pub mod routes;
pub mod salesperson;
pub mod scanner;
pub mod schedule;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod submission;
pub mod templates;
pub mod xlsx;

pub use error::{Error, ErrorKind, Result};

/// A new random admin token: 32 bytes from the OS, hex-encoded, with a recognisable prefix.
pub fn generate_admin_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::internal(format!("no randomness from the OS: {e}")))?;
    Ok(format!(
        "lg_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}
