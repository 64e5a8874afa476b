//! Parsing of Prometheus `.test` scripts: `load`, `clear` and `eval` commands with their
//! expected results (see `README.md` of the test data for the format).

use crate::functions::math::parse_go_float;
use crate::labels::{Label, Labels};
use crate::lexer::{Tok, lex, parse_duration};
use crate::querier::stale_nan;

/// A value in expanded series notation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeqValue {
    /// A float (possibly the staleness marker).
    Float(f64),
    /// `_`: no sample at this step.
    Omitted,
    /// A native histogram `{{...}}` (not supported: kept as a marker so evals can be skipped).
    Histogram,
}

/// How an eval is run.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalKind {
    /// `eval instant at <t>`
    Instant {
        /// Evaluation time, ms.
        at: i64,
    },
    /// `eval range from <start> to <end> step <step>`
    Range {
        /// Start, ms.
        start: i64,
        /// End, ms.
        end: i64,
        /// Step, ms.
        step: i64,
    },
}

/// An expected error message or pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Any.
    Any,
    /// Exact text.
    Msg(String),
    /// Regular expression (unanchored).
    Regex(String),
}

/// An expected result series.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedSeries {
    /// Labels.
    pub labels: Labels,
    /// Values (one for instant evals; one per step for range evals).
    pub values: Vec<SeqValue>,
}

/// One `eval` command.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalCmd {
    /// 1-based line of the `eval` line.
    pub line: usize,
    /// Instant or range.
    pub kind: EvalKind,
    /// The query text.
    pub query: String,
    /// The query must fail (optionally with this message).
    pub fail: Option<Expect>,
    /// Result order matters.
    pub ordered: bool,
    /// Expected warnings (`Expect::Any` for a bare `expect warn` / `eval_warn`).
    pub warn: Vec<Expect>,
    /// Expected infos.
    pub info: Vec<Expect>,
    /// `expect no_warn`.
    pub no_warn: bool,
    /// `expect no_info`.
    pub no_info: bool,
    /// `expect string "..."`.
    pub string: Option<String>,
    /// `expect range vector from a to b step s` (ms).
    pub range_vector: Option<(i64, i64, i64)>,
    /// Expected scalar.
    pub scalar: Option<SeqValue>,
    /// Expected series.
    pub series: Vec<ExpectedSeries>,
}

/// A script command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `load <interval>` with its series.
    Load {
        /// Line of the `load`.
        line: usize,
        /// Sample interval, ms.
        interval: i64,
        /// Series and their expanded values.
        series: Vec<(Labels, Vec<SeqValue>)>,
    },
    /// `clear`
    Clear,
    /// `eval ...`
    Eval(Box<EvalCmd>),
}

/// A script syntax error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> ScriptError {
    ScriptError {
        line,
        message: message.into(),
    }
}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<Command>, ScriptError> {
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('#') {
                String::new()
            } else {
                t.to_string()
            }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let lineno = i + 1;
        let (word, rest) = split_word(l);
        let lw = word.to_ascii_lowercase();
        if lw == "clear" {
            cmds.push(Command::Clear);
            i += 1;
        } else if lw.starts_with("load") {
            let interval = parse_duration(rest.trim())
                .ok_or_else(|| err(lineno, format!("invalid load interval {rest:?}")))?;
            let mut series = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                let (labels, vals) = parse_series_line(&lines[i], i + 1)?;
                // `name@st` start-timestamp lines are not supported: skip them.
                if !labels.is_empty() || !vals.is_empty() {
                    series.push((labels, vals));
                }
                i += 1;
            }
            if lw != "load" && lw != "load_with_nhcb" {
                return Err(err(lineno, format!("unknown command {word:?}")));
            }
            cmds.push(Command::Load {
                line: lineno,
                interval,
                series,
            });
        } else if lw.starts_with("eval") {
            let (cmd, next) = parse_eval(&lines, i)?;
            cmds.push(Command::Eval(Box::new(cmd)));
            i = next;
        } else {
            return Err(err(lineno, format!("unknown command {word:?}")));
        }
    }
    Ok(cmds)
}

fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(p) => (&s[..p], s[p..].trim_start()),
        None => (s, ""),
    }
}

/// A duration or a number of seconds, as test scripts write times.
fn parse_time(s: &str, line: usize) -> Result<i64, ScriptError> {
    if let Some(ms) = parse_duration(s) {
        return Ok(ms);
    }
    if let Ok(v) = s.parse::<f64>() {
        return Ok((v * 1000.0).round() as i64);
    }
    Err(err(line, format!("invalid time {s:?}")))
}

