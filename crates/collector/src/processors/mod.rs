//! Processors: steps that change spans between decoding and the sink, the same for every
//! receiver. One file (or folder) per processor.

pub mod span_limits;
