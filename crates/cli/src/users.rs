//! `encluster user ...` and `encluster token create`: users with roles and passwords, and
//! API tokens bound to a role (issue 14).
//!
//! A password is read from the terminal without echo (asked twice), or from standard input
//! with `--password-stdin`; never from the command line, where `ps` and the shell history
//! would show it. The server hashes it; this crate never stores it.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use crate::commands::Output;
use crate::config::Target;
use crate::errors::explain;
use crate::render::render_json;

/// `encluster user ...`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum UserCommand {
    /// Add a user (admin only); asks for the password.
    Add {
        /// The user's name (letters, digits, '-', '_', '.').
        name: String,
        /// viewer (reads), operator (also moves, starts, stops, standby, drain, cleanup)
        /// or admin (everything).
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from standard input (one line) instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password (admin only); the user's sessions end.
    Passwd {
        /// The user's name.
        name: String,
        /// Read the password from standard input (one line) instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role (admin only).
    Role {
        /// The user's name.
        name: String,
        /// viewer, operator or admin.
        role: String,
    },
    /// Remove a user (admin only); its sessions end on every node.
    Remove {
        /// The user's name.
        name: String,
    },
    /// List the users with their roles and open sessions (admin only).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show who this CLI acts for: its token's label, role and permissions.
    Whoami {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run_user(
    client: &api::Client,
    target: &Target,
    command: UserCommand,
) -> anyhow::Result<()> {
    let mut output = Output::stdout();
    let explained = |error| explain(error, target);
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            check_role(&role)?;
            let password = read_password(&name, password_stdin)?;
            let request = api::NewUser {
                name: name.clone(),
                role: role.clone(),
                password,
            };
            client.add_user(&request).await.map_err(explained)?;
            output.line(&format!("added user {name} ({role})"))
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(&name, password_stdin)?;
            let request = api::NewPassword { password };
            client
                .set_password(&name, &request)
                .await
                .map_err(explained)?;
            output.line(&format!("set the password of {name}; its sessions ended"))
        }
        UserCommand::Role { name, role } => {
            check_role(&role)?;
            let request = api::NewRole { role: role.clone() };
            client
                .set_user_role(&name, &request)
                .await
                .map_err(explained)?;
            output.line(&format!("{name} is now {role}"))
        }
        UserCommand::Remove { name } => {
            client.remove_user(&name).await.map_err(explained)?;
            output.line(&format!("removed user {name}; its sessions ended"))
        }
        UserCommand::List { json } => {
            let users = client.users().await.map_err(explained)?;
            let text = if json {
                render_json(&users)
            } else {
                render_users(&users)
            };
            output.text(&text)
        }
        UserCommand::Whoami { json } => {
            let session = client.session().await.map_err(explained)?;
            let text = if json {
                render_json(&session)
            } else {
                format!(
                    "{} ({}: {})\n",
                    session.user,
                    session.role,
                    session.permissions.join(", ")
                )
            };
            output.text(&text)
        }
    }
}

/// `encluster token create --role R --label L`: an API token bound to a role, made here
/// and printed once; the cluster stores its hash.
pub(crate) async fn create_token(
    client: &api::Client,
    target: &Target,
    role: &str,
    label: &str,
) -> anyhow::Result<String> {
    check_role(role)?;
    let token = auth::generate_api_token();
    let request = api::NewRoleToken {
        hash: auth::token_hash(&token),
        role: role.to_owned(),
        label: label.to_owned(),
    };
    client
        .add_role_token(&request)
        .await
        .map_err(|error| explain(error, target))?;
    Ok(token)
}

/// The same refusal the server gives, before anything is asked or sent.
fn check_role(role: &str) -> anyhow::Result<()> {
    role.parse::<model::Role>()
        .map(|_| ())
        .map_err(|unknown| anyhow::anyhow!("--role: {unknown}"))
}

/// The users as a table.
pub(crate) fn render_users(users: &[api::UserInfo]) -> String {
    if users.is_empty() {
        return "no users (add one with `encluster user add NAME --role viewer`)\n".into();
    }
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(vec!["NAME", "ROLE", "SESSIONS"]);
    for user in users {
        table.add_row(vec![
            user.name.clone(),
            user.role.clone(),
            user.sessions.to_string(),
        ]);
    }
    format!("{table}\n")
}

/// The password: one line of standard input, or asked twice on the terminal.
fn read_password(name: &str, from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        password_from(std::io::stdin().lock())?
    } else {
        if !std::io::stdin().is_terminal() {
            bail!(
                "no terminal to ask for the password: pass --password-stdin and write it to \
                 standard input (never put it on the command line)"
            );
        }
        let first = prompt_hidden(&format!("Password for {name}: "))?;
        let second = prompt_hidden("Again: ")?;
        if first != second {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    };
    auth::check_new_password(&password)?;
    Ok(password)
}

/// The first line of `input`, without its line ending; nothing after it may follow.
pub(crate) fn password_from(mut input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let mut rest = String::new();
    input
        .read_to_string(&mut rest)
        .context("reading the password from standard input")?;
    if !rest.trim().is_empty() {
        bail!("--password-stdin reads one line, but standard input has more");
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!("--password-stdin: standard input is empty; write the password to it");
    }
    Ok(password.to_owned())
}

/// Ask on the terminal with echo off, and turn it back on whatever happens.
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    use std::io::Write;
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("opening the terminal to ask for the password")?;
    let saved = tcgetattr(&tty).context("reading the terminal's settings")?;
    let mut hidden = saved.clone();
    hidden.local_flags.remove(LocalFlags::ECHO);
    hidden.local_flags.insert(LocalFlags::ECHONL);
    (&tty).write_all(prompt.as_bytes())?;
    tcsetattr(&tty, SetArg::TCSANOW, &hidden).context("turning the terminal's echo off")?;
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    tcsetattr(&tty, SetArg::TCSANOW, &saved).context("turning the terminal's echo on")?;
    read.context("reading the password from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
