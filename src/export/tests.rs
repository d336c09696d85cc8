//! Unit tests of the pure conversion: live documents → manifests.
