//! Diagnostics: problems a source found and skipped, each naming file and line.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing, nothing was lost (an ignored key).
    Info,
    /// Something was skipped (a bad line, an entry without a kernel).
    Warning,
    /// A whole file could not be used.
    Error,
}

impl Severity {
    /// The lowercase name used in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem found while reading a volume's boot configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// Path of the file within its volume.
    pub file: String,
    /// 1-based line, or 0 when the problem concerns the whole file.
    pub line: u32,
    /// Lowercase message that says what is wrong and shows the value.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic about `file:line`.
    pub fn new(severity: Severity, file: &str, line: u32, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}
