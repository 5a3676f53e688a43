//! The wire contract between the headcount daemon and a receiver.
//!
//! Both sides depend on this crate so that what one sends, the other accepts.
#![deny(missing_docs)]

mod level;
mod window;

pub use level::{Level, ParseLevelError};
pub use window::{ParsePeriodError, ParseWindowError, Period, Window};
