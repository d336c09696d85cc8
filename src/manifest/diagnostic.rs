//! Diagnostics: one finding about the manifests (an error or a warning), with the file, line and
//! column it is about, the resource it concerns and a hint on how to fix it.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// How serious a finding is: errors make `validate` fail and stop any plan; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One finding. `line` and `column` are 1-based; 0 means the finding concerns a whole path
/// (a directory with no manifest, a file that cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The resource concerned, as `dataset CHURN.customers`, when known.
    pub resource: Option<String>,
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn error(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            line,
            column,
            resource: None,
            severity: Severity::Error,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn warning(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, line, column, message)
        }
    }

    pub(crate) fn with_resource(mut self, resource: Option<String>) -> Diagnostic {
        self.resource = resource;
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn sort_key(&self) -> (&PathBuf, usize, usize, Severity) {
        (&self.file, self.line, self.column, self.severity)
    }
}

/// `file:line:col: severity: resource: message`, then `  hint: ...` on its own line; the
/// location is shortened to `file:` for a finding about a whole path. The severity after the
/// location is the convention compilers use and CI problem matchers recognise.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column)?;
        }
        write!(f, " {}: ", self.severity)?;
        if let Some(resource) = &self.resource {
            write!(f, "{resource}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every finding of a load that failed: at least one error, plus the warnings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorted by file, line and column: the order a reader goes through the files.
    #[cfg(test)]
    pub(crate) fn sorted(mut self) -> Diagnostics {
        sort(&mut self.0);
        self
    }

    pub(crate) fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }
}

/// Sorts findings by file, line, column and severity, removing exact repeats.
pub(crate) fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        a.sort_key()
            .cmp(&b.sort_key())
            .then_with(|| a.message.cmp(&b.message))
    });
    diagnostics.dedup();
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_place_resource_and_hint() {
        let d = Diagnostic::error("m/a.yaml", 3, 5, "unknown field \"x\"")
            .with_resource(Some("dataset P.d".into()))
            .with_hint("remove it");
        assert_eq!(
            d.to_string(),
            "m/a.yaml:3:5: error: dataset P.d: unknown field \"x\"\n  hint: remove it"
        );
        let w = Diagnostic::warning("dir", 0, 0, "nothing here");
        assert_eq!(w.to_string(), "dir: warning: nothing here");
    }

    #[test]
    fn sorted_by_place() {
        let diags = Diagnostics(vec![
            Diagnostic::error("b.yaml", 1, 1, "b"),
            Diagnostic::error("a.yaml", 9, 1, "a9"),
            Diagnostic::error("a.yaml", 2, 1, "a2"),
            Diagnostic::error("a.yaml", 2, 1, "a2"),
        ])
        .sorted();
        let order: Vec<&str> = diags.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(order, ["a2", "a9", "b"]);
    }
}
