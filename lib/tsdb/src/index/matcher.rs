//! Label matchers with Prometheus semantics: `=`, `!=`, `=~`, `!~`; regexes fully anchored with
//! `.` matching newlines (Prometheus 3); a missing label has the value `""`, so `{foo=""}`
//! matches series without `foo`.

use std::fmt;

use regex::Regex;

use crate::error::{Error, Result};

use super::regex_opt::{self, RegexPlan, Test};

/// The four matcher operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
}

/// One label matcher, as the query engine and the wire protocol pass it.
///
/// ```
/// use tsdb::index::{LabelMatcher, MatchKind};
/// let m = LabelMatcher::new("mode", MatchKind::Nre, "idle|iowait");
/// assert_eq!(m.to_string(), r#"mode!~"idle|iowait""#);
/// let c = m.compile().unwrap();
/// assert!(c.matches("user") && !c.matches("idle") && c.matches(""));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LabelMatcher {
    /// The label name, e.g. `__name__`.
    pub name: String,
    /// The operator.
    pub kind: MatchKind,
    /// The value or the regex.
    pub value: String,
}

impl LabelMatcher {
    /// A matcher.
    pub fn new(name: impl Into<String>, kind: MatchKind, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            value: value.into(),
        }
    }

    /// Compiles the matcher; fails on an invalid regex.
    pub fn compile(&self) -> Result<CompiledMatcher> {
        CompiledMatcher::new(self)
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.kind {
            MatchKind::Eq => "=",
            MatchKind::Neq => "!=",
            MatchKind::Re => "=~",
            MatchKind::Nre => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

/// Whether a matcher selects the series that have certain values (positive: intersect their
/// postings) or excludes them (negative: subtract their postings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// The matcher does not match `""`: matching series have one of the selected values.
    Positive,
    /// The matcher matches `""`: matching series are all but those with a selected value.
    Negative,
}

/// Which values of the label a lookup reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// These values (distinct, non-empty).
    Literals(Vec<Vec<u8>>),
    /// Values starting with `prefix` whose rest passes `test`, or fails it when `negate`.
    Scan {
        /// The literal prefix (empty when `negate`).
        prefix: Vec<u8>,
        /// The test; [`Test::Regex`] runs the matcher's regex on the full value.
        test: Test,
        /// Select values that fail the test.
        negate: bool,
    },
}

/// A matcher ready to run: its regex compiled and its lookups planned.
#[derive(Clone, Debug)]
pub struct CompiledMatcher {
    matcher: LabelMatcher,
    regex: Option<Regex>,
    polarity: Polarity,
    selection: Selection,
}

impl CompiledMatcher {
    fn new(m: &LabelMatcher) -> Result<Self> {
        let all = || Selection::Scan {
            prefix: Vec::new(),
            test: Test::Any,
            negate: false,
        };
        let not_regex = || Selection::Scan {
            prefix: Vec::new(),
            test: Test::Regex,
            negate: true,
        };
        let lit = |v: &str| Selection::Literals(vec![v.as_bytes().to_vec()]);
        let (regex, polarity, selection) = match m.kind {
            MatchKind::Eq if m.value.is_empty() => (None, Polarity::Negative, all()),
            MatchKind::Eq => (None, Polarity::Positive, lit(&m.value)),
            MatchKind::Neq if m.value.is_empty() => (None, Polarity::Positive, all()),
            MatchKind::Neq => (None, Polarity::Negative, lit(&m.value)),
            MatchKind::Re | MatchKind::Nre => {
                let re = Regex::new(&format!("^(?s:{})$", m.value)).map_err(|e| {
                    Error::InvalidArgument(format!("invalid regex in matcher {m}: {e}"))
                })?;
                let plan = regex_opt::analyze(&m.value).map_err(|e| {
                    Error::InvalidArgument(format!("invalid regex in matcher {m}: {e}"))
                })?;
                let re_matches_empty = re.is_match("");
                let planned = match plan {
                    RegexPlan::Literals(mut v) => {
                        v.retain(|x| !x.is_empty());
                        Selection::Literals(v)
                    }
                    RegexPlan::Scan { prefix, test } => Selection::Scan {
                        prefix,
                        test,
                        negate: false,
                    },
                };
                let (pol, sel) = match (m.kind, re_matches_empty) {
                    (MatchKind::Re, false) => (Polarity::Positive, planned),
                    (MatchKind::Re, true) => (Polarity::Negative, not_regex()),
                    (_, true) => (Polarity::Positive, not_regex()),
                    (_, false) => (Polarity::Negative, planned),
                };
                (Some(re), pol, sel)
            }
        };
        Ok(Self {
            matcher: m.clone(),
            regex,
            polarity,
            selection,
        })
    }

