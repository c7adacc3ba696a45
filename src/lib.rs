//! # quizrace
//!
//! (crate docs in progress)

pub mod cli;
pub mod explain;
pub mod metrics;
pub mod report;
pub mod result;
pub mod scenario;
pub mod sim;
pub mod strategy;
pub(crate) mod sync;
