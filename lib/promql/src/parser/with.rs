//! MetricsQL `WITH` templates: `WITH (name = expr, f(a, b) = expr(a, b)) body`, expanded
//! while parsing so that the checked tree holds plain PromQL nodes.
//!
//! * A name bound to an expression is replaced by that expression (as one operand, so
//!   `WITH (x = a + b) x * 2` is `(a + b) * 2`).
//! * A name bound to a selector can be extended: `WITH (s = foo{a="1"}) s{b="2"}`.
//! * A name bound to label filters can be spliced into braces: `WITH (f = {job="x"}) m{f}`.
//! * Function templates are expanded at each call with the arguments bound to the parameters;
//!   the body sees the templates defined before it (lexical scope).

use std::collections::HashMap;

use super::{ParseError, Parser};
use crate::ast::{Expr, ExprKind};
use crate::labels::{LabelMatcher, METRIC_NAME};
use crate::lexer::{Tok, Token};

/// A `WITH` binding.
#[derive(Clone, Debug)]
pub enum Template {
    /// `name = expr`, parsed where it is defined.
    Expr(Expr),
    /// `name(params) = body`, kept as tokens and parsed at each use.
    Func {
        /// Parameter names.
        params: Vec<String>,
        /// Body tokens (without the end-of-input token).
        body: Vec<Token>,
        /// Templates visible where the function was defined.
        scopes: Vec<HashMap<String, Template>>,
    },
}

impl Parser<'_> {
    pub(super) fn with_expr(&mut self) -> Result<Expr, ParseError> {
        self.advance(); // WITH
        self.expect(Tok::LParen, "\"(\"")?;
        self.scopes.push(HashMap::new());
        loop {
            if *self.tok() == Tok::RParen {
                self.advance();
                break;
            }
            let Tok::Ident(name) = self.tok().clone() else {
                return Err(self.unexpected("a template name"));
            };
            self.advance();
            let mut params = Vec::new();
            let is_func = *self.tok() == Tok::LParen;
            if is_func {
                self.advance();
                while *self.tok() != Tok::RParen {
                    let Tok::Ident(p) = self.tok().clone() else {
                        return Err(self.unexpected("a parameter name"));
                    };
                    self.advance();
                    params.push(p);
                    match self.tok() {
                        Tok::Comma => {
                            self.advance();
                        }
                        Tok::RParen => {}
                        _ => return Err(self.unexpected("\",\" or \")\"")),
                    }
                }
                self.advance();
            }
            self.expect(Tok::Assign, "\"=\"")?;
            let template = if is_func {
                let body = self.capture_until_separator()?;
                Template::Func {
                    params,
                    body,
                    scopes: self.scopes.clone(),
                }
            } else {
                Template::Expr(self.expr(0)?)
            };
            if let Some(frame) = self.scopes.last_mut() {
                frame.insert(name, template);
            }
            match self.tok() {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected("\",\" or \")\"")),
            }
        }
        let body = self.expr(0);
        self.scopes.pop();
        body
    }

    /// Consumes the tokens of one template body: up to a `,` or `)` outside any brackets.
    fn capture_until_separator(&mut self) -> Result<Vec<Token>, ParseError> {
        let mut depth = 0usize;
        let mut out = Vec::new();
        loop {
            match self.tok() {
                Tok::Eof => return Err(self.unexpected("\")\" closing WITH")),
                Tok::Comma | Tok::RParen if depth == 0 => break,
                Tok::LParen | Tok::LBrace | Tok::LBracket => depth += 1,
                Tok::RParen | Tok::RBrace | Tok::RBracket => depth -= 1,
                _ => {}
            }
            out.push(self.advance());
        }
        if out.is_empty() {
            return Err(self.unexpected("a template body"));
        }
        Ok(out)
    }

    pub(super) fn lookup_template(&self, name: &str) -> Option<Template> {
        self.scopes.iter().rev().find_map(|f| f.get(name).cloned())
    }

    /// Label filters of the template `name`, for splicing into `{...}`.
    pub(super) fn template_filters(&self, name: &str) -> Option<Vec<LabelMatcher>> {
        match self.lookup_template(name)? {
            Template::Expr(Expr {
                kind: ExprKind::Selector(s),
                ..
            }) if s.offset_ms == 0 && s.at.is_none() => Some(s.matchers),
            _ => None,
        }
    }

    pub(super) fn expand_template(
        &mut self,
        t: Template,
        name: &str,
        start: usize,
    ) -> Result<Expr, ParseError> {
        self.advance(); // the name
        match t {
            Template::Expr(e) => {
                if *self.tok() == Tok::LBrace {
                    if let ExprKind::Selector(s) = &e.kind
                        && s.offset_ms == 0
                        && s.at.is_none()
                    {
                        let base: Vec<LabelMatcher> = s
                            .matchers
                            .iter()
                            .filter(|m| !(s.name.is_some() && m.name == METRIC_NAME))
                            .cloned()
                            .collect();
                        let sel = self.selector_body(s.name.clone(), base, start)?;
                        return Ok(self.node(ExprKind::Selector(sel), start));
                    }
                    return Err(self.err_at(
                        start,
                        format!(
                            "template {name:?} is not a selector and cannot take label filters"
                        ),
                    ));
                }
                let left = super::MAX_NODES.saturating_sub(self.expanded.get());
                match e.bounded_shape(super::MAX_DEPTH.saturating_sub(self.depth), left) {
                    Some((_, nodes)) => self.expanded.set(self.expanded.get() + nodes),
                    None => {
                        return Err(self.err_at(
                            start,
                            format!("template {name:?} expands to too large an expression"),
                        ));
                    }
                }
                Ok(e)
            }
            Template::Func {
                params,
                body,
                scopes,
            } => {
                if *self.tok() != Tok::LParen {
                    return Err(self.err_at(
                        start,
                        format!(
                            "template function {name:?} needs {} argument(s)",
                            params.len()
                        ),
                    ));
                }
                let args = self.template_args()?;
                if args.len() != params.len() {
                    return Err(self.err_at(
                        start,
                        format!(
                            "template function {name:?} takes {} argument(s), got {}",
                            params.len(),
                            args.len()
                        ),
                    ));
                }
                let mut frame = HashMap::new();
                for (p, a) in params.into_iter().zip(args) {
                    frame.insert(p, Template::Expr(a));
                }
                let mut scopes = scopes;
                scopes.push(frame);
                let mut toks = body;
                let end = toks.last().map_or(start, |t| t.end);
                toks.push(Token {
                    tok: Tok::Eof,
                    start: end,
                    end,
                });
                let mut sub = Parser {
                    src: self.src,
                    toks: &toks,
                    i: 0,
                    scopes,
                    depth: self.depth + 1,
                    expanded: std::rc::Rc::clone(&self.expanded),
                };
                if sub.depth > super::MAX_DEPTH {
                    return Err(self.err_at(start, "template expansion nests too deeply"));
                }
                let e = sub.expr(0)?;
                sub.expect_eof()?;
                Ok(e)
            }
        }
    }

    fn template_args(&mut self) -> Result<Vec<Expr>, ParseError> {
        self.expect(Tok::LParen, "\"(\"")?;
        let mut args = Vec::new();
        while *self.tok() != Tok::RParen {
            args.push(self.expr(0)?);
            match self.tok() {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected("\",\" or \")\"")),
            }
        }
        self.advance();
        Ok(args)
    }
}
