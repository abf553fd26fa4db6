//! Clew's span model: the types every other crate speaks.
//!
//! Owns: identifiers ([`TraceId`], [`SpanId`], [`TenantId`]), time units ([`UnixNanos`],
//! [`DurationNanos`]), spans with typed attributes, events, links, status, resource and
//! scope, and the explicit, versioned conversions to and from OTLP ([`otlp`]) and Zipkin v2
//! ([`zipkin`]).
//!
//! Must not touch: I/O, storage layout, network servers or query languages. The model
//! derives no serialization of its own: every wire or disk shape is a named conversion
//! (see `otlp`), so a format never changes by accident when a field is added here.

// The fuzz targets' regression replay, shared by every crate's tests; not a stable API.
#[doc(hidden)]
pub mod fuzz_replay;
mod ids;
pub mod otlp;
mod span;
mod time;
pub mod zipkin;

pub use ids::{IdError, SpanId, TenantId, TraceId};
pub use span::{
    AnyValue, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanKind,
    SpanRecord, Status, StatusCode, TraceBatch,
};
pub use time::{DurationNanos, UnixNanos};
