//! `dssctl validate` and `dssctl schema`: offline commands over the manifest format.

use std::path::PathBuf;

use super::OutputArgs;
use crate::error::{Error, Outcome};

/// `dssctl validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Manifest files or directories (read recursively for *.yaml / *.yml); default `.`.
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `dssctl schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Directory to write `dssctl.schema.json` and one `<kind>.schema.json` per kind into;
    /// without it, the all-kinds schema is printed.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub(super) fn validate(args: ValidateArgs) -> Result<Outcome, Error> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    crate::manifest::commands::validate(&paths, args.output.format)
}

pub(super) fn schema(args: SchemaArgs) -> Result<Outcome, Error> {
    crate::manifest::commands::schema(args.out.as_deref())
}
