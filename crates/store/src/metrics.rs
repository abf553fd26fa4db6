//! The store's Prometheus metrics, registered once in [`crate::Store::open`].
//!
//! Counters are exposed with OpenMetrics' `_total` suffix (e.g. `clew_wal_bytes_written_total`).

use clew_model::TenantId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

pub(crate) struct Metrics {
    wal_bytes_written: Family<TenantLabel, Counter>,
    wal_records_written: Family<TenantLabel, Counter>,
    wal_segments: Family<TenantLabel, Gauge>,
    head_spans: Family<TenantLabel, Gauge>,
    wal_replay_cut_bytes: Family<TenantLabel, Counter>,
    blocks_quarantined: Family<TenantLabel, Counter>,
    blocks_expired: Family<TenantLabel, Counter>,
    /// Per disk rather than per tenant: fsync latency is a property of the device.
    wal_fsync_duration: Histogram,
    pub(crate) pending_bytes: Gauge,
}

/// One tenant's handles into the families (cheap clones sharing the same values).
#[derive(Clone, Debug)]
pub(crate) struct TenantMetrics {
    pub(crate) wal_bytes_written: Counter,
    pub(crate) wal_records_written: Counter,
    pub(crate) wal_segments: Gauge,
    pub(crate) head_spans: Gauge,
    pub(crate) wal_replay_cut_bytes: Counter,
    pub(crate) blocks_quarantined: Counter,
    pub(crate) blocks_expired: Counter,
    pub(crate) wal_fsync_duration: Histogram,
}

impl Metrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            wal_bytes_written: Family::default(),
            wal_records_written: Family::default(),
            wal_segments: Family::default(),
            head_spans: Family::default(),
            wal_replay_cut_bytes: Family::default(),
            blocks_quarantined: Family::default(),
            blocks_expired: Family::default(),
            // 100 µs to about 3.3 s: local SSDs sit at the low end, network disks higher.
            wal_fsync_duration: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            pending_bytes: Gauge::default(),
        };
        registry.register(
            "clew_wal_bytes_written",
            "Bytes written to WAL segments (records with headers)",
            m.wal_bytes_written.clone(),
        );
        registry.register(
            "clew_wal_records_written",
            "WAL records written (one per appended batch)",
            m.wal_records_written.clone(),
        );
        registry.register_with_unit(
            "clew_wal_fsync_duration",
            "Time to fsync one group commit",
            Unit::Seconds,
            m.wal_fsync_duration.clone(),
        );
        registry.register(
            "clew_wal_segments",
            "WAL segment files on disk",
            m.wal_segments.clone(),
        );
        registry.register(
            "clew_head_spans",
            "Spans held in the in-memory head, all generations",
            m.head_spans.clone(),
        );
        registry.register(
            "clew_wal_replay_cut_bytes",
            "Bytes cut from torn or corrupt WAL segment tails at replay",
            m.wal_replay_cut_bytes.clone(),
        );
        registry.register(
            "clew_blocks_quarantined",
            "Damaged blocks moved to quarantine (at start or when a read found the damage)",
            m.blocks_quarantined.clone(),
        );
        registry.register(
            "clew_blocks_expired",
            "Blocks deleted by retention (everything in them older than the tenant's time to live)",
            m.blocks_expired.clone(),
        );
        registry.register(
            "clew_wal_pending_bytes",
            "Encoded bytes accepted but not yet committed, all tenants",
            m.pending_bytes.clone(),
        );
        m
    }

    pub(crate) fn tenant(&self, tenant: &TenantId) -> TenantMetrics {
        let label = TenantLabel {
            tenant: tenant.as_str().to_owned(),
        };
        TenantMetrics {
            wal_bytes_written: self.wal_bytes_written.get_or_create_owned(&label),
            wal_records_written: self.wal_records_written.get_or_create_owned(&label),
            wal_segments: self.wal_segments.get_or_create_owned(&label),
            head_spans: self.head_spans.get_or_create_owned(&label),
            wal_replay_cut_bytes: self.wal_replay_cut_bytes.get_or_create_owned(&label),
            blocks_quarantined: self.blocks_quarantined.get_or_create_owned(&label),
            blocks_expired: self.blocks_expired.get_or_create_owned(&label),
            wal_fsync_duration: self.wal_fsync_duration.clone(),
        }
    }
}

/// Gauges are i64; counts and sizes saturate rather than wrap.
pub(crate) fn gauge_value(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
