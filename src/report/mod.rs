//! The HTML report (being built on the `report` branch).

/// Report errors.
#[derive(Debug, thiserror::Error)]
#[error("the report is not built yet")]
pub struct ReportError;

/// Writes the report.
pub fn generate(
    _inputs: &[std::path::PathBuf],
    _criterion: Option<&std::path::Path>,
    _out: &std::path::Path,
) -> Result<std::path::PathBuf, ReportError> {
    Err(ReportError)
}
