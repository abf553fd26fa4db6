//! The block's Arrow/Parquet schema, version 1: one row per span.
//!
//! | column | type | notes |
//! |---|---|---|
//! | `trace_id` | fixed_size_binary(16) | sort key; dictionary (≈10 rows per value); page statistics |
//! | `start_unix_nanos` | uint64 | delta encoded; page statistics |
//! | `span_id`, `parent_span_id` | fixed_size_binary(8) | plain (random); parent null for roots |
//! | `duration_nanos` | uint64 | `max(end - start, 0)`, delta encoded |
//! | `end_unix_nanos` | uint64, null | only when end < start, so that `end` round-trips |
//! | `service_name` | utf8 | resource `service.name` as [`SpanRecord::service_name`] reads it |
//! | `name`, `status_message`, `trace_state` | utf8 | dictionary |
//! | `kind`, `status_code` | uint8 | OTLP enum numbers |
//! | `flags` | uint32 | |
//! | `http_request_method`, `http_route`, `db_system`, `rpc_method`, `peer_service` | utf8, null | hot string attributes |
//! | `http_response_status_code` | int64, null | hot int attribute |
//! | `attributes`, `resource_attributes`, `scope_attributes` | `list<kv>` | see below |
//! | `events` | list<struct{time_unix_nanos, name, attributes, dropped_attributes_count}> | |
//! | `links` | list<struct{trace_id, span_id, trace_state, flags, attributes, dropped_attributes_count}> | |
//! | `scope_name`, `scope_version` | utf8 | |
//! | `*dropped*_count` | uint32 | span, events, links, resource, scope |
//!
//! A `kv` is `struct{key, type, str, int, double, bool, bytes}`: `type` says which value
//! field is set ([`TYPE_STR`] …). Arrays and kvlists are one OTLP `AnyValue` protobuf in
//! `bytes` ([`TYPE_OTLP`]): rare, and their exact shape round-trips. [`TYPE_COLUMN`] marks an
//! attribute whose value lives in a dedicated column (the first occurrence of a hot key with
//! the column's type; the first `service.name` of the resource when it is a string): the
//! entry keeps the attribute's position, so order and duplicates round-trip, and costs a few
//! bits after dictionary encoding.
//!
//! Resource and scope are stored per span row rather than through a side table of
//! distinct resources: the file stays plain Parquet that DuckDB reads with no joins, and
//! repeated lists cost little once dictionary- and run-length encoded and compressed
//! (measured in `tests.rs`, `bytes_per_span_jaeger_clickhouse_shape`).
//!
//! [`SpanRecord::service_name`]: clew_model::SpanRecord::service_name

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

pub(crate) const TRACE_ID: &str = "trace_id";
pub(crate) const START: &str = "start_unix_nanos";
pub(crate) const SPAN_ID: &str = "span_id";
pub(crate) const PARENT_SPAN_ID: &str = "parent_span_id";
pub(crate) const DURATION: &str = "duration_nanos";
pub(crate) const END: &str = "end_unix_nanos";
pub(crate) const SERVICE_NAME: &str = "service_name";
pub(crate) const NAME: &str = "name";
pub(crate) const KIND: &str = "kind";
pub(crate) const STATUS_CODE: &str = "status_code";
pub(crate) const STATUS_MESSAGE: &str = "status_message";
pub(crate) const TRACE_STATE: &str = "trace_state";
pub(crate) const FLAGS: &str = "flags";
pub(crate) const ATTRIBUTES: &str = "attributes";
pub(crate) const DROPPED_ATTRIBUTES: &str = "dropped_attributes_count";
pub(crate) const EVENTS: &str = "events";
pub(crate) const DROPPED_EVENTS: &str = "dropped_events_count";
pub(crate) const LINKS: &str = "links";
pub(crate) const DROPPED_LINKS: &str = "dropped_links_count";
pub(crate) const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
pub(crate) const RESOURCE_DROPPED: &str = "resource_dropped_attributes_count";
pub(crate) const SCOPE_NAME: &str = "scope_name";
pub(crate) const SCOPE_VERSION: &str = "scope_version";
pub(crate) const SCOPE_ATTRIBUTES: &str = "scope_attributes";
pub(crate) const SCOPE_DROPPED: &str = "scope_dropped_attributes_count";

/// Value in a dedicated column of the same row.
pub(crate) const TYPE_COLUMN: u8 = 0;
pub(crate) const TYPE_STR: u8 = 1;
pub(crate) const TYPE_BOOL: u8 = 2;
pub(crate) const TYPE_INT: u8 = 3;
pub(crate) const TYPE_DOUBLE: u8 = 4;
pub(crate) const TYPE_BYTES: u8 = 5;
/// An array or kvlist as one OTLP `AnyValue` protobuf in `bytes`.
pub(crate) const TYPE_OTLP: u8 = 6;
pub(crate) const TYPE_EMPTY: u8 = 7;

