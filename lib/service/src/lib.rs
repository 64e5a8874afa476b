//! What every process of the cluster shares: VictoriaMetrics-style flags, HTTP serving,
//! self-metrics in the Prometheus text format, and stop signals.

pub mod flags;
pub mod http;
pub mod log;
pub mod metrics;
pub mod process;
pub mod signals;