    /// The source matcher.
    pub fn matcher(&self) -> &LabelMatcher {
        &self.matcher
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.matcher.name
    }

    /// Whether the matcher matches the empty value (and so series without the label).
    pub fn matches_empty(&self) -> bool {
        self.polarity == Polarity::Negative
    }

    /// Positive or negative, see [`Polarity`].
    pub fn polarity(&self) -> Polarity {
        self.polarity
    }

    /// The values a lookup reads.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// Whether a label value (`""` for a missing label) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self.matcher.kind {
            MatchKind::Eq => value == self.matcher.value,
            MatchKind::Neq => value != self.matcher.value,
            MatchKind::Re => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchKind::Nre => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether a non-empty value of the label is in the selection (the scan's test, with the
    /// prefix already checked by the caller).
    pub fn selects(&self, value: &[u8]) -> bool {
        match &self.selection {
            Selection::Literals(v) => v.iter().any(|x| x == value),
            Selection::Scan {
                prefix,
                test,
                negate,
            } => {
                let Some(rest) = value.strip_prefix(prefix.as_slice()) else {
                    return *negate;
                };
                let hit = match test.check(rest) {
                    Some(b) => b,
                    None => std::str::from_utf8(value)
                        .is_ok_and(|s| self.regex.as_ref().is_some_and(|r| r.is_match(s))),
                };
                hit != *negate
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_semantics() {
        #[track_caller]
        fn check(kind: MatchKind, pattern: &str, value: &str, want: bool) {
            let c = LabelMatcher::new("l", kind, pattern).compile().unwrap();
            assert_eq!(c.matches(value), want, "{} on {value:?}", c.matcher());
            // The selection agrees with `matches` on every non-empty value.
            if !value.is_empty() {
                let selected = c.selects(value.as_bytes());
                assert_eq!(
                    selected,
                    want == (c.polarity() == Polarity::Positive),
                    "{} selects {value:?}",
                    c.matcher()
                );
            }
        }
        use MatchKind::*;
        check(Eq, "a", "a", true);
        check(Eq, "a", "b", false);
        check(Eq, "", "", true);
        check(Eq, "", "x", false);
        check(Neq, "a", "", true);
        check(Neq, "a", "a", false);
        check(Neq, "", "x", true);
        check(Re, "a.c", "a\nc", true); // `.` matches a newline
        check(Re, "b", "abc", false); // fully anchored
        check(Re, "a|b", "b", true);
        check(Re, "a|b", "ab", false);
        check(Re, ".*x", "yyx", true);
        check(Re, ".*x", "xy", false);
        check(Re, "foo.*", "foobar", true);
        check(Re, "foo.*", "fo", false);
        check(Re, ".*", "", true);
        check(Re, "x|", "", true);
        check(Re, "x|", "y", false);
        check(Nre, "a|b", "c", true);
        check(Nre, "a|b", "a", false);
        check(Nre, ".+", "", true);
        check(Nre, ".+", "x", false);
        check(Nre, ".*", "x", false);
        check(Re, "(?i)ab", "aB", true);
        check(Re, "f[0-9]+", "f12", true);
        check(Re, "f[0-9]+", "f", false);
        assert!(LabelMatcher::new("l", Re, "(").compile().is_err());
    }

    #[test]
    fn polarity_follows_the_empty_value() {
        use MatchKind::*;
        for (kind, v, want) in [
            (Eq, "a", Polarity::Positive),
            (Eq, "", Polarity::Negative),
            (Neq, "a", Polarity::Negative),
            (Neq, "", Polarity::Positive),
            (Re, "a.*", Polarity::Positive),
            (Re, "a*", Polarity::Negative),
            (Nre, "a*", Polarity::Positive),
            (Nre, "a.*", Polarity::Negative),
        ] {
            let c = LabelMatcher::new("l", kind, v).compile().unwrap();
            assert_eq!(c.polarity(), want, "{}", c.matcher());
        }
    }
}
