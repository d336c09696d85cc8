//! The Markdown plan of the quickstart's first apply (an empty instance), through the real
//! binary: its marker line, which CI uses to find and update its comment, and its risk header,
//! which must name every user and connection created and every grant and secret they and the
//! projects arrive with. Snapshotted whole, with the emulator's port masked.

use dssctl::emulator::EmulatorConfig;

use crate::support::{cli_args, dssctl_command, output, quickstart, secrets_of_quickstart, start_emulator};

const KEY: &str = "markdown-test-admin-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstarts_first_plan_lists_its_risks() {
    let emu = start_emulator(KEY, EmulatorConfig::default()).await;
    let mut cmd = dssctl_command(&[]);
    cmd.args(cli_args(
        "plan",
        &quickstart(),
        &emu,
        KEY,
        &["--format", "markdown"],
    ));
    // Relative manifest paths keep the snapshot independent of the checkout's location.
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::show(&out));
    let markdown = String::from_utf8(out.stdout)
        .unwrap()
        .replace(&emu.url, "http://EMULATOR");
    assert!(
        markdown.starts_with("<!-- dssctl-plan stack=default -->\n"),
        "{markdown}"
    );
    for secret in secrets_of_quickstart() {
        assert!(!markdown.contains(&secret), "a secret value in the Markdown plan");
    }
    let header: String = markdown
        .lines()
        .take_while(|l| !l.starts_with("<details>"))
        .map(|l| format!("{l}\n"))
        .collect();
    for expected in [
        "**3 user(s) created**: `user alice`, `user bob`, `user carol`",
        "**1 connection(s) created**: `connection warehouse`",
        "`user alice` `password` (set)",
        "`connection warehouse` `params.password` (set)",
        "`project CHURN`: grant `group=data_scientists`",
        "`connection warehouse`: `usableBy` `ALLOWED`; `allowedGroups` + `analysts`, `data_scientists`",
    ] {
        assert!(header.contains(expected), "{expected:?} not in:\n{header}");
    }
    insta::assert_snapshot!("quickstart_first_plan_markdown", markdown);
}
