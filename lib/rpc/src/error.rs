//! Errors that cross the wire, and errors of the transport itself.

use thiserror::Error;

/// The kind of a failure, as sent in an error frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ErrorCode {
    /// Anything else; the message says what.
    Internal = 1,
    /// The storage node is read-only (low free disk): send the rows elsewhere.
    ReadOnly = 2,
    /// The request is malformed or asks for something impossible.
    InvalidRequest = 3,
    /// The request exceeds a limit (series, samples, size); the message names the limit.
    LimitExceeded = 4,
    /// The deadline passed.
    Timeout = 5,
    /// The node is stopping and takes no new requests.
    ShuttingDown = 6,
    /// The node is overloaded; retry later or elsewhere.
    Overloaded = 7,
}

impl ErrorCode {
    /// The code for a number read from the wire; unknown numbers are `Internal`.
    pub fn from_u32(v: u32) -> Self {
        match v {
            2 => Self::ReadOnly,
            3 => Self::InvalidRequest,
            4 => Self::LimitExceeded,
            5 => Self::Timeout,
            6 => Self::ShuttingDown,
            7 => Self::Overloaded,
            _ => Self::Internal,
        }
    }
}

/// A failed call: either the peer answered with an error frame, or the transport failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RpcError {
    /// The peer answered with an error.
    #[error("{node}: {message}")]
    Remote {
        /// The peer's address.
        node: String,
        /// What kind of failure.
        code: ErrorCode,
        /// The peer's message.
        message: String,
    },
    /// The connection could not be made or broke: the node counts as unavailable.
    #[error("{node}: {message}")]
    Transport {
        /// The peer's address.
        node: String,
        /// What failed.
        message: String,
    },
    /// Bytes on the wire broke the protocol.
    #[error("{node}: protocol error: {message}")]
    Protocol {
        /// The peer's address.
        node: String,
        /// What was wrong.
        message: String,
    },
    /// The deadline passed before the answer arrived.
    #[error("{node}: no answer within {timeout_ms} ms")]
    Timeout {
        /// The peer's address.
        node: String,
        /// The deadline that passed.
        timeout_ms: u64,
    },
}

impl RpcError {
    /// Whether the node should be treated as down for routing (as opposed to a refusal of this
    /// one request).
    pub fn is_unavailable(&self) -> bool {
        match self {
            RpcError::Transport { .. } | RpcError::Timeout { .. } | RpcError::Protocol { .. } => {
                true
            }
            RpcError::Remote { code, .. } => {
                matches!(
                    code,
                    ErrorCode::ShuttingDown | ErrorCode::ReadOnly | ErrorCode::Overloaded
                )
            }
        }
    }

    /// The error code, when the peer sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            RpcError::Remote { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A refusal by a service implementation, sent to the client as an error frame.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{message}")]
pub struct ServiceError {
    /// The kind of refusal.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

impl ServiceError {
    /// Builds a service error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
