//! Market data providers reached over HTTP (reqwest): datasets fetched rather than read from a file.
pub mod polygon;
