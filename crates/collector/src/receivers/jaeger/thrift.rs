//! Jaeger's Thrift structs (`jaeger.thrift`: Batch, Process, Span, Tag, Log, SpanRef) and the
//! agent's `emitBatch` one-way message (`agent.thrift`), read and written in the compact or
//! binary protocol.
//!
//! The `thrift` crate supplies the protocols; the struct readers and writers are hand-written
//! in the style of Thrift's generated code, because the Rust generator needs the `thrift`
//! compiler at build time (unavailable here) and its output allocates whatever a hostile
//! length asks for. Here every read is bounded by the input: strings, lists and the message
//! as a whole cannot claim more than the bytes actually received. Unknown fields and fields of
//! an unexpected type are skipped, as generated code does; strings are read leniently (invalid
//! UTF-8 replaced), as Go's Thrift, which Jaeger runs, does not check them.
//!
//! The writers are public so that `clew gen` and tests can produce what Jaeger clients send.

use thrift::TConfiguration;
use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TCompactInputProtocol, TCompactOutputProtocol,
    TFieldIdentifier, TInputProtocol, TListIdentifier, TMessageIdentifier, TMessageType,
    TOutputProtocol, TStructIdentifier, TType,
};

use super::mapping::{Batch, Log, Process, RefType, Span, SpanRef, Tag, TagValue};

/// Which Thrift protocol the bytes are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThriftProtocol {
    /// `TCompactProtocol` (agent UDP port 6831).
    Compact,
    /// `TBinaryProtocol` (agent UDP port 6832, and HTTP `POST /api/traces`).
    Binary,
}

/// Why bytes did not decode as the expected Thrift message or struct.
#[derive(Debug, thiserror::Error)]
pub enum ThriftError {
    #[error("invalid Thrift {protocol}: {source}")]
    Invalid {
        protocol: &'static str,
        #[source]
        source: thrift::Error,
    },
    #[error("unsupported Thrift message {name:?}: only Agent.emitBatch is accepted")]
    UnexpectedMessage { name: String },
    #[error("trailing bytes after the Thrift message: {0} bytes")]
    Trailing(usize),
}

/// The agent's method carrying a Jaeger batch.
const EMIT_BATCH: &str = "emitBatch";

/// Decodes a bare `Batch` struct (the HTTP collector's body).
pub fn decode_batch(protocol: ThriftProtocol, bytes: &[u8]) -> Result<Batch, ThriftError> {
    with_input(protocol, bytes, read_batch)
}

/// Decodes an `Agent.emitBatch` message (one UDP packet).
pub fn decode_emit_batch(protocol: ThriftProtocol, bytes: &[u8]) -> Result<Batch, ThriftError> {
    let mut unexpected = None;
    let result = with_input(protocol, bytes, |i| {
        let message = i.read_message_begin()?;
        // Jaeger clients send emitBatch as ONEWAY; some older ones as CALL.
        if message.name != EMIT_BATCH
            || !matches!(
                message.message_type,
                TMessageType::OneWay | TMessageType::Call
            )
        {
            unexpected = Some(message.name);
            return Ok(Batch::default());
        }
        let batch = read_emit_batch_args(i)?;
        i.read_message_end()?;
        Ok(batch)
    });
    match unexpected {
        Some(name) => Err(ThriftError::UnexpectedMessage { name }),
        None => result,
    }
}

/// Encodes a bare `Batch` struct.
pub fn encode_batch(protocol: ThriftProtocol, batch: &Batch) -> Result<Vec<u8>, ThriftError> {
    with_output(protocol, |o| write_batch(o, batch))
}

/// Encodes an `Agent.emitBatch` one-way message, as Jaeger clients send to the agent.
pub fn encode_emit_batch(
    protocol: ThriftProtocol,
    batch: &Batch,
    sequence: i32,
) -> Result<Vec<u8>, ThriftError> {
    with_output(protocol, |o| {
        o.write_message_begin(&TMessageIdentifier::new(
            EMIT_BATCH,
            TMessageType::OneWay,
            sequence,
        ))?;
        o.write_struct_begin(&TStructIdentifier::new("emitBatch_args"))?;
        o.write_field_begin(&TFieldIdentifier::new("batch", TType::Struct, 1))?;
        write_batch(o, batch)?;
        o.write_field_end()?;
        o.write_field_stop()?;
        o.write_struct_end()?;
        o.write_message_end()
    })
}

