//! Project automation written in Rust: `cargo xtask tidy`.

mod tidy;

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "tidy" => run_tidy(),
        _ => anyhow::bail!("unknown task {task:?}; known tasks: tidy"),
    }
}

fn run_tidy() -> anyhow::Result<()> {
    let root = std::env::current_dir()?;
    let mut problems = 0;
    for path in tidy::rust_files(&root) {
        let text = std::fs::read_to_string(&path)?;
        let name = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        for violation in tidy::check_file(&name, &text) {
            println!("{}: {}", violation.place, violation.problem);
            problems += 1;
        }
        for long in tidy::long_functions(&name, &text) {
            println!("{long}: longer than the function guideline (report only)");
        }
    }
    anyhow::ensure!(problems == 0, "{problems} tidy problems");
    Ok(())
}
