//! The plan file (`plan.toml`): the bucket's plugin string, the limits, the Director settings
//! and every shard with its range, name and what the last listing found in it. Re-planning
//! reads it back; the shards' ranges are the contract with the Director's catalog.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::shard_planner::{check_contiguous, ClientShare, Range};

/// The version of the format written here.
pub const FORMAT: u32 = 1;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Format version (1).
    pub format: u32,
    /// `dump-server` version that wrote it.
    pub generator: String,
    /// When the listing behind it ended (RFC 3339, UTC).
    pub planned_at: String,
    /// The bucket (from the plugin string).
    pub bucket: String,
    /// The plugin string without key range; each shard's string adds its range.
    pub plugin: String,
    pub limits: PlanLimits,
    pub director: DirectorSettings,
    /// The id the next new shard gets.
    pub next_id: u64,
    /// Totals of the listing.
    pub objects: u64,
    pub bytes: u64,
    #[serde(rename = "shard")]
    pub shards: Vec<ShardEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_job_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_objects: Option<u64>,
}

/// How the Director resources are written (re-planning reuses these unless flags change them).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DirectorSettings {
    /// `bareos` or `bacula`.
    pub dialect: String,
    pub job_prefix: String,
    pub jobdefs: String,
    /// One Client for every shard (`--client`), else the JobDefs'.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The Clients the shards are spread over (`--clients`: `NAME` or `NAME=WEIGHT`); each
    /// shard records its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    pub signature: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Incremental forever (`--always-incremental`): consolidation in the daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_incremental: Option<AlwaysIncremental>,
}

impl DirectorSettings {
    /// The Clients with their weights, parsed from `clients` (empty: one Client for all).
    pub fn client_shares(&self) -> Result<Vec<ClientShare>, String> {
        if self.clients.is_empty() {
            return Ok(Vec::new());
        }
        ClientShare::parse_list(&self.clients.join(","))
    }
}

/// Incremental forever: the shard Jobs only ever read Incrementals from S3 (after the first
/// Full); the Director makes new Fulls from the backups it holds (Bareos: Always Incremental
/// and a Consolidate Job; Bacula 9.6: a scheduled VirtualFull).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AlwaysIncremental {
    /// Bareos `Always Incremental Job Retention`: Incrementals older than this are consolidated.
    pub job_retention: String,
    /// Bareos `Always Incremental Keep Number`: Incrementals kept whatever their age.
    pub keep_number: u32,
    /// Bareos `Always Incremental Max Full Age`: a Full older than this is consolidated too.
    pub max_full_age: String,
    /// Pools PREFIX-Incremental (the Jobs' Pool, Next Pool PREFIX-Consolidated) and
    /// PREFIX-Consolidated (Full Backup Pool, where consolidated Fulls go).
    pub pool_prefix: String,
    /// Storage of the consolidated Pool (else the plan's `storage`, else the Job's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consolidated_storage: Option<String>,
    /// When consolidation runs, a schedule's Run time ('daily at 09:00'); absent: the
    /// dialect's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consolidate_at: Option<String>,
    /// Bacula: when the Incrementals run; absent: the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    /// Job and FileSet name.
    pub name: String,
    pub id: u64,
    /// Keys after this one (exclusive); absent for the first shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// Keys up to this one (inclusive); absent for the last shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_at: Option<String>,
    /// What the last listing found in the range.
    pub objects: u64,
    pub bytes: u64,
    /// The shard this one was split from (a re-plan), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_from: Option<String>,
    /// The Client that runs this shard's job (plans with `--clients`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl ShardEntry {
    pub fn range(&self) -> Range {
        Range {
            start_after: self.start_after.clone(),
            end_at: self.end_at.clone(),
        }
    }
}

const HEADER: &str = "\
# dump-server plan: the bucket's shards, one Director Job and FileSet each.
# Shard i backs up the keys k with start_after < k <= end_at (UTF-8 byte order, as S3 lists);
# the first shard has no start_after, the last no end_at, and each starts after the key the
# previous one ends at, so the shards cover every key exactly once, including keys added later.
# Re-plan with `dump-server plan --out <this directory>`: boundaries are kept, shards that
# outgrew the limit are split into new shards. Do not edit the ranges by hand.

";

impl PlanFile {
    pub fn to_toml(&self) -> Result<String, String> {
        let body = toml::to_string(self).map_err(|e| format!("cannot encode the plan: {e}"))?;
        Ok(format!("{HEADER}{body}"))
    }

