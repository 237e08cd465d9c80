//! Which files on the server an import may read. A path from a request is resolved (symlinks
//! included) and must name a regular file under one of the import roots, no larger than the
//! budget: never a device, a FIFO, a socket or a `/proc` file. It is then opened without
//! blocking and checked again through the open handle, which is what gets read.
use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// A file the policy let through: opened (through the path it really is at), with the path it
/// was asked by.
#[derive(Debug)]
pub struct Opened {
    pub path: PathBuf,
    pub file: File,
}

/// Where imports may read from; `roots: None` is anywhere (the operator's own `import` command).
#[derive(Debug, Clone)]
pub struct FilePolicy {
    roots: Option<Vec<PathBuf>>,
    pub max_bytes: u64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FileRefusal {
    #[error("{0} does not exist")]
    NotFound(String),
    #[error(
        "{0} is (or leads) outside the import roots ({1}); put the file there, or add its folder to server.import_roots"
    )]
    Outside(String, String),
    #[error(
        "{0} is not a regular file (a device, FIFO, socket, folder or /proc file cannot be imported)"
    )]
    NotRegular(String),
    #[error("{0} is {1} MiB, more than the import limit of {2} MiB (server.import_max_mb)")]
    TooLarge(String, u64, u64),
    #[error("{0} cannot be read: {1}")]
    Unreadable(String, String),
}

impl FileRefusal {
    /// The HTTP status a refusal answers with.
    pub fn status(&self) -> u16 {
        match self {
            FileRefusal::Outside(..) => 403,
            FileRefusal::TooLarge(..) => 413,
            _ => 422,
        }
    }
}

/// `/a/./b/../c` → `/a/c`, without touching the filesystem.
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn kernel_fs(p: &Path) -> bool {
    ["/proc", "/sys", "/dev"].iter().any(|k| p.starts_with(k))
}

impl FilePolicy {
    /// Under `roots` (resolved now; a root that does not exist yet is kept as written).
    pub fn new(roots: &[PathBuf], max_bytes: u64) -> FilePolicy {
        let roots = roots
            .iter()
            .filter_map(|r| std::path::absolute(r).ok())
            .map(|r| std::fs::canonicalize(&r).unwrap_or_else(|_| lexical(&r)))
            .collect();
        FilePolicy {
            roots: Some(roots),
            max_bytes,
        }
    }

    /// Any regular file the process can read.
    pub fn anywhere(max_bytes: u64) -> FilePolicy {
        FilePolicy {
            roots: None,
            max_bytes,
        }
    }

    /// Is `p` (resolved) under a root? The refusal names the path as it was asked for, never
    /// where a symlink leads.
    fn inside(&self, p: &Path, shown: &str) -> Result<(), FileRefusal> {
        match &self.roots {
            Some(roots) if !roots.iter().any(|r| p.starts_with(r)) => {
                let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
                Err(FileRefusal::Outside(shown.to_string(), list.join(", ")))
            }
            _ => Ok(()),
        }
    }

    fn within_budget(&self, shown: &str, len: u64) -> Result<(), FileRefusal> {
        if len > self.max_bytes {
            return Err(FileRefusal::TooLarge(
                shown.to_string(),
                len >> 20,
                self.max_bytes >> 20,
            ));
        }
        Ok(())
    }

    /// The file, opened, if the policy lets it be read.
    pub fn open(&self, path: &Path) -> Result<Opened, FileRefusal> {
        let shown = path.display().to_string();
        let abs = std::path::absolute(path)
            .map_err(|e| FileRefusal::Unreadable(shown.clone(), e.to_string()))?;
        let real = match std::fs::canonicalize(&abs) {
            Ok(r) => r,
            Err(_) => {
                // where it would be: only a path inside the roots learns whether it exists
                self.inside(&lexical(&abs), &shown)?;
                return Err(FileRefusal::NotFound(shown));
            }
        };
        self.inside(&real, &shown)?;
        let meta = std::fs::metadata(&real)
            .map_err(|e| FileRefusal::Unreadable(shown.clone(), e.to_string()))?;
        if !meta.file_type().is_file() || kernel_fs(&real) {
            return Err(FileRefusal::NotRegular(shown));
        }
        self.within_budget(&shown, meta.len())?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(&real)
            .map_err(|e| FileRefusal::Unreadable(shown.clone(), e.kind().to_string()))?;
        let now = file
            .metadata()
            .map_err(|e| FileRefusal::Unreadable(shown.clone(), e.to_string()))?;
        // swapped between the check and the open: refuse what it became
        if !now.file_type().is_file() || now.ino() != meta.ino() || now.dev() != meta.dev() {
            return Err(FileRefusal::NotRegular(shown));
        }
        self.within_budget(&shown, now.len())?;
        Ok(Opened {
            path: path.to_path_buf(),
            file,
        })
    }
}
