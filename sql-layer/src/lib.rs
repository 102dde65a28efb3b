//! sql-layer (filled by a later issue)
