//! Reading a small file that someone else may have planted: never blocking, never without a
//! bound, never anything but a regular file.
//!
//! The file is opened with `O_NONBLOCK` (a FIFO opens at once instead of waiting for a writer,
//! and is then refused), `O_NOCTTY`, and `O_NOFOLLOW` when symlinks are refused; `fstat` of the
//! opened descriptor decides whether it is a regular file and not over the bound, so nothing is
//! read from a device, a FIFO or a file too large to be what it claims.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Whether a symbolic link as the file's last component is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it (config files may be links into /usr); its target must be a regular file.
    Follow,
    /// Refuse it (the daemon's own state: a link there was planted).
    Refuse,
}

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nothing is there.
    #[error("does not exist")]
    NotFound,
    /// The last component is a symbolic link, and links are refused.
    #[error("is a symbolic link")]
    SymbolicLink,
    /// A directory, FIFO, socket or device.
    #[error("is a {0}, not a regular file")]
    NotRegular(&'static str),
    /// Over the bound.
    #[error("is larger than {0} bytes")]
    TooLarge(u64),
    /// Opening or reading failed (permissions, I/O).
    #[error("cannot be read: {0}")]
    Io(#[source] io::Error),
}

/// What kind of file `meta` describes, in words.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

/// Opens `path` for reading without blocking, following a final symlink or not.
fn open(path: &Path, links: Links) -> Result<File, ReadError> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            _ if e.kind() == io::ErrorKind::NotFound => ReadError::NotFound,
            Some(libc::ELOOP) if links == Links::Refuse => ReadError::SymbolicLink,
            // A socket cannot be opened at all.
            Some(libc::ENXIO) => ReadError::NotRegular("socket"),
            _ => ReadError::Io(e),
        })
}

/// Reads the regular file at `path`, at most `max` bytes; anything else is an error.
pub fn read_bounded(path: &Path, max: u64, links: Links) -> Result<Vec<u8>, ReadError> {
    let file = open(path, links)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(kind(&meta)));
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge(max));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The size may change after fstat (or lie, as in /proc): the bound holds regardless.
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::time::{Duration, Instant};

    use super::*;

    fn mkfifo(path: &Path) {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }

    #[test]
    fn reads_a_small_regular_file_and_refuses_everything_else_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "hello").unwrap();
        let link = dir.path().join("link");
        symlink(&file, &link).unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let zero = dir.path().join("zero");
        symlink("/dev/zero", &zero).unwrap();
        let started = Instant::now();

        assert_eq!(read_bounded(&file, 5, Links::Refuse).unwrap(), b"hello");
        assert!(matches!(
            read_bounded(&file, 4, Links::Refuse),
            Err(ReadError::TooLarge(4))
        ));
        assert!(matches!(
            read_bounded(&link, 64, Links::Refuse),
            Err(ReadError::SymbolicLink)
        ));
        assert_eq!(read_bounded(&link, 64, Links::Follow).unwrap(), b"hello");
        for links in [Links::Refuse, Links::Follow] {
            assert!(matches!(
                read_bounded(&fifo, 64, links),
                Err(ReadError::NotRegular("FIFO"))
            ));
            assert!(matches!(
                read_bounded(dir.path(), 64, links),
                Err(ReadError::NotRegular("directory"))
            ));
            assert!(matches!(
                read_bounded(&dir.path().join("missing"), 64, links),
                Err(ReadError::NotFound)
            ));
        }
        assert!(matches!(
            read_bounded(&zero, 64, Links::Follow),
            Err(ReadError::NotRegular("character device"))
        ));
        assert!(matches!(
            read_bounded(&zero, 64, Links::Refuse),
            Err(ReadError::SymbolicLink)
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_file_whose_size_lies_is_still_bounded() {
        // /proc files report size 0 and produce more: the bound is on what is read.
        let bytes = read_bounded(Path::new("/proc/self/status"), 1 << 20, Links::Follow).unwrap();
        assert!(!bytes.is_empty());
        assert!(matches!(
            read_bounded(Path::new("/proc/self/status"), 16, Links::Follow),
            Err(ReadError::TooLarge(16))
        ));
    }
}
