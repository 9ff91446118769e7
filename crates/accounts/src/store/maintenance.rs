//! What `gatehouse check` and `gatehouse backup` ask of a database besides the role
//! traits: how its applied migrations compare with this build's.

/// How a database's applied migrations compare with the ones this build knows (by version
/// and checksum), for `gatehouse check` and `gatehouse backup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Applied, known and unchanged.
    pub applied: Vec<String>,
    /// Known to this build, not applied yet (the next start applies them).
    pub pending: Vec<String>,
    /// Applied by a newer build: this one does not know them.
    pub unknown: Vec<String>,
    /// Started and not finished.
    pub failed: Vec<String>,
    /// Applied under this version with other contents than this build's file.
    pub changed: Vec<String>,
}

/// A migration as the database records it, or as a build knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationRecord {
    pub version: i64,
    pub description: String,
    pub checksum: Vec<u8>,
    /// Finished (always true for a build's own).
    pub success: bool,
}

impl MigrationRecord {
    /// `0004_second_factor_files`.
    pub fn name(&self) -> String {
        format!("{:04}_{}", self.version, self.description.replace(' ', "_"))
    }
}

impl MigrationStatus {
    /// Compares what a database recorded with what this build knows.
    pub fn compare(known: &[MigrationRecord], applied: &[MigrationRecord]) -> Self {
        let mut status = Self::default();
        for a in applied {
            match known.iter().find(|k| k.version == a.version) {
                None => status.unknown.push(a.name()),
                Some(_) if !a.success => status.failed.push(a.name()),
                Some(k) if k.checksum != a.checksum => status.changed.push(a.name()),
                Some(_) => status.applied.push(a.name()),
            }
        }
        for k in known {
            if !applied.iter().any(|a| a.version == k.version) {
                status.pending.push(k.name());
            }
        }
        status
    }

    /// Every applied migration is known and unchanged, and none is pending.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.is_known()
    }

    /// Nothing applied that this build does not know, or knows otherwise.
    pub fn is_known(&self) -> bool {
        self.unknown.is_empty() && self.failed.is_empty() && self.changed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: i64, checksum: u8, success: bool) -> MigrationRecord {
        MigrationRecord {
            version,
            description: format!("step {version}"),
            checksum: vec![checksum],
            success,
        }
    }

    #[test]
    fn migrations_are_sorted_into_applied_pending_unknown_failed_and_changed() {
        let known = [record(1, 1, true), record(2, 2, true), record(3, 3, true)];
        let current = MigrationStatus::compare(&known, &known);
        assert!(current.is_current());
        assert_eq!(
            current.applied,
            ["0001_step_1", "0002_step_2", "0003_step_3"]
        );

        let status = MigrationStatus::compare(
            &known,
            &[record(1, 9, true), record(2, 2, false), record(4, 4, true)],
        );
        assert_eq!(status.changed, ["0001_step_1"]);
        assert_eq!(status.failed, ["0002_step_2"]);
        assert_eq!(status.unknown, ["0004_step_4"]);
        assert_eq!(status.pending, ["0003_step_3"]);
        assert!(!status.is_known() && !status.is_current());

        let older = MigrationStatus::compare(&known, &known[..1]);
        assert!(older.is_known() && !older.is_current());
    }
}
