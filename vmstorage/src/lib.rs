//! vmstorage library: configuration and `run`, so tests and the local launcher can start it in-process.
