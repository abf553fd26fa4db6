//! Fuzz target `wal_segment`: WAL segment bytes replayed into a head (scanner, checksums, payload
//! decoding, head inserts).
//! The check itself lives in the crate (`clew_store::fuzzing::wal_segment`) so that the regression
//! tests run the same code.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| clew_store::fuzzing::wal_segment(data));
