//! Client-address affinity: a client goes back to the server it last used until it has been
//! away for the persistence timeout.
//!
//! The table belongs to the data plane; its lock is held for one map operation and never
//! across an await.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::limits;

#[derive(Debug)]
pub(crate) struct AffinityTable {
    entries: Mutex<HashMap<IpAddr, Affinity>>,
}

#[derive(Debug, Clone)]
struct Affinity {
    server: Arc<str>,
    last_seen: Instant,
}

impl AffinityTable {
    pub(crate) fn new() -> AffinityTable {
        AffinityTable {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The server this client used within `timeout` before `now`.
    pub(crate) fn lookup(
        &self,
        client: IpAddr,
        timeout: Duration,
        now: Instant,
    ) -> Option<Arc<str>> {
        let entries = self
            .entries
            .lock()
            .expect("no panic while holding the lock");
        let affinity = entries.get(&client)?;
        (now.saturating_duration_since(affinity.last_seen) < timeout)
            .then(|| Arc::clone(&affinity.server))
    }

    /// Remembers the client's server. When the table is full, expired entries are dropped;
    /// if it is still full the client is not remembered, which costs affinity but not service.
    pub(crate) fn record(&self, client: IpAddr, server: &str, timeout: Duration, now: Instant) {
        let mut entries = self
            .entries
            .lock()
            .expect("no panic while holding the lock");
        if let Some(affinity) = entries.get_mut(&client) {
            if &*affinity.server != server {
                affinity.server = Arc::from(server);
            }
            affinity.last_seen = now;
            return;
        }
        if entries.len() >= limits::PERSISTENCE_ENTRIES_MAX {
            entries
                .retain(|_, affinity| now.saturating_duration_since(affinity.last_seen) < timeout);
            if entries.len() >= limits::PERSISTENCE_ENTRIES_MAX {
                return;
            }
        }
        entries.insert(
            client,
            Affinity {
                server: Arc::from(server),
                last_seen: now,
            },
        );
    }
}

#[cfg(test)]
mod tests;
