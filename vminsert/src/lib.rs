//! vminsert: the stateless write front end. It accepts Prometheus remote_write and the import
//! formats, validates and canonicalises series, and stores each series on
//! `-replicationFactor` storage nodes chosen by rendezvous hashing, answering only once every
//! copy is acknowledged.

pub mod node_writer;
pub mod ring;
pub mod router;
