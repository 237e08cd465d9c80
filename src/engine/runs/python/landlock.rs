//! Landlock for a strategy run without bubblewrap: the kernel's own unprivileged sandbox (Linux
//! 5.13+). The child may read only the system's and the interpreter's trees and the dataset, and
//! write only its work dir; where the kernel has them (ABI 4, 6), it may not open TCP
//! connections nor signal a process outside the run. Built in the parent (it allocates and opens
//! paths), applied in the child between fork and exec with two system calls.
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
/// Every filesystem right of ABI 1 (remove, make …: bits 4 to 12).
const ABI1_FS: u64 = (1 << 13) - 1;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;
const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

/// A ruleset ready to be applied; `None` where the kernel has no Landlock.
pub struct Ruleset {
    fd: OwnedFd,
    pub abi: i64,
}

/// The kernel's Landlock ABI version (0: none).
pub fn abi() -> i64 {
    // SAFETY: the version query takes no attribute.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    v.max(0)
}

impl Ruleset {
    /// Read (and execute) beneath `read`, everything beneath `write`; nothing else.
    pub fn new(read: &[&Path], write: &[&Path]) -> Option<Ruleset> {
        let abi = abi();
        if abi < 1 {
            return None;
        }
        let mut fs = ABI1_FS;
        if abi >= 2 {
            fs |= REFER;
        }
        if abi >= 3 {
            fs |= TRUNCATE;
        }
        if abi >= 5 {
            fs |= IOCTL_DEV;
        }
        let attr = RulesetAttr {
            handled_access_fs: fs,
            handled_access_net: if abi >= 4 {
                NET_BIND_TCP | NET_CONNECT_TCP
            } else {
                0
            },
            scoped: if abi >= 6 {
                SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL
            } else {
                0
            },
        };
        let size = match abi {
            1..=3 => 8,
            4 | 5 => 16,
            _ => std::mem::size_of::<RulesetAttr>(),
        };
        // SAFETY: `attr` outlives the call and `size` covers only its fields this ABI knows.
        let fd = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, &attr, size, 0u32) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new descriptor (close-on-exec) that we alone own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let read_access = EXECUTE | READ_FILE | READ_DIR;
        let rules = read
            .iter()
            .map(|p| (*p, read_access))
            .chain(write.iter().map(|p| (*p, fs)));
        for (path, access) in rules {
            let Ok(dir) = std::fs::File::open(path) else {
                continue; // not on this machine (/lib64, say)
            };
            // a file (not a folder) takes only the rights a file has
            let access = if dir.metadata().is_ok_and(|m| m.is_dir()) {
                access
            } else {
                access & (EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV)
            };
            let rule = PathBeneath {
                allowed_access: access & fs,
                parent_fd: dir.as_raw_fd(),
            };
            // SAFETY: `rule` and both descriptors are valid for the call.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_landlock_add_rule,
                    fd.as_raw_fd(),
                    RULE_PATH_BENEATH,
                    &rule,
                    0u32,
                )
            };
            if r != 0 {
                tracing::warn!(path = %path.display(), error = %std::io::Error::last_os_error(), "landlock rule not added");
            }
        }
        Some(Ruleset { fd, abi })
    }

    /// The raw descriptor, for `apply` in the child.
    pub fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Between fork and exec: no new privileges, then the ruleset. Only system calls.
pub fn apply(fd: i32) -> std::io::Result<()> {
    // SAFETY: prctl and landlock_restrict_self are plain system calls on this process.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
