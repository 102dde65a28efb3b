//! # benches: the comparison that proves Strata
//!
//! `strata-bench` runs db_bench- and YCSB-style workloads over Strata's LSM and B+ tree
//! engines and, with the `peers` feature, RocksDB, fjall, redb and LMDB, each in its own child
//! process, and reports throughput, latency percentiles, write and space amplification and
//! peak memory as a terminal table, JSON lines, a Markdown report and SVG plots.
//! The criterion micro-benchmarks of the engine's hot paths are in `benches/micro.rs`.
//!
//! | module | what |
//! | --- | --- |
//! | [`args`] | command-line options |
//! | [`engine`] | the adapter trait over every engine, their fair configurations |
//! | [`gen`] | seeded keys, values and YCSB distributions (zipfian, latest, uniform) |
//! | [`workload`] | workload names and mixes |
//! | [`runner`] | one engine's run: client threads, timing, device bytes, space, memory |
//! | [`metrics`] | `/proc` readings, directory size, latency histograms |
//! | [`result`] | the JSON lines |
//! | [`driver`] | the parent: child processes, baseline ratios, output files |
//! | [`report`] | terminal table and Markdown |
//! | [`plot`] | SVG plots |

pub mod args;
pub mod driver;
pub mod engine;
pub mod gen;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod result;
pub mod runner;
pub mod workload;

pub use driver::main_with_args;
