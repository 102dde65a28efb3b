//! kv-api (filled by a later issue)
