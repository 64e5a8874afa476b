//! Prometheus remote_write 1.0: a snappy-compressed (block format) protobuf `WriteRequest`,
//! decoded in one pass straight into a [`Batch`], and an encoder for tests, benchmarks and load
//! generators.
//!
//! ```text
//! message WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
//!                        repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }
//! ```
//!
//! Unknown fields of any wire type are skipped. Exemplars, native histograms and metadata are
//! framing-checked, skipped and counted in [`crate::Stats`]; a series left without samples is
//! dropped and counted. A known field with the wrong wire type, a truncated field, invalid
//! UTF-8 in a label or a broken snappy block fails the request. Proto3 rules hold: a missing
//! scalar is zero and the last of repeated scalars wins.

use std::fmt;

use tsdb::metric_name::Label;

use crate::batch::{Batch, Sample};
use crate::error::{IngestError, Location};
use crate::protobuf::{
    Reader, WireError, WireType, bytes_field_len, put_bytes, put_key, put_varint, varint_len,
};
use crate::snappy;
use crate::validate::{self, Limits};

/// Decompresses and decodes a remote_write body into `batch`.
///
/// On error the batch is left as it was before the call (stats aside).
pub fn decode(body: &[u8], limits: &Limits, batch: &mut Batch) -> Result<(), IngestError> {
    let mut buf = std::mem::take(&mut batch.scratch.decoded);
    let result = snappy::decompress(body, limits.max_decoded_size, &mut buf)
        .and_then(|()| decode_protobuf(&buf, limits, batch));
    batch.scratch.decoded = buf;
    result
}

/// Decodes an uncompressed protobuf `WriteRequest` into `batch`.
///
/// On error the batch is left as it was before the call (stats aside).
pub fn decode_protobuf(msg: &[u8], limits: &Limits, batch: &mut Batch) -> Result<(), IngestError> {
    let mark = batch.mark();
    let result = decode_request(msg, limits, true, batch);
    if result.is_err() {
        batch.rollback(mark);
    }
    result
}

/// Which message a wire error is in.
#[derive(Clone, Copy)]
enum Path {
    Request,
    Series(usize),
    Label(usize, usize),
    Sample(usize, usize),
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Path::Request => f.write_str("WriteRequest"),
            Path::Series(i) => write!(f, "WriteRequest.timeseries[{i}]"),
            Path::Label(i, j) => write!(f, "WriteRequest.timeseries[{i}].labels[{j}]"),
            Path::Sample(i, j) => write!(f, "WriteRequest.timeseries[{i}].samples[{j}]"),
        }
    }
}

fn wire(path: Path) -> impl Fn(WireError) -> IngestError {
    move |e| IngestError::Protobuf {
        problem: e.problem.to_string(),
        offset: e.offset,
        path: path.to_string(),
    }
}

/// `simple_path` false sends every series through the full path: the reference the tests
/// compare the simple path with.
fn decode_request(
    msg: &[u8],
    limits: &Limits,
    simple_path: bool,
    batch: &mut Batch,
) -> Result<(), IngestError> {
    let mut r = Reader::new(msg, 0);
    // One label vector per request: every label borrows from `msg`.
    let mut labels: Vec<Label<'_>> = Vec::with_capacity(32);
    let mut index = 0;
    let at = wire(Path::Request);
    while !r.at_end() {
        let key_at = r.offset();
        let (field, wt) = r.key().map_err(&at)?;
        match field {
            1 => {
                r.expect(field, wt, WireType::Len, key_at).map_err(&at)?;
                let mut ts = r.len_delimited().map_err(&at)?;
                decode_series(&mut ts, index, &mut labels, limits, simple_path, batch)?;
                index += 1;
            }
            3 => {
                r.expect(field, wt, WireType::Len, key_at).map_err(&at)?;
                r.len_delimited().map_err(&at)?;
                batch.stats_mut().metadata_ignored += 1;
            }
            _ => r.skip(field, wt).map_err(&at)?,
        }
    }
    Ok(())
}