fn protocol_name(protocol: ThriftProtocol) -> &'static str {
    match protocol {
        ThriftProtocol::Compact => "compact protocol",
        ThriftProtocol::Binary => "binary protocol",
    }
}

/// Runs `read` over `bytes` with every size bounded by the input's length, and checks that
/// the whole input was used.
fn with_input<T>(
    protocol: ThriftProtocol,
    bytes: &[u8],
    read: impl FnOnce(&mut dyn TInputProtocol) -> thrift::Result<T>,
) -> Result<T, ThriftError> {
    let invalid = |source| ThriftError::Invalid {
        protocol: protocol_name(protocol),
        source,
    };
    // No string, list or message can be longer than the bytes received (a list element takes
    // at least one byte), so a hostile length fails instead of allocating.
    let config = TConfiguration::builder()
        .max_message_size(Some(bytes.len()))
        .max_frame_size(Some(bytes.len()))
        .max_string_size(Some(bytes.len()))
        .max_container_size(Some(bytes.len()))
        .build()
        .map_err(invalid)?;
    let mut rest = bytes;
    let value = match protocol {
        ThriftProtocol::Compact => {
            let mut input = TCompactInputProtocol::with_config(&mut rest, config);
            read(&mut input)
        }
        ThriftProtocol::Binary => {
            // Not strict: accepts messages with and without the version header.
            let mut input = TBinaryInputProtocol::with_config(&mut rest, false, config);
            read(&mut input)
        }
    }
    .map_err(invalid)?;
    if !rest.is_empty() {
        return Err(ThriftError::Trailing(rest.len()));
    }
    Ok(value)
}

fn with_output(
    protocol: ThriftProtocol,
    write: impl FnOnce(&mut dyn TOutputProtocol) -> thrift::Result<()>,
) -> Result<Vec<u8>, ThriftError> {
    let mut out = Vec::new();
    let result = match protocol {
        ThriftProtocol::Compact => {
            let mut o = TCompactOutputProtocol::new(&mut out);
            write(&mut o).and_then(|()| o.flush())
        }
        ThriftProtocol::Binary => {
            // Strict (with the version header), as Jaeger clients write it.
            let mut o = TBinaryOutputProtocol::new(&mut out, true);
            write(&mut o).and_then(|()| o.flush())
        }
    };
    result.map_err(|source| ThriftError::Invalid {
        protocol: protocol_name(protocol),
        source,
    })?;
    Ok(out)
}

// ---- readers ----

/// Reads a struct's fields: `field` handles the ones it knows (returning false for a field
/// id or type it does not), the rest are skipped.
fn read_struct(
    i: &mut dyn TInputProtocol,
    mut field: impl FnMut(&mut dyn TInputProtocol, i16, TType) -> thrift::Result<bool>,
) -> thrift::Result<()> {
    i.read_struct_begin()?;
    loop {
        let ident = i.read_field_begin()?;
        if ident.field_type == TType::Stop {
            break;
        }
        let id = ident.id.unwrap_or(0);
        if !field(i, id, ident.field_type)? {
            i.skip(ident.field_type)?;
        }
        i.read_field_end()?;
    }
    i.read_struct_end()
}

fn read_list<T>(
    i: &mut dyn TInputProtocol,
    element: TType,
    mut read: impl FnMut(&mut dyn TInputProtocol) -> thrift::Result<T>,
) -> thrift::Result<Vec<T>> {
    let ident = i.read_list_begin()?;
    let size = usize::try_from(ident.size).unwrap_or(0);
    if ident.element_type != element {
        // A list of something else: skip its elements, as a field of the wrong type is.
        for _ in 0..size {
            i.skip(ident.element_type)?;
        }
        i.read_list_end()?;
        return Ok(Vec::new());
    }
    // The size was checked against the input's length; still grow rather than trust it.
    let mut out = Vec::with_capacity(size.min(1024));
    for _ in 0..size {
        out.push(read(i)?);
    }
    i.read_list_end()?;
    Ok(out)
}

