//! Label sets and label matchers: what identifies a series and how a selector picks series.

use std::fmt;
use std::sync::Arc;

use regex::Regex;

/// The label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One `name="value"` pair, owned: what a label set is built from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Label {
    /// Label name.
    pub name: String,
    /// Label value; never empty inside a [`Labels`].
    pub value: String,
}

/// One `name="value"` pair borrowed from a [`Labels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelRef<'a> {
    /// Label name.
    pub name: &'a str,
    /// Label value, never empty.
    pub value: &'a str,
}

impl LabelRef<'_> {
    /// An owned copy.
    pub fn to_label(self) -> Label {
        Label {
            name: self.name.to_string(),
            value: self.value.to_string(),
        }
    }
}

/// A label set in canonical form: sorted by name, no empty values, no duplicate names.
///
/// Ordering compares label by label (name, then value), as Prometheus's `labels.Compare`.
/// The pairs live in one shared allocation (a string of `<name length><name><value
/// length><value>` items in name order, lengths as in [`encode_len`], as Prometheus's
/// `stringlabels`):
/// cloning is a reference-count increment, reading a label set touches one or two cache
/// lines, and the setters build a new string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels(Arc<str>);

/// Label sets hash and compare as their encodings, so a map keyed by `Labels` can be looked
/// up with an encoding built by [`Labels::encode_filtered`].
impl std::borrow::Borrow<str> for Labels {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl Default for Labels {
    fn default() -> Self {
        Labels::empty()
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return std::cmp::Ordering::Equal;
        }
        self.iter().cmp(other.iter())
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Appends `len` as ASCII base-64 digits, most significant first: `0x40 | d` for every digit
/// but the last, plain `d` for the last. Lengths below 64 take one byte, and the encoding
/// stays valid UTF-8.
fn encode_len(out: &mut String, len: usize) {
    let mut shift = 0;
    while len >> (shift + 6) != 0 {
        shift += 6;
    }
    while shift > 0 {
        out.push(char::from(0x40 | ((len >> shift) & 0x3f) as u8));
        shift -= 6;
    }
    out.push(char::from((len & 0x3f) as u8));
}

/// Appends one encoded label to `out`.
fn encode(out: &mut String, name: &str, value: &str) {
    encode_len(out, name.len());
    out.push_str(name);
    encode_len(out, value.len());
    out.push_str(value);
}

/// Builds label sets in name order.
struct Builder(String);

impl Builder {
    fn with_capacity(n: usize) -> Self {
        Builder(String::with_capacity(n))
    }

    fn push(&mut self, name: &str, value: &str) {
        if !value.is_empty() {
            encode(&mut self.0, name, value);
        }
    }

    fn finish(self) -> Labels {
        Labels(Arc::from(self.0))
    }
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Labels(Arc::from(""))
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
        let mut b =
            Builder::with_capacity(out.iter().map(|l| l.name.len() + l.value.len() + 6).sum());
        for l in &out {
            b.push(&l.name, &l.value);
        }
        b.finish()
    }

    /// Builds a label set from pairs already in canonical order (names strictly ascending),
    /// without copying each name and value into its own string first: for series read from
    /// storage, whose names are canonical. Falls back to [`Labels::new`] when the pairs are
    /// not strictly ascending, so the result is canonical either way. Empty values are
    /// dropped.
    pub fn from_sorted_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Self {
        let mut len = 0;
        let mut prev: Option<&str> = None;
        for (name, value) in pairs.clone() {
            if prev.is_some_and(|p| p >= name) {
                return Self::new(
                    pairs
                        .map(|(n, v)| Label {
                            name: n.to_owned(),
                            value: v.to_owned(),
                        })
                        .collect(),
                );
            }
            prev = Some(name);
            len += name.len() + value.len() + 6;
        }
        let mut b = Builder::with_capacity(len);
        for (name, value) in pairs {
            b.push(name, value);
        }
        b.finish()
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
        for l in self.iter() {
            match l.name.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return l.value,
                std::cmp::Ordering::Greater => break,
            }
        }
        ""
    }

