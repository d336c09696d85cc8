//! `dssctl export`: resolve the flags, export through the engine, write the files, and say on
//! stderr what was written and which environment variables the manifests expect.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::ArgMatches;

use super::{ParallelismArgs, TargetArgs, hinted};
use crate::error::{Error, Outcome};
use crate::kinds::KindId;
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
    #[arg(long, value_delimiter = ',', value_parser = export_kinds())]
    pub include: Option<Vec<KindId>>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub(crate) parallelism: ParallelismArgs,
}

/// The resolved configuration of `dssctl export`.
#[derive(Debug)]
pub(crate) struct ExportConfig {
    pub out: PathBuf,
    pub force: bool,
    /// Empty: every project.
    pub projects: Vec<String>,
    /// Never empty.
    pub include: Vec<KindId>,
    pub target: TargetConfig,
    pub parallelism: usize,
}

impl ExportArgs {
    pub(crate) fn resolve(self, matches: &ArgMatches) -> Result<ExportConfig, Error> {
        Ok(ExportConfig {
            out: self.out,
            force: self.force,
            projects: self.project,
            include: match self.include {
                Some(kinds) if !kinds.is_empty() => kinds,
                _ => crate::export::exportable().map(|k| k.id()).collect(),
            },
            target: self.target.resolve(matches),
            parallelism: self.parallelism.get(),
        })
    }
}

/// `--include`'s values: the export word of each exported kind (`projects`), in registry order.
fn export_kinds() -> impl clap::builder::TypedValueParser<Value = KindId> {
    use clap::builder::TypedValueParser;
    let words: Vec<&'static str> = crate::export::exportable()
        .filter_map(|k| k.export_word())
        .collect();
    clap::builder::PossibleValuesParser::new(words).map(|word| {
        crate::export::exportable()
            .find(|k| k.export_word() == Some(word.as_str()))
            .map(|k| k.id())
            .expect("a possible value is an export word")
    })
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
