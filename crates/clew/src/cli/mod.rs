//! The terminal client: commands that talk to a running Clew over its query API.

pub mod blocks;
pub mod http;
pub mod search;
pub mod trace;
pub mod waterfall;
