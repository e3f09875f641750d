//! Property tests of the shard planner: for random key sets, sizes and limits, and re-plans
//! after random additions, every key (and every other string) is in exactly one shard, read back
//! through the plugin's own option parser from the generated plugin strings.

use std::collections::BTreeMap;

use proptest::prelude::*;
use s3_plugin::config::options::Options;

use crate::plugin_string::{usable_as_boundary, BaseString};
use crate::shard_planner::{plan_all, Limits, Origin, Planned, Range};

/// Keys from a small alphabet, so that ranges, shared prefixes, escapes (`:`, `\`, `"`) and
/// unusable boundaries (newline, edge spaces) are frequent.
fn key() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(vec![
        "a", "b", "c", "/", ":", "\\", "\"", "\n", " ", "é", "日", "~", "\u{7f}",
    ]);
    prop::collection::vec(alphabet, 1..6).prop_map(|v| v.concat())
}

fn bucket() -> impl Strategy<Value = BTreeMap<String, u64>> {
    prop::collection::btree_map(key(), 0u64..200, 0..120)
}

fn limits() -> impl Strategy<Value = Limits> {
    (prop::option::of(1u64..600), prop::option::of(1u64..12))
        .prop_filter("at least one limit", |(b, o)| b.is_some() || o.is_some())
        .prop_map(|(max_bytes, max_objects)| Limits {
            max_bytes,
            max_objects,
        })
}

/// The shards as the plugin will see them: parsed from their plugin strings.
fn parsed(plan: &[Planned]) -> Vec<Options> {
    let base = BaseString::parse("s3:bucket=b:endpoint=http://127.0.0.1:7480", false).unwrap();
    plan.iter()
        .map(|p| {
            let s = base.with_range(p.range.start_after.as_deref(), p.range.end_at.as_deref());
            let o = Options::parse(&s, &[]).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            assert_eq!(o.start_after, p.range.start_after, "{s:?}");
            assert_eq!(o.end_at, p.range.end_at, "{s:?}");
            o
        })
        .collect()
}

fn verify(keys: &BTreeMap<String, u64>, plan: &[Planned], limits: Limits, probes: &[String]) {
    let shards = parsed(plan);
    for k in keys.keys().chain(probes) {
        let n = shards.iter().filter(|o| o.in_range(k)).count();
        assert_eq!(n, 1, "key {k:?} is in {n} shards: {plan:?}");
    }
    for (p, o) in plan.iter().zip(&shards) {
        let inside: Vec<(&String, &u64)> = keys.iter().filter(|(k, _)| o.in_range(k)).collect();
        assert_eq!(p.objects, inside.len() as u64);
        assert_eq!(p.bytes, inside.iter().map(|(_, s)| **s).sum::<u64>());
        if inside.len() >= 2 && limits.exceeded(p.objects, p.bytes) {
            // Only keys that cannot be boundaries may force a shard over the limit.
            assert!(
                inside.iter().any(|(k, _)| !usable_as_boundary(k)),
                "shard {p:?} is over {limits:?}"
            );
        }
        for b in [&p.range.start_after, &p.range.end_at]
            .into_iter()
            .flatten()
        {
            assert!(usable_as_boundary(b), "boundary {b:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_plan_covers_the_key_space_exactly(
        keys in bucket(),
        limits in limits(),
        probes in prop::collection::vec(key(), 0..20),
    ) {
        let plan = plan_all(keys.iter().map(|(k, s)| (k.as_str(), *s)), limits, None).unwrap();
        prop_assert!(plan.iter().all(|p| p.origin == Origin::New));
        verify(&keys, &plan, limits, &probes);
    }

    #[test]
    fn a_replan_keeps_boundaries_and_splits_only_what_grew(
        keys in bucket(),
        added in bucket(),
        first_limits in limits(),
        limits in limits(),
        probes in prop::collection::vec(key(), 0..20),
    ) {
        let first = plan_all(keys.iter().map(|(k, s)| (k.as_str(), *s)), first_limits, None).unwrap();
        let previous: Vec<Range> = first.iter().map(|p| p.range.clone()).collect();
        let mut all = keys.clone();
        all.extend(added);
        let second =
            plan_all(all.iter().map(|(k, s)| (k.as_str(), *s)), limits, Some(previous.clone()))
                .unwrap();
        verify(&all, &second, limits, &probes);
        // Every old boundary is still a boundary: nothing merged, nothing moved.
        let new_ends: Vec<&Option<String>> = second.iter().map(|p| &p.range.end_at).collect();
        for r in &previous {
            prop_assert!(new_ends.contains(&&r.end_at));
        }
        for (i, old) in previous.iter().enumerate() {
            let pieces: Vec<&Planned> = second
                .iter()
                .filter(|p| matches!(p.origin, Origin::Kept(j) | Origin::Split(j) if j == i))
                .collect();
            prop_assert!(!pieces.is_empty());
            prop_assert_eq!(&pieces[0].range.start_after, &old.start_after);
            prop_assert_eq!(&pieces[pieces.len() - 1].range.end_at, &old.end_at);
            let objects: u64 = pieces.iter().map(|p| p.objects).sum();
            let bytes: u64 = pieces.iter().map(|p| p.bytes).sum();
            if pieces.len() == 1 {
                prop_assert_eq!(pieces[0].origin, Origin::Kept(i));
                prop_assert_eq!(&pieces[0].range, old);
            } else {
                // Split only when the old range's keys exceed the limit now.
                prop_assert!(limits.exceeded(objects, bytes));
                prop_assert!(pieces.iter().all(|p| p.origin == Origin::Split(i)));
            }
            if !limits.exceeded(objects, bytes) {
                prop_assert_eq!(pieces.len(), 1);
            }
        }
    }
}