fn decode_series<'a>(
    r: &mut Reader<'a>,
    index: usize,
    labels: &mut Vec<Label<'a>>,
    limits: &Limits,
    simple_path: bool,
    batch: &mut Batch,
) -> Result<(), IngestError> {
    labels.clear();
    // What every sender writes: the labels first, sorted, valid, in the simple form. Then the
    // canonical name is the label bytes without their field keys, checked and copied in one
    // pass; anything else (including any error) takes the full path below from the start.
    if simple_path && try_simple_series(r, limits, batch) {
        return Ok(());
    }
    let start = batch.samples_len();
    let mut samples = 0;
    let at = wire(Path::Series(index));
    while !r.at_end() {
        let key_at = r.offset();
        let (field, wt) = r.key().map_err(&at)?;
        match field {
            1 => {
                r.expect(field, wt, WireType::Len, key_at).map_err(&at)?;
                let mut m = r.len_delimited().map_err(&at)?;
                let label = decode_label(&mut m).map_err(wire(Path::Label(index, labels.len())))?;
                labels.push(label);
            }
            2 => {
                r.expect(field, wt, WireType::Len, key_at).map_err(&at)?;
                let mut m = r.len_delimited().map_err(&at)?;
                let sample = decode_sample(&mut m).map_err(wire(Path::Sample(index, samples)))?;
                batch.push_sample(sample);
                samples += 1;
            }
            3 | 4 => {
                r.expect(field, wt, WireType::Len, key_at).map_err(&at)?;
                r.len_delimited().map_err(&at)?;
                let stats = batch.stats_mut();
                if field == 3 {
                    stats.exemplars_ignored += 1;
                } else {
                    stats.histograms_ignored += 1;
                }
            }
            _ => r.skip(field, wt).map_err(&at)?,
        }
    }
    if samples == 0 {
        batch.stats_mut().series_without_samples += 1;
        return Ok(());
    }
    batch.finish_series(
        labels.iter().copied(),
        start,
        limits,
        limits.remote_write_invalid_series,
        Location::TimeSeries(index),
    )
}

/// The label fields (`TimeSeries` field 1) at the start of `msg`, as one slice; `None` when
/// it does not start with one. A field whose length runs past the end ends the run.
fn leading_label_run(msg: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(msg, 0);
    let mut end = 0;
    while msg.get(end) == Some(&0x0a) {
        let _ = r.varint();
        if r.len_delimited().is_err() {
            break;
        }
        end = r.offset();
    }
    (end > 0).then(|| &msg[..end])
}

/// Calls `f` with where each label's `n name` and `m value` bytes (length byte included)
/// are in `run`, as (name offset, name length, value offset, value length), while it answers
/// true; answers false when `f` does, or at the first label not in the form every encoder
/// writes, `0x0a n name 0x12 m value` with `n` and `m` below 128. For a run of such labels,
/// sorted and without empty values, the canonical encoding ([`tsdb::metric_name::encode`])
/// is each label's bytes without its two field keys, in the same order.
#[inline]
fn for_each_simple_label(
    run: &[u8],
    mut f: impl FnMut(usize, usize, usize, usize) -> bool,
) -> bool {
    let mut r = Reader::new(run, 0);
    while !r.at_end() {
        let Ok(label) = r.varint().and_then(|_| r.len_delimited()) else {
            return false;
        };
        let at = label.offset();
        let m = label.rest();
        let (Some(&0x0a), Some(&n)) = (m.first(), m.get(1)) else {
            return false;
        };
        let n = usize::from(n);
        let (Some(&0x12), Some(&v)) = (m.get(2 + n), m.get(3 + n)) else {
            return false;
        };
        let v = usize::from(v);
        if n >= 0x80 || v >= 0x80 || 4 + n + v != m.len() || !f(at + 1, 1 + n, at + 3 + n, 1 + v) {
            return false;
        }
    }
    true
}

/// Appends the canonical name of `run` to `out` when every label is in the simple form
/// ([`for_each_simple_label`]), valid under `limits`, and the labels are in canonical order
/// as given (strictly ascending names, no empty values); false otherwise, with `out` possibly
/// extended. Accepts exactly what the full path would accept unchanged.
fn append_valid_simple_name(run: &[u8], limits: &Limits, out: &mut Vec<u8>) -> bool {
    // Keys and one-byte lengths are ASCII, so every name and value starts and ends at a
    // character boundary: the whole run being UTF-8 makes each of them UTF-8. (A label
    // message of 128 bytes or more has a two-byte length; then values are checked one by
    // one. Names pass the ASCII name rules or fail anyway.)
    let all_utf8 = crate::protobuf::utf8(run).is_some();
    out.reserve(run.len() + 32);
    let mut prev: &[u8] = &[];
    let mut count = 0;
    for_each_simple_label(run, |name_at, name_len, value_at, value_len| {
        let name = &run[name_at + 1..name_at + name_len];
        let value = &run[value_at + 1..value_at + value_len];
        if (count > 0 && !validate::less_bytes(prev, name))
            || !validate::is_valid_nonempty_label(name, value, limits)
            || !(all_utf8 || crate::protobuf::utf8(value).is_some())
        {
            return false;
        }
        prev = name;
        count += 1;
        append_piece(out, run, name_at, name_len);
        append_piece(out, run, value_at, value_len);
        true
    }) && count <= limits.max_labels_per_series
}

