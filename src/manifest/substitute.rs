//! `${{ values.NAME }}` placeholders: an Environment's values written into the manifests it
//! includes. Substitution works on the YAML node tree, not on the text, so that every node
//! keeps the line and column it was written at and later errors still point into the file.
//!
//! - A placeholder that is the whole scalar is replaced by the value itself, with its type
//!   (number, boolean, list, mapping): `port: ${{ values.port }}` gives a number.
//! - Inside a longer string it is interpolated as text; a list or a mapping cannot be.
//! - DSS's own variables (`${projectKey}`) are not placeholders and pass through untouched;
//!   `$${{` writes a literal `${{`.
//! - `values.a.b` reads the key `b` of the mapping value `a`.

use std::collections::BTreeMap;

use super::node::{Node, NodeValue, Pos};
use super::schema::did_you_mean;

/// A mistake in a placeholder, at the scalar that holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubstError {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// The values placeholders read, by name.
pub(crate) type Values = BTreeMap<String, Node>;

/// Where values come from, for the hint of an unknown value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope<'a> {
    /// The manifests are read through the Environment of this file.
    Environment(&'a str),
    /// No Environment: the manifests were given directly, and no value exists.
    None,
}

/// Replaces every placeholder under `node` with its value; the mistakes are pushed to `errors`
/// (the node is then left as written at those places).
pub(crate) fn substitute(node: &mut Node, values: &Values, scope: Scope<'_>, errors: &mut Vec<SubstError>) {
    match &mut node.value {
        NodeValue::Str(text) => {
            if !text.contains("${{") {
                return;
            }
            match expand(text, values, scope) {
                Ok(Expanded::Whole(value)) => {
                    let pos = node.pos;
                    *node = value.clone();
                    // The value came from the Environment's file; from here on it is part of
                    // this manifest, and its mistakes are reported at the placeholder.
                    relocate(node, pos);
                }
                Ok(Expanded::Text(new)) => {
                    *text = new;
                    node.raw = None;
                }
                Err((message, hint)) => errors.push(SubstError {
                    pos: node.pos,
                    message,
                    hint,
                }),
            }
        }
        NodeValue::Seq(items) => {
            for item in items {
                substitute(item, values, scope, errors);
            }
        }
        NodeValue::Map(entries) => {
            for (key, value) in entries {
                substitute_key(key, values, scope, errors);
                substitute(value, values, scope, errors);
            }
        }
        NodeValue::Null | NodeValue::Bool(_) | NodeValue::Int(_) | NodeValue::Float(_) => {}
    }
}

/// A mapping key stays a string: a placeholder in it is always interpolated as text.
fn substitute_key(key: &mut Node, values: &Values, scope: Scope<'_>, errors: &mut Vec<SubstError>) {
    let NodeValue::Str(text) = &mut key.value else {
        return;
    };
    if !text.contains("${{") {
        return;
    }
    let result = match expand(text, values, scope) {
        Ok(Expanded::Whole(value)) => scalar_text(value, "a key").map_err(|m| (m, None)),
        Ok(Expanded::Text(new)) => Ok(new),
        Err(e) => Err(e),
    };
    match result {
        Ok(new) => *text = new,
        Err((message, hint)) => errors.push(SubstError {
            pos: key.pos,
            message,
            hint,
        }),
    }
}

/// Gives `node` and all its children the position `pos`.
fn relocate(node: &mut Node, pos: Pos) {
    node.pos = pos;
    node.byte_span = None;
    match &mut node.value {
        NodeValue::Seq(items) => items.iter_mut().for_each(|i| relocate(i, pos)),
        NodeValue::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            relocate(k, pos);
            relocate(v, pos);
        }),
        _ => {}
    }
}

enum Expanded<'v> {
    /// The scalar was one placeholder: this value replaces it.
    Whole(&'v Node),
    /// The scalar with its placeholders written in.
    Text(String),
}

type Mistake = (String, Option<String>);

/// One piece of a scalar: literal text, or a placeholder's expression (between `${{` and `}}`).
#[derive(Debug, PartialEq)]
enum Piece<'t> {
    Text(String),
    Placeholder(&'t str),
}

