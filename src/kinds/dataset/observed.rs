//! The dataset list as observation decodes it: each item straight into a [`Dataset`] that holds
//! only what a plan reads, the rest of the answer skipped while it is parsed.
//!
//! DSS answers about 3 kB of JSON per dataset (metrics and checks settings, flow options, the
//! creation tag, ...), and the derived decoding of [`Dataset`] first buffers every item whole
//! (its `#[serde(flatten)] extra`) before picking the typed fields out of the buffer. For the
//! lists of a large instance that was most of the CPU of an observation. Here the fields are
//! taken as they come and what [`super::keep_observed_fields`] would drop is never built: the
//! result is the derived decoding followed by `keep_observed_fields`, with the same errors for a
//! missing or mistyped field.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::OBSERVED_ATTRIBUTES;
use crate::wire::{Dataset, DatasetSchema, VersionTag};

/// `GET /projects/{key}/datasets/` for observation (see the module header).
pub(crate) struct ObservedList(pub Vec<Dataset>);

impl<'de> Deserialize<'de> for ObservedList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ListVisitor)
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = ObservedList;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ObservedList, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(ObservedItem(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(ObservedList(items))
    }
}

/// One item of the list, kept as [`super::keep_observed_fields`] keeps it.
struct ObservedItem(Dataset);

impl<'de> Deserialize<'de> for ObservedItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = ObservedItem;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Dataset")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObservedItem, A::Error> {
        let mut project_key: Option<String> = None;
        let mut name: Option<String> = None;
        let mut dataset_type: Option<String> = None;
        let mut managed: Option<Option<bool>> = None;
        let mut params: Option<Map<String, Value>> = None;
        let mut format_type: Option<Option<String>> = None;
        let mut format_params: Option<Map<String, Value>> = None;
        let mut schema: Option<Option<DatasetSchema>> = None;
        let mut tags: Option<Vec<String>> = None;
        let mut version_tag: Option<Option<VersionTag>> = None;
        let mut extra = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            fn set<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
                map: &mut A,
                slot: &mut Option<T>,
                field: &'static str,
            ) -> Result<(), A::Error> {
                if slot.is_some() {
                    return Err(de::Error::duplicate_field(field));
                }
                *slot = Some(map.next_value()?);
                Ok(())
            }
            match key.as_ref() {
                "projectKey" => set(&mut map, &mut project_key, "projectKey")?,
                "name" => set(&mut map, &mut name, "name")?,
                "type" => set(&mut map, &mut dataset_type, "type")?,
                "managed" => set(&mut map, &mut managed, "managed")?,
                "params" => set(&mut map, &mut params, "params")?,
                "formatType" => set(&mut map, &mut format_type, "formatType")?,
                "formatParams" => set(&mut map, &mut format_params, "formatParams")?,
                "schema" => set(&mut map, &mut schema, "schema")?,
                "tags" => set(&mut map, &mut tags, "tags")?,
                "versionTag" => set(&mut map, &mut version_tag, "versionTag")?,
                other if OBSERVED_ATTRIBUTES.contains(&other) => {
                    extra.insert(other.to_string(), map.next_value::<Value>()?);
                }
                // `creationTag` and every attribute a plan does not read.
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ObservedItem(Dataset {
            project_key: project_key.unwrap_or_default(),
            name: name.ok_or_else(|| de::Error::missing_field("name"))?,
            dataset_type: dataset_type.ok_or_else(|| de::Error::missing_field("type"))?,
            managed: managed.flatten(),
            params: params.unwrap_or_default(),
            format_type: format_type.flatten(),
            format_params: format_params.unwrap_or_default(),
            schema: schema.flatten(),
            tags: tags.unwrap_or_default(),
            version_tag: version_tag.flatten(),
            creation_tag: None,
            extra,
        }))
    }
}

/// A key of an item: borrowed from the input when it can be (no escapes), else owned.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoding is the derived one followed by `keep_observed_fields`.
    #[test]
    fn keeps_what_the_derived_decoding_keeps() {
        let text = r#"[
          {"projectKey": "P", "name": "a", "type": "Filesystem", "managed": true,
           "params": {"connection": "fs", "path": "/x"}, "formatType": "csv",
           "formatParams": {"separator": ","},
           "schema": {"columns": [{"name": "id", "type": "bigint", "maxLength": 3}], "userModified": false},
           "tags": ["t"], "versionTag": {"versionNumber": 4, "lastModifiedBy": {"login": "u"}},
           "creationTag": {"versionNumber": 0}, "label": "L", "description": null,
           "customMeta": {"kv": {"k": 1}}, "metrics": {"probes": [1, 2]}, "flowOptions": {}},
          {"name": "b\u0041", "type": "SQL", "managed": null, "formatType": null}
        ]"#;
        let ObservedList(fast) = serde_json::from_str(text).unwrap();
        let mut slow: Vec<Dataset> = serde_json::from_str(text).unwrap();
        slow.iter_mut().for_each(super::super::keep_observed_fields);
        assert_eq!(fast, slow);
        assert_eq!(fast[1].name, "bA");
    }

    #[test]
    fn a_missing_name_is_the_same_error() {
        let text = r#"[{"type": "SQL"}]"#;
        let fast = serde_json::from_str::<ObservedList>(text).err().unwrap();
        let slow = serde_json::from_str::<Vec<Dataset>>(text).err().unwrap();
        assert_eq!(fast.to_string(), slow.to_string());
    }
}
