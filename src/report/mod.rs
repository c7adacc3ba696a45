//! The HTML report (being built).
