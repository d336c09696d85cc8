//! `dssctl validate` and `dssctl schema`: offline commands over the manifest format; they print
//! what the loader and the schema generator produce, through [`crate::output`], and say whether
//! the manifests were valid.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::OutputArgs;
use crate::error::{Error, Failure, Outcome};
use crate::manifest::Diagnostic;
use crate::render::OutputFormat;

/// `dssctl validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files or directories (read recursively for *.yaml / *.yml), or an
    /// Environment's directory or file; default `.`.
    pub(crate) paths: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// `dssctl schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Directory to write `dssctl.schema.json`, one `<kind>.schema.json` per kind and
    /// `environment.schema.json` into;
    /// without it, the all-kinds schema is printed.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

pub(super) fn validate(args: ValidateArgs) -> Result<Outcome, Error> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    run_validate(&paths, args.output.format)
}

pub(super) fn schema(args: SchemaArgs) -> Result<Outcome, Error> {
    run_schema(args.out.as_deref())
}

/// `dssctl validate` of `paths` (never empty): success when the manifests are valid (warnings
/// are printed), an invalid-manifests failure otherwise.
fn run_validate(paths: &[PathBuf], format: OutputFormat) -> Result<Outcome, Error> {
    let (diagnostics, summary) = match crate::manifest::load_paths(paths) {
        Ok(loaded) => {
            let n = loaded.resources.len();
            let summary = format!(
                "Valid: {n} resource{} in {} file{}{}{}.",
                plural(n),
                loaded.files,
                plural(loaded.files),
                match &loaded.environment {
                    Some(env) => format!(" (Environment {})", env.name),
                    None => String::new(),
                },
                match loaded.warnings.len() {
                    0 => String::new(),
                    w => format!(", {w} warning{}", plural(w)),
                }
            );
            (loaded.warnings, summary)
        }
        Err(diags) => {
            let errors = diags.error_count();
            let warnings = diags.0.len() - errors;
            let summary = format!(
                "Invalid: {errors} error{}{}.",
                plural(errors),
                match warnings {
                    0 => String::new(),
                    w => format!(", {w} warning{}", plural(w)),
                }
            );
            (diags.0, summary)
        }
    };
    let failed = diagnostics.iter().any(Diagnostic::is_error);
    let mut text = String::new();
    match format {
        OutputFormat::Json => {
            text = serde_json::to_string_pretty(&diagnostics).map_err(anyhow::Error::new)?;
            text.push('\n');
        }
        OutputFormat::Text => {
            for d in &diagnostics {
                text.push_str(&format!("{d}\n"));
            }
            text.push_str(&summary);
            text.push('\n');
        }
    }
    match crate::output::print(&text) {
        // A reader that stops early (`| head`) does not change whether the manifests are valid.
        Err(err) if !err.is_quiet() => return Err(err.into()),
        _ => {}
    }
    Ok(if failed {
        Outcome::Failed(Failure::Invalid)
    } else {
        Outcome::Success
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `dssctl schema`: writes every schema file into `out`, or prints the all-kinds schema.
fn run_schema(out: Option<&Path>) -> Result<Outcome, Error> {
    match out {
        Some(dir) => {
            let written = crate::manifest::schema::write_schemas(dir)
                .with_context(|| format!("cannot write schemas to {}", dir.display()))?;
            let mut text = String::new();
            for path in written {
                text.push_str(&format!("wrote {}\n", path.display()));
            }
            crate::output::print(&text)?;
        }
        None => {
            let files = crate::manifest::schema::schema_files();
            crate::output::print(&files[0].1)?;
        }
    }
    Ok(Outcome::Success)
}
