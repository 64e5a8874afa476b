//! Label sets and label matchers: what identifies a series and how a selector picks series.

use std::fmt;
use std::sync::Arc;

use regex::Regex;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Label {
    /// Label name.
    pub name: String,
    /// Label value; never empty inside a [`Labels`].
    pub value: String,
}

/// A label set in canonical form: sorted by name, no empty values, no duplicate names.
///
/// Ordering compares label by label (name, then value), as Prometheus's `labels.Compare`.
/// The pairs are shared: cloning a label set is a reference-count increment, and the setters
/// copy on write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Arc<Vec<Label>>);

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Arc::new(Vec::new()))
    }

    /// Builds the canonical form of `labels`: sorted, empty values dropped, and for a name given
    /// twice the last value wins.
    pub fn new(mut labels: Vec<Label>) -> Self {
        // A stable sort keeps input order among equal names, so the last one can win.
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(labels.len());
        for l in labels {
            match out.last_mut() {
                Some(prev) if prev.name == l.name => *prev = l,
                _ => out.push(l),
            }
        }
        out.retain(|l| !l.value.is_empty());
        Labels(Arc::new(out))
    }

    /// Builds a label set from `(name, value)` pairs.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::new(
            pairs
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).to_string(),
                    value: (*v).to_string(),
                })
                .collect(),
        )
    }

    /// The value of `name`, or `""` when the label is absent (Prometheus's convention).
    pub fn get(&self, name: &str) -> &str {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) => &self.0[i].value,
            Err(_) => "",
        }
    }

    /// Whether the label `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .is_ok()
    }

    /// The metric name, if any.
    pub fn metric_name(&self) -> Option<&str> {
        let v = self.get(METRIC_NAME);
        (!v.is_empty()).then_some(v)
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                Arc::make_mut(&mut self.0).remove(i);
            }
            Ok(i) => value.clone_into(&mut Arc::make_mut(&mut self.0)[i].value),
            Err(_) if value.is_empty() => {}
            Err(i) => Arc::make_mut(&mut self.0).insert(
                i,
                Label {
                    name: name.to_string(),
                    value: value.to_string(),
                },
            ),
        }
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) {
        if let Ok(i) = self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Arc::make_mut(&mut self.0).remove(i);
        }
    }

    /// Keeps only the labels for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Label) -> bool) {
        if self.0.iter().any(|l| !keep(l)) {
            Arc::make_mut(&mut self.0).retain(|l| keep(l));
        }
    }

    /// A copy of only the labels for which `keep` returns true (cheaper than clone + retain).
    pub fn filtered(&self, mut keep: impl FnMut(&Label) -> bool) -> Labels {
        Labels(Arc::new(
            self.0.iter().filter(|l| keep(l)).cloned().collect(),
        ))
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        let mut out = self.clone();
        out.remove(METRIC_NAME);
        out
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Approximate heap size in bytes, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        self.0
            .iter()
            .map(|l| l.name.len() + l.value.len() + 48)
            .sum::<usize>()
            + 24
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Labels {
    /// Prometheus's `labels.String()`: `{__name__="x", job="a"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", l.name, quote(&l.value))?;
        }
        f.write_str("}")
    }
}

/// Quotes `s` as Go's `strconv.Quote` does for printable text.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How a matcher compares a label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~` (fully anchored; `.` matches newlines)
    Re,
    /// `!~`
    Nre,
}

impl MatchKind {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Eq => "=",
            MatchKind::Neq => "!=",
            MatchKind::Re => "=~",
            MatchKind::Nre => "!~",
        }
    }
}

/// A label matcher such as `job=~"api.*"`. An absent label matches as the empty value.
#[derive(Clone, Debug)]
pub struct LabelMatcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub kind: MatchKind,
    /// Value or regular expression source.
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for LabelMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.kind == other.kind && self.value == other.value
    }
}

impl LabelMatcher {
    /// Builds a matcher; regular expressions are compiled fully anchored with `.` matching
    /// newlines (`^(?s:value)$`), as Prometheus 3 does.
    pub fn new(name: &str, kind: MatchKind, value: &str) -> Result<Self, regex::Error> {
        let re = match kind {
            MatchKind::Re | MatchKind::Nre => Some(compile_anchored(value)?),
            _ => None,
        };
        Ok(LabelMatcher {
            name: name.to_string(),
            kind,
            value: value.to_string(),
            re,
        })
    }

    /// An equality matcher (never fails).
    pub fn equal(name: &str, value: &str) -> Self {
        LabelMatcher {
            name: name.to_string(),
            kind: MatchKind::Eq,
            value: value.to_string(),
            re: None,
        }
    }

    /// Whether `value` (the label's value, `""` when absent) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.kind, &self.re) {
            (MatchKind::Eq, _) => value == self.value,
            (MatchKind::Neq, _) => value != self.value,
            (MatchKind::Re, Some(re)) => re.is_match(value),
            (MatchKind::Nre, Some(re)) => !re.is_match(value),
            (MatchKind::Re | MatchKind::Nre, None) => {
                panic!("invariant broken: regex matcher built without a compiled regex")
            }
        }
    }

    /// Whether the series with `labels` satisfies the matcher.
    pub fn matches_labels(&self, labels: &Labels) -> bool {
        self.matches(labels.get(&self.name))
    }
}

impl fmt::Display for LabelMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.name,
            self.kind.as_str(),
            quote(&self.value)
        )
    }
}

/// Compiles `src` fully anchored with `.` matching newlines.
pub fn compile_anchored(src: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{src})$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        let l = Labels::new(vec![
            Label {
                name: "b".into(),
                value: "1".into(),
            },
            Label {
                name: "a".into(),
                value: "".into(),
            },
            Label {
                name: "b".into(),
                value: "2".into(),
            },
            Label {
                name: "__name__".into(),
                value: "m".into(),
            },
        ]);
        assert_eq!(l.to_string(), r#"{__name__="m", b="2"}"#);
        assert_eq!(l.get("a"), "");
        assert_eq!(l.metric_name(), Some("m"));
    }

    #[test]
    fn set_and_remove() {
        let mut l = Labels::from_pairs(&[("a", "1")]);
        l.set("c", "3");
        l.set("b", "2");
        l.set("a", "");
        assert_eq!(l.to_string(), r#"{b="2", c="3"}"#);
        l.remove("b");
        assert_eq!(l.to_string(), r#"{c="3"}"#);
    }

    #[track_caller]
    fn check(kind: MatchKind, pattern: &str, value: &str, want: bool) {
        let m = LabelMatcher::new("l", kind, pattern).unwrap();
        assert_eq!(m.matches(value), want, "{m} on {value:?}");
    }

    #[test]
    fn matchers() {
        check(MatchKind::Eq, "a", "a", true);
        check(MatchKind::Eq, "a", "b", false);
        check(MatchKind::Neq, "a", "", true);
        check(MatchKind::Re, "a.*", "abc", true);
        check(MatchKind::Re, "b", "abc", false); // fully anchored
        check(MatchKind::Re, "a.c", "a\nc", true); // `.` matches newline
        check(MatchKind::Nre, "a|b", "b", false);
        check(MatchKind::Re, "", "", true);
    }
}
