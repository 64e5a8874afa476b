//! Operands: literals, selectors, aggregations, calls, and the postfix range, subquery,
//! `offset` and `@` modifiers.

use super::{ParseError, Parser, check};
use crate::ast::{
    AggOp, AggregateExpr, At, Call, Expr, ExprKind, MatrixSelector, Subquery, VectorSelector,
    Window,
};
use crate::functions;
use crate::labels::{LabelMatcher, METRIC_NAME, MatchKind};
use crate::lexer::Tok;

/// Whether `s` is a valid unquoted label name.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl Parser<'_> {
    pub(super) fn primary(&mut self) -> Result<Expr, ParseError> {
        let start = self.start();
        match self.tok().clone() {
            Tok::Number(v) => {
                self.advance();
                Ok(self.node(ExprKind::Number(v), start))
            }
            Tok::Duration(ms) => {
                self.advance();
                Ok(self.node(ExprKind::Number(ms as f64 / 1000.0), start))
            }
            Tok::Str(s) => {
                self.advance();
                Ok(self.node(ExprKind::String(s), start))
            }
            Tok::LParen => {
                self.advance();
                let inner = self.expr(0)?;
                self.expect(Tok::RParen, "\")\"")?;
                Ok(self.node(ExprKind::Paren(Box::new(inner)), start))
            }
            Tok::LBrace => {
                let sel = self.selector_body(None, Vec::new(), start)?;
                Ok(self.node(ExprKind::Selector(sel), start))
            }
            Tok::Ident(name) => self.ident_primary(name, start),
            _ => Err(self.unexpected("an expression")),
        }
    }

    fn ident_primary(&mut self, name: String, start: usize) -> Result<Expr, ParseError> {
        let next = self.tok_at(1).clone();
        if name.eq_ignore_ascii_case("with") && next == Tok::LParen {
            return self.with_expr();
        }
        if let Some(t) = self.lookup_template(&name) {
            return self.expand_template(t, &name, start);
        }
        if let Some(op) = AggOp::from_name(&name) {
            let grouping_next = matches!(&next, Tok::Ident(s) if s.eq_ignore_ascii_case("by") || s.eq_ignore_ascii_case("without"));
            if next == Tok::LParen || grouping_next {
                return self.aggregation(op, start);
            }
        }
        if next == Tok::LParen {
            return self.call(&name, start);
        }
        self.advance();
        let sel = if *self.tok() == Tok::LBrace {
            self.selector_body(Some(name), Vec::new(), start)?
        } else {
            check::selector(self.src, start, Some(name), Vec::new())?
        };
        Ok(self.node(ExprKind::Selector(sel), start))
    }

    /// `{ matcher, ... }` after an optional metric name; `base` holds matchers inherited from a
    /// `WITH` template.
    pub(super) fn selector_body(
        &mut self,
        name: Option<String>,
        mut matchers: Vec<LabelMatcher>,
        start: usize,
    ) -> Result<VectorSelector, ParseError> {
        self.expect(crate::lexer::Tok::LBrace, "\"{\"")?;
        let mut name = name;
        loop {
            let item_start = self.start();
            match self.tok().clone() {
                Tok::RBrace => {
                    self.advance();
                    break;
                }
                Tok::Str(s) if matches!(self.tok_at(1), Tok::Comma | Tok::RBrace) => {
                    // Prometheus 3: a quoted metric name inside the braces.
                    self.advance();
                    if let Some(n) = &name {
                        return Err(self.err_at(
                            item_start,
                            format!("metric name must not be set twice: {n:?} or {s:?}"),
                        ));
                    }
                    name = Some(s);
                }
                Tok::Ident(s)
                    if !matches!(
                        self.tok_at(1),
                        Tok::Assign | Tok::Neq | Tok::EqlRegex | Tok::NeqRegex
                    ) =>
                {
                    // MetricsQL: a WITH template holding label filters.
                    self.advance();
                    let Some(inner) = self.template_filters(&s) else {
                        return Err(self.err_at(
                            self.start(),
                            format!(
                                "unexpected {}, expected label matching operator",
                                self.tok().describe()
                            ),
                        ));
                    };
                    matchers.extend(inner);
                }
                Tok::Ident(_) | Tok::Str(_) => {
                    let label = match self.advance().tok {
                        Tok::Ident(s) | Tok::Str(s) => s,
                        _ => unreachable!("matched above"),
                    };
                    let kind = match self.tok() {
                        Tok::Assign => MatchKind::Eq,
                        Tok::Neq => MatchKind::Neq,
                        Tok::EqlRegex => MatchKind::Re,
                        Tok::NeqRegex => MatchKind::Nre,
                        _ => return Err(self.unexpected("label matching operator")),
                    };
                    self.advance();
                    let Tok::Str(value) = self.tok().clone() else {
                        return Err(self.unexpected("string"));
                    };
                    self.advance();
                    let m = LabelMatcher::new(&label, kind, &value).map_err(|e| {
                        self.err_at(
                            item_start,
                            format!("invalid regular expression {value:?}: {}", regex_msg(&e)),
                        )
                    })?;
                    matchers.push(m);
                }
                _ => return Err(self.unexpected("a label matcher")),
            }
            match self.tok() {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RBrace => {}
                _ => return Err(self.unexpected("\",\" or \"}\"")),
            }
        }
        check::selector(self.src, start, name, matchers)
    }

    fn aggregation(&mut self, op: AggOp, start: usize) -> Result<Expr, ParseError> {
        self.advance();
        let mut grouping = None;
        if self.is_kw("by") || self.is_kw("without") {
            let without = self.is_kw("without");
            self.advance();
            grouping = Some((without, self.label_list()?));
        }
        let args_start = self.start();
        let args = self.call_args()?;
        if self.is_kw("by") || self.is_kw("without") {
            if grouping.is_some() {
                return Err(self.unexpected("end of aggregation"));
            }
            let without = self.is_kw("without");
            self.advance();
            grouping = Some((without, self.label_list()?));
        }
        let (without, grouping) = grouping.unwrap_or((false, Vec::new()));
        let want = if op.param_type().is_some() { 2 } else { 1 };
        if args.len() != want {
            return Err(self.err_at(args_start, format!("wrong number of arguments for aggregate expression provided, expected {want}, got {}", args.len())));
        }
        let mut args = args.into_iter();
        let param = if want == 2 { args.next() } else { None };
        let Some(expr) = args.next() else {
            return Err(self.err_at(args_start, "missing aggregation argument"));
        };
        let agg = AggregateExpr {
            op,
            expr: unparen(expr),
            param: param.map(unparen),
            grouping,
            without,
        };
        check::aggregation(self.src, &agg)?;
        Ok(self.node(ExprKind::Aggregate(Box::new(agg)), start))
    }

    /// `( expr, ... )`; trailing commas are an error as in Prometheus.
    fn call_args(&mut self) -> Result<Vec<Expr>, ParseError> {
        self.expect(Tok::LParen, "\"(\"")?;
        let mut args = Vec::new();
        if *self.tok() == Tok::RParen {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.expr(0)?);
            match self.tok() {
                Tok::Comma => {
                    let at = self.advance().start;
                    if *self.tok() == Tok::RParen {
                        return Err(
                            self.err_at(at, "trailing commas not allowed in function call args")
                        );
                    }
                }
                Tok::RParen => {
                    self.advance();
                    return Ok(args);
                }
                _ => return Err(self.unexpected("\",\" or \")\"")),
            }
        }
    }

    fn call(&mut self, name: &str, start: usize) -> Result<Expr, ParseError> {
        let Some(func) = functions::lookup(name) else {
            return Err(self.err_at(start, format!("unknown function with name {name:?}")));
        };
        self.advance();
        let args: Vec<Expr> = self.call_args()?.into_iter().map(unparen).collect();
        let mut call = Call {
            func,
            args,
            keep_metric_names: false,
        };
        if self.is_kw("keep_metric_names") {
            self.advance();
            call.keep_metric_names = true;
        }
        check::call(self.src, start, &mut call)?;
        Ok(self.node(ExprKind::Call(Box::new(call)), start))
    }

    /// Range, subquery, `offset` and `@` after an operand.
    pub(super) fn postfix(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        let start = e.pos.start;
        loop {
            match self.tok() {
                Tok::LBracket => {
                    let bracket = self.advance().start;
                    let range = self.duration_arg("a duration")?;
                    if range <= 0 {
                        return Err(self.err_at(bracket, "range must be greater than 0"));
                    }
                    if *self.tok() == Tok::Colon {
                        self.advance();
                        let step = if *self.tok() == Tok::RBracket {
                            None
                        } else {
                            Some(self.duration_arg("a duration")?)
                        };
                        if step == Some(0) {
                            return Err(
                                self.err_at(bracket, "subquery step must be greater than 0")
                            );
                        }
                        self.expect(Tok::RBracket, "\"]\"")?;
                        let sq = Subquery {
                            expr: e,
                            range_ms: range,
                            step_ms: step,
                            offset_ms: 0,
                            at: None,
                        };
                        check::subquery(self.src, bracket, &sq)?;
                        e = self.node(ExprKind::Subquery(Box::new(sq)), start);
                    } else {
                        self.expect(Tok::RBracket, "\"]\" or \":\"")?;
                        e = match e.kind {
                            ExprKind::Selector(sel) if sel.offset_ms == 0 && sel.at.is_none() => {
                                self.node(
                                    ExprKind::Matrix(MatrixSelector {
                                        selector: sel,
                                        range: Window::Fixed(range),
                                    }),
                                    start,
                                )
                            }
                            ExprKind::Selector(_) => {
                                return Err(self.err_at(
                                    bracket,
                                    "no offset or @ modifiers allowed before range",
                                ));
                            }
                            _ => {
                                return Err(self
                                    .err_at(bracket, "ranges only allowed for vector selectors"));
                            }
                        };
                    }
                }
                Tok::Ident(s) if s.eq_ignore_ascii_case("offset") => {
                    let at = self.advance().start;
                    let neg = match self.tok() {
                        Tok::Sub => {
                            self.advance();
                            true
                        }
                        Tok::Add => {
                            self.advance();
                            false
                        }
                        _ => false,
                    };
                    let d = self.duration_arg("a duration")?;
                    let d = if neg { -d } else { d };
                    set_offset(self.src, at, &mut e, d)?;
                    e.pos.end = self.prev_end();
                }
                Tok::At => {
                    let at_pos = self.advance().start;
                    let at = self.at_value()?;
                    set_at(self.src, at_pos, &mut e, at)?;
                    e.pos.end = self.prev_end();
                }
                _ => return Ok(e),
            }
        }
    }

    /// A duration, or (Prometheus 3) a number of seconds; returns milliseconds.
    fn duration_arg(&mut self, what: &str) -> Result<i64, ParseError> {
        match *self.tok() {
            Tok::Duration(ms) => {
                self.advance();
                Ok(ms)
            }
            Tok::Number(secs) if secs.is_finite() && secs >= 0.0 => {
                self.advance();
                let ms = secs * 1000.0;
                if ms > i64::MAX as f64 / 2.0 {
                    return Err(self.err_at(self.prev_end(), "duration out of range"));
                }
                Ok(ms.round() as i64)
            }
            _ => Err(self.unexpected(what)),
        }
    }

    fn at_value(&mut self) -> Result<At, ParseError> {
        if (self.is_kw("start") || self.is_kw("end")) && *self.tok_at(1) == Tok::LParen {
            let is_start = self.is_kw("start");
            self.advance();
            self.advance();
            self.expect(Tok::RParen, "\")\"")?;
            return Ok(if is_start { At::Start } else { At::End });
        }
        let at = self.start();
        let neg = match self.tok() {
            Tok::Sub => {
                self.advance();
                true
            }
            Tok::Add => {
                self.advance();
                false
            }
            _ => false,
        };
        let v = match *self.tok() {
            Tok::Number(v) => v,
            Tok::Duration(ms) => ms as f64 / 1000.0,
            _ => return Err(self.unexpected("a timestamp, start() or end()")),
        };
        self.advance();
        let v = if neg { -v } else { v };
        let ms = v * 1000.0;
        if !ms.is_finite() || ms.abs() > i64::MAX as f64 / 2.0 {
            return Err(self.err_at(at, format!("timestamp out of bounds for @ modifier: {v}")));
        }
        Ok(At::Timestamp(ms.round() as i64))
    }
}

