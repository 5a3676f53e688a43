crate::labels::labels! {
    /// How much a machine reports. Ordered: `Off < Minimal < Full`.
    Level: ParseLevelError("level") {
        /// Nothing is collected and nothing is sent.
        Off = "off",
        /// Generic facts that cannot readily fingerprint a machine (the default).
        Minimal = "minimal",
        /// Minimal plus coarse hardware, container and network summaries (opt-in).
        Full = "full",
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

    #[test]
    fn an_unknown_name_lists_the_allowed_values() {
        assert_eq!(
            "Minimal".parse::<Level>().unwrap_err().to_string(),
            r#"unknown level "Minimal": allowed values are "off", "minimal", "full""#
        );
        assert_eq!(
            "yearly".parse::<crate::Window>().unwrap_err().to_string(),
            r#"unknown window "yearly": allowed values are "daily", "weekly", "monthly""#
        );
    }
}
