//! `dssctl completions` and `dssctl man` through the real binary: the bash script is sourced
//! by bash and completes the commands and a command's flags; every shell gets a script; the man
//! page lists the commands and `man --out` writes one page per command.

use std::process::Command;

use crate::support::dssctl_command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_dssctl")
}

/// Run `script` in a non-interactive bash with the completion loaded; its stdout.
fn bash(script: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source <(\"$DSSCTL\" completions bash) && {script}"))
        .env("DSSCTL", bin())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The completions bash offers for the command line `words` (the last word being completed).
fn complete(words: &str) -> Vec<String> {
    let func = bash("complete -p dssctl")
        .split_whitespace()
        .skip_while(|w| *w != "-F")
        .nth(1)
        .expect("a completion function")
        .to_string();
    // A line ending in a space completes a new, empty word.
    let array = if words.ends_with(' ') {
        format!("{words}''")
    } else {
        words.to_string()
    };
    let script = format!(
        "COMP_WORDS=({array}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_LINE=\"{words}\"; \
         COMP_POINT=${{#COMP_LINE}}; {func} dssctl \"${{COMP_WORDS[COMP_CWORD]}}\" \
         \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    );
    bash(&script).lines().map(str::to_string).collect()
}

#[test]
fn bash_sources_the_completion_and_completes_commands_and_flags() {
    let registered = bash("complete -p dssctl");
    assert!(registered.trim_end().ends_with(" dssctl"), "{registered}");
    let commands = complete("dssctl pl");
    assert_eq!(commands, vec!["plan"]);
    let flags = complete("dssctl watch --no");
    assert!(flags.contains(&"--no-self-heal".to_string()), "{flags:?}");
    let shells = complete("dssctl completions ");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.contains(&shell.to_string()), "{shells:?}");
    }
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_shell_is_refused() {
    for (shell, expected) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef dssctl"),
        ("fish", "complete -c dssctl"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = dssctl_command(&[]).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(expected), "{shell}: no {expected:?}");
    }
    let out = dssctl_command(&[])
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    // A refused command line is an error like any other (exit 1), naming what is accepted.
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("invalid value 'tcsh'") && text.contains("bash"),
        "{text}"
    );
}

#[test]
fn the_man_page_lists_the_commands_and_man_out_writes_one_page_each() {
    let out = dssctl_command(&[]).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH dssctl 1"), "{page}");
    for command in [
        "plan",
        "apply",
        "validate",
        "schema",
        "build",
        "watch",
        "export",
        "emulator",
        "completions",
        "man",
    ] {
        assert!(
            page.contains(&format!("dssctl\\-{command}(1)")),
            "{command} not in:\n{page}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dssctl_command(&[])
        .args(["man", "--out"])
        .arg(dir.path().join("man1"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = std::fs::read_to_string(dir.path().join("man1/dssctl-plan.1")).unwrap();
    assert!(plan.contains("\\-\\-detailed\\-exitcode"), "{plan}");
    assert!(dir.path().join("man1/dssctl.1").is_file());
    // `man` renders the page where it is installed.
    if let Ok(rendered) = Command::new("man")
        .arg("-l")
        .arg(dir.path().join("man1/dssctl-watch.1"))
        .env("MANPAGER", "cat")
        .output()
        && rendered.status.success()
    {
        let text = String::from_utf8_lossy(&rendered.stdout);
        assert!(
            text.contains("--interval") || text.contains("‐‐interval"),
            "{text}"
        );
    }
}