/// The resource attribute kept in [`SERVICE_NAME`] when it is a string.
pub(crate) const SERVICE_NAME_KEY: &str = "service.name";

/// Whether a hot attribute's column holds strings or integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HotType {
    Str,
    Int,
}

/// Span attributes with a dedicated column: (attribute key, column, type). Chosen because
/// searches and the service graph filter on them most.
pub(crate) const HOT: [(&str, &str, HotType); 6] = [
    ("http.request.method", "http_request_method", HotType::Str),
    (
        "http.response.status_code",
        "http_response_status_code",
        HotType::Int,
    ),
    ("http.route", "http_route", HotType::Str),
    ("db.system", "db_system", HotType::Str),
    ("rpc.method", "rpc_method", HotType::Str),
    ("peer.service", "peer_service", HotType::Str),
];

pub(crate) fn kv_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("type", DataType::UInt8, false),
        Field::new("str", DataType::Utf8, true),
        Field::new("int", DataType::Int64, true),
        Field::new("double", DataType::Float64, true),
        Field::new("bool", DataType::Boolean, true),
        Field::new("bytes", DataType::Binary, true),
    ])
}

pub(crate) fn list_item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, false))
}

pub(crate) fn kv_list_type() -> DataType {
    DataType::List(list_item(DataType::Struct(kv_fields())))
}

pub(crate) fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time_unix_nanos", DataType::UInt64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("attributes", kv_list_type(), false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

pub(crate) fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new("span_id", DataType::FixedSizeBinary(8), false),
        Field::new("trace_state", DataType::Utf8, false),
        Field::new("flags", DataType::UInt32, false),
        Field::new("attributes", kv_list_type(), false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(START, DataType::UInt64, false),
        Field::new(SPAN_ID, DataType::FixedSizeBinary(8), false),
        Field::new(PARENT_SPAN_ID, DataType::FixedSizeBinary(8), true),
        Field::new(DURATION, DataType::UInt64, false),
        Field::new(END, DataType::UInt64, true),
        Field::new(SERVICE_NAME, DataType::Utf8, false),
        Field::new(NAME, DataType::Utf8, false),
        Field::new(KIND, DataType::UInt8, false),
        Field::new(STATUS_CODE, DataType::UInt8, false),
        Field::new(STATUS_MESSAGE, DataType::Utf8, false),
        Field::new(TRACE_STATE, DataType::Utf8, false),
        Field::new(FLAGS, DataType::UInt32, false),
    ];
    for (_, column, ty) in HOT {
        let dt = match ty {
            HotType::Str => DataType::Utf8,
            HotType::Int => DataType::Int64,
        };
        fields.push(Field::new(column, dt, true));
    }
    fields.extend([
        Field::new(ATTRIBUTES, kv_list_type(), false),
        Field::new(DROPPED_ATTRIBUTES, DataType::UInt32, false),
        Field::new(
            EVENTS,
            DataType::List(list_item(DataType::Struct(event_fields()))),
            false,
        ),
        Field::new(DROPPED_EVENTS, DataType::UInt32, false),
        Field::new(
            LINKS,
            DataType::List(list_item(DataType::Struct(link_fields()))),
            false,
        ),
        Field::new(DROPPED_LINKS, DataType::UInt32, false),
        Field::new(RESOURCE_ATTRIBUTES, kv_list_type(), false),
        Field::new(RESOURCE_DROPPED, DataType::UInt32, false),
        Field::new(SCOPE_NAME, DataType::Utf8, false),
        Field::new(SCOPE_VERSION, DataType::Utf8, false),
        Field::new(SCOPE_ATTRIBUTES, kv_list_type(), false),
        Field::new(SCOPE_DROPPED, DataType::UInt32, false),
    ]);
    Arc::new(Schema::new(fields))
});

/// The schema every version-1 block is written with and must be read as.
pub(crate) fn schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// Index of a top-level column in [`schema`] (also its Parquet root index).
pub(crate) fn root_index(name: &str) -> Option<usize> {
    SCHEMA.index_of(name).ok()
}

/// The dedicated column holding string values of span attribute `key`, if it has one.
pub(crate) fn dedicated_string_column(key: &str) -> Option<&'static str> {
    HOT.iter()
        .find(|(k, _, ty)| *k == key && *ty == HotType::Str)
        .map(|(_, column, _)| *column)
}
