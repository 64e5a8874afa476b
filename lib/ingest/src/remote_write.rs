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
use crate::validate::Limits;

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
    let result = decode_request(msg, limits, batch);
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

fn decode_request(msg: &[u8], limits: &Limits, batch: &mut Batch) -> Result<(), IngestError> {
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
                decode_series(&mut ts, index, &mut labels, limits, batch)?;
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
    batch: &mut Batch,
) -> Result<(), IngestError> {
    labels.clear();
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
