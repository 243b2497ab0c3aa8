//! `cargo xtask dist DIR`: the man pages and shell completions of `encluster`, generated
//! from the command tree the binary parses (`encluster::command()`), so they never drift
//! from it.
//!
//! One page per command that `--help` shows (`encluster.1`, `encluster-resource-create.1`,
//! ...), as clap_mangen writes them (hidden commands get none), and completions for bash,
//! zsh and fish. `cargo xtask deb` installs them where Debian looks for them.

use std::path::Path;

use anyhow::Context;

/// A generated file: its name and its contents.
pub(crate) struct Generated {
    pub(crate) name: String,
    pub(crate) contents: Vec<u8>,
}

/// The name of the manual the pages belong to, in their header.
const MANUAL: &str = "encluster Manual";

/// One ROFF page (section 1) per visible command, the top-level one first.
pub(crate) fn man_pages() -> anyhow::Result<Vec<Generated>> {
    let mut command = encluster::command().disable_help_subcommand(true);
    command.build();
    let source = format!("encluster {}", command.get_version().unwrap_or_default());
    let mut pages = Vec::new();
    add_pages(&command, &source, &mut pages)?;
    Ok(pages)
}

fn add_pages(
    command: &clap::Command,
    source: &str,
    pages: &mut Vec<Generated>,
) -> anyhow::Result<()> {
    let man = clap_mangen::Man::new(command.clone())
        .source(source)
        .manual(MANUAL);
    let mut contents = Vec::new();
    man.render(&mut contents)
        .with_context(|| format!("cannot render the page of {}", command.get_name()))?;
    if matches!(
        man.get_filename().as_str(),
        "encluster.1" | "encluster-agent.1"
    ) {
        contents.extend_from_slice(AGENT_SECTIONS.as_bytes());
    }
    pages.push(Generated {
        name: man.get_filename(),
        contents,
    });
    for subcommand in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        add_pages(subcommand, source, pages)?;
    }
    Ok(())
}

/// What the command tree cannot say, on the pages of `encluster` and `encluster agent`:
/// the environment and files the agent reads (as installed by the Debian package).
const AGENT_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBENCLUSTER_CONFIG\fR
The agent's config file when \fB\-\-config\fR is not given; its settings are listed in
\fI/usr/share/doc/encluster/config.md\fR.
.TP
\fBENCLUSTER_LOG\fR
The log filter: a level (error, warn, info, debug, trace), optionally per module;
default \fBinfo,openraft=error\fR.
.TP
\fBENCLUSTER_LOG_FORMAT\fR
\fBtext\fR (the default; coloured only on a terminal) or \fBjson\fR (one object per line).
Logs go to standard error.
.SH FILES
.TP
\fI/etc/encluster/encluster.env\fR
The environment of encluster.service (the config path and the log settings).
.TP
\fI/var/lib/encluster/node\fR
The node's config, certificates and data, written by \fBencluster init\fR or \fBencluster join\fR.
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBsystemd.service\fR(5)
"#;

/// The shells completions are generated for, with the file name each one looks for.
pub(crate) const SHELLS: [(clap_complete::Shell, &str); 3] = [
    (clap_complete::Shell::Bash, "encluster"),
    (clap_complete::Shell::Zsh, "_encluster"),
    (clap_complete::Shell::Fish, "encluster.fish"),
];

/// The completion script of `shell`.
pub(crate) fn completion(shell: clap_complete::Shell) -> Vec<u8> {
    let mut command = encluster::command();
    let mut contents = Vec::new();
    clap_complete::generate(shell, &mut command, "encluster", &mut contents);
    contents
}

/// Write `DIR/man/*.1` and `DIR/completions/{bash,zsh,fish}/<file>`.
pub(crate) fn write(dir: &Path) -> anyhow::Result<()> {
    let man_dir = dir.join("man");
    std::fs::create_dir_all(&man_dir)
        .with_context(|| format!("cannot create {}", man_dir.display()))?;
    let pages = man_pages()?;
    for page in &pages {
        let path = man_dir.join(&page.name);
        std::fs::write(&path, &page.contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    for (shell, file) in SHELLS {
        let shell_dir = dir.join("completions").join(shell.to_string());
        std::fs::create_dir_all(&shell_dir)
            .with_context(|| format!("cannot create {}", shell_dir.display()))?;
        let path = shell_dir.join(file);
        std::fs::write(&path, completion(shell))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "wrote {} man pages to {} and completions for bash, zsh and fish to {}",
        pages.len(),
        man_dir.display(),
        dir.join("completions").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests;
