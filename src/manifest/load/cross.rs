//! The checks across documents: a resource declared twice, and names referred to but not
//! declared in these manifests (a warning: the instance may hold them).

use std::collections::HashMap;

use super::Loader;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::kinds::Origin;

impl Loader {
    /// Duplicates and references across every loaded document.
    pub(super) fn cross_checks(&mut self) {
        let mut first: HashMap<(&'static str, Option<String>, String), &Origin> = HashMap::new();
        let mut duplicates = Vec::new();
        for declared in &self.resources {
            let meta = declared.resource.meta();
            let key = (declared.resource.kind(), meta.project.clone(), meta.name.clone());
            match first.get(&key) {
                Some(origin) => duplicates.push(
                    Diagnostic::error(
                        &declared.origin.file,
                        declared.origin.line,
                        declared.origin.column,
                        format!("declared twice: also declared at {origin}"),
                    )
                    .with_resource(Some(declared.resource.display_name()))
                    .with_hint(
                        "each resource is declared once across all the manifests: remove one of the two",
                    ),
                ),
                None => {
                    first.insert(key, &declared.origin);
                }
            }
        }
        self.diagnostics.extend(duplicates);
        self.diagnostics.extend(
            super::super::registry::REGISTRY
                .iter()
                .flat_map(|kind| kind.cross_check(&self.resources)),
        );

        let declared_names = &self.names;
        let mut warnings = Vec::new();
        for d in &self.resources {
            for reference in &d.references {
                let known = declared_names
                    .get(&reference.kind)
                    .is_some_and(|set| set.contains(&(reference.project.clone(), reference.name.clone())));
                if known {
                    continue;
                }
                let what = match &reference.project {
                    Some(p) => format!("{} {p}.{}", reference.kind.as_str(), reference.name),
                    None => format!("{} \"{}\"", reference.kind.as_str(), reference.name),
                };
                warnings.push(
                    Diagnostic::warning(
                        &reference.origin.file,
                        reference.origin.line,
                        reference.origin.column,
                        format!("{what} is not declared in these manifests"),
                    )
                    .with_resource(Some(d.resource.display_name()))
                    .with_hint("fine if it already exists on the instance (plan checks it there); otherwise declare it or fix the name"),
                );
            }
        }
        self.diagnostics.extend(warnings);
    }
}
