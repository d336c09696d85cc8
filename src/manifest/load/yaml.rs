//! Parser errors in the user's terms: where, what, and what to do about it.

use std::path::Path;

use super::Loader;
use crate::manifest::node::Pos;

impl Loader {
    /// A parser error in a section starting `line_offset` lines into the file.
    pub(super) fn yaml_error(
        &mut self,
        file: &Path,
        text: &str,
        line_offset: usize,
        err: &serde_saphyr::Error,
    ) {
        let location = err.location();
        let pos = match location {
            Some(l) if l.line() > 0 => Pos {
                line: usize::try_from(l.line()).unwrap_or(0) + line_offset,
                column: usize::try_from(l.column()).unwrap_or(0),
            },
            _ => Pos {
                line: line_offset + 1,
                column: 1,
            },
        };
        let raw = err.without_snippet().to_string();
        let (message, budget_hint) = match budget_message(&raw) {
            Some((message, hint)) => (message.to_string(), Some(hint.to_string())),
            None => (clean_yaml_message(&raw), None),
        };
        let line_text = text.lines().nth(pos.line.saturating_sub(1)).unwrap_or("");
        let hint = if text.lines().any(|l| l.trim_start_matches(' ').starts_with('\t'))
            && line_text.contains('\t')
        {
            Some("YAML does not allow tabs for indentation: indent with spaces".to_string())
        } else {
            budget_hint.or_else(|| syntax_hint(&message).map(str::to_string))
        };
        let d = self.error(file, pos, format!("invalid YAML: {message}"));
        d.hint = hint;
    }
}

/// The 1-based position just after `bytes` (valid UTF-8), to locate the first invalid byte.
pub(super) fn position_after(bytes: &[u8]) -> Pos {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, column }
}

/// What to do about the parser's commonest complaints.
pub(super) fn syntax_hint(message: &str) -> Option<&'static str> {
    const HINTS: [(&str, &str); 8] = [
        (
            "did not find expected key",
            "check this line's indentation: the keys of one mapping start in the same column",
        ),
        (
            "expected '-' indicator",
            "the items of a list all start with `- ` in the same column",
        ),
        (
            "unclosed bracket",
            "close the bracket (`}` or `]`), or look for a missing comma before this point",
        ),
        (
            "expected ',' or",
            "close the bracket (`}` or `]`), or look for a missing comma before this point",
        ),
        ("unclosed quote", "close the quote at the end of the value"),
        (
            "mapping values are not allowed",
            "quote a value that contains `: `, e.g. `description: \"ratio: 2\"`",
        ),
        (
            "unknown escape character",
            "in double quotes write `\\\\` for a backslash, or use single quotes",
        ),
        (
            "after single-quoted scalar",
            "inside single quotes, write a quote as `''`",
        ),
    ];
    if message.contains("unexpected character") {
        return Some("`@` and `` ` `` cannot start a plain value: quote the value");
    }
    HINTS
        .iter()
        .find(|(needle, _)| message.contains(needle))
        .map(|(_, hint)| *hint)
}

/// The parser's resource limits, said in the user's terms.
pub(super) fn budget_message(raw: &str) -> Option<(&'static str, &'static str)> {
    let rest = raw.split("budget breached: ").nth(1)?;
    Some(if rest.starts_with("Depth") {
        (
            "nested more than 64 levels deep",
            "manifests are shallow: look for unbalanced brackets",
        )
    } else if rest.starts_with("Documents") {
        ("too many documents in one file", "split the file")
    } else {
        (
            "the document expands to too many values",
            "anchors and aliases that refer to each other multiply; write the values out or split the file",
        )
    })
}

/// serde-saphyr messages carry their own location suffix; ours is at the start of the line.
pub(super) fn clean_yaml_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let mut text = first.to_string();
    for marker in [" at line ", " at position "] {
        if let Some(i) = text.find(marker) {
            text.truncate(i);
        }
    }
    text.trim_end_matches([',', '.', ':']).to_string()
}
