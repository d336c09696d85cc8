//! The `validate` and `schema` commands: thin wrappers that print what the loader and the schema
//! generator produce and map the outcome to an exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::diagnostic::Diagnostic;
use super::load::load_paths;
use super::schema;
use crate::cli::{DiagnosticFormat, SchemaArgs, ValidateArgs};

/// `dssctl validate`: exit 0 when the manifests are valid (warnings are printed), 1 otherwise.
pub fn validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let (diagnostics, summary) = match load_paths(&paths) {
        Ok(loaded) => {
            let n = loaded.resources.len();
            let summary = format!(
                "Valid: {n} resource{} in {} file{}{}.",
                plural(n),
                loaded.files,
                plural(loaded.files),
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
    match args.format {
        DiagnosticFormat::Json => {
            text = serde_json::to_string_pretty(&diagnostics)?;
            text.push('\n');
        }
        DiagnosticFormat::Text => {
            for d in &diagnostics {
                text.push_str(&format!("{d}\n"));
            }
            text.push_str(&summary);
            text.push('\n');
        }
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A reader that stops early (`| head`) is not an error of the manifests.
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => return Err(err.into()),
        _ => {}
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `dssctl schema`: writes every schema file into `--out`, or prints the all-kinds schema.
pub fn schema(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    match &args.out {
        Some(dir) => {
            let written = schema::write_schemas(dir)
                .with_context(|| format!("cannot write schemas to {}", dir.display()))?;
            for path in written {
                println!("wrote {}", path.display());
            }
        }
        None => {
            let files = schema::schema_files();
            print!("{}", files[0].1);
        }
    }
    Ok(ExitCode::SUCCESS)
}
