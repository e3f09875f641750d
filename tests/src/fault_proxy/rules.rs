//! The schedule of a [`FaultProxy`](super::FaultProxy): which request gets which fault.

use std::fmt;
use std::time::Duration;

/// Which requests a [`Rule`] applies to. Every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// HTTP method (compared case-insensitively); `None` = any.
    pub method: Option<String>,
    /// Only object requests (path-style `/bucket/key`) whose key, URL-decoded, ends with this.
    /// `Some("")` matches every object request but no bucket-level one (e.g. a listing).
    pub key_suffix: Option<String>,
    /// Only ListObjectsV2 requests (GET on the bucket with `list-type=2`).
    pub list: bool,
    /// Only the n-th (1-based) request matching the other fields. Requests are counted from the
    /// moment the rule is added, whether or not this or another rule applied to them.
    pub nth: Option<u32>,
}

impl Match {
    /// Every request.
    pub fn any() -> Match {
        Match::default()
    }

    /// GET of an object whose key ends with `key_suffix` (`""`: any object GET).
    pub fn get(key_suffix: &str) -> Match {
        Match {
            method: Some("GET".into()),
            key_suffix: Some(key_suffix.into()),
            ..Match::default()
        }
    }

    /// `method` on an object whose key ends with `key_suffix`.
    pub fn object(method: &str, key_suffix: &str) -> Match {
        Match {
            method: Some(method.into()),
            key_suffix: Some(key_suffix.into()),
            ..Match::default()
        }
    }

    /// ListObjectsV2 requests.
    pub fn list() -> Match {
        Match {
            method: Some("GET".into()),
            list: true,
            ..Match::default()
        }
    }

    /// The same matcher restricted to its n-th (1-based) matching request.
    pub fn nth(self, n: u32) -> Match {
        Match {
            nth: Some(n),
            ..self
        }
    }

    /// True if `req` matches everything but `nth`.
    pub(crate) fn matches(&self, req: &ReqInfo) -> bool {
        if let Some(m) = &self.method {
            if !m.eq_ignore_ascii_case(&req.method) {
                return false;
            }
        }
        if let Some(suffix) = &self.key_suffix {
            match &req.key {
                Some(k) if k.ends_with(suffix.as_str()) => {}
                _ => return false,
            }
        }
        !self.list || req.list
    }
}

/// What the proxy does to a request a rule applies to.
#[derive(Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer `code` with an S3 XML error document (`<Code>s3_code</Code>`) and, if set, a
    /// `Retry-After: secs` header, without forwarding the request (its body is read and dropped).
    Status {
        code: u16,
        s3_code: &'static str,
        retry_after: Option<u32>,
    },
    /// Answer 200 with an S3 `<Error><Code>SlowDown</Code>…` document as the body, without
    /// forwarding (as S3 does for some operations).
    SlowDownIn200,
    /// Forward the real response head and its first `bytes` body bytes, then reset the client
    /// connection (RST, via SO_LINGER 0) once the client acknowledged those bytes (it waits up
    /// to 10 s for a client that does not read; an RST discards unacknowledged data). A body
    /// shorter than `bytes` is sent whole, then the connection is reset.
    ResetAfter { bytes: u64 },
    /// Forward the head (with the real Content-Length) and only `bytes` body bytes, then close the
    /// client connection cleanly (FIN; over TLS without close_notify). A body shorter than
    /// `bytes` is sent whole, then the connection is closed.
    ShortBody { bytes: u64 },
    /// Forward the head and `after_bytes` body bytes, send nothing for `for_`, then go on
    /// forwarding normally. (The SDK's `read_timeout` only covers the wait for the response
    /// head, not a stall inside the body.)
    Stall { after_bytes: u64, for_: Duration },
    /// Accept the request and send nothing for `for_`, then forward it.
    StallHead { for_: Duration },
    /// Before forwarding, delete the object upstream (with the admin client), so that the real
    /// server answers 404 NoSuchKey.
    DeleteFirst,
    /// Forward the head and `bytes` body bytes, then PUT `with` to the same key upstream (with the
    /// admin client), then forward the rest of the original body.
    OverwriteAfter { bytes: u64, with: Vec<u8> },
    /// Forward the response with the body byte at offset `at` inverted (bit rot on the way):
    /// the length and every header stay as the server sent them.
    FlipByte { at: u64 },
}

