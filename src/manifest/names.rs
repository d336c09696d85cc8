//! The rules DSS applies to identifiers, as data: each kind module declares the rule of its
//! `metadata.name` (and the rules of the names it writes in its spec are the rules of the kinds
//! those names refer to).

use crate::manifest::node::quote_short;

/// Longest DSS identifier accepted (project keys, names, logins).
pub(crate) const MAX_NAME_CHARS: usize = 255;

/// The format of one kind of name.
#[derive(Debug)]
pub(crate) struct NameRule {
    /// How messages call such a name, with its article (`a project key`).
    pub what: &'static str,
    /// The characters allowed.
    pub allowed: fn(char) -> bool,
    /// The allowed characters, said for a hint.
    pub allowed_text: &'static str,
    /// A valid example.
    pub example: &'static str,
    /// The same rule as a JSON Schema pattern (ECMA-262), for editors; `None` when the
    /// pattern cannot say it (any letter), the validator checks it in code.
    pub pattern: Option<&'static str>,
    /// Whether leading and trailing spaces are refused (names that allow spaces).
    pub no_edge_spaces: bool,
    /// The only name allowed, for a singleton kind.
    pub fixed: Option<(&'static str, &'static str)>,
}

impl NameRule {
    /// `Some((message, hint))` when `name` breaks the rule.
    pub(crate) fn check(&self, name: &str) -> Option<(String, String)> {
        let shown = quote_short(name);
        if let Some((only, message)) = self.fixed {
            return (name != only).then(|| {
                (
                    format!("{shown}: {message}"),
                    format!("write `metadata: {{name: {only}}}`"),
                )
            });
        }
        if name.is_empty() {
            return Some((
                "a name cannot be empty".into(),
                "give the DSS name of the resource".into(),
            ));
        }
        let count = name.chars().count();
        if count > MAX_NAME_CHARS {
            return Some((
                format!("name too long ({count} characters; at most {MAX_NAME_CHARS})"),
                "use a shorter name".into(),
            ));
        }
        if let Some(bad) = name.chars().find(|c| !(self.allowed)(*c)) {
            return Some((
                format!(
                    "{shown} is not a valid {}: {bad:?} is not allowed",
                    self.what.trim_start_matches("a ")
                ),
                format!(
                    "{} uses only {}, e.g. `{}`",
                    self.what, self.allowed_text, self.example
                ),
            ));
        }
        if self.no_edge_spaces && name.trim() != name {
            return Some((
                format!("{shown}: {} cannot start or end with a space", self.what),
                "remove the spaces".into(),
            ));
        }
        None
    }
}

/// Letters, digits and `_`: project keys and dataset names.
pub(crate) fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Letters, digits, `_`, `-` and `.`: connection and build names.
pub(crate) fn dotted_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.".contains(c)
}

/// The pattern of [`word_char`] names.
pub(crate) const WORD_PATTERN: &str = "^[A-Za-z0-9_]+$";

/// The pattern of [`dotted_char`] names.
pub(crate) const DOTTED_PATTERN: &str = "^[A-Za-z0-9_.-]+$";

/// Project keys: letters, digits and `_`. Here rather than in the project kind because every
/// kind that belongs to a project writes one in `metadata.project`, which the loader checks.
pub(crate) static PROJECT_KEY_RULE: NameRule = NameRule {
    what: "a project key",
    allowed: word_char,
    allowed_text: "letters, digits and _",
    example: "CHURN_V2",
    pattern: Some(WORD_PATTERN),
    no_edge_spaces: false,
    fixed: None,
};

#[cfg(test)]
mod tests {
    use crate::kinds::{build, connection, dataset, group, project, user, variables};

    #[test]
    fn name_rules() {
        assert!(project::KEY_RULE.check("CHURN_2").is_none());
        assert!(project::KEY_RULE.check("churn-2").is_some());
        assert!(user::LOGIN_RULE.check("alice.martin@corp.com").is_none());
        assert!(group::NAME_RULE.check("data scientists").is_none());
        assert!(group::NAME_RULE.check("a/b").is_some());
        assert!(group::NAME_RULE.check(" a").is_some());
        assert!(dataset::NAME_RULE.check(&"x".repeat(300)).is_some());
        assert!(variables::NAME_RULE.check("globals").is_some());
        assert!(connection::NAME_RULE.check("wh.prod-1").is_none());
        assert!(build::NAME_RULE.check("refresh customers").is_some());
    }

    #[test]
    fn messages_name_the_kind_of_name() {
        let (message, hint) = project::KEY_RULE.check("a-b").unwrap();
        assert_eq!(message, "\"a-b\" is not a valid project key: '-' is not allowed");
        assert_eq!(
            hint,
            "a project key uses only letters, digits and _, e.g. `CHURN_V2`"
        );
    }
}
