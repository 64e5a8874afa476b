//! Ingestion formats: Prometheus remote_write, JSON lines import, Prometheus text, Influx line protocol.
