//! Limits measured in the same run, so figures are ratios on a noisy shared machine: raw
//! PostgreSQL INSERTs of post rows (`pg`), and a bare tokio websocket broadcast server
//! (`ws_server`) for the fan-out ceiling.

pub mod pg;
pub mod ws_server;
