//! Sizes in bytes (`64M`, `1.5G`, `250GB`, `512MiB`, `1048576`), with the units meaning what
//! they mean in Bareos' configuration (its `size_to_uint64`): a bare `k`, `m`, `g`, `t` is a
//! power of 1024, `kb`, `mb`, `gb`, `tb` a power of 1000. `KiB` … `TiB` (powers of 1024) and `B`
//! (bytes) are accepted as well, though Bareos has neither. Units are case-insensitive and may
//! follow the number after spaces; the number may have a fraction. The one parser of the plugin
//! string and of `dump-server`.

/// Which family a size's unit belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// No unit, or `B`.
    Bytes,
    /// `K`, `M`, `G`, `T`, `KiB` … `TiB`: powers of 1024.
    Binary,
    /// `KB`, `MB`, `GB`, `TB`: powers of 1000.
    Decimal,
}

/// A parsed size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub bytes: u64,
    pub unit: Unit,
}

/// Why a text is not a size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("not a number with an optional unit (K, M, G, T; KB, MB, GB, TB; KiB … TiB)")]
    Malformed,
    #[error("more bytes than 64 bits hold")]
    TooLarge,
}

/// The factor and family of a unit (lower case).
fn unit(name: &str) -> Option<(u64, Unit)> {
    Some(match name {
        "" | "b" => (1, Unit::Bytes),
        "k" | "kib" => (1 << 10, Unit::Binary),
        "m" | "mib" => (1 << 20, Unit::Binary),
        "g" | "gib" => (1 << 30, Unit::Binary),
        "t" | "tib" => (1 << 40, Unit::Binary),
        "kb" => (1_000, Unit::Decimal),
        "mb" => (1_000_000, Unit::Decimal),
        "gb" => (1_000_000_000, Unit::Decimal),
        "tb" => (1_000_000_000_000, Unit::Decimal),
        _ => return None,
    })
}

/// Parses a size; a fraction of a byte is rounded to the nearest byte.
pub fn parse_size(text: &str) -> Result<Size, SizeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, rest) = t.split_at(split);
    let (factor, unit) =
        unit(&rest.trim_start().to_ascii_lowercase()).ok_or(SizeError::Malformed)?;
    let bytes = if number.contains('.') {
        let value: f64 = number.parse().map_err(|_| SizeError::Malformed)?;
        let bytes = (value * factor as f64).round();
        // u64::MAX as f64 rounds up to 2^64, itself too large.
        if bytes >= u64::MAX as f64 {
            return Err(SizeError::TooLarge);
        }
        bytes as u64
    } else {
        let value: u64 = number
            .parse()
            .map_err(|e: std::num::ParseIntError| match e.kind() {
                std::num::IntErrorKind::PosOverflow => SizeError::TooLarge,
                _ => SizeError::Malformed,
            })?;
        value.checked_mul(factor).ok_or(SizeError::TooLarge)?
    };
    Ok(Size { bytes, unit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> u64 {
        parse_size(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .bytes
    }

    #[test]
    fn every_unit_as_bareos_reads_it() {
        assert_eq!(bytes("4096"), 4096);
        assert_eq!(bytes("4096b"), 4096);
        for (k, b) in [
            ("k", 1u64 << 10),
            ("m", 1 << 20),
            ("g", 1 << 30),
            ("t", 1 << 40),
        ] {
            for text in [format!("3{k}"), format!("3{}", k.to_uppercase())] {
                assert_eq!(
                    parse_size(&text).unwrap(),
                    Size {
                        bytes: 3 * b,
                        unit: Unit::Binary
                    },
                    "{text}"
                );
            }
            for text in [format!("3{k}ib"), format!("3{}iB", k.to_uppercase())] {
                assert_eq!(
                    parse_size(&text).unwrap(),
                    Size {
                        bytes: 3 * b,
                        unit: Unit::Binary
                    },
                    "{text}"
                );
            }
        }
        for (k, b) in [
            ("k", 1_000u64),
            ("m", 1_000_000),
            ("g", 1_000_000_000),
            ("t", 1_000_000_000_000),
        ] {
            for text in [
                format!("3{k}b"),
                format!("3{}B", k.to_uppercase()),
                format!("3{k}B"),
            ] {
                assert_eq!(
                    parse_size(&text).unwrap(),
                    Size {
                        bytes: 3 * b,
                        unit: Unit::Decimal
                    },
                    "{text}"
                );
            }
        }
        assert_eq!(parse_size("12").unwrap().unit, Unit::Bytes);
    }

    #[test]
    fn fractions_spaces_and_limits() {
        assert_eq!(bytes("1.5M"), 3 << 19);
        assert_eq!(bytes(" 1.5 MiB "), 3 << 19);
        assert_eq!(bytes("0.5kb"), 500);
        assert_eq!(bytes("0.3k"), 307, "307.2 bytes round to 307");
        assert_eq!(bytes("0"), 0);
        assert_eq!(bytes("18446744073709551615"), u64::MAX);
        assert_eq!(parse_size("18446744073709551616"), Err(SizeError::TooLarge));
        assert_eq!(parse_size("16777216T"), Err(SizeError::TooLarge));
        assert_eq!(parse_size("16777216.0T"), Err(SizeError::TooLarge));
        for bad in [
            "", "M", "12Q", "-5G", "1.2.3M", ".", "5 M B", "64BB", "1e3", "64 IB",
        ] {
            assert_eq!(parse_size(bad), Err(SizeError::Malformed), "{bad:?}");
        }
    }
}
