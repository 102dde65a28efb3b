//! Small helpers shared by the on-disk formats.

pub mod coding;
pub mod filename;
pub mod checksum;
