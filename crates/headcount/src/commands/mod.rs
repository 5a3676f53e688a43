//! The commands of the CLI, one module each; the services they use (config, schedule, send,
//! state, ...) sit beside this folder.

pub mod check_config;
pub mod daemon;
pub mod level;
pub mod preview;
pub mod status;