    /// Whether the label `name` is present.
    pub fn has(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// The metric name, if any.
    pub fn metric_name(&self) -> Option<&str> {
        let v = self.get(METRIC_NAME);
        (!v.is_empty()).then_some(v)
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        let mut b = Builder::with_capacity(self.0.len() + name.len() + value.len() + 6);
        let mut done = false;
        for l in self.iter() {
            if !done && l.name >= name {
                b.push(name, value);
                done = true;
                if l.name == name {
                    continue;
                }
            }
            b.push(l.name, l.value);
        }
        if !done {
            b.push(name, value);
        }
        *self = b.finish();
    }

    /// Removes `name` if present.
    pub fn remove(&mut self, name: &str) {
        if self.has(name) {
            *self = self.filtered(|l| l.name != name);
        }
    }

    /// Keeps only the labels for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(LabelRef<'_>) -> bool) {
        if self.iter().any(|l| !keep(l)) {
            *self = self.filtered(keep);
        }
    }

    /// A copy of only the labels for which `keep` returns true.
    pub fn filtered(&self, keep: impl FnMut(LabelRef<'_>) -> bool) -> Labels {
        thread_local! {
            /// Reused encoding buffer: building the copy in it and then allocating the shared
            /// string once halves the allocations (a `String` turned into an `Arc<str>` is
            /// allocated twice).
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                self.encode_filtered(keep, &mut buf);
                Labels(Arc::from(buf.as_str()))
            }
            // Only if `keep` itself builds label sets.
            Err(_) => {
                let mut out = String::with_capacity(self.0.len());
                self.encode_filtered(keep, &mut out);
                Labels(Arc::from(out))
            }
        })
    }

    /// Appends the encoding of the labels for which `keep` returns true to `out`: the
    /// encoding of `self.filtered(keep)`, built by copying encoded items, so equal subsets give
    /// equal strings (a hash key without building a label set).
    pub(crate) fn encode_filtered(
        &self,
        mut keep: impl FnMut(LabelRef<'_>) -> bool,
        out: &mut String,
    ) {
        let mut it = self.iter();
        loop {
            let before = it.rest;
            let Some(l) = it.next() else { break };
            if keep(l) {
                out.push_str(&before[..before.len() - it.rest.len()]);
            }
        }
    }

    /// The encoding (see [`Labels`]).
    pub(crate) fn encoded(&self) -> &str {
        &self.0
    }

    /// The label set whose encoding is `encoded`, as built by [`Labels::encode_filtered`].
    pub(crate) fn from_encoded(encoded: &str) -> Labels {
        Labels(Arc::from(encoded))
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        let mut out = self.clone();
        out.remove(METRIC_NAME);
        out
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter { rest: &self.0 }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Approximate heap size in bytes, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        self.0.len() + 16
    }
}

/// Iterator over the labels of a [`Labels`], in name order.
#[derive(Clone, Debug)]
pub struct LabelsIter<'a> {
    rest: &'a str,
}

impl<'a> LabelsIter<'a> {
    /// Splits one length-prefixed item (see [`encode_len`]) off the front.
    #[inline]
    fn take(&mut self) -> &'a str {
        let b = self.rest.as_bytes();
        let mut len = 0usize;
        let mut i = 0;
        while i < b.len() && b[i] >= 0x40 {
            len = (len << 6) | usize::from(b[i] & 0x3f);
            i += 1;
        }
        len = (len << 6) | usize::from(b.get(i).copied().unwrap_or(0));
        let (Some(text), Some(rest)) = (
            self.rest.get(i + 1..i + 1 + len),
            self.rest.get(i + 1 + len..),
        ) else {
            panic!("invariant broken: malformed label encoding {:?}", self.rest)
        };
        self.rest = rest;
        text
    }
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = LabelRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<LabelRef<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let name = self.take();
        let value = self.take();
        Some(LabelRef { name, value })
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = LabelRef<'a>;
    type IntoIter = LabelsIter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for Labels {
    /// Prometheus's `labels.String()`: `{__name__="x", job="a"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", l.name, quote(l.value))?;
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
    re: Option<Pattern>,
}

/// A compiled `=~`/`!~` pattern.
#[derive(Clone, Debug)]
enum Pattern {
    /// A pattern that is only literal alternatives (`node|host`, `api`): the value must equal
    /// one of them. Dashboards are full of these, and compiling a regex costs far more than
    /// parsing the rest of a query.
    Literals(Vec<String>),
    /// Anything else, compiled fully anchored.
    Regex(Regex),
}

impl Pattern {
    fn new(src: &str) -> Result<Pattern, regex::Error> {
        // Characters with a meaning in `regex` syntax (without the `x` flag); a pattern free
        // of them, split at `|`, is a set of literals.
        const META: &[char] = &[
            '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
        ];
        if src.split('|').all(|alt| !alt.contains(META)) {
            return Ok(Pattern::Literals(
                src.split('|').map(str::to_string).collect(),
            ));
        }
        compile_anchored(src).map(Pattern::Regex)
    }