/// Appends `src[at..at + len]` to `out`. Label names and values are short, and a copy of
/// variable length is a call to `memcpy`: when `src` has the bytes, a piece of up to 16 or
/// 32 bytes is copied as a fixed-size block (a vector move or two) and the excess cut off.
#[inline(always)]
fn append_piece(out: &mut Vec<u8>, src: &[u8], at: usize, len: usize) {
    let end = out.len() + len;
    if len <= 16
        && let Some(block) = src.get(at..at + 16)
        && let Ok(block) = <&[u8; 16]>::try_from(block)
    {
        out.extend_from_slice(block);
        out.truncate(end);
    } else if len <= 32
        && let Some(block) = src.get(at..at + 32)
        && let Ok(block) = <&[u8; 32]>::try_from(block)
    {
        out.extend_from_slice(block);
        out.truncate(end);
    } else {
        out.extend_from_slice(&src[at..at + len]);
    }
}

/// Decodes the series in `r` by the simple path ([`decode_simple_series`]) when it opens with
/// a label run, reading all of `r` on success; false, with `r` and the batch as they were,
/// when it must take the full path.
fn try_simple_series(r: &mut Reader<'_>, limits: &Limits, batch: &mut Batch) -> bool {
    let Some(run) = leading_label_run(r.rest()) else {
        return false;
    };
    let mut rest = r.clone();
    rest.skip_bytes(run.len());
    let decoded = decode_simple_series(&mut rest, run, limits, batch);
    if decoded {
        *r = rest;
    }
    decoded
}

/// Decodes the rest of a series that opens with the label run `run`, whose labels are all
/// in it: checks them and writes the canonical name ([`append_valid_simple_name`]), then
/// reads the samples. Answers false, with the batch as before, when the series must take
/// the full path: a label not simple, invalid or out of order, a label field after the
/// samples, or any wire error (which the full path then reports with its position).
fn decode_simple_series(
    r: &mut Reader<'_>,
    run: &[u8],
    limits: &Limits,
    batch: &mut Batch,
) -> bool {
    let mark = batch.mark();
    if !append_valid_simple_name(run, limits, batch.arena_mut()) {
        batch.rollback(mark);
        return false;
    }
    let (mut samples, mut exemplars, mut histograms) = (0, 0, 0);
    while !r.at_end() {
        let read = match r.key() {
            Ok((2, WireType::Len)) => r
                .len_delimited()
                .and_then(|mut m| decode_sample(&mut m))
                .map(|sample| {
                    batch.push_sample(sample);
                    samples += 1;
                }),
            Ok((3, WireType::Len)) => r.len_delimited().map(|_| exemplars += 1),
            Ok((4, WireType::Len)) => r.len_delimited().map(|_| histograms += 1),
            Ok((field @ (5..), wt)) => r.skip(field, wt),
            // A label after the samples, a known field of the wrong type, or a bad key.
            _ => {
                batch.rollback(mark);
                return false;
            }
        };
        if read.is_err() {
            batch.rollback(mark);
            return false;
        }
    }
    if samples > 0 {
        batch.record_series(mark);
    } else {
        batch.rollback(mark);
        batch.stats_mut().series_without_samples += 1;
    }
    let stats = batch.stats_mut();
    stats.exemplars_ignored += exemplars;
    stats.histograms_ignored += histograms;
    true
}

#[inline]
fn decode_label<'a>(r: &mut Reader<'a>) -> Result<Label<'a>, WireError> {
    // One UTF-8 check for the whole message rather than one per string: keys and the
    // one-byte lengths of strings under 128 bytes are ASCII, so a label message is usually
    // valid UTF-8 as a whole. When it is not, each string is checked on its own.
    let bytes = r.rest();
    let whole = crate::protobuf::utf8(bytes);
    // Fast path for what every encoder writes: `0x0a n name 0x12 m value`, n and m < 128.
    if let (Some(w), Some(&n)) = (whole, bytes.get(1))
        && bytes.first() == Some(&0x0a)
        && n < 0x80
    {
        let n = usize::from(n);
        if let (Some(&0x12), Some(&m)) = (bytes.get(2 + n), bytes.get(3 + n))
            && m < 0x80
            && 4 + n + usize::from(m) == bytes.len()
            && let (Some(name), Some(value)) = (w.get(2..2 + n), w.get(4 + n..))
        {
            r.finish();
            return Ok(Label { name, value });
        }
    }
    let mut label = Label {
        name: "",
        value: "",
    };
    while !r.at_end() {
        let key_at = r.offset();
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(field, wt, WireType::Len, key_at)?;
                label.name = r.string_in(whole, "label name")?;
            }
            2 => {
                r.expect(field, wt, WireType::Len, key_at)?;
                label.value = r.string_in(whole, "label value")?;
            }
            _ => r.skip(field, wt)?,
        }
    }
    Ok(label)
}

