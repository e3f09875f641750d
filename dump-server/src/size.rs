//! Byte sizes on the command line (`250GB`, `1.5T`, `512MiB`) and in reports.
//!
//! Sizes are read by the plugin's own parser ([`s3_plugin::config::size`]), with the units of
//! Bareos' configuration: `K`/`M`/`G`/`T` and `KiB`…`TiB` are powers of 1024, `KB`/`MB`/`GB`/`TB`
//! powers of 1000. A plain number is bytes.

use s3_plugin::config::size::{self, SizeError};

/// Parses a size of at least one byte.
pub fn parse_size(text: &str) -> Result<u64, String> {
    match size::parse_size(text) {
        Ok(s) if s.bytes >= 1 => Ok(s.bytes),
        Ok(_) => Err(format!("'{text}' must be at least 1 byte")),
        Err(SizeError::Malformed) => Err(format!(
            "'{text}' is not a size (e.g. 250GB, 100G, 512MiB, 1000000)"
        )),
        Err(SizeError::TooLarge) => Err(format!("'{text}' is more bytes than 64 bits hold")),
    }
}

/// `1.5 GB`-style rendering with decimal units (as `--max-job-size 250GB` is meant).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `12,345,678`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("250GB").unwrap(), 250_000_000_000);
        assert_eq!(parse_size("250G").unwrap(), 250 << 30);
        assert_eq!(parse_size("1.5 MiB").unwrap(), 3 << 19);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("10kb").unwrap(), 10_000);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("-5G").is_err());
    }

    #[test]
    fn every_unit_as_bareos_reads_it() {
        for (text, bytes) in [
            ("7", 7u64),
            ("7B", 7),
            ("7K", 7 << 10),
            ("7k", 7 << 10),
            ("7KiB", 7 << 10),
            ("7KB", 7_000),
            ("7M", 7 << 20),
            ("7MiB", 7 << 20),
            ("7MB", 7_000_000),
            ("7mb", 7_000_000),
            ("7G", 7 << 30),
            ("7GiB", 7 << 30),
            ("7GB", 7_000_000_000),
            ("7T", 7 << 40),
            ("7TiB", 7 << 40),
            ("7TB", 7_000_000_000_000),
            ("1.5T", 3 << 39),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        assert_eq!(
            parse_size("0.4"),
            Err("'0.4' must be at least 1 byte".to_string())
        );
        assert!(parse_size("99999999T").unwrap_err().contains("64 bits"));
        assert!(parse_size("7PB").unwrap_err().contains("is not a size"));
    }

    #[test]
    fn rendering() {
        assert_eq!(human(999), "999 B");
        assert_eq!(human(250_000_000_000), "250.0 GB");
        assert_eq!(grouped(1234567), "1,234,567");
        assert_eq!(grouped(12), "12");
    }
}
