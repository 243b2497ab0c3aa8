//! `cargo xtask deb`: the Debian package, built with `dpkg-deb --build --root-owner-group`
//! from a staged tree (no debhelper, no cargo-deb: only tools every Debian system has).
//!
//! The package holds /usr/bin/encluster (stripped), the systemd unit and the agent's
//! environment file from packaging/, /var/lib/encluster, a man page per command and the
//! shell completions (`dist`), the configuration reference (docs/config.md), and the
//! copyright file and changelog Debian policy asks for. Its `Depends` is read from the
//! binary: the shared libraries it links and the newest glibc symbol version it uses.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The package's version: the workspace's (a native package, no Debian revision).
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the unit is installed (Debian 12's systemd and lintian look there).
pub(crate) const UNIT_PATH: &str = "lib/systemd/system/encluster.service";
/// The one conffile: the agent's environment.
pub(crate) const ENV_PATH: &str = "etc/encluster/encluster.env";

const DESCRIPTION: &str = "\
high-availability cluster manager
 encluster keeps services running on a cluster of Linux hosts: it moves
 virtual IP addresses, processes, OCF resources and load-balanced virtual
 services to healthy nodes when one fails. A replicated configuration
 database (Raft), leases and fencing make sure that no unique resource
 runs on two nodes at once.
 .
 One binary is both the per-node agent, run by systemd as encluster.service,
 and the command-line client.";

/// Build the package of `binary` into `out_dir`; returns the .deb's path.
pub(crate) fn build(workspace: &Path, binary: &Path, out_dir: &Path) -> anyhow::Result<PathBuf> {
    let packaging = workspace.join("packaging");
    check_changelog(&packaging)?;
    anyhow::ensure!(
        binary.is_file(),
        "{} does not exist; build it first (cargo build --release -p encluster) or pass \
         --binary PATH",
        binary.display()
    );
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let staging = tempfile::tempdir_in(out_dir).context("cannot make a staging directory")?;
    let root = staging.path().join("root");
    stage_files(&root, &packaging, binary)?;
    let architecture = output(Command::new("dpkg").arg("--print-architecture"))?;
    let control = control(&root, binary, architecture.trim())?;
    let md5sums = md5sums(&root)?;
    write_file(&root, "DEBIAN/control", control.as_bytes(), 0o644)?;
    write_file(
        &root,
        "DEBIAN/conffiles",
        format!("/{ENV_PATH}\n").as_bytes(),
        0o644,
    )?;
    write_file(&root, "DEBIAN/md5sums", md5sums.as_bytes(), 0o644)?;
    let deb = out_dir.join(format!("encluster_{VERSION}_{}.deb", architecture.trim()));
    run(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Zxz"])
        .arg(&root)
        .arg(&deb))?;
    Ok(deb)
}

/// The changelog's newest entry must be this version, or lintian and dpkg disagree.
fn check_changelog(packaging: &Path) -> anyhow::Result<()> {
    let path = packaging.join("changelog");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let expected = format!("encluster ({VERSION}) ");
    anyhow::ensure!(
        text.starts_with(&expected),
        "{}: the newest entry is not for version {VERSION}; add one at the top (the \
         workspace version in Cargo.toml is the package's)",
        path.display()
    );
    Ok(())
}

/// The files of the package under `root`, with Debian's modes.
fn stage_files(root: &Path, packaging: &Path, binary: &Path) -> anyhow::Result<()> {
    let bin = root.join("usr/bin/encluster");
    make_dirs(root, Path::new("usr/bin"))?;
    run(Command::new("strip")
        .args([
            "--strip-unneeded",
            "--remove-section=.comment",
            "--remove-section=.note",
        ])
        .arg("-o")
        .arg(&bin)
        .arg(binary))?;
    set_mode(&bin, 0o755)?;
    let copy = |from: &str, to: &str| -> anyhow::Result<()> {
        let text = std::fs::read(packaging.join(from))
            .with_context(|| format!("cannot read packaging/{from}"))?;
        write_file(root, to, &text, 0o644)
    };
    copy("encluster.service", UNIT_PATH)?;
    copy("encluster.env", ENV_PATH)?;
    copy("copyright", "usr/share/doc/encluster/copyright")?;
    let reference = packaging.join("../docs/config.md");
    let reference = std::fs::read(&reference).context("cannot read docs/config.md")?;
    write_file(root, "usr/share/doc/encluster/config.md", &reference, 0o644)?;
    let changelog = std::fs::read(packaging.join("changelog"))?;
    let changelog = gzip(&changelog)?;
    write_file(
        root,
        "usr/share/doc/encluster/changelog.gz",
        &changelog,
        0o644,
    )?;
    make_dirs(root, Path::new("var/lib/encluster"))?;
    for page in crate::dist::man_pages()? {
        let path = format!("usr/share/man/man1/{}.gz", page.name);
        write_file(root, &path, &gzip(&page.contents)?, 0o644)?;
    }
    for (shell, file) in crate::dist::SHELLS {
        let dir = match shell {
            clap_complete::Shell::Bash => "usr/share/bash-completion/completions",
            clap_complete::Shell::Zsh => "usr/share/zsh/vendor-completions",
            _ => "usr/share/fish/vendor_completions.d",
        };
        let path = format!("{dir}/{file}");
        write_file(root, &path, &crate::dist::completion(shell), 0o644)?;
    }
    Ok(())
}

/// DEBIAN/control, with the size and the dependencies measured on the staged tree.
fn control(root: &Path, binary: &Path, architecture: &str) -> anyhow::Result<String> {
    let installed_kib = installed_size_kib(root)?;
    let depends = depends(binary)?;
    Ok(format!(
        "Package: encluster\nVersion: {VERSION}\nArchitecture: {architecture}\n\
         Maintainer: encluster maintainers <maintainers@encluster.example>\n\
         Installed-Size: {installed_kib}\nDepends: {depends}\nSection: admin\n\
         Priority: optional\nDescription: {DESCRIPTION}\n"
    ))
}

/// The Debian packages of the shared libraries `binary` links, with the glibc version it
/// needs (the newest `GLIBC_x.y` among its dynamic symbols).
fn depends(binary: &Path) -> anyhow::Result<String> {
    let headers = output(Command::new("objdump").arg("-p").arg(binary))?;
    let mut packages = Vec::new();
    for line in headers.lines() {
        let Some(library) = line.trim().strip_prefix("NEEDED") else {
            continue;
        };
        let package = match library.trim() {
            "libc.so.6"
            | "libm.so.6"
            | "libpthread.so.0"
            | "libdl.so.2"
            | "librt.so.1"
            | "libutil.so.1"
            | "ld-linux-x86-64.so.2" => "libc6",
            "libgcc_s.so.1" => "libgcc-s1",
            other => bail!(
                "{} links {other}, which `cargo xtask deb` does not know the Debian package \
                 of; add it to xtask/src/deb.rs",
                binary.display()
            ),
        };
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    let symbols = output(Command::new("objdump").arg("-T").arg(binary))?;
    let glibc = symbols
        .split_whitespace()
        .filter_map(|word| word.trim_matches(['(', ')']).strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .context("the binary uses no versioned glibc symbol; is it dynamically linked?")?;
    let depends: Vec<String> = packages
        .iter()
        .map(|package| match *package {
            "libc6" => format!("libc6 (>= {}.{})", glibc.0, glibc.1),
            other => other.to_owned(),
        })
        .collect();
    Ok(depends.join(", "))
}

fn installed_size_kib(root: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for path in files(root)? {
        total += std::fs::metadata(&path)?.len().div_ceil(1024);
    }
    Ok(total)
}

/// DEBIAN/md5sums: every file but the control files, by its path in the package.
fn md5sums(root: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    for path in files(root)? {
        let relative = path.strip_prefix(root).expect("under the root");
        if relative.starts_with("DEBIAN") {
            continue;
        }
        let line = output(Command::new("md5sum").arg(&path))?;
        let sum = line
            .split_whitespace()
            .next()
            .context("md5sum printed nothing")?;
        text.push_str(&format!("{sum}  {}\n", relative.display()));
    }
    Ok(text)
}

/// Every regular file under `dir`, sorted.
fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(files(&path)?);
        } else {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run gzip")?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let result = child.wait_with_output()?;
    writer.join().expect("the writer does not panic")?;
    anyhow::ensure!(result.status.success(), "gzip failed");
    Ok(result.stdout)
}

/// Write `root/relative`, its directories 0755 and itself `mode`.
fn write_file(root: &Path, relative: &str, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let path = root.join(relative);
    make_dirs(root, Path::new(relative).parent().expect("a parent"))?;
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(&path, mode)
}

/// Create `root/relative` and each directory on the way, 0755 whatever the umask.
fn make_dirs(root: &Path, relative: &Path) -> anyhow::Result<()> {
    let mut dir = root.to_path_buf();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    set_mode(&dir, 0o755)?;
    for component in relative.components() {
        dir.push(component);
        if !dir.is_dir() {
            std::fs::create_dir(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        set_mode(&dir, 0o755)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

/// Run a command; its failure names it.
pub(crate) fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}

/// Run a command and return its standard output.
pub(crate) fn output(command: &mut Command) -> anyhow::Result<String> {
    let result = command
        .output()
        .with_context(|| format!("cannot run {command:?}"))?;
    anyhow::ensure!(
        result.status.success(),
        "{command:?} failed: {}: {}",
        result.status,
        String::from_utf8_lossy(&result.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&result.stdout).into_owned())
}

#[cfg(test)]
mod tests;
