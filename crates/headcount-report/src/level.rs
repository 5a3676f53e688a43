use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How much a machine reports. Ordered: `Off < Minimal < Full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Nothing is collected and nothing is sent.
    Off,
    /// Generic facts that cannot readily fingerprint a machine (the default).
    Minimal,
    /// Minimal plus coarse hardware, container and network summaries (opt-in).
    Full,
}

impl Level {
    /// Every level, in order.
    pub const ALL: [Level; 3] = [Level::Off, Level::Minimal, Level::Full];

    /// The name used in config files, on the command line and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Minimal => "minimal",
            Level::Full => "full",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A level name that is not one of `off`, `minimal`, `full`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?}: allowed values are \"off\", \"minimal\", \"full\"")]
pub struct ParseLevelError(pub String);

impl FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| ParseLevelError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        for l in Level::ALL {
            assert_eq!(l.as_str().parse::<Level>(), Ok(l));
        }
        assert!(Level::Off < Level::Minimal && Level::Minimal < Level::Full);
        assert!("Minimal".parse::<Level>().is_err());
    }
}