fn parse_eval(lines: &[String], start: usize) -> Result<(EvalCmd, usize), ScriptError> {
    let lineno = start + 1;
    let l = &lines[start];
    let (word, rest) = split_word(l);
    let mut cmd = EvalCmd {
        line: lineno,
        kind: EvalKind::Instant { at: 0 },
        query: String::new(),
        fail: None,
        ordered: false,
        warn: Vec::new(),
        info: Vec::new(),
        no_warn: false,
        no_info: false,
        string: None,
        range_vector: None,
        scalar: None,
        series: Vec::new(),
    };
    match word.to_ascii_lowercase().as_str() {
        "eval" => {}
        "eval_fail" => cmd.fail = Some(Expect::Any),
        "eval_ordered" => cmd.ordered = true,
        "eval_warn" => cmd.warn.push(Expect::Any),
        "eval_info" => cmd.info.push(Expect::Any),
        other => return Err(err(lineno, format!("unknown eval command {other:?}"))),
    }
    let (mode, rest) = split_word(rest);
    match mode {
        "instant" => {
            let (a, rest) = split_word(rest);
            let (t, q) = if a == "at" {
                split_word(rest)
            } else {
                (a, rest)
            };
            cmd.kind = EvalKind::Instant {
                at: parse_time(t, lineno)?,
            };
            cmd.query = q.to_string();
        }
        "range" => {
            let toks: Vec<&str> = rest
                .splitn(7, char::is_whitespace)
                .filter(|s| !s.is_empty())
                .collect();
            let mut it = rest.split_whitespace();
            let mut grab = |kw: &str| -> Result<i64, ScriptError> {
                if it.next() != Some(kw) {
                    return Err(err(lineno, format!("expected {kw:?} in range eval")));
                }
                parse_time(it.next().unwrap_or(""), lineno)
            };
            let (s, e, st) = (grab("from")?, grab("to")?, grab("step")?);
            cmd.kind = EvalKind::Range {
                start: s,
                end: e,
                step: st,
            };
            let _ = toks;
            // The query is what follows the 6th word.
            let mut q = rest;
            for _ in 0..6 {
                q = split_word(q).1;
            }
            cmd.query = q.to_string();
        }
        other => {
            return Err(err(
                lineno,
                format!("expected instant or range, got {other:?}"),
            ));
        }
    }
    let mut i = start + 1;
    while i < lines.len() && !lines[i].is_empty() {
        let l = &lines[i];
        let no = i + 1;
        i += 1;
        if let Some(rest) = l.strip_prefix("expect ") {
            parse_expect(&mut cmd, rest.trim(), no)?;
            continue;
        }
        if let Some(rest) = l.strip_prefix("expected_fail_message") {
            cmd.fail = Some(Expect::Msg(rest.trim().to_string()));
            break;
        }
        if let Some(rest) = l.strip_prefix("expected_fail_regexp") {
            cmd.fail = Some(Expect::Regex(rest.trim().to_string()));
            break;
        }
        if let Some(v) = parse_scalar(l) {
            cmd.scalar = Some(v);
            break;
        }
        let (labels, values) = parse_series_line(l, no)?;
        cmd.series.push(ExpectedSeries { labels, values });
    }
    Ok((cmd, i))
}

fn parse_expect(cmd: &mut EvalCmd, rest: &str, line: usize) -> Result<(), ScriptError> {
    let (kind, tail) = split_word(rest);
    let pattern = || -> Expect {
        let t = tail.trim();
        if let Some(m) = t.strip_prefix("msg:") {
            Expect::Msg(m.trim().to_string())
        } else if let Some(r) = t.strip_prefix("regex:") {
            Expect::Regex(r.trim().to_string())
        } else {
            Expect::Any
        }
    };
    match kind {
        "fail" => cmd.fail = Some(pattern()),
        "ordered" => cmd.ordered = true,
        "warn" => cmd.warn.push(pattern()),
        "info" => cmd.info.push(pattern()),
        "no_warn" => cmd.no_warn = true,
        "no_info" => cmd.no_info = true,
        "string" => {
            let t = tail.trim();
            let toks = lex(t).map_err(|e| err(line, format!("bad string: {e}")))?;
            match toks.first().map(|t| &t.tok) {
                Some(Tok::Str(s)) => cmd.string = Some(s.clone()),
                _ => return Err(err(line, format!("expected a string, got {t:?}"))),
            }
        }
        "range" => {
            let w: Vec<&str> = tail.split_whitespace().collect();
            if w.len() != 7 || w[0] != "vector" || w[1] != "from" || w[3] != "to" || w[5] != "step"
            {
                return Err(err(line, format!("bad range vector expectation {tail:?}")));
            }
            cmd.range_vector = Some((
                parse_time(w[2], line)?,
                parse_time(w[4], line)?,
                parse_time(w[6], line)?,
            ));
        }
        other => return Err(err(line, format!("unknown expectation {other:?}"))),
    }
    Ok(())
}

