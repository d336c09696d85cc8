//! The one integration-test binary: it starts the emulator on 127.0.0.1:0 and drives the real
//! `dssctl` binary and the client against it. One module per area.

mod apply;
mod build;
mod builds;
mod ci;
mod client;
mod completions;
mod deploy;
mod emulator;
mod emulator_flow;
mod emulator_instance;
mod environments;
mod errors;
mod export;
mod flow_folders;
mod flow_recipes;
mod flow_scenarios;
mod flow_zones;
mod instance_code_envs;
mod instance_settings;
mod layering;
mod lock;
mod manifests;
mod markdown;
mod plan;
mod policies;
mod progress;
mod project_folders;
mod secrets;
mod support;
mod targeting;
mod watch;
