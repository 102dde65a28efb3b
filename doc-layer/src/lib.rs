//! doc-layer (filled by a later issue)