impl Fault {
    /// `Status` without Retry-After, e.g. `Fault::status(503, "SlowDown")`.
    pub fn status(code: u16, s3_code: &'static str) -> Fault {
        Fault::Status {
            code,
            s3_code,
            retry_after: None,
        }
    }

    /// True for the faults that need [`FaultProxy::with_admin`](super::FaultProxy::with_admin).
    pub fn needs_admin(&self) -> bool {
        matches!(self, Fault::DeleteFirst | Fault::OverwriteAfter { .. })
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status {
                code,
                s3_code,
                retry_after,
            } => {
                write!(f, "Status({code} {s3_code}")?;
                if let Some(s) = retry_after {
                    write!(f, ", Retry-After {s}")?;
                }
                write!(f, ")")
            }
            Fault::SlowDownIn200 => write!(f, "SlowDownIn200"),
            Fault::ResetAfter { bytes } => write!(f, "ResetAfter({bytes})"),
            Fault::ShortBody { bytes } => write!(f, "ShortBody({bytes})"),
            Fault::Stall { after_bytes, for_ } => write!(f, "Stall({after_bytes}, {for_:?})"),
            Fault::StallHead { for_ } => write!(f, "StallHead({for_:?})"),
            Fault::DeleteFirst => write!(f, "DeleteFirst"),
            Fault::FlipByte { at } => write!(f, "FlipByte({at})"),
            Fault::OverwriteAfter { bytes, with } => {
                write!(f, "OverwriteAfter({bytes}, {} bytes)", with.len())
            }
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One entry of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub matcher: Match,
    pub action: Fault,
    /// How many more requests it applies to; `None` = forever.
    pub times: Option<u32>,
}

impl Rule {
    /// Applies to the first matching request only.
    pub fn once(matcher: Match, action: Fault) -> Rule {
        Rule::times(matcher, action, 1)
    }

    /// Applies to the first `n` matching requests.
    pub fn times(matcher: Match, action: Fault, n: u32) -> Rule {
        Rule {
            matcher,
            action,
            times: Some(n),
        }
    }

