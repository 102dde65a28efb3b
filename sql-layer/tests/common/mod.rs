pub mod slt;
