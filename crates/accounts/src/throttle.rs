//! The record of throttling: which limit refused which key, kept to one audit event and one
//! warning per limit and key every `ThrottlePolicy::record_every`, carrying the count of
//! refusals since the previous one. Counting attempts is the store's job (`hit_rate_limits`);
//! this only decides when a refusal is worth writing down, in memory, per process.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Keys followed at once; beyond them refusals are recorded under one shared key.
pub(crate) const MAX_KEYS: usize = 10_000;

/// How much of a key is kept (keys can hold a login as typed).
const MAX_KEY_CHARS: usize = 128;

/// The shared key for refusals beyond `MAX_KEYS`.
const OTHER_KEYS: &str = "(other keys)";

/// A refusal due to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DueRecord {
    /// The exhausted limit's key (shortened).
    pub key: String,
    /// Refusals since the previous record of this key, this one included.
    pub refused: u64,
    /// When the previous record was written (`None` for the first).
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Entry {
    recorded_at: DateTime<Utc>,
    refused_since: u64,
}

/// When each exhausted limit and key was last recorded, and the refusals since.
#[derive(Debug, Default)]
pub(crate) struct ThrottleRecords {
    entries: Mutex<HashMap<String, Entry>>,
}

impl ThrottleRecords {
    /// Notes one refusal by the limit `key` at `now`; `Some` when it is to be recorded: the
    /// first refusal of a key, then the first one at least `every` after the previous record.
    pub(crate) fn refused(
        &self,
        key: &str,
        now: DateTime<Utc>,
        every: Duration,
    ) -> Option<DueRecord> {
        let mut entries = self.entries.lock().expect("throttle records lock");
        let mut key: String = key.chars().take(MAX_KEY_CHARS).collect();
        if !entries.contains_key(&key) && entries.len() >= MAX_KEYS {
            // Keys recorded longer ago than `every` are due anyway: forget them first.
            entries.retain(|_, e| now - e.recorded_at < every);
            if entries.len() >= MAX_KEYS {
                OTHER_KEYS.clone_into(&mut key);
            }
        }
        match entries.get_mut(&key) {
            Some(entry) if now - entry.recorded_at < every => {
                entry.refused_since += 1;
                None
            }
            Some(entry) => {
                let due = DueRecord {
                    key,
                    refused: entry.refused_since + 1,
                    since: Some(entry.recorded_at),
                };
                entry.recorded_at = now;
                entry.refused_since = 0;
                Some(due)
            }
            None => {
                entries.insert(
                    key.clone(),
                    Entry {
                        recorded_at: now,
                        refused_since: 0,
                    },
                );
                Some(DueRecord {
                    key,
                    refused: 1,
                    since: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    #[test]
    fn a_key_is_recorded_once_per_period_with_the_refusals_since() {
        let records = ThrottleRecords::default();
        let every = Duration::minutes(5);
        let first = records.refused("login:ip:1", t(0), every).unwrap();
        assert_eq!((first.refused, first.since), (1, None));
        for minute in 0..5 {
            assert_eq!(records.refused("login:ip:1", t(minute), every), None);
        }
        // Another key has its own record.
        assert!(records.refused("login:ip:2", t(1), every).is_some());
        let next = records.refused("login:ip:1", t(5), every).unwrap();
        assert_eq!((next.refused, next.since), (6, Some(t(0))));
        assert_eq!(records.refused("login:ip:1", t(6), every), None);
    }

    #[test]
    fn keys_beyond_the_limit_share_one_record_and_long_keys_are_shortened() {
        let records = ThrottleRecords::default();
        let every = Duration::minutes(5);
        for i in 0..MAX_KEYS {
            assert!(records.refused(&format!("k{i}"), t(0), every).is_some());
        }
        let shared = records.refused("one more", t(1), every).unwrap();
        assert_eq!(shared.key, OTHER_KEYS);
        assert_eq!(records.refused("and another", t(1), every), None);
        // Once the old keys are due, new keys are followed again.
        let own = records.refused(&"x".repeat(10_000), t(6), every).unwrap();
        assert_eq!(own.key.chars().count(), MAX_KEY_CHARS);
    }
}
