//! The PromQL test-script runner.
