//! # quizrace
//!
//! (crate docs in progress)

pub mod report;
pub mod result;
pub mod strategy;
pub(crate) mod sync;
