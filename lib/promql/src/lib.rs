//! PromQL and MetricsQL: lexer, parser, AST, evaluator and functions over a small data-access trait.