/// A bare number line: the expected scalar (Go integer syntax with base prefix, or a float).
fn parse_scalar(l: &str) -> Option<SeqValue> {
    if l.contains(char::is_whitespace) || l.starts_with('{') {
        return None;
    }
    let (neg, body) = match l.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, l.strip_prefix('+').unwrap_or(l)),
    };
    let lower = body.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()? as f64
    } else {
        parse_go_float(body)?
    };
    Some(SeqValue::Float(if neg { -v } else { v }))
}

/// Splits a series line into its descriptor and its values.
fn parse_series_line(l: &str, line: usize) -> Result<(Labels, Vec<SeqValue>), ScriptError> {
    let bytes = l.as_bytes();
    let mut i = 0;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':')) {
        i += 1;
    }
    if l[i..].starts_with("@st") {
        // Start-timestamp line (not supported).
        return Ok((Labels::empty(), Vec::new()));
    }
    if i < bytes.len() && bytes[i] == b'{' {
        let mut in_str: Option<u8> = None;
        let mut j = i + 1;
        while j < bytes.len() {
            let c = bytes[j];
            match in_str {
                Some(_) if c == b'\\' => j += 1,
                Some(q) if c == q => in_str = None,
                Some(_) => {}
                None if c == b'"' || c == b'\'' || c == b'`' => in_str = Some(c),
                None if c == b'}' => break,
                None => {}
            }
            j += 1;
        }
        i = j + 1;
    }
    if l.get(i..).is_some_and(|r| r.starts_with("@st")) {
        return Ok((Labels::empty(), Vec::new()));
    }
    let desc = &l[..i.min(l.len())];
    let labels = parse_labels(desc, line)?;
    let values = parse_values(l.get(i..).unwrap_or(""), line)?;
    Ok((labels, values))
}

/// Parses `name{a="b", ...}`, `{__name__="x"}` or `name` into labels.
pub fn parse_labels(desc: &str, line: usize) -> Result<Labels, ScriptError> {
    let toks = lex(desc).map_err(|e| err(line, format!("bad series {desc:?}: {e}")))?;
    let mut out = Vec::new();
    let mut k = 0;
    if let Some(Tok::Ident(n)) = toks.first().map(|t| &t.tok) {
        out.push(Label {
            name: "__name__".into(),
            value: n.clone(),
        });
        k = 1;
    }
    if toks.get(k).map(|t| &t.tok) == Some(&Tok::LBrace) {
        k += 1;
        loop {
            match toks.get(k).map(|t| t.tok.clone()) {
                Some(Tok::RBrace) => break,
                Some(Tok::Ident(n) | Tok::Str(n)) => {
                    match (
                        toks.get(k + 1).map(|t| &t.tok),
                        toks.get(k + 2).map(|t| &t.tok),
                    ) {
                        (Some(Tok::Assign), Some(Tok::Str(v))) => {
                            out.push(Label {
                                name: n,
                                value: v.clone(),
                            });
                            k += 3;
                        }
                        _ => {
                            out.push(Label {
                                name: "__name__".into(),
                                value: n,
                            });
                            k += 1;
                        }
                    }
                }
                other => return Err(err(line, format!("bad series {desc:?} at {other:?}"))),
            }
            if toks.get(k).map(|t| &t.tok) == Some(&Tok::Comma) {
                k += 1;
            }
        }
    }
    Ok(Labels::new(out))
}

/// Splits values on whitespace, keeping `{{...}}` histograms whole.
fn value_items(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        let mut depth = 0i32;
        while i < b.len() && (depth > 0 || !b[i].is_ascii_whitespace()) {
            match b[i] {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                _ => {}
            }
            i += 1;
        }
        if i > start {
            out.push(&s[start..i]);
        }
    }
    out
}

