//! Cutting a listing into shards: contiguous key ranges `(start_after, end_at]` of at most a
//! number of bytes and/or objects, decided on the fly while the keys stream by (memory holds the
//! shard boundaries, never the keys).
//!
//! Boundaries are keys; keys compare in UTF-8 byte order (S3's listing order, and Rust's `str`
//! order). The first shard has no `start_after`, the last no `end_at`, and each shard starts
//! after the key the previous one ends at, so the shards cover every possible key exactly once,
//! keys added later included.
//!
//! Re-planning takes the previous shards' ranges: each keeps its boundaries; one whose keys now
//! exceed the limit is cut into sub-ranges inside its old range. Shards are never merged.

use crate::plugin_string::usable_as_boundary;
use s3_plugin::config::naming::double_quoted;

/// The most a shard may hold (`None`: no limit of that kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: Option<u64>,
    pub max_objects: Option<u64>,
}

impl Limits {
    pub fn exceeded(&self, objects: u64, bytes: u64) -> bool {
        self.max_bytes.is_some_and(|m| bytes > m) || self.max_objects.is_some_and(|m| objects > m)
    }
}

/// A key range: keys `k` with `start_after < k <= end_at` (`None`: unbounded on that side).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Range {
    pub start_after: Option<String>,
    pub end_at: Option<String>,
}

impl Range {
    pub fn contains(&self, key: &str) -> bool {
        self.start_after.as_deref().is_none_or(|a| key > a)
            && self.end_at.as_deref().is_none_or(|b| key <= b)
    }
}

/// Checks that `ranges` cover the key space exactly: the first is open at the start, the last at
/// the end, each starts where the previous ends, and boundaries increase.
pub fn check_contiguous(ranges: &[Range]) -> Result<(), String> {
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        return Err("no shards".into());
    };
    if first.start_after.is_some() {
        return Err(
            "the first shard has a start_after (keys before it would be in no shard)".into(),
        );
    }
    if last.end_at.is_some() {
        return Err("the last shard has an end_at (keys after it would be in no shard)".into());
    }
    for (i, pair) in ranges.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        if a.end_at.is_none() || a.end_at != b.start_after {
            return Err(format!(
                "shard {} does not start where shard {} ends (start_after {}, end_at {})",
                i + 2,
                i + 1,
                key_or_none(&b.start_after),
                key_or_none(&a.end_at)
            ));
        }
    }
    for r in ranges {
        if let (Some(a), Some(b)) = (&r.start_after, &r.end_at) {
            if a >= b {
                return Err(format!(
                    "shard range ({}, {}] is empty or reversed",
                    double_quoted(a),
                    double_quoted(b)
                ));
            }
        }
    }
    Ok(())
}

/// Where a planned shard comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A fresh plan's shard.
    New,
    /// Previous shard `i`, boundaries unchanged.
    Kept(usize),
    /// A piece of previous shard `i`, which outgrew the limit.
    Split(usize),
}

/// One shard of the plan with what the listing found in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub range: Range,
    pub objects: u64,
    pub bytes: u64,
    pub origin: Origin,
}

/// A cut inside the current previous range: the piece ends at `end_at`.
struct Piece {
    end_at: String,
    objects: u64,
    bytes: u64,
}

/// The streaming planner: feed keys in listing order with [`Planner::push`], then
/// [`Planner::finish`].
pub struct Planner {
    limits: Limits,
    /// The previous plan's ranges (one unbounded range for a fresh plan).
    previous: Vec<Range>,
    fresh: bool,
    idx: usize,
    pieces: Vec<Piece>,
    objects: u64,
    bytes: u64,
    /// The last key of the current stretch usable as a boundary (`good_key`), with the
    /// stretch's totals up to and including it.
    good: Option<(u64, u64)>,
    good_key: String,
    last_key: Option<String>,
    out: Vec<Planned>,
}

