//! Small helpers shared by the on-disk formats.

pub mod checksum;
pub mod coding;
pub mod filename;