/// Splits a scalar into text and placeholders; `$${{` is a literal `${{`.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, Mistake> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${{") {
        if rest[..i].ends_with('$') {
            // `$${{`: the escape. One `$` is dropped, the rest is text.
            literal.push_str(&rest[..i - 1]);
            literal.push_str("${{");
            rest = &rest[i + 3..];
            continue;
        }
        literal.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let Some(end) = after.find("}}") else {
            return Err((
                format!("unclosed placeholder in {}", super::node::quote_short(text)),
                Some("write `${{ values.NAME }}`, or `$${{` for a literal `${{`".into()),
            ));
        };
        if !literal.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut literal)));
        }
        out.push(Piece::Placeholder(after[..end].trim()));
        rest = &after[end + 2..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        out.push(Piece::Text(literal));
    }
    Ok(out)
}

fn expand<'v>(text: &str, values: &'v Values, scope: Scope<'_>) -> Result<Expanded<'v>, Mistake> {
    let pieces = pieces(text)?;
    if let [Piece::Placeholder(expr)] = pieces.as_slice() {
        return lookup(expr, values, scope).map(Expanded::Whole);
    }
    let mut out = String::new();
    for piece in &pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Placeholder(expr) => {
                let value = lookup(expr, values, scope)?;
                let text = scalar_text(value, &format!("`${{{{ {expr} }}}}` inside a longer string"))
                    .map_err(|m| {
                        (
                            m,
                            Some("a list or a mapping can only replace a whole value: write the placeholder alone".into()),
                        )
                    })?;
                out.push_str(&text);
            }
        }
    }
    Ok(Expanded::Text(out))
}

/// The text of a scalar value, for interpolation.
fn scalar_text(value: &Node, place: &str) -> Result<String, String> {
    match &value.value {
        NodeValue::Str(s) => Ok(s.clone()),
        NodeValue::Bool(b) => Ok(b.to_string()),
        NodeValue::Int(i) => Ok(i.to_string()),
        NodeValue::Float(f) => Ok(value.raw.clone().unwrap_or_else(|| f.to_string())),
        NodeValue::Null => Err(format!("{place}: the value is null (empty)")),
        NodeValue::Seq(_) | NodeValue::Map(_) => Err(format!("{place}: the value is {}", value.describe())),
    }
}

/// The value an expression (`values.NAME` or `values.NAME.KEY`) names.
fn lookup<'v>(expr: &str, values: &'v Values, scope: Scope<'_>) -> Result<&'v Node, Mistake> {
    let Some(path) = expr.strip_prefix("values.") else {
        return Err((
            format!("`${{{{ {expr} }}}}`: a placeholder reads `values.NAME`"),
            Some(
                "write `${{ values.NAME }}`; DSS's own variables are written `${NAME}` (one brace), \
                 and `$${{` is a literal `${{`"
                    .into(),
            ),
        ));
    };
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let Some(mut value) = values.get(first) else {
        return Err(unknown(
            &format!("value \"{first}\""),
            first,
            values.keys().map(String::as_str),
            scope,
        ));
    };
    let mut walked = first.to_string();
    for part in parts {
        let NodeValue::Map(entries) = &value.value else {
            return Err((
                format!(
                    "value \"{walked}\" is {}, it has no key \"{part}\"",
                    value.describe()
                ),
                None,
            ));
        };
        let Some((_, next)) = entries.iter().find(|(k, _)| k.key_text() == part) else {
            let keys: Vec<String> = entries.iter().map(|(k, _)| k.key_text()).collect();
            let what = format!("key \"{part}\" in value \"{walked}\"");
            return Err(unknown(&what, part, keys.iter().map(String::as_str), scope));
        };
        walked = format!("{walked}.{part}");
        value = next;
    }
    Ok(value)
}

