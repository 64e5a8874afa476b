//! How query text becomes a checked syntax tree: a Pratt parser over the lexer's tokens with
//! Prometheus's precedence, its parse-time type checks, and MetricsQL `WITH` templates.

mod check;
mod primary;
mod with;

use std::collections::HashMap;

use crate::ast::{BinOp, Card, Expr, ExprKind, Pos, VectorMatching};
use crate::lexer::{Tok, Token, lex};

pub use with::Template;

/// A parse or type-check error with its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (bytes).
    pub col: usize,
    /// Byte offset in the query.
    pub offset: usize,
    /// What is wrong, e.g. `unexpected ")", expected a label matcher`.
    pub message: String,
}

impl ParseError {
    /// An error at byte `offset` of `src`.
    pub fn new(src: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(src.len());
        let before = src.get(..offset).unwrap_or("");
        let line = 1 + before.matches('\n').count();
        let col = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        ParseError {
            line,
            col,
            offset,
            message: message.into(),
        }
    }
}

/// Maximum nesting of parentheses, calls and template expansions, so that hostile input cannot
/// overflow the stack.
const MAX_DEPTH: usize = 200;

/// Maximum nodes of a parsed query, template expansions included, so that `WITH` templates
/// that double at every level cannot exhaust memory.
const MAX_NODES: usize = 50_000;

/// Parses a PromQL (plus MetricsQL extensions) expression and runs Prometheus's parse-time
/// checks.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    let tokens = lex(query)?;
    let mut p = Parser {
        src: query,
        toks: &tokens,
        i: 0,
        scopes: Vec::new(),
        depth: 0,
        expanded: std::rc::Rc::new(std::cell::Cell::new(0)),
    };
    let e = p.expr(0)?;
    p.expect_eof()?;
    // Operands of a chain, template expansions and nesting add up: check the finished tree.
    if e.bounded_shape(MAX_DEPTH, MAX_NODES).is_none() {
        return Err(ParseError {
            line: 1,
            col: 1,
            offset: 0,
            message: format!(
                "query is too complex: more than {MAX_DEPTH} levels of nesting or {MAX_NODES} nodes"
            ),
        });
    }
    Ok(e)
}

/// Parser state over one token list (a query, or a template body being expanded).
pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: &'a [Token],
    i: usize,
    /// `WITH` template scopes, innermost last.
    scopes: Vec<HashMap<String, Template>>,
    depth: usize,
    /// Nodes copied in by template expansions so far, shared with nested template parsers.
    expanded: std::rc::Rc<std::cell::Cell<usize>>,
}

/// Precedence of the operand of unary minus: only `^` binds tighter.
const UNARY_OPERAND_PREC: u8 = 7;

impl<'a> Parser<'a> {
    fn tok(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn tok_at(&self, off: usize) -> &Tok {
        self.toks.get(self.i + off).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn start(&self) -> usize {
        self.toks.get(self.i).map_or(self.src.len(), |t| t.start)
    }

    fn prev_end(&self) -> usize {
        if self.i == 0 {
            0
        } else {
            self.toks.get(self.i - 1).map_or(self.src.len(), |t| t.end)
        }
    }

    fn advance(&mut self) -> Token {
        let t = self.toks.get(self.i).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            start: self.src.len(),
            end: self.src.len(),
        });
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn err_at(&self, offset: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.src, offset, msg)
    }

