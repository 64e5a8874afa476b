//! The handshake that opens every connection.
//!
//! ```text
//! client → server: "TSRP" | version u16 LE | role u8 | flags u8   (8 bytes)
//! server → client: "TSRP" | version u16 LE | status u8 | flags u8 (8 bytes)
//! ```
//! `role` is 1 for inserts (vminsert → :8400) and 2 for selects (vmselect → :8401).
//! Client flags bit 0: the client compresses the frames it sends and accepts compressed frames.
//! Server status: 0 accepted; 1 unsupported version; 2 wrong role for this port. The server
//! closes the connection after a non-zero status.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Magic bytes at the start of both hellos.
pub const MAGIC: &[u8; 4] = b"TSRP";
/// The protocol version this build speaks.
pub const VERSION: u16 = 1;
const FLAG_COMPRESS: u8 = 1;

/// Which service a connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Inserts, from vminsert.
    Insert = 1,
    /// Selects, from vmselect.
    Select = 2,
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// I/O failed.
    #[error("handshake failed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer is not speaking this protocol, or refused.
    #[error("handshake refused: {0}")]
    Refused(String),
}

/// Client side: sends the hello and checks the answer. `compress` asks the server to compress
/// the frames it sends back (every frame carries its own compression flag).
pub async fn client_hello<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    role: Role,
    compress: bool,
) -> Result<(), HandshakeError> {
    let mut hello = [0u8; 8];
    hello[..4].copy_from_slice(MAGIC);
    hello[4..6].copy_from_slice(&VERSION.to_le_bytes());
    hello[6] = role as u8;
    hello[7] = if compress { FLAG_COMPRESS } else { 0 };
    s.write_all(&hello).await?;
    s.flush().await?;
    let mut answer = [0u8; 8];
    s.read_exact(&mut answer).await?;
    if &answer[..4] != MAGIC {
        return Err(HandshakeError::Refused(
            "peer is not a storage node (bad magic)".into(),
        ));
    }
    let version = u16::from_le_bytes([answer[4], answer[5]]);
    match answer[6] {
        0 => Ok(()),
        1 => Err(HandshakeError::Refused(format!(
            "storage node speaks protocol version {version}, this client {VERSION}"
        ))),
        2 => Err(HandshakeError::Refused(format!(
            "this port does not serve {role:?} connections"
        ))),
        s => Err(HandshakeError::Refused(format!(
            "unknown handshake status {s}"
        ))),
    }
}

/// Server side: reads the hello and answers it. Returns whether the client wants compressed
/// frames back.
pub async fn server_hello<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    serves: Role,
) -> Result<bool, HandshakeError> {
    let mut hello = [0u8; 8];
    s.read_exact(&mut hello).await?;
    if &hello[..4] != MAGIC {
        return Err(HandshakeError::Refused(
            "client is not speaking this protocol (bad magic)".into(),
        ));
    }
    let version = u16::from_le_bytes([hello[4], hello[5]]);
    let status = if version != VERSION {
        1
    } else if hello[6] != serves as u8 {
        2
    } else {
        0
    };
    let mut answer = [0u8; 8];
    answer[..4].copy_from_slice(MAGIC);
    answer[4..6].copy_from_slice(&VERSION.to_le_bytes());
    answer[6] = status;
    s.write_all(&answer).await?;
    s.flush().await?;
    match status {
        0 => Ok(hello[7] & FLAG_COMPRESS != 0),
        1 => Err(HandshakeError::Refused(format!(
            "client speaks version {version}, server {VERSION}"
        ))),
        _ => Err(HandshakeError::Refused(format!(
            "client asked for role {} on a {serves:?} port",
            hello[6]
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roles_must_match() {
        for (client_role, serves, ok) in [
            (Role::Insert, Role::Insert, true),
            (Role::Select, Role::Insert, false),
        ] {
            let (mut a, mut b) = tokio::io::duplex(64);
            let server = tokio::spawn(async move { server_hello(&mut b, serves).await.is_ok() });
            let client = client_hello(&mut a, client_role, true).await;
            assert_eq!(client.is_ok(), ok, "{client:?}");
            assert_eq!(server.await.unwrap(), ok);
        }
    }

    #[tokio::test]
    async fn garbage_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let server = tokio::spawn(async move { server_hello(&mut b, Role::Insert).await });
        a.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let err = server.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
    }
}
