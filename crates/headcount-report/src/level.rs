crate::labels::labels! {
    /// How much a machine reports. Ordered: `Off < Minimal < Full`.
    Level: ParseLevelError {
        /// Nothing is collected and nothing is sent.
        Off = "off",
        /// Generic facts that cannot readily fingerprint a machine (the default).
        Minimal = "minimal",
        /// Minimal plus coarse hardware, container and network summaries (opt-in).
        Full = "full",
    }
}

/// A level name that is not one of `off`, `minimal`, `full`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown level {0:?}: allowed values are \"off\", \"minimal\", \"full\"")]
pub struct ParseLevelError(pub String);

impl crate::labels::Unknown for ParseLevelError {
    fn unknown(_: &'static str, value: &str) -> Self {
        ParseLevelError(value.to_owned())
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
