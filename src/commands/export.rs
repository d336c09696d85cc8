//! `dssctl export`: resolve the flags, export through the engine, write the files, and say on
//! stderr what was written and which environment variables the manifests expect.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::ArgMatches;

use super::{ParallelismArgs, TargetArgs, hinted};
use crate::error::{Error, Outcome};
use crate::export::ExportKind;
use crate::target::TargetConfig;

/// `dssctl export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Directory to write the manifests into.
    #[arg(long, default_value = "exported")]
    pub out: PathBuf,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
    /// Export only this project (repeatable); default: every project.
    #[arg(long, value_name = "KEY")]
    pub project: Vec<String>,
    /// The kinds to export, comma-separated; default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub include: Option<Vec<ExportKind>>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub parallelism: ParallelismArgs,
}

/// The resolved configuration of `dssctl export`.
#[derive(Debug)]
pub struct ExportConfig {
    pub out: PathBuf,
    pub force: bool,
    /// Empty: every project.
    pub projects: Vec<String>,
    /// Never empty.
    pub include: Vec<ExportKind>,
    pub target: TargetConfig,
    pub parallelism: usize,
}

impl ExportArgs {
    pub fn resolve(self, matches: &ArgMatches) -> Result<ExportConfig, Error> {
        Ok(ExportConfig {
            out: self.out,
            force: self.force,
            projects: self.project,
            include: match self.include {
                Some(kinds) if !kinds.is_empty() => kinds,
                _ => ExportKind::ALL.to_vec(),
            },
            target: self.target.resolve(matches),
            parallelism: self.parallelism.get(),
        })
    }
}

pub(super) async fn run(config: ExportConfig) -> Result<Outcome, Error> {
    hinted(&config.target, export(&config).await)
}

async fn export(config: &ExportConfig) -> Result<Outcome, Error> {
    let export = crate::engine::export(
        &config.target,
        &config.include,
        &config.projects,
        config.parallelism,
    )
    .await?;
    let written = crate::export::write_files(&export, &config.out, config.force)?;
    eprintln!(
        "exported {written} resources in {} files under {}",
        export.files.len(),
        config.out.display()
    );
    for note in &export.notes {
        eprintln!("note: {note}");
    }
    if !export.secrets.is_empty() {
        eprintln!("the exported manifests expect these environment variables (secrets are never exported):");
        let mut seen = BTreeSet::new();
        let mut sorted = export.secrets.clone();
        sorted.sort();
        for s in sorted {
            if seen.insert(s.env.clone()) {
                eprintln!("  {}  ({})", s.env, s.used_by);
            }
        }
    }
    Ok(Outcome::Success)
}
