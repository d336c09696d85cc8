//! `dssctl completions SHELL` and `dssctl man`: shell completion scripts and roff man pages,
//! both generated from the clap definitions of [`super::Cli`], so they can never fall behind
//! the real command line. Nothing here reads manifests or talks to DSS.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::Cli;
use crate::error::{Error, Outcome};
use crate::output;

/// `dssctl completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install (see the README):
  bash        dssctl completions bash > ~/.local/share/bash-completion/completions/dssctl
  zsh         dssctl completions zsh > ~/.zfunc/_dssctl   (with ~/.zfunc in $fpath)
  fish        dssctl completions fish > ~/.config/fish/completions/dssctl.fish
  PowerShell  dssctl completions powershell | Out-String | Invoke-Expression   (in $PROFILE)")]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `dssctl man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `dssctl.1` and one `dssctl-COMMAND.1` per command into this directory (created if
    /// missing); without it, the `dssctl.1` page is printed.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The completion script of `shell` for the whole command line, as text.
pub(crate) fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    // Generated into memory: clap_complete panics when its writer fails, and stdout may be a
    // closed pipe (`dssctl completions bash | head`).
    clap_complete::generate(shell, &mut cmd, "dssctl", &mut script);
    script
}

/// Print the completion script of the chosen shell.
pub(super) fn completions(args: &CompletionsArgs) -> Result<Outcome, Error> {
    output::print(&String::from_utf8_lossy(&completion_script(args.shell)))?;
    Ok(Outcome::Success)
}

/// The `dssctl.1` page: synopsis, options and the list of commands.
pub(crate) fn man_page() -> anyhow::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .context("cannot render the man page")?;
    Ok(page)
}

/// Print `dssctl.1`, or write every page into `--out`.
pub(super) fn man(args: &ManArgs) -> Result<Outcome, Error> {
    match &args.out {
        None => output::print(&String::from_utf8_lossy(&man_page()?))?,
        Some(dir) => {
            for file in write_man_pages(dir)? {
                output::println(&file.display().to_string())?;
            }
        }
    }
    Ok(Outcome::Success)
}

/// Write `dssctl.1` and `dssctl-COMMAND.1` for every command into `dir`; the paths written, in
/// that order.
pub(crate) fn write_man_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Built, the subcommands carry their display name (`dssctl-plan`, as git names its pages)
    // and the global options; `help` has no page of its own.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    for page in std::iter::once(&cmd).chain(cmd.get_subcommands()) {
        let path = clap_mangen::Man::new(page.clone())
            .generate_to(dir)
            .with_context(|| format!("cannot write a man page into {}", dir.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_every_command() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
            clap_complete::Shell::PowerShell,
        ] {
            let script = String::from_utf8(completion_script(shell)).unwrap();
            for command in ["plan", "apply", "validate", "watch", "completions", "man"] {
                assert!(script.contains(command), "{shell}: no {command}");
            }
        }
    }

    #[test]
    fn man_pages_cover_every_command() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(page.starts_with(".ie"), "{page}");
        assert!(page.contains("dssctl\\-plan"), "{page}");
        let dir = tempfile::tempdir().unwrap();
        let written = write_man_pages(dir.path()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names[0], "dssctl.1");
        for command in ["plan", "apply", "watch", "man", "completions"] {
            assert!(names.contains(&format!("dssctl-{command}.1")), "{names:?}");
        }
        let watch = std::fs::read_to_string(dir.path().join("dssctl-watch.1")).unwrap();
        assert!(watch.contains("\\-\\-interval"), "{watch}");
    }
}
