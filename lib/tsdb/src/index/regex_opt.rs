//! Narrowing a label-value regex before any scan of values: a finite set of literals
//! (`a|b|c`, `(x|y)z`, `(?i)ab`) becomes direct lookups; otherwise a literal prefix narrows the
//! scan and common shapes (`.*`, `.+`, `.*suffix`, `.*inner.*`) are tested without the regex
//! engine. The pattern is parsed with `regex-syntax` as Prometheus 3 reads it: fully anchored,
//! `.` matching newlines.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Most literals a finite-set expansion may produce before it gives up.
const MAX_LITERALS: usize = 256;
/// Largest character class expanded into literals.
const MAX_CLASS_CHARS: usize = 16;

/// How the part of a value after the plan's prefix is tested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// Anything (`prefix.*`).
    Any,
    /// Anything non-empty (`prefix.+`).
    NonEmpty,
    /// Ends with (`prefix.*suffix`).
    Suffix(Vec<u8>),
    /// Contains (`prefix.*inner.*`).
    Contains(Vec<u8>),
    /// Only the full regex can tell.
    Regex,
}

/// What a regex needs from the values of its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegexPlan {
    /// Exactly these values match (sorted, distinct).
    Literals(Vec<Vec<u8>>),
    /// Matching values start with `prefix`; the rest passes `test`.
    Scan {
        /// A literal every matching value starts with.
        prefix: Vec<u8>,
        /// The test of the rest.
        test: Test,
    },
}

impl Test {
    /// Whether `rest` (the value after the plan's prefix) passes; `None` for [`Test::Regex`].
    pub fn check(&self, rest: &[u8]) -> Option<bool> {
        Some(match self {
            Test::Any => true,
            Test::NonEmpty => !rest.is_empty(),
            Test::Suffix(s) => rest.ends_with(s),
            Test::Contains(s) => {
                rest.windows(s.len().max(1)).any(|w| w == s.as_slice()) || s.is_empty()
            }
            Test::Regex => return None,
        })
    }
}

/// Parses `pattern` as Prometheus does and plans its lookups.
pub fn analyze(pattern: &str) -> Result<RegexPlan, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .dot_matches_new_line(true)
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    let hir = strip(&hir);
    if let Some(mut lits) = literals(hir) {
        lits.sort();
        lits.dedup();
        return Ok(RegexPlan::Literals(lits));
    }
    let parts: Vec<&Hir> = match hir.kind() {
        HirKind::Concat(v) => v.iter().map(strip).collect(),
        _ => vec![hir],
    };
    let mut prefix = Vec::new();
    let mut i = 0;
    while let Some(HirKind::Literal(l)) = parts.get(i).map(|h| h.kind()) {
        prefix.extend_from_slice(&l.0);
        i += 1;
    }
    let rest = &parts[i..];
    let test = match rest {
        [a] if is_any(a, 0) => Test::Any,
        [a] if is_any(a, 1) => Test::NonEmpty,
        [a, s] if is_any(a, 0) && literal(s).is_some() => {
            Test::Suffix(literal(s).unwrap_or_default())
        }
        [a, s, b] if is_any(a, 0) && is_any(b, 0) && literal(s).is_some() => {
            Test::Contains(literal(s).unwrap_or_default())
        }
        _ => Test::Regex,
    };
    Ok(RegexPlan::Scan { prefix, test })
}

fn strip(h: &Hir) -> &Hir {
    match h.kind() {
        HirKind::Capture(c) => strip(&c.sub),
        _ => h,
    }
}

fn literal(h: &Hir) -> Option<Vec<u8>> {
    match strip(h).kind() {
        HirKind::Literal(l) => Some(l.0.to_vec()),
        _ => None,
    }
}

/// Whether `h` is `.*` (min 0) or `.+` (min 1) with `.` matching anything.
fn is_any(h: &Hir, min: u32) -> bool {
    let HirKind::Repetition(r) = strip(h).kind() else {
        return false;
    };
    if r.min != min || r.max.is_some() {
        return false;
    }
    match strip(&r.sub).kind() {
        HirKind::Class(Class::Unicode(c)) => {
            c.ranges().len() == 1
                && c.ranges()[0].start() == '\0'
                && c.ranges()[0].end() == char::MAX
        }
        HirKind::Class(Class::Bytes(c)) => {
            c.ranges().len() == 1 && c.ranges()[0].start() == 0 && c.ranges()[0].end() == 255
        }
        _ => false,
    }
}

