//! Tenants and series ids.
//!
//! A [`Tsid`] orders series so that those of one metric, and within it those of one job and
//! instance, are neighbours on disk: a query for a metric reads contiguous blocks.

/// A tenant: `(accountID, projectID)` as in the VictoriaMetrics cluster. Every key in storage
/// carries it, so tenants are isolated by construction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tenant {
    /// The account id (`/insert/<accountID>:...`).
    pub account_id: u32,
    /// The project id (`/insert/...:<projectID>`); 0 when the URL omits it.
    pub project_id: u32,
}

impl Tenant {
    /// Creates a tenant.
    pub const fn new(account_id: u32, project_id: u32) -> Self {
        Self {
            account_id,
            project_id,
        }
    }
}

/// A series id. Fields are compared in declaration order, which is also the order of the
/// big-endian encoding, so the derived `Ord` and the byte order on disk agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tsid {
    /// The tenant that owns the series.
    pub tenant: Tenant,
    /// A hash of the metric name (`__name__`): series of one metric sort together.
    pub metric_group_id: u64,
    /// A hash of the `job` label value (0 when absent).
    pub job_id: u32,
    /// A hash of the `instance` label value (0 when absent).
    pub instance_id: u32,
    /// The unique id of the series within its tenant, allocated by the series index.
    pub metric_id: u64,
}

impl Tsid {
    /// Length of [`Tsid::encode`]'s output in bytes.
    pub const ENCODED_LEN: usize = 32;

    /// Appends the 32-byte big-endian encoding to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.to_bytes());
    }

    /// The 32-byte big-endian encoding, on the stack.
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut b = [0u8; Self::ENCODED_LEN];
        b[0..4].copy_from_slice(&self.tenant.account_id.to_be_bytes());
        b[4..8].copy_from_slice(&self.tenant.project_id.to_be_bytes());
        b[8..16].copy_from_slice(&self.metric_group_id.to_be_bytes());
        b[16..20].copy_from_slice(&self.job_id.to_be_bytes());
        b[20..24].copy_from_slice(&self.instance_id.to_be_bytes());
        b[24..32].copy_from_slice(&self.metric_id.to_be_bytes());
        b
    }

    /// Decodes the first 32 bytes of `src`; `None` when `src` is shorter.
    pub fn decode(src: &[u8]) -> Option<Tsid> {
        let b: &[u8; Self::ENCODED_LEN] = src.get(..Self::ENCODED_LEN)?.try_into().ok()?;
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        Some(Tsid {
            tenant: Tenant::new(u32_at(0), u32_at(4)),
            metric_group_id: u64_at(8),
            job_id: u32_at(16),
            instance_id: u32_at(20),
            metric_id: u64_at(24),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_sorts_like_the_struct() {
        let a = Tsid {
            tenant: Tenant::new(1, 2),
            metric_group_id: 7,
            job_id: 3,
            instance_id: 9,
            metric_id: 1,
        };
        let b = Tsid { metric_id: 2, ..a };
        let c = Tsid {
            job_id: 4,
            metric_id: 0,
            ..a
        };
        let d = Tsid {
            tenant: Tenant::new(1, 3),
            metric_group_id: 0,
            ..a
        };
        let enc = |t: &Tsid| {
            let mut v = Vec::new();
            t.encode(&mut v);
            v
        };
        for t in [a, b, c, d] {
            assert_eq!(enc(&t).len(), Tsid::ENCODED_LEN);
            assert_eq!(Tsid::decode(&enc(&t)), Some(t));
        }
        let mut by_struct = vec![d, c, b, a];
        by_struct.sort();
        let mut by_bytes = vec![d, c, b, a];
        by_bytes.sort_by_key(enc);
        assert_eq!(by_struct, by_bytes);
        assert_eq!(by_struct, vec![a, b, c, d]);
        assert_eq!(Tsid::decode(&[0u8; 31]), None);
    }
}