    /// Applies to every matching request.
    pub fn always(matcher: Match, action: Fault) -> Rule {
        Rule {
            matcher,
            action,
            times: None,
        }
    }
}

/// What the matchers look at in a request.
#[derive(Debug, Clone)]
pub(crate) struct ReqInfo {
    pub method: String,
    /// Path-style bucket (first path segment, URL-decoded); `None` for `/`.
    pub bucket: Option<String>,
    /// Object key (the URL-decoded rest of the path after `/bucket/`); `None` if there is none.
    pub key: Option<String>,
    /// A ListObjectsV2 request.
    pub list: bool,
}

impl ReqInfo {
    pub fn parse(method: &str, path: &str, query: &str) -> ReqInfo {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let rest = path.strip_prefix('/').unwrap_or(path);
        let (bucket, key) = match rest.split_once('/') {
            Some((b, k)) if !k.is_empty() => (Some(decode(b)), Some(decode(k))),
            Some((b, _)) => (Some(decode(b)), None),
            None if rest.is_empty() => (None, None),
            None => (Some(decode(rest)), None),
        };
        let list = method.eq_ignore_ascii_case("GET")
            && bucket.is_some()
            && key.is_none()
            && query.split('&').any(|p| p == "list-type=2");
        ReqInfo {
            method: method.to_string(),
            bucket,
            key,
            list,
        }
    }
}

/// A rule with its bookkeeping.
#[derive(Debug)]
pub(crate) struct ActiveRule {
    pub rule: Rule,
    /// Requests matched so far (for `nth`).
    pub matched: u32,
}

/// The first rule (in order) that matches `req`, still has `times` left and whose `nth` is this
/// request; counts `req` for every rule whose matcher matches.
pub(crate) fn pick(rules: &mut [ActiveRule], req: &ReqInfo) -> Option<Fault> {
    let mut chosen = None;
    for r in rules.iter_mut() {
        if !r.rule.matcher.matches(req) {
            continue;
        }
        r.matched = r.matched.saturating_add(1);
        if chosen.is_some() || r.rule.times == Some(0) {
            continue;
        }
        if r.rule.matcher.nth.is_some_and(|n| n != r.matched) {
            continue;
        }
        if let Some(t) = &mut r.rule.times {
            *t -= 1;
        }
        chosen = Some(r.rule.action.clone());
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(rules: Vec<Rule>) -> Vec<ActiveRule> {
        rules
            .into_iter()
            .map(|rule| ActiveRule { rule, matched: 0 })
            .collect()
    }

    #[test]
    fn parses_path_style_requests() {
        let r = ReqInfo::parse("GET", "/b/dir/a%20b%2Bc", "x-id=GetObject");
        assert_eq!(r.bucket.as_deref(), Some("b"));
        assert_eq!(r.key.as_deref(), Some("dir/a b+c"));
        assert!(!r.list);
        let r = ReqInfo::parse("GET", "/b", "list-type=2&prefix=");
        assert_eq!(
            (r.bucket.as_deref(), r.key.as_deref(), r.list),
            (Some("b"), None, true)
        );
        let r = ReqInfo::parse("GET", "/b/", "list-type=2");
        assert!(r.list);
        let r = ReqInfo::parse("GET", "/b//x", "");
        assert_eq!(r.key.as_deref(), Some("/x"));
        let r = ReqInfo::parse("GET", "/", "");
        assert_eq!((r.bucket, r.key, r.list), (None, None, false));
    }

    #[test]
    fn first_matching_rule_with_times_left_wins() {
        let mut rules = active(vec![
            Rule::times(Match::get("a"), Fault::status(503, "SlowDown"), 2),
            Rule::always(Match::any(), Fault::DeleteFirst),
        ]);
        let a = ReqInfo::parse("GET", "/b/xa", "");
        let list = ReqInfo::parse("GET", "/b", "list-type=2");
        assert_eq!(pick(&mut rules, &a), Some(Fault::status(503, "SlowDown")));
        assert_eq!(pick(&mut rules, &list), Some(Fault::DeleteFirst));
        assert_eq!(pick(&mut rules, &a), Some(Fault::status(503, "SlowDown")));
        assert_eq!(pick(&mut rules, &a), Some(Fault::DeleteFirst));
    }

    #[test]
    fn nth_counts_matching_requests() {
        let mut rules = active(vec![Rule::always(
            Match::list().nth(2),
            Fault::SlowDownIn200,
        )]);
        let get = ReqInfo::parse("GET", "/b/k", "");
        let list = ReqInfo::parse("GET", "/b", "list-type=2");
        assert_eq!(pick(&mut rules, &get), None);
        assert_eq!(pick(&mut rules, &list), None);
        assert_eq!(pick(&mut rules, &get), None);
        assert_eq!(pick(&mut rules, &list), Some(Fault::SlowDownIn200));
        assert_eq!(pick(&mut rules, &list), None);
    }

    #[test]
    fn key_suffix_needs_an_object_key() {
        let m = Match::object("HEAD", "");
        assert!(m.matches(&ReqInfo::parse("HEAD", "/b/k", "")));
        assert!(!m.matches(&ReqInfo::parse("HEAD", "/b", "")));
        assert!(!m.matches(&ReqInfo::parse("GET", "/b/k", "")));
        assert!(Match::any().matches(&ReqInfo::parse("PUT", "/b", "")));
    }
}