/// The finite set of strings `h` matches, if small.
fn literals(h: &Hir) -> Option<Vec<Vec<u8>>> {
    match h.kind() {
        HirKind::Empty => Some(vec![Vec::new()]),
        HirKind::Literal(l) => Some(vec![l.0.to_vec()]),
        HirKind::Capture(c) => literals(&c.sub),
        HirKind::Class(Class::Unicode(c)) => {
            let n: usize = c
                .ranges()
                .iter()
                .map(|r| r.end() as usize - r.start() as usize + 1)
                .sum();
            if n > MAX_CLASS_CHARS {
                return None;
            }
            let mut out = Vec::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    out.push(ch.to_string().into_bytes());
                }
            }
            Some(out)
        }
        HirKind::Class(Class::Bytes(c)) => {
            let n: usize = c
                .ranges()
                .iter()
                .map(|r| usize::from(r.end() - r.start()) + 1)
                .sum();
            if n > MAX_CLASS_CHARS {
                return None;
            }
            Some(
                c.ranges()
                    .iter()
                    .flat_map(|r| (r.start()..=r.end()).map(|b| vec![b]))
                    .collect(),
            )
        }
        HirKind::Alternation(v) => {
            let mut out = Vec::new();
            for sub in v {
                out.extend(literals(sub)?);
                if out.len() > MAX_LITERALS {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Concat(v) => {
            let mut out = vec![Vec::new()];
            for sub in v {
                let next = literals(sub)?;
                if out.len() * next.len() > MAX_LITERALS {
                    return None;
                }
                out = out
                    .iter()
                    .flat_map(|a| next.iter().map(move |b| [a.as_slice(), b].concat()))
                    .collect();
            }
            Some(out)
        }
        HirKind::Repetition(r) if r.min == 0 && r.max == Some(1) => {
            let mut out = literals(&r.sub)?;
            out.push(Vec::new());
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(v: &[&str]) -> RegexPlan {
        RegexPlan::Literals(v.iter().map(|s| s.as_bytes().to_vec()).collect())
    }
    fn scan(prefix: &str, test: Test) -> RegexPlan {
        RegexPlan::Scan {
            prefix: prefix.as_bytes().to_vec(),
            test,
        }
    }

    #[test]
    fn plans() {
        #[track_caller]
        fn check(pattern: &str, want: RegexPlan) {
            assert_eq!(analyze(pattern).unwrap(), want, "pattern {pattern:?}");
        }
        check("foo", lits(&["foo"]));
        check("a|b|c", lits(&["a", "b", "c"]));
        check(
            "node_(cpu|memory)_x",
            lits(&["node_cpu_x", "node_memory_x"]),
        );
        check("(?i)ab", lits(&["AB", "Ab", "aB", "ab"]));
        check("ab?", lits(&["a", "ab"]));
        check("", lits(&[""]));
        check("foo|", lits(&["", "foo"]));
        check(".*", scan("", Test::Any));
        check(".+", scan("", Test::NonEmpty));
        check("foo.*", scan("foo", Test::Any));
        check("foo.+", scan("foo", Test::NonEmpty));
        check(".*bar", scan("", Test::Suffix(b"bar".to_vec())));
        check("(.*)bar", scan("", Test::Suffix(b"bar".to_vec())));
        check("foo.*bar", scan("foo", Test::Suffix(b"bar".to_vec())));
        check(".*mid.*", scan("", Test::Contains(b"mid".to_vec())));
        check("foo[0-9]+", scan("foo", Test::Regex));
        check("(a|b).*", scan("", Test::Regex));
        assert!(analyze("(").is_err());
    }

    #[test]
    fn tests_check_the_rest() {
        assert_eq!(Test::NonEmpty.check(b""), Some(false));
        assert_eq!(Test::Suffix(b"x".to_vec()).check(b"ax"), Some(true));
        assert_eq!(Test::Contains(b"bc".to_vec()).check(b"abcd"), Some(true));
        assert_eq!(Test::Contains(b"bc".to_vec()).check(b"b"), Some(false));
        assert_eq!(Test::Regex.check(b""), None);
    }
}
