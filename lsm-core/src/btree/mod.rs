//! The B+ tree engine (under construction).
