//! Secret references: `{fromEnv: NAME}` and `{fromFile: PATH}` are resolved by apply, at the
//! moment the value is sent to DSS, and by plan, only to fingerprint them (a plan tolerates
//! one it cannot resolve: see `plan::planner`). Errors name the variable or the file, never
//! any content.

use std::path::{Path, PathBuf};

use super::kinds::SecretRef;

/// Why a secret reference could not be resolved. Carries names and paths only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {name} is not set")]
    EnvNotSet { name: String },
    #[error("environment variable {name} is empty")]
    EnvEmpty { name: String },
    #[error("environment variable {name} is not valid UTF-8")]
    EnvNotUnicode { name: String },
    #[error("cannot read secret file {}: {reason}", path.display())]
    FileUnreadable { path: PathBuf, reason: String },
    #[error("secret file {} is empty", path.display())]
    FileEmpty { path: PathBuf },
    #[error("secret file {} is not valid UTF-8 text", path.display())]
    FileNotUnicode { path: PathBuf },
}

impl SecretError {
    /// The short form the plan shows (`DWH_PASSWORD is not set`): the variable or the file
    /// and what is wrong with it, never any content.
    pub(crate) fn reason(&self) -> String {
        match self {
            SecretError::EnvNotSet { name } => format!("{name} is not set"),
            SecretError::EnvEmpty { name } => format!("{name} is empty"),
            SecretError::EnvNotUnicode { name } => format!("{name} is not valid UTF-8"),
            SecretError::FileUnreadable { path, reason } => format!("{}: {reason}", path.display()),
            SecretError::FileEmpty { path } => format!("{} is empty", path.display()),
            SecretError::FileNotUnicode { path } => format!("{} is not valid UTF-8 text", path.display()),
        }
    }
}

/// Reads the value a reference points at. A `fromFile` path is relative to `base_dir` (the
/// manifest's directory, `Origin::base_dir`); one trailing newline is removed, as editors add it.
pub fn resolve_secret(secret: &SecretRef, base_dir: &Path) -> Result<String, SecretError> {
    match secret {
        SecretRef::FromEnv { from_env } => match std::env::var(from_env) {
            Ok(value) if value.is_empty() => Err(SecretError::EnvEmpty {
                name: from_env.clone(),
            }),
            Ok(value) => Ok(value),
            Err(std::env::VarError::NotPresent) => Err(SecretError::EnvNotSet {
                name: from_env.clone(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::EnvNotUnicode {
                name: from_env.clone(),
            }),
        },
        SecretRef::FromFile { from_file } => {
            let path = base_dir.join(from_file);
            let bytes = std::fs::read(&path).map_err(|err| SecretError::FileUnreadable {
                path: path.clone(),
                reason: match err.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => err.kind().to_string(),
                },
            })?;
            let mut text =
                String::from_utf8(bytes).map_err(|_| SecretError::FileNotUnicode { path: path.clone() })?;
            if text.ends_with('\n') {
                text.pop();
                if text.ends_with('\r') {
                    text.pop();
                }
            }
            if text.is_empty() {
                return Err(SecretError::FileEmpty { path });
            }
            Ok(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_relative_to_the_manifest_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/pw"), "s3cret\r\n").unwrap();
        let r = SecretRef::FromFile {
            from_file: "secrets/pw".into(),
        };
        assert_eq!(resolve_secret(&r, dir.path()).unwrap(), "s3cret");
    }

    #[test]
    fn errors_name_the_source_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = SecretRef::FromFile {
            from_file: "nope".into(),
        };
        let err = resolve_secret(&missing, dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("nope") && err.to_string().contains("no such file"),
            "{err}"
        );
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        let empty = SecretRef::FromFile {
            from_file: "empty".into(),
        };
        assert!(matches!(
            resolve_secret(&empty, dir.path()),
            Err(SecretError::FileEmpty { .. })
        ));
        let unset = SecretRef::FromEnv {
            from_env: "DSSCTL_TEST_SURELY_UNSET_VARIABLE".into(),
        };
        let err = resolve_secret(&unset, dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable DSSCTL_TEST_SURELY_UNSET_VARIABLE is not set"
        );
        assert_eq!(err.reason(), "DSSCTL_TEST_SURELY_UNSET_VARIABLE is not set");
    }

    #[test]
    fn reads_the_environment() {
        // PATH is set in every test environment; its value is not a secret.
        let r = SecretRef::FromEnv {
            from_env: "PATH".into(),
        };
        assert_eq!(
            resolve_secret(&r, Path::new(".")).unwrap(),
            std::env::var("PATH").unwrap()
        );
    }
}
