//! What every process of the cluster shares: VictoriaMetrics-style flags, HTTP serving, self-metrics, signals.