#[inline]
fn decode_sample(r: &mut Reader<'_>) -> Result<Sample, WireError> {
    let mut sample = Sample {
        timestamp_ms: 0,
        value: 0.0,
    };
    while !r.at_end() {
        let key_at = r.offset();
        let (field, wt) = r.key()?;
        match field {
            1 => {
                r.expect(field, wt, WireType::Fixed64, key_at)?;
                sample.value = f64::from_bits(r.fixed64()?);
            }
            2 => {
                r.expect(field, wt, WireType::Varint, key_at)?;
                // int64 is the two's complement bit pattern as a varint.
                sample.timestamp_ms = r.varint()? as i64;
            }
            _ => r.skip(field, wt)?,
        }
    }
    Ok(sample)
}

/// An owned `WriteRequest`, for building requests in tests and tools.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteRequest {
    /// The series, in wire order.
    pub timeseries: Vec<TimeSeries>,
}

/// An owned `TimeSeries`: labels in the order they are written, and samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeSeries {
    /// `(name, value)` pairs, written as given (senders should sort them by name).
    pub labels: Vec<(String, String)>,
    /// The samples.
    pub samples: Vec<Sample>,
}

impl WriteRequest {
    /// The uncompressed protobuf encoding.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        for ts in &self.timeseries {
            e.push(
                ts.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                &ts.samples,
            );
        }
        e.into_protobuf()
    }

    /// The body a remote_write sender posts: the protobuf encoding, snappy-compressed.
    pub fn encode(&self) -> Vec<u8> {
        snappy::compress(&self.encode_protobuf())
    }
}

/// Builds a `WriteRequest` series by series without owning the labels; reuse it with
/// [`Encoder::clear`] to encode many requests without allocating.
#[derive(Clone, Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the request, keeping the buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Appends one `TimeSeries` with `labels` in the given order and `samples`. A zero value
    /// or timestamp is left out, as proto3 does; `-0.0` is written, so it survives.
    pub fn push<'l>(
        &mut self,
        labels: impl Iterator<Item = (&'l str, &'l str)> + Clone,
        samples: &[Sample],
    ) {
        let label_len = |n: &str, v: &str| bytes_field_len(n.len()) + bytes_field_len(v.len());
        let mut len: usize = labels
            .clone()
            .map(|(n, v)| bytes_field_len(label_len(n, v)))
            .sum();
        len += samples
            .iter()
            .map(|s| bytes_field_len(sample_len(s)))
            .sum::<usize>();
        put_key(&mut self.buf, 1, WireType::Len);
        put_varint(&mut self.buf, len as u64);
        for (n, v) in labels {
            put_key(&mut self.buf, 1, WireType::Len);
            put_varint(&mut self.buf, label_len(n, v) as u64);
            put_bytes(&mut self.buf, 1, n.as_bytes());
            put_bytes(&mut self.buf, 2, v.as_bytes());
        }
        for s in samples {
            put_key(&mut self.buf, 2, WireType::Len);
            put_varint(&mut self.buf, sample_len(s) as u64);
            if s.value.to_bits() != 0 {
                put_key(&mut self.buf, 1, WireType::Fixed64);
                self.buf.extend_from_slice(&s.value.to_bits().to_le_bytes());
            }
            if s.timestamp_ms != 0 {
                put_key(&mut self.buf, 2, WireType::Varint);
                put_varint(&mut self.buf, s.timestamp_ms as u64);
            }
        }
    }

    /// The uncompressed protobuf encoding so far.
    pub fn protobuf(&self) -> &[u8] {
        &self.buf
    }

    /// The uncompressed protobuf encoding, consuming the encoder.
    pub fn into_protobuf(self) -> Vec<u8> {
        self.buf
    }

    /// The snappy-compressed request, ready to post.
    pub fn compress(&self) -> Vec<u8> {
        snappy::compress(&self.buf)
    }
}

fn sample_len(s: &Sample) -> usize {
    let mut n = 0;
    if s.value.to_bits() != 0 {
        n += 9;
    }
    if s.timestamp_ms != 0 {
        n += 1 + varint_len(s.timestamp_ms as u64);
    }
    n
}

#[cfg(test)]
mod tests;