impl Planner {
    /// A planner cutting within `previous` (a contiguous cover, see [`check_contiguous`]), or
    /// the whole key space when `previous` is `None`.
    pub fn new(limits: Limits, previous: Option<Vec<Range>>) -> Result<Planner, String> {
        let fresh = previous.is_none();
        let previous = previous.unwrap_or_else(|| vec![Range::default()]);
        check_contiguous(&previous)?;
        Ok(Planner {
            limits,
            previous,
            fresh,
            idx: 0,
            pieces: Vec::new(),
            objects: 0,
            bytes: 0,
            good: None,
            good_key: String::new(),
            last_key: None,
            out: Vec::new(),
        })
    }

    /// The next key of the listing (keys must strictly increase) and its size.
    pub fn push(&mut self, key: &str, size: u64) -> Result<(), String> {
        if let Some(last) = &self.last_key {
            if key <= last.as_str() {
                return Err(format!(
                    "the server listed key '{key}' after '{last}': keys are not in UTF-8 byte \
                     order, so key ranges cannot be planned"
                ));
            }
        }
        while !self.previous[self.idx].contains(key) {
            self.close_previous();
        }
        if self.objects > 0
            && self
                .limits
                .exceeded(self.objects + 1, self.bytes.saturating_add(size))
        {
            if let Some((objects, bytes)) = self.good.take() {
                let end_at = std::mem::take(&mut self.good_key);
                self.objects -= objects;
                self.bytes -= bytes;
                self.pieces.push(Piece {
                    end_at,
                    objects,
                    bytes,
                });
            }
        }
        self.objects += 1;
        self.bytes = self.bytes.saturating_add(size);
        if usable_as_boundary(key) {
            // Totals since the last cut, up to and including this key.
            self.good_key.clear();
            self.good_key.push_str(key);
            self.good = Some((self.objects, self.bytes));
        }
        match &mut self.last_key {
            Some(last) => {
                last.clear();
                last.push_str(key);
            }
            None => self.last_key = Some(key.to_string()),
        }
        Ok(())
    }

    /// Closes the current previous range: kept whole, or split at the cuts made in it.
    fn close_previous(&mut self) {
        let range = self.previous[self.idx].clone();
        let pieces = std::mem::take(&mut self.pieces);
        let (objects, bytes) = (self.objects, self.bytes);
        self.objects = 0;
        self.bytes = 0;
        self.good = None;
        if pieces.is_empty() {
            let origin = if self.fresh {
                Origin::New
            } else {
                Origin::Kept(self.idx)
            };
            self.out.push(Planned {
                range,
                objects,
                bytes,
                origin,
            });
        } else {
            let origin = if self.fresh {
                Origin::New
            } else {
                Origin::Split(self.idx)
            };
            let mut start_after = range.start_after.clone();
            for p in pieces {
                self.out.push(Planned {
                    range: Range {
                        start_after: start_after.take(),
                        end_at: Some(p.end_at.clone()),
                    },
                    objects: p.objects,
                    bytes: p.bytes,
                    origin,
                });
                start_after = Some(p.end_at);
            }
            self.out.push(Planned {
                range: Range {
                    start_after,
                    end_at: range.end_at,
                },
                objects,
                bytes,
                origin,
            });
        }
        self.idx += 1;
    }

    /// Shards planned so far (closed ones), for progress reports.
    pub fn shards_so_far(&self) -> usize {
        self.out.len() + self.pieces.len() + 1
    }

    /// The plan: every range, in key order.
    pub fn finish(mut self) -> Vec<Planned> {
        while self.idx < self.previous.len() {
            self.close_previous();
        }
        self.out
    }
}

/// A Client (a dump server's file daemon) the shards are spread over, with its share: a Client
/// of weight 2 gets about twice the bytes of one of weight 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientShare {
    pub name: String,
    pub weight: u32,
}