fn read_string(i: &mut dyn TInputProtocol) -> thrift::Result<String> {
    let bytes = i.read_bytes()?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn read_emit_batch_args(i: &mut dyn TInputProtocol) -> thrift::Result<Batch> {
    let mut batch = Batch::default();
    read_struct(i, |i, id, ty| {
        Ok(match (id, ty) {
            (1, TType::Struct) => {
                batch = read_batch(i)?;
                true
            }
            _ => false,
        })
    })?;
    Ok(batch)
}

fn read_batch(i: &mut dyn TInputProtocol) -> thrift::Result<Batch> {
    let mut batch = Batch::default();
    read_struct(i, |i, id, ty| {
        Ok(match (id, ty) {
            (1, TType::Struct) => {
                batch.process = Some(read_process(i)?);
                true
            }
            (2, TType::List) => {
                batch.spans = read_list(i, TType::Struct, read_span)?;
                true
            }
            // seqNo and stats (client statistics) are not kept.
            _ => false,
        })
    })?;
    Ok(batch)
}

fn read_process(i: &mut dyn TInputProtocol) -> thrift::Result<Process> {
    let mut process = Process::default();
    read_struct(i, |i, id, ty| {
        Ok(match (id, ty) {
            (1, TType::String) => {
                process.service_name = read_string(i)?;
                true
            }
            (2, TType::List) => {
                process.tags = read_list(i, TType::Struct, read_tag)?;
                true
            }
            _ => false,
        })
    })?;
    Ok(process)
}

fn read_tag(i: &mut dyn TInputProtocol) -> thrift::Result<Tag> {
    let mut key = String::new();
    let mut v_type = 0;
    let (mut v_str, mut v_double, mut v_bool, mut v_long, mut v_binary) =
        (None, None, None, None, None);
    read_struct(i, |i, id, ty| {
        Ok(match (id, ty) {
            (1, TType::String) => {
                key = read_string(i)?;
                true
            }
            (2, TType::I32) => {
                v_type = i.read_i32()?;
                true
            }
            (3, TType::String) => {
                v_str = Some(read_string(i)?);
                true
            }
            (4, TType::Double) => {
                v_double = Some(i.read_double()?);
                true
            }
            (5, TType::Bool) => {
                v_bool = Some(i.read_bool()?);
                true
            }
            (6, TType::I64) => {
                v_long = Some(i.read_i64()?);
                true
            }
            (7, TType::String) => {
                v_binary = Some(i.read_bytes()?);
                true
            }
            _ => false,
        })
    })?;
    // jaeger.thrift's TagType: STRING, DOUBLE, BOOL, LONG, BINARY. A missing value reads as
    // its type's zero, as Go's getters do.
    let value = match v_type {
        0 => TagValue::String(v_str.unwrap_or_default()),
        1 => TagValue::Double(v_double.unwrap_or_default()),
        2 => TagValue::Bool(v_bool.unwrap_or_default()),
        3 => TagValue::Long(v_long.unwrap_or_default()),
        4 => TagValue::Binary(v_binary.unwrap_or_default()),
        n => TagValue::Unknown(n),
    };
    Ok(Tag { key, value })
}

fn read_log(i: &mut dyn TInputProtocol) -> thrift::Result<Log> {
    let mut log = Log::default();
    read_struct(i, |i, id, ty| {
        Ok(match (id, ty) {
            (1, TType::I64) => {
                log.timestamp = micros_to_nanos(i.read_i64()?);
                true
            }
            (2, TType::List) => {
                log.fields = read_list(i, TType::Struct, read_tag)?;
                true
            }
            _ => false,
        })
    })?;
    Ok(log)
}

fn read_span_ref(i: &mut dyn TInputProtocol) -> thrift::Result<SpanRef> {
    let mut r = SpanRef {
        ref_type: RefType::ChildOf,
        trace_id_high: 0,
        trace_id_low: 0,
        span_id: 0,
    };
    read_struct(i, |i, id, ty| {
        Ok(match (id, ty) {
            (1, TType::I32) => {
                r.ref_type = ref_type_from(i.read_i32()?);
                true
            }
            (2, TType::I64) => {
                r.trace_id_low = i.read_i64()? as u64;
                true
            }
            (3, TType::I64) => {
                r.trace_id_high = i.read_i64()? as u64;
                true
            }
            (4, TType::I64) => {
                r.span_id = i.read_i64()? as u64;
                true
            }
            _ => false,
        })
    })?;
    Ok(r)
}

fn read_span(i: &mut dyn TInputProtocol) -> thrift::Result<Span> {
    let mut s = Span::default();
    read_struct(i, |i, id, ty| {
        Ok(match (id, ty) {
            // Thrift's i64 ids are the ids' bits: reinterpret, never convert.
            (1, TType::I64) => {
                s.trace_id_low = i.read_i64()? as u64;
                true
            }
            (2, TType::I64) => {
                s.trace_id_high = i.read_i64()? as u64;
                true
            }
            (3, TType::I64) => {
                s.span_id = i.read_i64()? as u64;
                true
            }
            (4, TType::I64) => {
                s.parent_span_id = i.read_i64()? as u64;
                true
            }
            (5, TType::String) => {
                s.operation_name = read_string(i)?;
                true
            }
            (6, TType::List) => {
                s.references = read_list(i, TType::Struct, read_span_ref)?;
                true
            }
            (7, TType::I32) => {
                s.flags = i.read_i32()? as u32;
                true
            }
            (8, TType::I64) => {
                s.start_time = micros_to_nanos(i.read_i64()?);
                true
            }
            (9, TType::I64) => {
                s.duration = micros_to_nanos(i.read_i64()?);
                true
            }
            (10, TType::List) => {
                s.tags = read_list(i, TType::Struct, read_tag)?;
                true
            }
            (11, TType::List) => {
                s.logs = read_list(i, TType::Struct, read_log)?;
                true
            }
            _ => false,
        })
    })?;
    Ok(s)
}

fn ref_type_from(n: i32) -> RefType {
    match n {
        0 => RefType::ChildOf,
        1 => RefType::FollowsFrom,
        n => RefType::Unknown(n),
    }
}

fn micros_to_nanos(us: i64) -> i64 {
    us.saturating_mul(1_000)
}

// ---- writers ----

fn field(
    o: &mut dyn TOutputProtocol,
    name: &str,
    ty: TType,
    id: i16,
    write: impl FnOnce(&mut dyn TOutputProtocol) -> thrift::Result<()>,
) -> thrift::Result<()> {
    o.write_field_begin(&TFieldIdentifier::new(name, ty, id))?;
    write(o)?;
    o.write_field_end()
}

fn list<T>(
    o: &mut dyn TOutputProtocol,
    items: &[T],
    mut write: impl FnMut(&mut dyn TOutputProtocol, &T) -> thrift::Result<()>,
) -> thrift::Result<()> {
    let size = i32::try_from(items.len()).map_err(|_| {
        thrift::Error::Protocol(thrift::ProtocolError::new(
            thrift::ProtocolErrorKind::SizeLimit,
            "list longer than i32::MAX",
        ))
    })?;
    o.write_list_begin(&TListIdentifier::new(TType::Struct, size))?;
    for item in items {
        write(o, item)?;
    }
    o.write_list_end()
}

fn write_batch(o: &mut dyn TOutputProtocol, b: &Batch) -> thrift::Result<()> {
    o.write_struct_begin(&TStructIdentifier::new("Batch"))?;
    if let Some(p) = &b.process {
        field(o, "process", TType::Struct, 1, |o| write_process(o, p))?;
    }
    field(o, "spans", TType::List, 2, |o| {
        list(o, &b.spans, write_span)
    })?;
    o.write_field_stop()?;
    o.write_struct_end()
}

fn write_process(o: &mut dyn TOutputProtocol, p: &Process) -> thrift::Result<()> {
    o.write_struct_begin(&TStructIdentifier::new("Process"))?;
    field(o, "serviceName", TType::String, 1, |o| {
        o.write_string(&p.service_name)
    })?;
    if !p.tags.is_empty() {
        field(o, "tags", TType::List, 2, |o| list(o, &p.tags, write_tag))?;
    }
    o.write_field_stop()?;
    o.write_struct_end()
}

fn write_tag(o: &mut dyn TOutputProtocol, t: &Tag) -> thrift::Result<()> {
    o.write_struct_begin(&TStructIdentifier::new("Tag"))?;
    field(o, "key", TType::String, 1, |o| o.write_string(&t.key))?;
    let v_type = match t.value {
        TagValue::String(_) => 0,
        TagValue::Double(_) => 1,
        TagValue::Bool(_) => 2,
        TagValue::Long(_) => 3,
        TagValue::Binary(_) => 4,
        TagValue::Unknown(n) => n,
    };
    field(o, "vType", TType::I32, 2, |o| o.write_i32(v_type))?;
    match &t.value {
        TagValue::String(s) => field(o, "vStr", TType::String, 3, |o| o.write_string(s))?,
        TagValue::Double(d) => field(o, "vDouble", TType::Double, 4, |o| o.write_double(*d))?,
        TagValue::Bool(b) => field(o, "vBool", TType::Bool, 5, |o| o.write_bool(*b))?,
        TagValue::Long(l) => field(o, "vLong", TType::I64, 6, |o| o.write_i64(*l))?,
        TagValue::Binary(b) => field(o, "vBinary", TType::String, 7, |o| o.write_bytes(b))?,
        TagValue::Unknown(_) => {}
    }
    o.write_field_stop()?;
    o.write_struct_end()
}

fn write_log(o: &mut dyn TOutputProtocol, l: &Log) -> thrift::Result<()> {
    o.write_struct_begin(&TStructIdentifier::new("Log"))?;
    field(o, "timestamp", TType::I64, 1, |o| {
        o.write_i64(l.timestamp / 1_000)
    })?;
    field(o, "fields", TType::List, 2, |o| {
        list(o, &l.fields, write_tag)
    })?;
    o.write_field_stop()?;
    o.write_struct_end()
}

fn write_span_ref(o: &mut dyn TOutputProtocol, r: &SpanRef) -> thrift::Result<()> {
    o.write_struct_begin(&TStructIdentifier::new("SpanRef"))?;
    let ref_type = match r.ref_type {
        RefType::ChildOf => 0,
        RefType::FollowsFrom => 1,
        RefType::Unknown(n) => n,
    };
    field(o, "refType", TType::I32, 1, |o| o.write_i32(ref_type))?;
    field(o, "traceIdLow", TType::I64, 2, |o| {
        o.write_i64(r.trace_id_low as i64)
    })?;
    field(o, "traceIdHigh", TType::I64, 3, |o| {
        o.write_i64(r.trace_id_high as i64)
    })?;
    field(o, "spanId", TType::I64, 4, |o| {
        o.write_i64(r.span_id as i64)
    })?;
    o.write_field_stop()?;
    o.write_struct_end()
}

fn write_span(o: &mut dyn TOutputProtocol, s: &Span) -> thrift::Result<()> {
    o.write_struct_begin(&TStructIdentifier::new("Span"))?;
    field(o, "traceIdLow", TType::I64, 1, |o| {
        o.write_i64(s.trace_id_low as i64)
    })?;
    field(o, "traceIdHigh", TType::I64, 2, |o| {
        o.write_i64(s.trace_id_high as i64)
    })?;
    field(o, "spanId", TType::I64, 3, |o| {
        o.write_i64(s.span_id as i64)
    })?;
    field(o, "parentSpanId", TType::I64, 4, |o| {
        o.write_i64(s.parent_span_id as i64)
    })?;
    field(o, "operationName", TType::String, 5, |o| {
        o.write_string(&s.operation_name)
    })?;
    if !s.references.is_empty() {
        field(o, "references", TType::List, 6, |o| {
            list(o, &s.references, write_span_ref)
        })?;
    }
    field(o, "flags", TType::I32, 7, |o| o.write_i32(s.flags as i32))?;
    field(o, "startTime", TType::I64, 8, |o| {
        o.write_i64(s.start_time / 1_000)
    })?;
    field(o, "duration", TType::I64, 9, |o| {
        o.write_i64(s.duration / 1_000)
    })?;
    if !s.tags.is_empty() {
        field(o, "tags", TType::List, 10, |o| list(o, &s.tags, write_tag))?;
    }
    if !s.logs.is_empty() {
        field(o, "logs", TType::List, 11, |o| list(o, &s.logs, write_log))?;
    }
    o.write_field_stop()?;
    o.write_struct_end()
}

#[cfg(test)]
#[path = "thrift_tests.rs"]
mod tests;
