//! Project automation written in Rust: `cargo xtask tidy`.

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "tidy" => {
            println!("run `cargo test -p xtask` to check the tree");
            Ok(())
        }
        _ => anyhow::bail!("unknown task {task:?}; known tasks: tidy"),
    }
}
