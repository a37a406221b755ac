//! Diagnostics: what is wrong in the specs, where, and what to write instead (pure).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A position in a spec file: path relative to the spec root, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Another place that explains a diagnostic (e.g. the first definition of a duplicate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    #[serde(flatten)]
    pub position: Position,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    #[serde(flatten)]
    pub position: Position,
    /// `Kind/name` of the object, when the document got far enough to have one.
    pub object: Option<String>,
    pub message: String,
    /// What to write instead.
    pub help: Option<String>,
    pub related: Vec<Related>,
}

impl Diagnostic {
    pub fn error(position: Position, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            position,
            object: None,
            message: message.into(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn warning(position: Position, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(position, message)
        }
    }

    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn related(mut self, position: Position, note: impl Into<String>) -> Self {
        self.related.push(Related {
            position,
            note: note.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {severity}: ", self.position)?;
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        for related in &self.related {
            write!(f, "\n  note: {}: {}", related.position, related.note)?;
        }
        Ok(())
    }
}

/// Sort diagnostics by file, line, column so output is stable whatever the load order.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics
        .sort_by(|a, b| (&a.position, a.severity, &a.message).cmp(&(&b.position, b.severity, &b.message)));
}
