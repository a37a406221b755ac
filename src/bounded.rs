//! Reading files whose path came from someone else (effect): a spec author, a flag, a mounted
//! volume. Only regular files are read (a Secret volume's symlinks are followed to theirs),
//! never more than a stated size, and a FIFO or device never blocks or floods the process.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A credential file, an identity, a token: far below this in practice.
pub const MAX_SMALL_FILE: u64 = 1024 * 1024;

/// Why a file was not read; the path is the caller's to add.
fn refuse(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Read all of a regular file of at most `limit` bytes.
pub fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO for reading blocks until a writer comes.
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(refuse(format!("{} is not a regular file", kind(&meta))));
    }
    if meta.len() > limit {
        return Err(refuse(format!(
            "is {} bytes; the limit is {limit} bytes",
            meta.len()
        )));
    }
    // Non-blocking, and checked again on the open file: the path may have been swapped since.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse(format!("{} is not a regular file", kind(&meta))));
    }
    read_capped(file, limit)
}

/// Read at most `limit` bytes, failing if there are more (a file that grew since the check).
fn read_capped(file: File, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(refuse(format!("is larger than the limit of {limit} bytes")));
    }
    Ok(bytes)
}

/// Read a regular file as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text"))
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_small_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "abc").unwrap();
        assert_eq!(read_regular(&file, 3).unwrap(), b"abc");
        assert!(read_regular(&file, 2).unwrap_err().to_string().contains("limit"));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            read_regular(&link, 10).unwrap(),
            b"abc",
            "links to regular files are read"
        );
        for special in ["/dev/zero", "/dev/urandom"] {
            let error = read_regular(Path::new(special), MAX_SMALL_FILE).unwrap_err();
            assert!(error.to_string().contains("a device"), "{error}");
        }
        let error = read_regular(dir.path(), 10).unwrap_err();
        assert!(error.to_string().contains("a directory"), "{error}");
        let fifo = dir.path().join("pipe");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let error = read_regular(&fifo, 10).unwrap_err();
        assert!(error.to_string().contains("FIFO"), "{error}");
    }
}
