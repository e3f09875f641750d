//! Hostile input: the plugin string parser and the key↔name mapping, on arbitrary input. No
//! panic, exact round trips, and names that are always clean paths.

use proptest::prelude::*;
use s3_plugin::config::naming::{key_to_name, name_to_key};
use s3_plugin::config::options::{parse_pairs, Options};

fn key_strategy() -> impl Strategy<Value = String> {
    // Heavy on the characters the scheme treats specially.
    prop::collection::vec(
        prop_oneof![
            Just("/".to_string()),
            Just("%".to_string()),
            Just(".".to_string()),
            Just("..".to_string()),
            Just("\0".to_string()),
            Just(" ".to_string()),
            Just("+".to_string()),
            any::<char>().prop_map(|c| c.to_string()),
            "[a-z0-9]{1,5}",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn every_key_round_trips_and_names_are_clean(key in key_strategy()) {
        let name = key_to_name("bucket", &key);
        prop_assert_eq!(name_to_key("bucket", &name).unwrap(), key);
        let text = String::from_utf8(name).unwrap();
        prop_assert!(text.starts_with("/bucket/"));
        prop_assert!(!text.contains("//"));
        prop_assert!(!text.ends_with('/'));
        prop_assert!(!text.contains('\0'));
        prop_assert!(text.split('/').skip(1).all(|s| s != "." && s != ".."));
    }

    #[test]
    fn distinct_keys_never_share_a_name(a in key_strategy(), b in key_strategy()) {
        prop_assume!(a != b);
        prop_assert_ne!(key_to_name("b", &a), key_to_name("b", &b));
    }

    #[test]
    fn name_to_key_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut name = b"/b/".to_vec();
        name.extend(bytes);
        let _ = name_to_key("b", &name);
    }

    #[test]
    fn parser_never_panics(s in ".{0,300}") {
        let _ = Options::parse(&s, &[]);
        let _ = parse_pairs(&s);
    }

    #[test]
    fn escaped_values_round_trip(prefix in "[^\r\n]{0,60}", bucket in "[a-z0-9][a-z0-9.-]{2,40}") {
        let escape = |v: &str| v.replace('\\', "\\\\").replace(':', "\\:");
        let s = format!("s3:bucket={}:prefix={}", escape(&bucket), escape(&prefix));
        let o = Options::parse(&s, &[]).unwrap();
        prop_assert_eq!(o.bucket, bucket);
        prop_assert_eq!(o.prefix, prefix);
    }
}
