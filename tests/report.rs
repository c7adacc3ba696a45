//! Report tests (being built).
