//! header-modifier (stub)
