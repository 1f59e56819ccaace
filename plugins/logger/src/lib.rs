//! logger (stub)
