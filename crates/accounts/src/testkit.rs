//! Test doubles and the Store contract suite. Only built with the `testkit` feature, by
//! tests; never part of a release binary.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::clock::Clock;
use crate::files::{FileId, FileStore, FileStoreError};

pub mod contract;
pub mod counting_store;
pub mod memory_mailer;

pub use counting_store::{Access, CountingStore};
pub use memory_mailer::{code_in, MemoryMailer};

/// A clock that moves only when the test says so.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new() -> Self {
        // Whole seconds, so values survive a round trip through any backend unchanged.
        let now = Utc::now();
        Self(Mutex::new(
            DateTime::from_timestamp(now.timestamp(), 0).expect("valid timestamp"),
        ))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Files in a map: for tests of the use cases that do not care where bytes go.
#[derive(Debug, Default)]
pub struct MemoryFileStore(Mutex<HashMap<FileId, Vec<u8>>>);

impl MemoryFileStore {
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl FileStore for MemoryFileStore {
    async fn put(&self, id: FileId, bytes: Vec<u8>) -> Result<(), FileStoreError> {
        self.0.lock().unwrap().insert(id, bytes);
        Ok(())
    }

    async fn get(&self, id: FileId) -> Result<Option<Vec<u8>>, FileStoreError> {
        Ok(self.0.lock().unwrap().get(&id).cloned())
    }

    async fn delete(&self, id: FileId) -> Result<(), FileStoreError> {
        self.0.lock().unwrap().remove(&id);
        Ok(())
    }
}

/// Argon2id with the smallest legal cost: tests that create many users stay fast. Never
/// used outside tests; production uses [`PasswordHasher::default_params`].
pub fn cheap_hasher() -> crate::password::PasswordHasher {
    let params = argon2::Params::new(argon2::Params::MIN_M_COST.max(64), 1, 1, None)
        .expect("valid argon2 parameters");
    crate::password::PasswordHasher::new(params, 2)
}
