//! What a fresh DSS holds, and therefore what a fresh emulator holds unless started empty:
//! - the user `admin` (display name "Administrator", group `administrators`), the login the
//!   admin key acts as;
//! - the groups `administrators` (admin), `readers` and `data_team`;
//! - the connections `filesystem_managed` (managed datasets) and `filesystem_folders` (managed
//!   folders), of type Filesystem, usable by every user.
//!
//! They are ordinary objects: filled with the same defaults as a created one, persisted like
//! one, and they can be read, changed and deleted. They are created once, when the state is
//! new (in memory, or a data dir that holds nothing yet); a data dir keeps what was done to
//! them afterwards, deletions included.

use serde_json::{Value, json};

use super::store::{self, Doc, Store};
use super::{connections, groups, users};

/// The login the admin key acts as, as on a fresh DSS.
pub(crate) const ADMIN_LOGIN: &str = "admin";

fn object(value: Value) -> Doc {
    match value {
        Value::Object(map) => map,
        _ => Doc::new(),
    }
}

/// The built-in users, groups and connections, with their defaults filled.
pub(crate) fn objects() -> (Vec<Doc>, Vec<Doc>, Vec<Doc>) {
    let mut admin = object(json!({
        "login": ADMIN_LOGIN,
        "displayName": "Administrator",
        "groups": ["administrators"],
        "userProfile": "DESIGNER",
    }));
    users::fill_defaults(&mut admin, ADMIN_LOGIN);
    admin.insert("creationDate".into(), json!(store::now_ms()));

    let group_list = [
        ("administrators", "DSS administrators", true),
        ("readers", "Read-only users", false),
        ("data_team", "Data team", false),
    ]
    .into_iter()
    .map(|(name, description, admin)| {
        let mut g = object(json!({"name": name, "description": description, "admin": admin}));
        groups::fill_defaults(&mut g);
        g
    })
    .collect();

    let connection_list = [
        ("filesystem_managed", "${dip.home}/managed_datasets", true, false),
        ("filesystem_folders", "${dip.home}/managed_folders", false, true),
    ]
    .into_iter()
    .map(|(name, root, datasets, folders)| {
        let mut c = object(json!({
            "name": name,
            "type": "Filesystem",
            "params": {"root": root},
            "allowManagedDatasets": datasets,
            "allowManagedFolders": folders,
        }));
        connections::fill_defaults(&mut c);
        c.insert("creationTag".into(), store::creation_tag(ADMIN_LOGIN));
        c
    })
    .collect();
    (vec![admin], group_list, connection_list)
}

/// Put the built-in objects in `store`; answers their paths and documents, to be persisted.
pub(crate) fn seed(st: &mut Store) -> Vec<(std::path::PathBuf, Value)> {
    let (user_docs, group_docs, connection_docs) = objects();
    let mut written = Vec::new();
    for doc in user_docs {
        let login = doc["login"].as_str().unwrap_or_default().to_string();
        written.push((store::paths::user(&login), Value::Object(doc.clone())));
        st.users.insert(login, doc);
    }
    for doc in group_docs {
        let name = doc["name"].as_str().unwrap_or_default().to_string();
        written.push((super::groups::GROUPS.path("", &name), Value::Object(doc.clone())));
        st.collections.of_mut(&super::groups::GROUPS).insert(name, doc);
    }
    for doc in connection_docs {
        let name = doc["name"].as_str().unwrap_or_default().to_string();
        written.push((store::paths::connection(&name), Value::Object(doc.clone())));
        st.connections.insert(name, doc);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_instance_holds_admin_three_groups_and_two_connections() {
        let mut st = Store::default();
        let written = seed(&mut st);
        assert_eq!(written.len(), 6);
        assert_eq!(st.users["admin"]["groups"], json!(["administrators"]));
        assert_eq!(st.users["admin"]["displayName"], "Administrator");
        assert_eq!(
            st.collections.of(&super::groups::GROUPS)["administrators"]["admin"],
            true
        );
        assert_eq!(
            st.collections.of(&super::groups::GROUPS)["readers"]["admin"],
            false
        );
        assert!(
            st.collections
                .of(&super::groups::GROUPS)
                .contains_key("data_team")
        );
        for name in ["filesystem_managed", "filesystem_folders"] {
            assert_eq!(st.connections[name]["type"], "Filesystem");
            assert_eq!(st.connections[name]["usableBy"], "ALL");
        }
    }
}
