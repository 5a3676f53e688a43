//! headcount: counts the installed base of an image-based Linux without identifying a machine.
#![deny(missing_docs)]

pub mod config;
pub mod daemon;
pub mod logging;
pub mod notify;
pub mod report_source;
pub mod schedule;
pub mod send;
pub mod state;
pub mod status;
pub mod timer;
