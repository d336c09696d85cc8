//! The embedded DSS API emulator: an axum server that speaks the DSS public API well enough for
//! the official Python client and dssctl itself.
