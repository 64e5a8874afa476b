//! Which tokens a query is made of: numbers, durations, strings, identifiers and punctuation,
//! each with its byte position.

use crate::parser::ParseError;

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier or keyword (`foo`, `sum`, `by`, `job:rate5m`); keywords are recognised by
    /// the parser from context, case-insensitively.
    Ident(String),
    /// A number literal (including `Inf` and `NaN`).
    Number(f64),
    /// A duration literal in milliseconds (`5m`, `1h30m`, `100ms`).
    Duration(i64),
    /// A string literal, unquoted.
    Str(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `:` (only inside brackets)
    Colon,
    /// `@`
    At,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `==`
    EqlC,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `>`
    Gtr,
    /// `<=`
    Lte,
    /// `>=`
    Gte,
    /// `=`
    Assign,
    /// `=~`
    EqlRegex,
    /// `!~`
    NeqRegex,
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token is described in error messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Number(_) => "number".to_string(),
            Tok::Duration(_) => "duration".to_string(),
            Tok::Str(_) => "string".to_string(),
            Tok::Eof => "end of input".to_string(),
            other => format!("\"{}\"", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Colon => ":",
            Tok::At => "@",
            Tok::Add => "+",
            Tok::Sub => "-",
            Tok::Mul => "*",
            Tok::Div => "/",
            Tok::Mod => "%",
            Tok::Pow => "^",
            Tok::EqlC => "==",
            Tok::Neq => "!=",
            Tok::Lss => "<",
            Tok::Gtr => ">",
            Tok::Lte => "<=",
            Tok::Gte => ">=",
            Tok::Assign => "=",
            Tok::EqlRegex => "=~",
            Tok::NeqRegex => "!~",
            _ => "",
        }
    }
}