/// A float in series notation: no hex (`0x10` means "0 repeated 11 times"), durations as
/// seconds.
fn parse_value(s: &str) -> Option<f64> {
    if !s.contains(['x', 'X'])
        && let Some(v) = parse_go_float(s)
    {
        return Some(v);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    parse_duration(body).map(|ms| {
        if neg {
            -(ms as f64) / 1000.0
        } else {
            ms as f64 / 1000.0
        }
    })
}

/// Expands series values: `1 2 _ stale 0+10x5 1-1x3 5x2 _x3 {{...}}`.
pub fn parse_values(s: &str, line: usize) -> Result<Vec<SeqValue>, ScriptError> {
    let mut out = Vec::new();
    for item in value_items(s) {
        if item.starts_with("{{") {
            let times = item
                .rfind("}}x")
                .and_then(|p| item[p + 3..].parse::<usize>().ok())
                .map_or(1, |n| n + 1);
            out.extend(std::iter::repeat_n(SeqValue::Histogram, times));
            continue;
        }
        match item {
            "_" => out.push(SeqValue::Omitted),
            "stale" => out.push(SeqValue::Float(stale_nan())),
            _ if item.starts_with("_x") => {
                let n: usize = item[2..]
                    .parse()
                    .map_err(|_| err(line, format!("bad value {item:?}")))?;
                out.extend(std::iter::repeat_n(SeqValue::Omitted, n));
            }
            _ => {
                if let Some(v) = parse_value(item) {
                    out.push(SeqValue::Float(v));
                    continue;
                }
                let (base, times) = item
                    .rsplit_once('x')
                    .ok_or_else(|| err(line, format!("bad value {item:?}")))?;
                let times: usize = times
                    .parse()
                    .map_err(|_| err(line, format!("bad value {item:?}")))?;
                let (start, inc) = split_increment(base)
                    .ok_or_else(|| err(line, format!("bad value {item:?}")))?;
                let mut v = start;
                for _ in 0..=times {
                    out.push(SeqValue::Float(v));
                    v += inc;
                }
            }
        }
    }
    Ok(out)
}

/// `a+b` / `a-b` / `a` into (a, ±b).
fn split_increment(s: &str) -> Option<(f64, f64)> {
    if let Some(v) = parse_value(s) {
        return Some((v, 0.0));
    }
    let b = s.as_bytes();
    for p in (1..b.len()).rev() {
        if (b[p] == b'+' || b[p] == b'-') && !matches!(b[p - 1], b'e' | b'E') {
            let a = parse_value(&s[..p])?;
            let inc = parse_value(&s[p + 1..])?;
            return Some((a, if b[p] == b'-' { -inc } else { inc }));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_values() {
        let v = parse_values("0+10x2 _ 1-1x1 5x1 _x2 stale", 1).unwrap();
        let f = |x| SeqValue::Float(x);
        assert_eq!(
            &v[..8],
            &[
                f(0.0),
                f(10.0),
                f(20.0),
                SeqValue::Omitted,
                f(1.0),
                f(0.0),
                f(5.0),
                f(5.0)
            ]
        );
        assert_eq!(&v[8..10], &[SeqValue::Omitted, SeqValue::Omitted]);
        assert!(matches!(v[10], SeqValue::Float(x) if crate::is_stale_nan(x)));
        assert_eq!(parse_values("{{schema:0 sum:1}}x2 1", 1).unwrap().len(), 4);
        assert_eq!(
            parse_values("-1e-3+1x1", 1).unwrap(),
            vec![f(-1e-3), f(1.0 - 1e-3)]
        );
    }

    #[test]
    fn parses_commands() {
        let s = "load 5m\n  m{a=\"b\"} 1 2\n\n# c\neval instant at 10m m\n  m{a=\"b\"} 2\n\neval range from 0 to 10m step 5m m\n  expect warn\n  {} 1 _ 2\n\neval instant at 0 1\n  0x10\n";
        let cmds = parse_script(s).unwrap();
        assert_eq!(cmds.len(), 4);
        let Command::Eval(e) = &cmds[2] else { panic!() };
        assert_eq!(
            e.kind,
            EvalKind::Range {
                start: 0,
                end: 600_000,
                step: 300_000
            }
        );
        assert_eq!(e.query, "m");
        assert_eq!(e.warn, vec![Expect::Any]);
        let Command::Eval(e) = &cmds[3] else { panic!() };
        assert_eq!(e.scalar, Some(SeqValue::Float(16.0)));
    }
}