    pub fn from_toml(text: &str) -> Result<PlanFile, String> {
        let plan: PlanFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if plan.format != FORMAT {
            return Err(format!(
                "format {} is not supported (this dump-server reads format {FORMAT})",
                plan.format
            ));
        }
        let ranges: Vec<Range> = plan.shards.iter().map(ShardEntry::range).collect();
        check_contiguous(&ranges)?;
        let mut names = std::collections::HashSet::new();
        for s in &plan.shards {
            if !names.insert(s.name.as_str()) {
                return Err(format!("shard name {} appears twice", s.name));
            }
            if s.id >= plan.next_id {
                return Err(format!(
                    "shard {} has id {} but next_id is {}",
                    s.name, s.id, plan.next_id
                ));
            }
        }
        let shares = plan.client_shares()?;
        if !shares.is_empty() {
            for s in &plan.shards {
                match &s.client {
                    Some(c) if shares.iter().any(|share| &share.name == c) => {}
                    Some(c) => {
                        return Err(format!(
                            "shard {} has client {c}, which is not in director.clients",
                            s.name
                        ))
                    }
                    None => return Err(format!("shard {} has no client", s.name)),
                }
            }
        }
        Ok(plan)
    }

    /// The Clients of `director.clients` with their weights (empty: one Client for all).
    pub fn client_shares(&self) -> Result<Vec<ClientShare>, String> {
        self.director
            .client_shares()
            .map_err(|e| format!("director.clients: {e}"))
    }

    pub fn read(path: &Path) -> Result<PlanFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
        PlanFile::from_toml(&text)
            .map_err(|e| format!("the plan {} is not usable: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PlanFile {
        PlanFile {
            format: FORMAT,
            generator: "dump-server 0.1.0".into(),
            planned_at: "2026-01-01T00:00:00Z".into(),
            bucket: "b".into(),
            plugin: "s3:bucket=b".into(),
            limits: PlanLimits {
                max_job_size: Some(100),
                max_objects: None,
            },
            director: DirectorSettings {
                dialect: "bareos".into(),
                job_prefix: "s3-b".into(),
                jobdefs: "s3".into(),
                client: None,
                clients: vec!["fd-a".into(), "fd-b=2".into()],
                pool: Some("p".into()),
                schedule: None,
                storage: None,
                signature: "XXH128".into(),
                compression: None,
                always_incremental: None,
            },
            next_id: 3,
            objects: 2,
            bytes: 20,
            shards: vec![
                ShardEntry {
                    name: "s3-b-0001".into(),
                    id: 1,
                    start_after: None,
                    end_at: Some("odd \"key\"\nwith:colon\\".into()),
                    objects: 1,
                    bytes: 10,
                    split_from: None,
                    client: Some("fd-a".into()),
                },
                ShardEntry {
                    name: "s3-b-0002".into(),
                    id: 2,
                    start_after: Some("odd \"key\"\nwith:colon\\".into()),
                    end_at: None,
                    objects: 1,
                    bytes: 10,
                    split_from: Some("s3-b-0000".into()),
                    client: Some("fd-b".into()),
                },
            ],
        }
    }

    #[test]
    fn round_trips_odd_keys() {
        let plan = sample();
        let text = plan.to_toml().unwrap();
        assert!(text.contains("[[shard]]"), "{text}");
        assert_eq!(PlanFile::from_toml(&text).unwrap(), plan);
    }

    #[test]
    fn reads_a_plan_without_clients() {
        let mut plan = sample();
        plan.director.clients.clear();
        for s in &mut plan.shards {
            s.client = None;
        }
        let text = plan.to_toml().unwrap();
        assert!(!text.contains("client"), "{text}");
        assert_eq!(PlanFile::from_toml(&text).unwrap(), plan);
        assert!(plan.client_shares().unwrap().is_empty());
    }

    #[test]
    fn round_trips_always_incremental() {
        let mut plan = sample();
        plan.director.always_incremental = Some(AlwaysIncremental {
            job_retention: "7 days".into(),
            keep_number: 7,
            max_full_age: "30 days".into(),
            pool_prefix: "AI".into(),
            consolidated_storage: Some("Tape2".into()),
            consolidate_at: None,
            incremental_at: Some("daily at 22:00".into()),
        });
        let text = plan.to_toml().unwrap();
        assert!(
            text.contains("[director.always_incremental]")
                && text.contains("job_retention = \"7 days\""),
            "{text}"
        );
        assert_eq!(PlanFile::from_toml(&text).unwrap(), plan);
        // A plan written before the option reads as without it.
        plan.director.always_incremental = None;
        let text = plan.to_toml().unwrap();
        assert!(!text.contains("always_incremental"), "{text}");
        assert_eq!(PlanFile::from_toml(&text).unwrap(), plan);
    }

    #[test]
    fn refuses_gaps_and_duplicates() {
        let mut plan = sample();
        plan.shards[1].start_after = Some("x".into());
        assert!(PlanFile::from_toml(&plan.to_toml().unwrap())
            .unwrap_err()
            .contains("does not start"));
        let mut plan = sample();
        plan.shards[1].name = plan.shards[0].name.clone();
        assert!(PlanFile::from_toml(&plan.to_toml().unwrap())
            .unwrap_err()
            .contains("twice"));
        let mut plan = sample();
        plan.shards[0].client = Some("fd-z".into());
        assert!(PlanFile::from_toml(&plan.to_toml().unwrap())
            .unwrap_err()
            .contains("not in director.clients"));
        let mut plan = sample();
        plan.format = 9;
        assert!(PlanFile::from_toml(&plan.to_toml().unwrap()).is_err());
    }
}
