//! `previous_release`: builds the previous release of encluster for the rolling-upgrade
//! test (`e2e::previous`) ahead of the tests, so that its build never runs beside
//! timing-sensitive tests; `scripts/test.sh` runs it before `cargo test`. Prints the
//! binary's path. A later run reuses the build.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    // This program is `target/<profile>/previous_release`, beside the encluster binary
    // whose target directory the upgrade test uses.
    let exe = std::env::current_exe().context("this program's path")?;
    let target_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .context("previous_release is not under target/<profile>/")?
        .to_path_buf();
    match e2e::previous::previous_binary(&target_dir)? {
        Some(binary) => println!("{}", binary.display()),
        None => println!("no previous release in this clone: the upgrade test will skip"),
    }
    Ok(())
}