/// A token with its byte span.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Splits `input` into tokens, ending with [`Tok::Eof`]. `#` starts a comment to the end of line.
pub fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        src: input,
        bytes: input.as_bytes(),
        pos: 0,
        brackets: 0,
        out: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Depth of `[` nesting: inside brackets `:` is a token and durations are expected.
    brackets: usize,
    out: Vec<Token>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl Lexer<'_> {
    fn err(&self, at: usize, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.src, at, msg)
    }

    fn peek(&self, off: usize) -> u8 {
        self.bytes.get(self.pos + off).copied().unwrap_or(0)
    }

    fn push(&mut self, tok: Tok, start: usize) {
        self.out.push(Token {
            tok,
            start,
            end: self.pos,
        });
    }

    fn run(&mut self) -> Result<(), ParseError> {
        loop {
            while self.pos < self.bytes.len()
                && (self.bytes[self.pos] as char).is_ascii_whitespace()
            {
                self.pos += 1;
            }
            let start = self.pos;
            if self.pos >= self.bytes.len() {
                self.push(Tok::Eof, start);
                return Ok(());
            }
            let c = self.bytes[self.pos];
            let two = [c, self.peek(1)];
            let op2 = match &two {
                b"==" => Some(Tok::EqlC),
                b"!=" => Some(Tok::Neq),
                b"<=" => Some(Tok::Lte),
                b">=" => Some(Tok::Gte),
                b"=~" => Some(Tok::EqlRegex),
                b"!~" => Some(Tok::NeqRegex),
                _ => None,
            };
            if let Some(t) = op2 {
                self.pos += 2;
                self.push(t, start);
                continue;
            }
            let op1 = match c {
                b'(' => Some(Tok::LParen),
                b')' => Some(Tok::RParen),
                b'{' => Some(Tok::LBrace),
                b'}' => Some(Tok::RBrace),
                b'[' => {
                    self.brackets += 1;
                    Some(Tok::LBracket)
                }
                b']' => {
                    self.brackets = self.brackets.saturating_sub(1);
                    Some(Tok::RBracket)
                }
                b',' => Some(Tok::Comma),
                b'@' => Some(Tok::At),
                b'+' => Some(Tok::Add),
                b'-' => Some(Tok::Sub),
                b'*' => Some(Tok::Mul),
                b'/' => Some(Tok::Div),
                b'%' => Some(Tok::Mod),
                b'^' => Some(Tok::Pow),
                b'<' => Some(Tok::Lss),
                b'>' => Some(Tok::Gtr),
                b'=' => Some(Tok::Assign),
                b':' if self.brackets > 0 => Some(Tok::Colon),
                _ => None,
            };
            if let Some(t) = op1 {
                self.pos += 1;
                self.push(t, start);
                continue;
            }
            match c {
                b'#' => {
                    while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'"' | b'\'' => {
                    let s = self.string(c)?;
                    self.push(Tok::Str(s), start);
                }
                b'`' => {
                    let rest = &self.src[self.pos + 1..];
                    let Some(end) = rest.find('`') else {
                        return Err(self.err(start, "unterminated raw string"));
                    };
                    let s = rest[..end].to_string();
                    self.pos += end + 2;
                    self.push(Tok::Str(s), start);
                }
                b'0'..=b'9' | b'.' => self.number_or_duration()?,
                c if is_ident_start(c) || (c == b':' && self.brackets == 0) => {
                    let in_brackets = self.brackets > 0;
                    while self.pos < self.bytes.len()
                        && (is_ident_char(self.bytes[self.pos])
                            || (!in_brackets && self.bytes[self.pos] == b':'))
                    {
                        self.pos += 1;
                    }
                    let word = &self.src[start..self.pos];
                    let lower = word.to_ascii_lowercase();
                    let tok = match lower.as_str() {
                        "inf" => Tok::Number(f64::INFINITY),
                        "nan" => Tok::Number(f64::NAN),
                        _ => Tok::Ident(word.to_string()),
                    };
                    self.push(tok, start);
                }
                _ => {
                    let ch = self.src[self.pos..].chars().next().unwrap_or('?');
                    return Err(self.err(start, format!("unexpected character: {ch:?}")));
                }
            }
        }
    }

    /// A quoted string with Go escapes; `quote` is `"` or `'`.
    fn string(&mut self, quote: u8) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(ch) = self.src[self.pos..].chars().next() else {
                return Err(self.err(start, "unterminated quoted string"));
            };
            if ch == '\n' {
                return Err(self.err(start, "unterminated quoted string"));
            }
            self.pos += ch.len_utf8();
            if ch as u32 == quote as u32 {
                return Ok(out);
            }
            if ch != '\\' {
                out.push(ch);
                continue;
            }
            let esc_at = self.pos - 1;
            let Some(e) = self.src[self.pos..].chars().next() else {
                return Err(self.err(start, "unterminated quoted string"));
            };
            self.pos += e.len_utf8();
            match e {
                'a' => out.push('\x07'),
                'b' => out.push('\x08'),
                'f' => out.push('\x0c'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'v' => out.push('\x0b'),
                '\\' => out.push('\\'),
                c if c as u32 == quote as u32 => out.push(c),
                'x' | 'u' | 'U' => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex = self
                        .src
                        .get(self.pos..self.pos + n)
                        .ok_or_else(|| self.err(esc_at, "unterminated escape sequence"))?;
                    let v = u32::from_str_radix(hex, 16).map_err(|_| {
                        self.err(esc_at, format!("invalid escape sequence \\{e}{hex}"))
                    })?;
                    self.pos += n;
                    if e == 'x' {
                        // A byte; only ASCII is representable in a Rust string without context.
                        match char::from_u32(v) {
                            Some(c) if v < 0x80 => out.push(c),
                            _ => {
                                return Err(self.err(
                                    esc_at,
                                    format!("escape sequence \\x{hex} is not valid UTF-8"),
                                ));
                            }
                        }
                    } else {
                        let c = char::from_u32(v).ok_or_else(|| {
                            self.err(esc_at, "escape sequence is an invalid Unicode code point")
                        })?;
                        out.push(c);
                    }
                }
                '0'..='7' => {
                    let oct = self
                        .src
                        .get(self.pos - 1..self.pos + 2)
                        .ok_or_else(|| self.err(esc_at, "unterminated escape sequence"))?;
                    let v = u32::from_str_radix(oct, 8).map_err(|_| {
                        self.err(esc_at, format!("invalid escape sequence \\{oct}"))
                    })?;
                    self.pos += 2;
                    match char::from_u32(v) {
                        Some(c) if v < 0x80 => out.push(c),
                        _ => {
                            return Err(self.err(
                                esc_at,
                                format!("escape sequence \\{oct} is not valid UTF-8"),
                            ));
                        }
                    }
                }
                other => return Err(self.err(esc_at, format!("unknown escape sequence {other:?}"))),
            }
        }
    }

    fn number_or_duration(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        let b = self.bytes;
        let mut i = self.pos;
        let digits = |i: &mut usize, ok: fn(u8) -> bool| {
            while *i < b.len() && (ok(b[*i]) || b[*i] == b'_') {
                *i += 1;
            }
        };
        let mut radix = 10;
        if b[i] == b'0'
            && i + 1 < b.len()
            && matches!(b[i + 1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
        {
            radix = match b[i + 1] {
                b'x' | b'X' => 16,
                b'o' | b'O' => 8,
                _ => 2,
            };
            i += 2;
            digits(
                &mut i,
                match radix {
                    16 => |c: u8| c.is_ascii_hexdigit(),
                    8 => |c: u8| (b'0'..=b'7').contains(&c),
                    _ => |c: u8| c == b'0' || c == b'1',
                },
            );
        } else {
            digits(&mut i, |c| c.is_ascii_digit());
            // A duration: digits followed by a unit, repeated (`1h30m`).
            if i < b.len() && matches!(b[i], b's' | b'm' | b'h' | b'd' | b'w' | b'y') {
                let mut j = i;
                while j < b.len() && (is_ident_char(b[j])) {
                    j += 1;
                }
                let text = &self.src[start..j];
                let ms = parse_duration(text)
                    .ok_or_else(|| self.err(start, format!("bad duration syntax: {text:?}")))?;
                self.pos = j;
                self.push(Tok::Duration(ms), start);
                return Ok(());
            }
            if i < b.len() && b[i] == b'.' {
                i += 1;
                digits(&mut i, |c| c.is_ascii_digit());
            }
            if i < b.len() && matches!(b[i], b'e' | b'E') {
                let mut j = i + 1;
                if j < b.len() && matches!(b[j], b'+' | b'-') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    i = j;
                    digits(&mut i, |c| c.is_ascii_digit());
                }
            }
        }
        if i < b.len() && (is_ident_char(b[i]) || b[i] == b'.') {
            let mut j = i;
            while j < b.len() && (is_ident_char(b[j]) || b[j] == b'.') {
                j += 1;
            }
            return Err(self.err(
                start,
                format!("bad number or duration syntax: {:?}", &self.src[start..j]),
            ));
        }
        let text = &self.src[start..i];
        let v = parse_number(text, radix)
            .ok_or_else(|| self.err(start, format!("bad number syntax: {text:?}")))?;
        self.pos = i;
        self.push(Tok::Number(v), start);
        Ok(())
    }
}

