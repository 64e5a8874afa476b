//! The PromQL test-script runner: Prometheus's plain-text test language (`load`, `clear`,
//! `eval`) over the engine and an in-memory store, reusable by any crate.

mod runner;
mod script;

pub use runner::{Failure, Report, SkipFn, run_eval, run_script};
pub use script::{
    Command, EvalCmd, EvalKind, Expect, ExpectedSeries, ScriptError, SeqValue, parse_labels,
    parse_script, parse_values,
};
