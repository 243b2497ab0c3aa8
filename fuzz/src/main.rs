//! `cargo run -p fuzz -- TARGET [SECONDS] [SEED]`: runs one fuzz target for a while (the
//! test command runs each for a short budget; a longer run finds more). `cargo run -p fuzz`
//! lists the targets. Exits 1 on a crash, naming the file that holds its input.
//! `cargo run -p fuzz -- --dict TARGET` prints the target's tokens as a libFuzzer dictionary
//! (`fuzz/run.sh` passes it to libFuzzer with `-dict`).

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        for target in fuzz::TARGETS {
            println!("{:16} {}", target.name, target.what);
        }
        return;
    };
    if name == "--dict" {
        let Some(target) = args.get(1).and_then(|name| fuzz::target(name)) else {
            eprintln!("error: --dict needs a target name; `cargo run -p fuzz` lists them");
            std::process::exit(2);
        };
        print!("{}", fuzz::libfuzzer_dictionary(target));
        return;
    }
    let Some(target) = fuzz::target(name) else {
        eprintln!("error: no fuzz target {name:?}; `cargo run -p fuzz` lists them");
        std::process::exit(2);
    };
    let number = |index: usize, default: u64| {
        args.get(index).map_or(default, |text| {
            text.parse().unwrap_or_else(|_| {
                eprintln!("error: {text:?} is not a whole number");
                std::process::exit(2)
            })
        })
    };
    let budget = fuzz::Budget {
        executions: u64::MAX,
        time: Duration::from_secs(number(1, 60)),
        seed: number(2, 15),
    };
    let outcome = fuzz::run(target, &budget);
    println!(
        "{}: {} corpus inputs, {} executions",
        target.name, outcome.replayed, outcome.executions
    );
    if let Some((path, _)) = outcome.crash {
        eprintln!("crash: the input is in {}", path.display());
        std::process::exit(1);
    }
}
