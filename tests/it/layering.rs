//! The layering of the crate's top-level modules (docs/architecture.md, "Layers"): every
//! `crate::x` reference in the code of a module (its unit tests aside) must point to a module
//! of a lower layer. That rules out import cycles between top-level modules, and a new module
//! must be placed in the table before it can import or be imported.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use the modules of the layers below its own only.
const LAYERS: &[&[&str]] = &[
    &["wire", "output", "parallel"],
    &["client", "emulator"],
    &["manifest"],
    &["plan"],
    &["observe", "build", "lock"],
    &["target"],
    &["apply", "export"],
    &["kinds", "error"],
    &["render", "engine"],
    &["daemon"],
    &["commands"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules of `src/`: `x.rs` files and directories (lib.rs and main.rs are the
/// crate roots, which may use every module).
fn top_level_modules(src: &Path) -> Vec<(String, Vec<PathBuf>)> {
    let mut modules = Vec::new();
    for entry in fs::read_dir(src).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if path.is_dir() {
            let mut files = Vec::new();
            rust_files(&path, &mut files);
            modules.push((name, files));
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main" {
            modules.push((name, vec![path]));
        }
    }
    modules.sort();
    modules
}

/// The `.rs` files under `dir`, except `tests.rs` (a module's unit tests, which may use any
/// module to build their fixtures).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("a source directory is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names as `crate::x`, with their line numbers: comments and
/// the trailing `#[cfg(test)] mod tests` left out.
fn crate_references(text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    let mut found = Vec::new();
    for (index, line) in code.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((index + 1, name));
            }
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = top_level_modules(&src);
    let names: Vec<&str> = modules.iter().map(|(name, _)| name.as_str()).collect();
    let unplaced: Vec<&str> = names.iter().copied().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules missing from LAYERS (tests/it/layering.rs and docs/architecture.md): {unplaced:?}"
    );

    // (from, to) -> the first place that makes the edge
    let mut upward: BTreeMap<(String, String), String> = BTreeMap::new();
    for (module, files) in &modules {
        let own = layer_of(module).expect("placed above");
        for file in files {
            let text = fs::read_to_string(file).expect("a source file is readable");
            for (line, target) in crate_references(&text) {
                if &target == module || !names.contains(&target.as_str()) {
                    continue;
                }
                let theirs = layer_of(&target).expect("placed above");
                if theirs >= own {
                    let at = format!("{}:{line}", file.strip_prefix(&src).unwrap_or(file).display());
                    upward.entry((module.clone(), target)).or_insert(at);
                }
            }
        }
    }
    let report: Vec<String> = upward
        .iter()
        .map(|((from, to), at)| {
            format!(
                "{from} -> {to} (layer {} -> {}) at src/{at}",
                layer_of(from).unwrap_or(0),
                layer_of(to).unwrap_or(0)
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "imports that do not point to a lower layer (each is on a cycle or breaks the layer order):\n{}",
        report.join("\n")
    );
}

#[test]
fn references_are_read_from_code_not_comments_or_unit_tests() {
    let text = "use crate::plan::Plan;\n// crate::kinds in a comment\nfn f() { crate::client::x(); }\n#[cfg(test)]\nmod tests {\n    use crate::kinds;\n}\n";
    let found: Vec<(usize, String)> = crate_references(text);
    assert_eq!(found, vec![(1, "plan".to_string()), (3, "client".to_string())]);
}
