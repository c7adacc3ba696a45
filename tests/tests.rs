//! quizrace's integration tests: one binary, one module per area.
//!
//! * `report`: HTML report generation, escaping and the real-browser check.

mod report;