    /// `unexpected <current token>, expected <what>` at the current token.
    fn unexpected(&self, what: &str) -> ParseError {
        let msg = if what.is_empty() {
            format!("unexpected {}", self.tok().describe())
        } else {
            format!("unexpected {}, expected {what}", self.tok().describe())
        };
        self.err_at(self.start(), msg)
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<Token, ParseError> {
        if *self.tok() == t {
            Ok(self.advance())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn expect_eof(&self) -> Result<(), ParseError> {
        if *self.tok() == Tok::Eof {
            Ok(())
        } else {
            Err(self.unexpected("end of input or a binary operator"))
        }
    }

    /// Whether the current token is the identifier `kw` (case-insensitive).
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.tok(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(self.err_at(self.start(), "expression nests too deeply"))
        } else {
            Ok(())
        }
    }

    /// The binary operator at the current token, if any.
    fn peek_binop(&self) -> Option<BinOp> {
        Some(match self.tok() {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::EqlC => BinOp::Eq,
            Tok::Neq => BinOp::Ne,
            Tok::Gtr => BinOp::Gt,
            Tok::Lss => BinOp::Lt,
            Tok::Gte => BinOp::Ge,
            Tok::Lte => BinOp::Le,
            Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                "and" => BinOp::And,
                "or" => BinOp::Or,
                "unless" => BinOp::Unless,
                "atan2" => BinOp::Atan2,
                "default" => BinOp::Default,
                "if" => BinOp::If,
                "ifnot" => BinOp::IfNot,
                _ => return None,
            },
            _ => return None,
        })
    }

    /// expr := unary { binop modifiers unary }, by precedence climbing.
    pub(crate) fn expr(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        // Each operator of a left-associative chain nests the tree one level deeper
        // (`a + b + c` is `(a + b) + c`): count those levels too.
        let mut chain = 0;
        while let Some(op) = self.peek_binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            chain += 1;
            if self.depth + chain > MAX_DEPTH {
                return Err(self.err_at(self.start(), "expression nests too deeply"));
            }
            let op_start = self.start();
            self.advance();
            let (return_bool, matching) = self.bin_modifiers(op)?;
            let rhs = self.expr(if op.right_assoc() { prec } else { prec + 1 })?;
            lhs = check::binary(self.src, op, op_start, lhs, rhs, return_bool, matching)?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let neg = match self.tok() {
            Tok::Sub => true,
            Tok::Add => false,
            _ => {
                let e = self.primary()?;
                return self.postfix(e);
            }
        };
        let start = self.advance().start;
        self.enter()?;
        let operand = self.expr(UNARY_OPERAND_PREC)?;
        self.depth -= 1;
        check::unary(self.src, start, neg, operand)
    }

    /// Parses `bool`, `on(...)`/`ignoring(...)` and `group_left(...)`/`group_right(...)`.
    fn bin_modifiers(&mut self, op: BinOp) -> Result<(bool, VectorMatching), ParseError> {
        let mut return_bool = false;
        if self.is_kw("bool") {
            self.advance();
            return_bool = true;
        }
        let mut m = VectorMatching {
            card: if op.is_set() {
                Card::ManyToMany
            } else {
                Card::OneToOne
            },
            on: false,
            labels: Vec::new(),
            include: Vec::new(),
        };
        if self.is_kw("on") || self.is_kw("ignoring") {
            m.on = self.is_kw("on");
            self.advance();
            m.labels = self.label_list()?;
            if self.is_kw("group_left") || self.is_kw("group_right") {
                m.card = if self.is_kw("group_left") {
                    Card::ManyToOne
                } else {
                    Card::OneToMany
                };
                self.advance();
                if *self.tok() == Tok::LParen {
                    m.include = self.label_list()?;
                }
            }
        }
        Ok((return_bool, m))
    }

    /// `( name, name, ... )` with an optional trailing comma; names may be quoted.
    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(Tok::LParen, "\"(\"")?;
        let mut out = Vec::new();
        loop {
            match self.tok().clone() {
                Tok::RParen => {
                    self.advance();
                    return Ok(out);
                }
                Tok::Ident(s) if primary::is_label_name(&s) => {
                    self.advance();
                    out.push(s);
                }
                Tok::Str(s) => {
                    self.advance();
                    out.push(s);
                }
                _ => return Err(self.unexpected("label")),
            }
            match self.tok() {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RParen => {}
                _ => return Err(self.unexpected("\",\" or \")\"")),
            }
        }
    }

    fn pos_from(&self, start: usize) -> Pos {
        Pos {
            start,
            end: self.prev_end(),
        }
    }

    fn node(&self, kind: ExprKind, start: usize) -> Expr {
        Expr {
            kind,
            pos: self.pos_from(start),
        }
    }
}

#[cfg(test)]
mod tests;
