//! One module per collector.

pub mod age;
pub mod arch;
pub mod containers;
pub mod cpuinfo;
pub mod hardware;
pub mod instance_type;
pub mod network;
pub mod original_os;
pub mod os;
pub mod packages;
pub mod platform;
