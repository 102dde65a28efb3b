//! cf-layer (filled by a later issue)