impl ClientShare {
    /// `NAME` (weight 1) or `NAME=WEIGHT`.
    pub fn parse(text: &str) -> Result<ClientShare, String> {
        let (name, weight) =
            match text.split_once('=') {
                Some((n, w)) => {
                    let weight = w.trim().parse::<u32>().ok().filter(|w| *w > 0).ok_or_else(|| {
                    format!("client '{text}': the weight after '=' must be a whole number from 1")
                })?;
                    (n.trim(), weight)
                }
                None => (text.trim(), 1),
            };
        if name.is_empty() {
            return Err(format!("client '{text}' has no name"));
        }
        Ok(ClientShare {
            name: name.to_string(),
            weight,
        })
    }

    /// `A,B=2,C`: every Client once.
    pub fn parse_list(text: &str) -> Result<Vec<ClientShare>, String> {
        let mut out: Vec<ClientShare> = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let c = ClientShare::parse(part)?;
            if out.iter().any(|o| o.name == c.name) {
                return Err(format!("client '{}' is named twice", c.name));
            }
            out.push(c);
        }
        if out.is_empty() {
            return Err("no client named".into());
        }
        Ok(out)
    }

    /// The form [`ClientShare::parse`] reads.
    pub fn to_text(&self) -> String {
        if self.weight == 1 {
            self.name.clone()
        } else {
            format!("{}={}", self.name, self.weight)
        }
    }
}

/// A shard to place: its bytes and the Client it had (a kept shard of the previous plan).
#[derive(Clone, Debug)]
pub struct ToPlace<'a> {
    pub bytes: u64,
    pub previous: Option<&'a str>,
}

/// Where the shards go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The Client of each shard, in the order given.
    pub clients: Vec<String>,
    /// Shards whose previous Client is not among the Clients any more: (index, that Client).
    pub moved: Vec<(usize, String)>,
}

/// Spreads shards over `clients` so that each Client's bytes are about proportional to its
/// weight. A shard that had a Client still in the list stays there (its Full/Incremental chain
/// and its catalog entries belong to that Client); the others (new shards, split shards, shards
/// of a Client no longer listed) are placed largest first, each on the Client with the fewest
/// bytes relative to its weight. For a fresh plan this is the LPT rule: the loads, divided by
/// the weights, end within one shard's bytes (divided by the smallest weight) of each other.
pub fn place(shards: &[ToPlace], clients: &[ClientShare]) -> Placement {
    assert!(!clients.is_empty(), "place needs a client");
    let mut load = vec![0u128; clients.len()];
    let mut out: Vec<Option<usize>> = vec![None; shards.len()];
    let mut moved = Vec::new();
    let mut free = Vec::new();
    for (i, s) in shards.iter().enumerate() {
        match s.previous {
            Some(p) => match clients.iter().position(|c| c.name == p) {
                Some(c) => {
                    out[i] = Some(c);
                    load[c] += u128::from(s.bytes);
                }
                None => {
                    moved.push((i, p.to_string()));
                    free.push(i);
                }
            },
            None => free.push(i),
        }
    }
    // Largest first; equal sizes in plan order (the sort is stable).
    free.sort_by(|a, b| shards[*b].bytes.cmp(&shards[*a].bytes));
    for i in free {
        // Least load per weight: load_a / w_a < load_b / w_b, compared without division.
        let c = (0..clients.len())
            .min_by(|&a, &b| {
                (load[a] * u128::from(clients[b].weight))
                    .cmp(&(load[b] * u128::from(clients[a].weight)))
                    .then(a.cmp(&b))
            })
            .expect("clients is not empty");
        out[i] = Some(c);
        load[c] += u128::from(shards[i].bytes);
    }
    Placement {
        clients: out
            .into_iter()
            .map(|c| clients[c.expect("every shard placed")].name.clone())
            .collect(),
        moved,
    }
}

