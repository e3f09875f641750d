//! The plugin string of a bucket (`s3:bucket=…:endpoint=…`) as the operator gives it, and the
//! plugin strings of its shards (the same string plus `start_after=`/`end_at=`).

use s3_plugin::config::options::{OptionError, Options};

/// A validated plugin string without key range: what `plan`, `check` and `census` start from.
#[derive(Clone, Debug)]
pub struct BaseString {
    /// As given, trimmed (the operator's spelling is kept in the generated configuration).
    pub text: String,
    pub options: Options,
}

impl BaseString {
    /// Parses `text` with the plugin's own parser. `start_after`/`end_at` are refused when
    /// `range_allowed` is false (`plan` decides the ranges itself).
    pub fn parse(text: &str, range_allowed: bool) -> Result<BaseString, String> {
        let text = text.trim();
        check_prefix(text)?;
        let options = Options::parse(text, &[]).map_err(|e: OptionError| e.to_string())?;
        if !range_allowed && (options.start_after.is_some() || options.end_at.is_some()) {
            return Err(
                "the plugin string must not contain start_after or end_at: plan decides the key \
                 ranges of the shards"
                    .into(),
            );
        }
        Ok(BaseString {
            text: text.to_string(),
            options,
        })
    }

    /// The plugin string of the shard `(start_after, end_at]` (`None`: open end).
    pub fn with_range(&self, start_after: Option<&str>, end_at: Option<&str>) -> String {
        let mut s = self.text.clone();
        if let Some(a) = start_after {
            s.push_str(":start_after=");
            s.push_str(&escape_value(a));
        }
        if let Some(b) = end_at {
            s.push_str(":end_at=");
            s.push_str(&escape_value(b));
        }
        s
    }
}

/// The daemons give a FileSet's `Plugin` line only to the plugin named before its first `:`
/// (`s3` for `s3-fd.so`, exactly so spelled). A string that names no plugin, or another one,
/// would never reach s3-fd.so: refuse it instead of checking or planning with it.
fn check_prefix(text: &str) -> Result<(), String> {
    if text.starts_with("s3:") {
        return Ok(());
    }
    let first = text.split(':').next().unwrap_or_default();
    if text.is_empty() || first.contains('=') || !text.contains(':') {
        Err(
            "the plugin string has no 's3:' prefix: the file daemon would never send it to this \
             plugin (it gives a FileSet's Plugin line only to the plugin named before the first \
             ':'); write it as in the FileSet: 's3:bucket=NAME:…'"
                .to_string(),
        )
    } else {
        Err(format!(
            "the plugin string must start with 's3:', not '{first}:': the file daemon would give \
             it to a plugin named '{first}' ({first}-fd.so), never to this one (s3-fd.so)"
        ))
    }
}

/// Escapes a value for the plugin string: `\` → `\\`, `:` → `\:`.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if c == '\\' || c == ':' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `key` can be a shard boundary: it must survive a quoted Director configuration
/// string and the daemons' line-based protocol (no control characters such as newline or tab),
/// and the plugin trims the whole string (no leading or trailing white space).
pub fn usable_as_boundary(key: &str) -> bool {
    !key.is_empty() && !key.chars().any(char::is_control) && key.trim() == key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_strings_parse_back_with_the_plugin_parser() {
        let base = BaseString::parse("s3:bucket=b:endpoint=http://h:7480", false).unwrap();
        for key in [
            "a:b",
            "back\\slash",
            "x\\:y",
            "q\"uote",
            "ü/日本",
            "=eq=",
            "k::",
        ] {
            let s = base.with_range(Some(key), Some(&format!("{key}~")));
            let o = Options::parse(&s, &[]).unwrap();
            assert_eq!(o.start_after.as_deref(), Some(key), "{s}");
            assert_eq!(o.end_at, Some(format!("{key}~")));
            assert_eq!(o.endpoint.as_deref(), Some("http://h:7480"));
        }
        let first = base.with_range(None, Some("m"));
        assert!(first.ends_with(":end_at=m") && !first.contains("start_after"));
        assert_eq!(base.with_range(None, None), base.text);
    }

    #[test]
    fn refuses_ranges_and_bad_strings() {
        let e = BaseString::parse("s3:bucket=b:end_at=x", false).unwrap_err();
        assert!(e.contains("end_at"), "{e}");
        assert!(BaseString::parse("s3:bucket=b:end_at=x", true).is_ok());
        assert!(BaseString::parse("s3:colour=red", false)
            .unwrap_err()
            .contains("colour"));
        assert_eq!(
            BaseString::parse("  s3:bucket=b ", false).unwrap().text,
            "s3:bucket=b"
        );
    }

    #[test]
    fn refuses_strings_the_daemon_would_not_send_to_this_plugin() {
        for text in ["bucket=b", "bucket=x:endpoint=http://h:7480", "", "s3", "b"] {
            let e = BaseString::parse(text, true).unwrap_err();
            assert!(
                e.contains("no 's3:' prefix") && e.contains("would never send"),
                "{text}: {e}"
            );
        }
        for (text, name) in [
            ("xyz:bucket=b", "xyz"),
            ("S3:bucket=b", "S3"),
            ("bpipe:file=/x:reader=cat", "bpipe"),
            (" s3 :bucket=b", "s3 "),
        ] {
            let e = BaseString::parse(text, true).unwrap_err();
            assert!(
                e.contains("must start with 's3:'") && e.contains(&format!("not '{name}:'")),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn boundaries() {
        assert!(usable_as_boundary("a b"));
        assert!(usable_as_boundary("q\"uote:\\"));
        assert!(!usable_as_boundary("new\nline"));
        assert!(!usable_as_boundary("tab\t"));
        assert!(!usable_as_boundary("trailing "));
        assert!(!usable_as_boundary(" leading"));
        assert!(!usable_as_boundary(""));
    }
}
