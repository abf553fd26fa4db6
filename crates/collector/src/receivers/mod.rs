//! The receivers, one folder each. A new receiver is a new folder here plus one line in the
//! binary's wiring; everything past decoding goes through the shared pipeline step.

mod grpc_count;
mod http_body;
pub mod jaeger;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod zipkin;