fn unknown<'c>(
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'c str> + Clone,
    scope: Scope<'_>,
) -> Mistake {
    let message = match did_you_mean(name, known.clone()) {
        Some(s) => format!("unknown {what}, did you mean \"{s}\"?"),
        None => format!("unknown {what}"),
    };
    let listed: Vec<&str> = known.collect();
    let hint = match scope {
        Scope::None => "values come from an Environment: run dssctl on the environment's directory \
                        (e.g. `dssctl plan envs/prod`), not on the manifests it includes"
            .to_string(),
        Scope::Environment(file) if listed.is_empty() => format!("{file} defines no spec.values"),
        Scope::Environment(file) => format!("{file} defines: {}", listed.join(", ")),
    };
    (message, Some(hint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::node::parse_documents;

    fn values(yaml: &str) -> Values {
        let doc = parse_documents(yaml).unwrap().remove(0);
        let NodeValue::Map(entries) = doc.value else {
            panic!("values are a mapping")
        };
        entries.into_iter().map(|(k, v)| (k.key_text(), v)).collect()
    }

    fn run(doc: &str, vals: &str) -> (Node, Vec<SubstError>) {
        let mut node = parse_documents(doc).unwrap().remove(0);
        let mut errors = Vec::new();
        substitute(
            &mut node,
            &values(vals),
            Scope::Environment("env.yaml"),
            &mut errors,
        );
        (node, errors)
    }

    const VALUES: &str = "warehouse: dwh_prod\nlookback_days: 180\nstrict: true\nratio: 0.50\n\
                          groups: [a, b]\ndb: {host: h1, port: 5432}\nnothing:\n";

    #[test]
    fn a_whole_scalar_keeps_the_type_of_its_value() {
        let (node, errors) = run(
            "n: ${{ values.lookback_days }}\nb: ${{values.strict}}\nl: ${{ values.groups }}\nm: ${{ values.db }}\nr: ${{ values.ratio }}\n",
            VALUES,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let json = node.to_json();
        assert_eq!(json["n"], 180);
        assert_eq!(json["b"], true);
        assert_eq!(json["l"], serde_json::json!(["a", "b"]));
        assert_eq!(json["m"], serde_json::json!({"host": "h1", "port": 5432}));
        assert_eq!(json["r"], 0.5);
        // The value's nodes now sit where the placeholder was written.
        let m = node.get("m").unwrap();
        assert_eq!(m.pos, Pos { line: 4, column: 4 });
        assert_eq!(m.get("port").unwrap().pos, m.pos);
    }

    #[test]
    fn inside_a_string_values_are_interpolated() {
        let (node, errors) = run(
            "a: \"jdbc:${{ values.db.host }}:${{ values.db.port }}/x\"\nb: days-${{ values.lookback_days }}\nc: ${{ values.ratio }}%\n",
            VALUES,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let json = node.to_json();
        assert_eq!(json["a"], "jdbc:h1:5432/x");
        assert_eq!(json["b"], "days-180");
        // A float is written as the user wrote it, not as it parses.
        assert_eq!(json["c"], "0.50%");
    }

    #[test]
    fn dss_variables_and_escapes_pass_through() {
        let (node, errors) = run(
            "a: ${projectKey}_${{ values.warehouse }}\nb: $${{ values.warehouse }}\nc: \"$${{ not a placeholder\"\nd: ${ x }\n",
            VALUES,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let json = node.to_json();
        assert_eq!(json["a"], "${projectKey}_dwh_prod");
        assert_eq!(json["b"], "${{ values.warehouse }}");
        assert_eq!(json["c"], "${{ not a placeholder");
        assert_eq!(json["d"], "${ x }");
    }

    #[test]
    fn keys_are_interpolated() {
        let (node, errors) = run("vars: {\"${{ values.warehouse }}_table\": 1}\n", VALUES);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(node.to_json()["vars"]["dwh_prod_table"], 1);
    }

    #[test]
    fn mistakes_are_reported_at_the_scalar_with_a_suggestion() {
        let (_, errors) = run(
            "a: x\nb: ${{ values.warehous }}\nc: pre-${{ values.groups }}\nd: ${{ warehouse }}\ne: ${{ values.warehouse\nf: x${{ values.nothing }}\ng: ${{ values.db.hots }}\n",
            VALUES,
        );
        let shown: Vec<(usize, &str)> = errors.iter().map(|e| (e.pos.line, e.message.as_str())).collect();
        assert_eq!(
            shown,
            [
                (2, "unknown value \"warehous\", did you mean \"warehouse\"?"),
                (
                    3,
                    "`${{ values.groups }}` inside a longer string: the value is a list"
                ),
                (4, "`${{ warehouse }}`: a placeholder reads `values.NAME`"),
                (5, "unclosed placeholder in \"${{ values.warehouse\""),
                (
                    6,
                    "`${{ values.nothing }}` inside a longer string: the value is null (empty)"
                ),
                (7, "unknown key \"hots\" in value \"db\", did you mean \"host\"?"),
            ]
        );
        assert!(
            errors[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("env.yaml defines: db, groups")
        );
    }

    #[test]
    fn without_an_environment_the_hint_says_where_values_come_from() {
        let mut node = parse_documents("a: ${{ values.x }}\n").unwrap().remove(0);
        let mut errors = Vec::new();
        substitute(&mut node, &Values::new(), Scope::None, &mut errors);
        assert!(
            errors[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("dssctl plan envs/prod")
        );
    }
}