/// Plans `keys` (sorted, unique) in one go (tests).
/// A shard boundary for a message: the key in double quotes, or `none`.
fn key_or_none(key: &Option<String>) -> String {
    key.as_deref()
        .map(double_quoted)
        .unwrap_or_else(|| "none".into())
}

#[cfg(test)]
pub fn plan_all<'a>(
    keys: impl IntoIterator<Item = (&'a str, u64)>,
    limits: Limits,
    previous: Option<Vec<Range>>,
) -> Result<Vec<Planned>, String> {
    let mut planner = Planner::new(limits, previous)?;
    for (k, s) in keys {
        planner.push(k, s)?;
    }
    Ok(planner.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: u64) -> Limits {
        Limits {
            max_bytes: Some(n),
            max_objects: None,
        }
    }

    fn ends(plan: &[Planned]) -> Vec<Option<&str>> {
        plan.iter().map(|p| p.range.end_at.as_deref()).collect()
    }

    #[test]
    fn cuts_greedily_and_gives_a_big_object_its_own_shard() {
        let keys = [("a", 4), ("b", 4), ("c", 4), ("d", 50), ("e", 1), ("f", 1)];
        let plan = plan_all(keys, bytes(10), None).unwrap();
        assert_eq!(ends(&plan), [Some("b"), Some("c"), Some("d"), None]);
        assert_eq!(plan[2].objects, 1);
        assert_eq!(plan[2].bytes, 50);
        assert_eq!(plan[3].range.start_after.as_deref(), Some("d"));
        assert!(plan.iter().all(|p| p.origin == Origin::New));
    }

    #[test]
    fn empty_bucket_is_one_open_shard() {
        let plan = plan_all([], bytes(1), None).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].range, Range::default());
    }

    #[test]
    fn max_objects() {
        let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let limits = Limits {
            max_bytes: None,
            max_objects: Some(3),
        };
        let plan = plan_all(keys.iter().map(|k| (k.as_str(), 0)), limits, None).unwrap();
        assert_eq!(
            plan.iter().map(|p| p.objects).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
    }

    #[test]
    fn unusable_keys_are_never_boundaries() {
        let keys = [("a", 5), ("b\n", 5), ("c", 5), ("d ", 5), ("e", 5)];
        let plan = plan_all(keys, bytes(5), None).unwrap();
        assert_eq!(ends(&plan), [Some("a"), Some("c"), None]);
        assert_eq!(
            plan.iter().map(|p| p.objects).collect::<Vec<_>>(),
            [1, 2, 2]
        );
    }

    #[test]
    fn replan_keeps_and_splits() {
        let keys = [("a", 5), ("b", 5), ("c", 5), ("d", 5)];
        let first = plan_all(keys, bytes(10), None).unwrap();
        assert_eq!(ends(&first), [Some("b"), None]);
        let previous: Vec<Range> = first.iter().map(|p| p.range.clone()).collect();
        let grown = [("a", 5), ("b", 5), ("c", 5), ("ca", 5), ("cb", 5), ("d", 5)];
        let second = plan_all(grown, bytes(10), Some(previous.clone())).unwrap();
        assert_eq!(ends(&second), [Some("b"), Some("ca"), None]);
        assert_eq!(second[0].origin, Origin::Kept(0));
        assert!(second[1..].iter().all(|p| p.origin == Origin::Split(1)));
        // A larger limit never merges.
        let third = plan_all(grown, bytes(1000), Some(previous)).unwrap();
        assert_eq!(ends(&third), [Some("b"), None]);
    }

    #[test]
    fn out_of_order_listing_is_an_error() {
        let e = plan_all([("b", 1), ("a", 1)], bytes(10), None).unwrap_err();
        assert!(e.contains("'a' after 'b'"), "{e}");
        assert!(plan_all([("a", 1), ("a", 1)], bytes(10), None).is_err());
    }

    #[test]
    fn previous_ranges_must_cover() {
        let r = |a: Option<&str>, b: Option<&str>| Range {
            start_after: a.map(String::from),
            end_at: b.map(String::from),
        };
        assert!(check_contiguous(&[r(None, Some("m")), r(Some("m"), None)]).is_ok());
        assert!(check_contiguous(&[r(None, Some("m")), r(Some("n"), None)]).is_err());
        assert!(check_contiguous(&[r(Some("a"), None)]).is_err());
        assert!(check_contiguous(&[r(None, Some("m"))]).is_err());
        assert!(check_contiguous(&[
            r(None, Some("m")),
            r(Some("m"), Some("c")),
            r(Some("c"), None)
        ])
        .is_err());
    }

    fn sizes(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                1 + (x >> 33) % 1_000_000
            })
            .collect()
    }

    fn loads(p: &Placement, bytes: &[u64], clients: &[ClientShare]) -> Vec<u64> {
        clients
            .iter()
            .map(|c| {
                p.clients
                    .iter()
                    .zip(bytes)
                    .filter(|(n, _)| **n == c.name)
                    .map(|(_, b)| *b)
                    .sum()
            })
            .collect()
    }

    #[test]
    fn client_lists_parse() {
        let l = ClientShare::parse_list("a, b=2 ,c").unwrap();
        assert_eq!(
            l.iter().map(ClientShare::to_text).collect::<Vec<_>>(),
            ["a", "b=2", "c"]
        );
        assert!(ClientShare::parse_list("a,a=2")
            .unwrap_err()
            .contains("twice"));
        assert!(ClientShare::parse_list("a=0")
            .unwrap_err()
            .contains("weight"));
        assert!(ClientShare::parse_list("a=x").is_err());
        assert!(ClientShare::parse_list("=3")
            .unwrap_err()
            .contains("no name"));
        assert!(ClientShare::parse_list(",").is_err());
    }

    #[test]
    fn fresh_placement_balances_within_one_shard() {
        let clients = ClientShare::parse_list("a,b,c").unwrap();
        for seed in 0..20 {
            let bytes = sizes(40 + seed as usize, seed);
            let shards: Vec<ToPlace> = bytes
                .iter()
                .map(|b| ToPlace {
                    bytes: *b,
                    previous: None,
                })
                .collect();
            let p = place(&shards, &clients);
            assert!(p.moved.is_empty());
            let l = loads(&p, &bytes, &clients);
            let spread = l.iter().max().unwrap() - l.iter().min().unwrap();
            let largest = *bytes.iter().max().unwrap();
            assert!(
                spread <= largest,
                "seed {seed}: loads {l:?}, largest {largest}"
            );
            assert_eq!(l.iter().sum::<u64>(), bytes.iter().sum::<u64>());
        }
    }

    #[test]
    fn weights_share_bytes_in_proportion() {
        let clients = ClientShare::parse_list("big=3,small").unwrap();
        let bytes = sizes(200, 7);
        let shards: Vec<ToPlace> = bytes
            .iter()
            .map(|b| ToPlace {
                bytes: *b,
                previous: None,
            })
            .collect();
        let p = place(&shards, &clients);
        let l = loads(&p, &bytes, &clients);
        let largest = *bytes.iter().max().unwrap();
        // Per unit of weight the two differ by at most one shard.
        let (per_big, per_small) = (l[0] as f64 / 3.0, l[1] as f64);
        assert!(
            (per_big - per_small).abs() <= largest as f64,
            "loads {l:?}, largest {largest}"
        );
        assert!(l[0] > 2 * l[1], "loads {l:?}");
    }

    #[test]
    fn replan_keeps_clients_and_fills_the_emptiest() {
        let clients = ClientShare::parse_list("a,b").unwrap();
        // a holds 900, b holds 100; three new shards of 100 all go to b until it catches up.
        let shards = [
            ToPlace {
                bytes: 900,
                previous: Some("a"),
            },
            ToPlace {
                bytes: 100,
                previous: Some("b"),
            },
            ToPlace {
                bytes: 100,
                previous: None,
            },
            ToPlace {
                bytes: 100,
                previous: None,
            },
            ToPlace {
                bytes: 100,
                previous: None,
            },
        ];
        let p = place(&shards, &clients);
        assert_eq!(p.clients, ["a", "b", "b", "b", "b"]);
        assert!(p.moved.is_empty());
        // Kept shards stay even when that leaves the clients unbalanced.
        let sticky = [
            ToPlace {
                bytes: 10,
                previous: Some("b"),
            },
            ToPlace {
                bytes: 10,
                previous: Some("b"),
            },
        ];
        assert_eq!(place(&sticky, &clients).clients, ["b", "b"]);
    }

    #[test]
    fn shards_of_a_removed_client_are_placed_again() {
        let clients = ClientShare::parse_list("a,b").unwrap();
        let shards = [
            ToPlace {
                bytes: 50,
                previous: Some("a"),
            },
            ToPlace {
                bytes: 40,
                previous: Some("gone"),
            },
            ToPlace {
                bytes: 30,
                previous: Some("gone"),
            },
        ];
        let p = place(&shards, &clients);
        assert_eq!(p.moved, [(1, "gone".to_string()), (2, "gone".to_string())]);
        assert_eq!(p.clients, ["a", "b", "b"]);
    }

    proptest::proptest! {
        /// Any sizes and weights: a fresh placement's bytes per weight differ by at most the
        /// largest shard over the heavier Client's weight (L_i*w_k - L_k*w_i <= max*w_k).
        #[test]
        fn placement_is_balanced_for_any_weights(
            bytes in proptest::collection::vec(1u64..1_000_000_000_000, 1..120),
            weights in proptest::collection::vec(1u32..5, 1..7),
        ) {
            let clients: Vec<ClientShare> = weights
                .iter()
                .enumerate()
                .map(|(i, w)| ClientShare { name: format!("c{i}"), weight: *w })
                .collect();
            let shards: Vec<ToPlace> =
                bytes.iter().map(|b| ToPlace { bytes: *b, previous: None }).collect();
            let p = place(&shards, &clients);
            let l = loads(&p, &bytes, &clients);
            let max = u128::from(*bytes.iter().max().unwrap());
            for i in 0..clients.len() {
                for k in 0..clients.len() {
                    let (wi, wk) = (u128::from(clients[i].weight), u128::from(clients[k].weight));
                    let (li, lk) = (u128::from(l[i]), u128::from(l[k]));
                    proptest::prop_assert!(
                        li * wk <= lk * wi + max * wk,
                        "loads {:?} weights {:?} max {}", l, weights, max
                    );
                }
            }
        }

        /// Kept shards on a listed Client stay; the others are exactly the ones moved or new.
        #[test]
        fn placement_keeps_listed_clients(
            shards in proptest::collection::vec((1u64..1_000_000, 0usize..6), 1..80),
        ) {
            // Previous clients c0..c4 and "none" (5); c3 and c4 are no longer listed.
            let clients = ClientShare::parse_list("c0,c1=2,c2").unwrap();
            let names = ["c0", "c1", "c2", "c3", "c4"];
            let to_place: Vec<ToPlace> = shards
                .iter()
                .map(|(b, c)| ToPlace { bytes: *b, previous: names.get(*c).copied() })
                .collect();
            let p = place(&to_place, &clients);
            let mut moved = Vec::new();
            for (i, (_, c)) in shards.iter().enumerate() {
                match names.get(*c) {
                    Some(n) if *c < 3 => proptest::prop_assert_eq!(&p.clients[i], n),
                    Some(n) => moved.push((i, n.to_string())),
                    None => {}
                }
                proptest::prop_assert!(["c0", "c1", "c2"].contains(&p.clients[i].as_str()));
            }
            proptest::prop_assert_eq!(p.moved, moved);
        }
    }
}
