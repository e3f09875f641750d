//! Byte sizes on the command line (`250GB`, `1.5T`, `512MiB`) and in reports.
//!
//! Units follow Bareos' configuration: `K`/`M`/`G`/`T` and `KiB`…`TiB` are powers of 1024,
//! `KB`/`MB`/`GB`/`TB` powers of 1000. A plain number is bytes.

/// Parses a size; `what` names the flag in the error.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "'{text}' is not a size (e.g. 250GB, 100G, 512MiB, 1000000)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (e.g. 250GB, 100G, 512MiB, 1000000)"))?;
    let bytes = value * factor as f64;
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("'{text}' must be at least 1 byte"));
    }
    Ok(bytes.round() as u64)
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
    fn rendering() {
        assert_eq!(human(999), "999 B");
        assert_eq!(human(250_000_000_000), "250.0 GB");
        assert_eq!(grouped(1234567), "1,234,567");
        assert_eq!(grouped(12), "12");
    }
}
