//! Entry points for the fuzz targets (issue 15, the `fuzz` crate): the decoders of what the
//! cmdb persists (commands, log entries, snapshot files) and takes from its peers. Each takes
//! any bytes and must refuse them with an error, never panic. Not an API: hidden from the
//! docs and used by nothing else.

use crate::codec;
use crate::command::Command;
use crate::state_machine::SnapshotFile;
use crate::types::Entry;

/// A persisted or replicated command.
pub fn command(data: &[u8]) {
    let _ = codec::decode::<Command>(data);
}

/// A Raft log entry as the log store keeps it.
pub fn entry(data: &[u8]) {
    let _ = codec::decode::<Entry>(data);
}

/// A snapshot file and the cluster database in it.
pub fn snapshot(data: &[u8]) {
    if let Ok(file) = codec::decode_snapshot::<SnapshotFile>(data) {
        let _ = codec::decode_db(&file.db);
    }
}

#[cfg(test)]
mod tests {
    /// A map in a record or a snapshot whose length prefix claims 2^48 entries: refused
    /// with an error. Before imbl was patched (third_party/imbl/PATCHED.md) it reserved the
    /// claimed length and the process aborted ("memory allocation of ... bytes failed").
    #[test]
    fn a_map_that_claims_a_huge_length_is_refused_not_an_abort() {
        let claim = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, b'a', 1];
        let decoded = postcard::from_bytes::<imbl::OrdMap<String, u64>>(&claim);
        assert!(decoded.is_err(), "{decoded:?}");
        super::snapshot(&claim);
    }
}
