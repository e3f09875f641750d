//! `memory-s3`: see the library documentation and `memory-s3 --help`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = match memory_s3::parse_cli(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("memory-s3: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = memory_s3::run(cli) {
        eprintln!("memory-s3: {e}");
        std::process::exit(1);
    }
}
