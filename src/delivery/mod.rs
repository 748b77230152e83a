//! Delivery to other systems (API.md, "Delivery to other systems (outbox)"): what goes
//! out for an outbox event, kept free of I/O so every rule can be tested with a fixed
//! clock.
//!
//! - [`kinds`]: each destination kind's request (body, headers, signature) and the answer
//!   that counts as delivered.
//! - [`chat`]: the masked Chinese texts the chat robots send salespeople, and digests.
//! - [`rate`]: pacing per robot (20 messages a minute, then a digest).

pub mod chat;
pub mod kinds;
pub mod rate;

pub use chat::ChatMessage;
pub use kinds::{Kind, OutgoingRequest, check_secret, delivered, request};
pub use rate::{Pacer, Plan};
