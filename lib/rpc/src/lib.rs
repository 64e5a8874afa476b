//! The wire protocol between vminsert/vmselect and vmstorage (specified in
//! `docs/wire-protocol.md`): a versioned handshake, length-prefixed frames, prost control
//! messages, compact binary bulk payloads (rows, series blocks) compressed with zstd, deadlines,
//! typed errors, and a pooled client that tracks node health.

pub mod client;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod messages;
pub mod row_batch;
pub mod series_chunk;
pub mod server;

pub use client::{ClientConfig, NodeClient};
pub use error::{ErrorCode, RpcError};
pub use handshake::Role;