    fn is_match(&self, value: &str) -> bool {
        match self {
            Pattern::Literals(alts) => alts.iter().any(|a| a == value),
            Pattern::Regex(re) => re.is_match(value),
        }
    }
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
            MatchKind::Re | MatchKind::Nre => Some(Pattern::new(value)?),
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

    /// `from_sorted_pairs` gives what `from_pairs` gives: for canonical input directly, and for
    /// unsorted input, duplicate names and empty values through the fallback.
    #[test]
    fn from_sorted_pairs_equals_from_pairs() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("__name__", "up"), ("instance", "a:1"), ("job", "node")],
            &[("a", ""), ("b", "2")],
            &[("job", "x"), ("__name__", "up")],
            &[("a", "1"), ("a", "2")],
            &[("a", "1"), ("b", ""), ("c", "3")],
        ];
        for pairs in cases {
            let fast = Labels::from_sorted_pairs(pairs.iter().copied());
            assert_eq!(fast, Labels::from_pairs(pairs), "{pairs:?}");
        }
    }

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
        l.set("b", "22");
        l.set("d", "4");
        assert_eq!(l.to_string(), r#"{b="22", c="3", d="4"}"#);
        l.remove("b");
        assert_eq!(l.to_string(), r#"{c="3", d="4"}"#);
        assert_eq!(l.len(), 2);
        l.retain(|lb| lb.name == "d");
        assert_eq!(l, Labels::from_pairs(&[("d", "4")]));
    }

    #[test]
    fn encoding_round_trips_any_text() {
        // Lengths are bytes (one to four digits here); text may hold digits, newlines and
        // multibyte characters.
        let long = "x".repeat(1000);
        let longer = "y".repeat(300_000);
        let pairs = [
            ("", "empty name"),
            ("a:b", "12:34"),
            ("l63", &long[..63]),
            ("l64", &long[..64]),
            ("long", &long[..]),
            ("longer", &longer[..]),
            ("utf8.name", "日本\n\"quoted\""),
            ("z", "0"),
        ];
        let l = Labels::from_pairs(&pairs);
        let got: Vec<(&str, &str)> = l.iter().map(|lb| (lb.name, lb.value)).collect();
        assert_eq!(got, pairs.to_vec());
        for (n, v) in pairs {
            assert_eq!(l.get(n), v);
        }
        assert_eq!(l.get("b"), "");
    }

    #[test]
    fn ordering_is_label_by_label() {
        // Byte order of the encoding would put "10:..." before "2:..."; labels compare by
        // name, then value.
        let a = Labels::from_pairs(&[("a", "zz")]);
        let b = Labels::from_pairs(&[("a", "zzzzzzzzzz")]);
        let c = Labels::from_pairs(&[("a", "zz"), ("b", "1")]);
        let d = Labels::from_pairs(&[("aa", "1")]);
        let mut v = vec![d.clone(), c.clone(), b.clone(), a.clone()];
        v.sort();
        assert_eq!(v, vec![a, c, b, d]);
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
        check(MatchKind::Re, "", "a", false);
    }

    /// Patterns that are literal alternatives skip the regex engine; they must match exactly
    /// what the anchored regex matches.
    #[test]
    fn literal_patterns_match_as_regexes() {
        let patterns = [
            "node|host",
            "api",
            "",
            "a|",
            "|b",
            "a||b",
            "ä|日本",
            "a b",
            "a-b/c:d",
            "x,y",
            "a.b",
            "a|b.*",
            "(a|b)",
            "a\\|b",
            "[ab]",
            "a{2}",
            "^a$",
            "a+",
        ];
        let values = [
            "", "node", "host", "nodehost", "api", "apix", "a", "b", "ab", "a|b", "ä", "日本",
            "a b", "a-b/c:d", "x,y", "a.b", "axb", "aa", "b.x", "a\\|b", "|",
        ];
        for p in patterns {
            let fast = Pattern::new(p).unwrap();
            let re = compile_anchored(p).unwrap();
            for v in values {
                assert_eq!(fast.is_match(v), re.is_match(v), "pattern {p:?} on {v:?}");
            }
        }
        assert!(matches!(
            Pattern::new("node|host"),
            Ok(Pattern::Literals(_))
        ));
        assert!(matches!(Pattern::new("a.b"), Ok(Pattern::Regex(_))));
        assert!(Pattern::new("a(").is_err());
    }
}
