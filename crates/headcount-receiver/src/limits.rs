//! How many connections may be open at once: fewer than the open-file limit allows, so that a
//! flood of clients can never take the descriptors the database, the listener and a freshly
//! accepted connection need (with none left, `accept` fails, SQLite cannot open its WAL, a
//! PostgreSQL reconnect fails, and honest clients wait in the backlog forever).

use nix::sys::resource::{Resource, getrlimit};

/// Descriptors kept out of the connection cap: standard streams, the listener, the runtime's
/// own (epoll, wakers, signals), the writer's database (SQLite: database, WAL and shared memory;
/// PostgreSQL: one socket, two while it reconnects), the bounded concurrent reads
/// (`store::MAX_CONCURRENT_READS` of up to 3 each, for the views and for the release step), the
/// release step's own writing connection, the metrics listener and its connections
/// (`METRICS_MAX_CONNECTIONS`), one connection accepted at the cap before another is closed, and
/// room to spare.
pub const RESERVED_DESCRIPTORS: u64 = 64;

/// The soft limit on open files (`RLIMIT_NOFILE`) this process runs under.
pub fn open_file_limit() -> std::io::Result<u64> {
    let (soft, _hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    Ok(soft)
}

/// The connection cap: `configured`, or what `soft_limit` leaves after the reserve. A configured
/// cap the limit cannot carry is an error that says what to change.
pub fn connection_cap(configured: Option<u32>, soft_limit: u64) -> Result<usize, String> {
    let available = soft_limit.saturating_sub(RESERVED_DESCRIPTORS);
    if available == 0 {
        return Err(format!(
            "the open-file limit ({soft_limit}) leaves no descriptor for connections \
             ({RESERVED_DESCRIPTORS} are kept for the database and the listener): raise it \
             (LimitNOFILE= in the unit, ulimit -n in a shell)"
        ));
    }
    match configured {
        None => Ok(usize::try_from(available).unwrap_or(usize::MAX)),
        Some(max) if u64::from(max) <= available => Ok(usize::try_from(max).unwrap_or(usize::MAX)),
        Some(max) => Err(format!(
            "connections.max: {max} connections need more descriptors than the open-file limit \
             ({soft_limit}) leaves after the {RESERVED_DESCRIPTORS} kept for the database and the \
             listener ({available}): lower connections.max or raise the limit (LimitNOFILE= in \
             the unit)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_descriptor_limit() {
        assert_eq!(connection_cap(None, 128), Ok(64));
        assert_eq!(connection_cap(None, 65536), Ok(65472));
        assert_eq!(connection_cap(Some(10), 128), Ok(10));
        assert_eq!(connection_cap(Some(64), 128), Ok(64));
        let e = connection_cap(Some(65), 128).unwrap_err();
        assert!(
            e.starts_with("connections.max: 65 ") && e.contains("(128)"),
            "{e}"
        );
        let e = connection_cap(None, 64).unwrap_err();
        assert!(e.contains("leaves no descriptor"), "{e}");
        assert!(open_file_limit().unwrap() > 0);
    }
}
