//! PromQL and MetricsQL: lexer, parser, AST, evaluator and functions over a small data-access
//! trait.
//!
//! ```
//! use promql::{Engine, EngineConfig, Labels, MemoryQuerier, QueryValue};
//!
//! let mut store = MemoryQuerier::new();
//! store.add(Labels::from_pairs(&[("__name__", "up"), ("job", "api")]), &[(0, 1.0), (15_000, 1.0)]);
//! let engine = Engine::new(EngineConfig::default());
//! let res = engine.instant(&store, "sum by (job) (up)", 15_000).unwrap();
//! let QueryValue::Vector(v) = res.value else { panic!() };
//! assert_eq!(v[0].v, 1.0);
//! ```

pub mod ast;
mod engine;
mod error;
mod eval;
pub mod functions;
pub mod labels;
pub mod lexer;
pub mod parser;
mod prefetch;
pub mod promqltest;
mod querier;

pub use ast::Expr;
pub use engine::{
    Annotations, Engine, EngineConfig, QueryResult, QueryStats, QueryValue, RangeSeries, Sample,
};
pub use error::{ErrorKind, Limit, QueryError};
pub use labels::{Label, LabelMatcher, LabelRef, Labels, LabelsIter, MatchKind};
pub use parser::{ParseError, parse};
pub use querier::{
    MemoryQuerier, Querier, STALE_NAN_BITS, SelectHints, Series, is_stale_nan, stale_nan,
};
