//! A small filesystem for one node's data directory, to test what a full disk does: a
//! size-limited tmpfs mounted over the directory (its contents copied in), unmounted when
//! dropped, also when the test fails.
//!
//! Mounting needs root. Like the namespace tests, a test using this fails instead of
//! passing when it cannot run under CI (`CI` set); elsewhere it may skip, saying why.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Whether this test can mount filesystems here. Not root: under CI (`CI` set) this panics
/// (a test that cannot run must not pass there); otherwise it prints why it skips.
pub fn enabled(test: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if root {
        return true;
    }
    let ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty());
    assert!(
        !ci,
        "{test}: needs root to mount a small filesystem; \
         under CI a test must run, never pass without running"
    );
    println!("{test}: not run; needs root to mount a small tmpfs (CI runs it as root)");
    false
}

/// A tmpfs of a fixed size mounted over a directory; unmounted (lazily, so a process still
/// holding files in it cannot keep it mounted) when dropped.
pub struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    /// Mount a tmpfs of `size_bytes` over `dir` and copy what `dir` held into it. The
    /// processes using `dir` must be stopped first.
    pub fn mount_over(dir: &Path, size_bytes: u64) -> anyhow::Result<SmallFs> {
        let saved = dir.with_extension("before-smallfs");
        std::fs::rename(dir, &saved).with_context(|| format!("move {} aside", dir.display()))?;
        std::fs::create_dir(dir)?;
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_bytes},mode=0700"))
            .arg("tmpfs")
            .arg(dir))?;
        let mounted = SmallFs {
            dir: dir.to_path_buf(),
        };
        run(Command::new("cp").arg("-a").arg(saved.join(".")).arg(dir))?;
        std::fs::remove_dir_all(&saved)?;
        Ok(mounted)
    }

    /// Fill the filesystem with a file until no space is left; the bytes written.
    pub fn fill(&self) -> anyhow::Result<u64> {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.join("filler"))?;
        let chunk = vec![0xA5u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(error) if error.kind() == std::io::ErrorKind::StorageFull => break,
                Err(error) => return Err(error.into()),
            }
        }
        Ok(written)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
    }
}