fn regex_msg(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_string()
}

fn unparen(e: Expr) -> Expr {
    match e.kind {
        ExprKind::Paren(inner) => unparen(*inner),
        _ => e,
    }
}

fn set_offset(src: &str, at: usize, e: &mut Expr, d: i64) -> Result<(), ParseError> {
    let slot = match &mut e.kind {
        ExprKind::Selector(s) => &mut s.offset_ms,
        ExprKind::Matrix(m) => &mut m.selector.offset_ms,
        ExprKind::Subquery(s) => &mut s.offset_ms,
        _ => {
            return Err(ParseError::new(
                src,
                at,
                "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
            ));
        }
    };
    if *slot != 0 {
        return Err(ParseError::new(
            src,
            at,
            "offset may not be set multiple times",
        ));
    }
    *slot = d;
    Ok(())
}

fn set_at(src: &str, pos: usize, e: &mut Expr, at: At) -> Result<(), ParseError> {
    let slot = match &mut e.kind {
        ExprKind::Selector(s) => &mut s.at,
        ExprKind::Matrix(m) => &mut m.selector.at,
        ExprKind::Subquery(s) => &mut s.at,
        _ => {
            return Err(ParseError::new(
                src,
                pos,
                "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
            ));
        }
    };
    if slot.is_some() {
        return Err(ParseError::new(
            src,
            pos,
            "@ <timestamp> may not be set multiple times",
        ));
    }
    *slot = Some(at);
    Ok(())
}

/// The metric-name matcher of `name`.
pub(crate) fn name_matcher(name: &str) -> LabelMatcher {
    LabelMatcher::equal(METRIC_NAME, name)
}
