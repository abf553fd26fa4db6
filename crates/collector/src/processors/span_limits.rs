//! Per-span limits, after OpenTelemetry's attribute-limits convention: past a limit, extra
//! attributes, events and links are dropped and counted in the span's `dropped_*` fields, and
//! over-long values are truncated, so one misbehaving span cannot bloat the store while the
//! rest of it is still kept.

use clew_model::{AnyValue, KeyValue, TraceBatch};

/// Bounds on one span. Defaults are well above the OpenTelemetry SDKs' own defaults (128),
/// so data that an SDK let through is not cut again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes kept per span, per resource, per event and per link. Default 1024.
    pub max_attributes: usize,
    /// Longest string or bytes attribute value, in bytes (strings cut at a character
    /// boundary). Default 32 KiB.
    pub max_attribute_value_bytes: usize,
    /// Events kept per span. Default 1024.
    pub max_events: usize,
    /// Links kept per span. Default 1024.
    pub max_links: usize,
    /// Longest span or event name, in bytes. Default 1024.
    pub max_name_bytes: usize,
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self {
            max_attributes: 1024,
            max_attribute_value_bytes: 32 * 1024,
            max_events: 1024,
            max_links: 1024,
            max_name_bytes: 1024,
        }
    }
}

/// What applying the limits changed, for the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub attributes_dropped: u64,
    pub values_truncated: u64,
    pub events_dropped: u64,
    pub links_dropped: u64,
    pub names_truncated: u64,
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl SpanLimits {
    /// Applies the limits to every span of the batch in place.
    pub fn apply(&self, batch: &mut TraceBatch) -> Applied {
        let mut applied = Applied::default();
        for rs in &mut batch.resource_spans {
            let dropped = self.attributes(&mut rs.resource.attributes, &mut applied);
            rs.resource.dropped_attributes_count =
                rs.resource.dropped_attributes_count.saturating_add(dropped);
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    self.name(&mut span.name, &mut applied);
                    let dropped = self.attributes(&mut span.attributes, &mut applied);
                    span.dropped_attributes_count =
                        span.dropped_attributes_count.saturating_add(dropped);
                    let dropped = cap(&mut span.events, self.max_events);
                    applied.events_dropped += u64::from(dropped);
                    span.dropped_events_count = span.dropped_events_count.saturating_add(dropped);
                    for e in &mut span.events {
                        self.name(&mut e.name, &mut applied);
                        let dropped = self.attributes(&mut e.attributes, &mut applied);
                        e.dropped_attributes_count =
                            e.dropped_attributes_count.saturating_add(dropped);
                    }
                    let dropped = cap(&mut span.links, self.max_links);
                    applied.links_dropped += u64::from(dropped);
                    span.dropped_links_count = span.dropped_links_count.saturating_add(dropped);
                    for l in &mut span.links {
                        let dropped = self.attributes(&mut l.attributes, &mut applied);
                        l.dropped_attributes_count =
                            l.dropped_attributes_count.saturating_add(dropped);
                    }
                }
            }
        }
        applied
    }

    fn name(&self, name: &mut String, applied: &mut Applied) {
        if truncate_str(name, self.max_name_bytes) {
            applied.names_truncated += 1;
        }
    }

    /// Caps the list and truncates values; returns how many attributes were dropped.
    fn attributes(&self, attrs: &mut Vec<KeyValue>, applied: &mut Applied) -> u32 {
        let dropped = cap(attrs, self.max_attributes);
        applied.attributes_dropped += u64::from(dropped);
        for kv in attrs.iter_mut() {
            self.value(&mut kv.value, applied);
        }
        dropped
    }

    fn value(&self, v: &mut AnyValue, applied: &mut Applied) {
        match v {
            AnyValue::String(s) => {
                applied.values_truncated +=
                    u64::from(truncate_str(s, self.max_attribute_value_bytes));
            }
            AnyValue::Bytes(b) if b.len() > self.max_attribute_value_bytes => {
                b.truncate(self.max_attribute_value_bytes);
                applied.values_truncated += 1;
            }
            AnyValue::Array(items) => {
                for item in items {
                    self.value(item, applied);
                }
            }
            AnyValue::KvList(kvs) => {
                for kv in kvs {
                    self.value(&mut kv.value, applied);
                }
            }
            _ => {}
        }
    }
}

/// Keeps the first `max` items; returns how many were dropped.
fn cap<T>(items: &mut Vec<T>, max: usize) -> u32 {
    let dropped = items.len().saturating_sub(max);
    items.truncate(max);
    u32::try_from(dropped).unwrap_or(u32::MAX)
}

/// Cuts `s` to at most `max` bytes at a character boundary; true when it cut.
fn truncate_str(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use clew_model::{Event, Link, ResourceSpans, ScopeSpans, Span};

    use super::*;

    fn kv(i: usize, v: AnyValue) -> KeyValue {
        KeyValue::new(format!("k{i}"), v)
    }

    fn batch(span: Span) -> TraceBatch {
        TraceBatch {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn limits_drop_and_truncate_and_count() {
        let limits = SpanLimits {
            max_attributes: 2,
            max_attribute_value_bytes: 4,
            max_events: 1,
            max_links: 1,
            max_name_bytes: 3,
        };
        let span = Span {
            name: "héllo".into(),
            attributes: vec![
                kv(0, AnyValue::String("日本語".into())),
                kv(1, AnyValue::Array(vec![AnyValue::Bytes(vec![0; 9])])),
                kv(2, AnyValue::Int(1)),
            ],
            dropped_attributes_count: 1,
            events: vec![
                Event {
                    name: "a".into(),
                    attributes: vec![kv(0, AnyValue::Bool(true)); 3],
                    ..Default::default()
                },
                Event::default(),
            ],
            links: vec![Link::default(), Link::default(), Link::default()],
            ..Default::default()
        };
        let mut b = batch(span);
        let applied = limits.apply(&mut b);
        let s = &b.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.name, "hé", "cut at a character boundary");
        assert_eq!(s.attributes.len(), 2);
        assert_eq!(
            s.dropped_attributes_count, 2,
            "adds to what the SDK dropped"
        );
        assert_eq!(s.attributes[0].value, AnyValue::String("日".into()));
        assert_eq!(
            s.attributes[1].value,
            AnyValue::Array(vec![AnyValue::Bytes(vec![0; 4])])
        );
        assert_eq!((s.events.len(), s.dropped_events_count), (1, 1));
        assert_eq!(s.events[0].dropped_attributes_count, 1);
        assert_eq!((s.links.len(), s.dropped_links_count), (1, 2));
        assert_eq!(
            applied,
            Applied {
                attributes_dropped: 2,
                values_truncated: 2,
                events_dropped: 1,
                links_dropped: 2,
                names_truncated: 1,
            }
        );
    }

    #[test]
    fn defaults_leave_ordinary_spans_alone() {
        let span = Span {
            name: "GET /".into(),
            attributes: vec![kv(0, AnyValue::String("x".repeat(1000)))],
            ..Default::default()
        };
        let mut b = batch(span);
        let before = b.clone();
        assert!(SpanLimits::default().apply(&mut b).is_empty());
        assert_eq!(b, before);
    }
}