/// Parses a number literal as Go's `strconv.ParseInt(s, 0, 64)` then `ParseFloat` would:
/// decimal, `0x` hex, `0o` octal, `0b` binary, a leading `0` meaning octal for integers, and
/// `_` between digits.
pub fn parse_number(text: &str, radix: u32) -> Option<f64> {
    if text.starts_with('_')
        || text.ends_with('_')
        || text.contains("__")
        || text.contains("._")
        || text.contains("_.")
    {
        return None;
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    if radix != 10 {
        let digits = clean.get(2..)?;
        if digits.is_empty() {
            return None;
        }
        return u64::from_str_radix(digits, radix).ok().map(|v| v as f64);
    }
    if clean.len() > 1
        && clean.starts_with('0')
        && clean.bytes().all(|c| c.is_ascii_digit())
        && let Ok(v) = u64::from_str_radix(&clean[1..], 8)
    {
        return Some(v as f64);
    }
    if clean == "." {
        return None;
    }
    clean.parse::<f64>().ok()
}

/// Parses a Prometheus duration (`1h30m`, `5m`, `100ms`, `2d`, `1w`, `1y`) into milliseconds.
/// Units must appear at most once each, from largest to smallest.
pub fn parse_duration(text: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 31_536_000_000),
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ];
    let b = text.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut last_unit = 0usize;
    let mut any = false;
    while i < b.len() {
        let ds = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if ds == i {
            return None;
        }
        let n: i64 = text[ds..i].parse().ok()?;
        let us = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &text[us..i];
        let idx = UNITS.iter().position(|(u, _)| *u == unit)?;
        if any && idx <= last_unit {
            return None;
        }
        last_unit = idx;
        any = true;
        total = total.checked_add(n.checked_mul(UNITS[idx].1)?)?;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            toks(r#"rate(foo:bar{a=~"x"}[5m:1m]) >= 0x1F"#),
            vec![
                Tok::Ident("rate".into()),
                Tok::LParen,
                Tok::Ident("foo:bar".into()),
                Tok::LBrace,
                Tok::Ident("a".into()),
                Tok::EqlRegex,
                Tok::Str("x".into()),
                Tok::RBrace,
                Tok::LBracket,
                Tok::Duration(300_000),
                Tok::Colon,
                Tok::Duration(60_000),
                Tok::RBracket,
                Tok::RParen,
                Tok::Gte,
                Tok::Number(31.0),
                Tok::Eof
            ]
        );
    }

    #[track_caller]
    fn check_num(s: &str, want: f64) {
        match toks(s).first() {
            Some(Tok::Number(v)) => {
                assert!(*v == want || (v.is_nan() && want.is_nan()), "{s}: {v}")
            }
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn numbers() {
        check_num("1_000", 1000.0);
        check_num("1.5e3", 1500.0);
        check_num(".5", 0.5);
        check_num("2.", 2.0);
        check_num("0755", 493.0);
        check_num("0b101", 5.0);
        check_num("Inf", f64::INFINITY);
        check_num("nan", f64::NAN);
        assert!(lex("1_").is_err());
        assert!(lex("1x").is_err());
    }

    #[test]
    fn strings() {
        assert_eq!(
            toks(r#""a\"b\n\x41\u00e9""#)[0],
            Tok::Str("a\"b\nAé".into())
        );
        assert_eq!(toks(r"'it\'s'")[0], Tok::Str("it's".into()));
        assert_eq!(toks(r"`raw\n`")[0], Tok::Str("raw\\n".into()));
        assert!(lex(r#""\q""#).is_err());
        assert!(lex("\"open").is_err());
    }

    #[test]
    fn durations() {
        for (s, want) in [
            ("1h30m", Some(5_400_000)),
            ("100ms", Some(100)),
            ("1y2w", Some(31_536_000_000 + 1_209_600_000)),
            ("30m1h", None),
            ("5x", None),
        ] {
            assert_eq!(parse_duration(s), want, "{s}");
        }
    }
}
