//! Persisted formats pinned by byte fixtures (issue 10): every `Command` variant, every
//! variant of the enums with data inside commands and snapshots, log entries, the vote, and
//! a full snapshot file in both layouts of the cluster database.
//!
//! Method: each sample of `samples` is encoded as encluster persists it, compared with the
//! committed fixture `test_data/formats/<kind>-v<format byte>/<name>.hex`, and the fixture
//! is decoded and compared with the sample. A mismatch means a persisted layout changed
//! (postcard does not default missing fields, so a field added anywhere changes it): the
//! change needs a new format byte, a decoder branch that keeps the old fixture readable, and
//! a new fixture (see ARCHITECTURE.md, "Persisted formats"). Fixtures are never edited;
//! `every_committed_fixture_still_decodes` reads all of them, old format bytes included.
//!
//! The samples cannot fall behind the types: the fixture names come from `match`es with no
//! wildcard, and `samples_cover_every_variant_of_the_persisted_enums` asks serde for every
//! variant name, so a new variant fails to compile or to test until it has a sample.
//!
//! Writing fixtures: `UPDATE_FIXTURES=1 cargo test -p cmdb formats` writes the missing ones
//! (a new variant, a new format byte) and refuses to overwrite a committed one.
//! `UPDATE_FIXTURES=overwrite` also rewrites fixtures that differ: only for a fixture written
//! on your branch and never released.

use std::fmt::Debug;
use std::io;

use model::EventKind;
use openraft::EntryPayload;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::samples;
use crate::codec;
use crate::command::{Command, CommandResult};
use crate::db::ClusterDb;
use crate::resources::{AssignmentChange, StoredConstraint};
use crate::sessions::Sessions;
use crate::state_machine::SnapshotFile;
use crate::types::{Entry, LogId, StoredMembership, Vote};

mod fixture;
mod variants;

use fixture::{Layout, check};

/// The fixture name of each command variant. No wildcard: a new variant needs a name here,
/// a sample in `samples::command_samples` and a fixture.
fn command_fixture_name(command: &Command) -> &'static str {
    match command {
        Command::Put { .. } => "Put",
        Command::Delete { .. } => "Delete",
        Command::InitCluster { .. } => "InitCluster",
        Command::AddToken { .. } => "AddToken",
        Command::AllocateNodeId => "AllocateNodeId",
        Command::UpsertNode { .. } => "UpsertNode",
        Command::RemoveNode { .. } => "RemoveNode",
        Command::RecordEvents { .. } => "RecordEvents",
        Command::SetNodeHealth { .. } => "SetNodeHealth",
        Command::PutResource { .. } => "PutResource",
        Command::DeleteResource { .. } => "DeleteResource",
        Command::PutGroup { .. } => "PutGroup",
        Command::DeleteGroup { .. } => "DeleteGroup",
        Command::AddConstraint { .. } => "AddConstraint",
        Command::SetMove { .. } => "SetMove",
        Command::SetNodeConfig { .. } => "SetNodeConfig",
        Command::SetTargetRole { .. } => "SetTargetRole",
        Command::Cleanup { .. } => "Cleanup",
        Command::ChangeAssignments { .. } => "ChangeAssignments",
        Command::RecordOperation { .. } => "RecordOperation",
        Command::ReplaceConfig { .. } => "ReplaceConfig",
        Command::Session { .. } => "Session",
        Command::RemoveConstraint { .. } => "RemoveConstraint",
        Command::SetBans { .. } => "SetBans",
        Command::SetManaged { .. } => "SetManaged",
        // --- types ---
        Command::PutType { .. } => "PutType",
        Command::DeleteType { .. } => "DeleteType",
        Command::ReplaceConfigWithTypes { .. } => "ReplaceConfigWithTypes",
        Command::PutCheckpoint { .. } => "PutCheckpoint",
        Command::Audited { .. } => "Audited",
        Command::PutAlert { .. } => "PutAlert",
        Command::RemoveAlert { .. } => "RemoveAlert",
        Command::AlertDelivered { .. } => "AlertDelivered",
        Command::ReplaceAlerts { .. } => "ReplaceAlerts",
        // --- promo ---
        Command::SetPromotionScore { .. } => "SetPromotionScore",
        Command::PutPromotable { .. } => "PutPromotable",
        // --- hostile ---
        Command::UseJoinToken { .. } => "UseJoinToken",
        // --- users ---
        Command::AddUser { .. } => "AddUser",
        Command::SetPassword { .. } => "SetPassword",
        Command::SetUserRole { .. } => "SetUserRole",
        Command::RemoveUser { .. } => "RemoveUser",
        Command::OpenLogin { .. } => "OpenLogin",
        Command::CloseLogin { .. } => "CloseLogin",
        Command::AddRoleToken { .. } => "AddRoleToken",
        // --- more12 ---
        Command::ReplaceConfigPromotable { .. } => "ReplaceConfigPromotable",
        // --- fence ---
        Command::PutFenceDevice { .. } => "PutFenceDevice",
        Command::RemoveFenceDevice { .. } => "RemoveFenceDevice",
        Command::ReplaceFenceDevices { .. } => "ReplaceFenceDevices",
        // --- servers ---
        Command::EditServer { .. } => "EditServer",
        // --- upgrade ---
        Command::SetClusterFormat { .. } => "SetClusterFormat",
        // --- rotate ---
        Command::RotateCerts { .. } => "RotateCerts",
        Command::BeginCaChange { .. } => "BeginCaChange",
        Command::FinishCaChange { .. } => "FinishCaChange",
        Command::ReportNodeCert { .. } => "ReportNodeCert",
        Command::CertExpiryWarned { .. } => "CertExpiryWarned",
        Command::RevokeTokens { .. } => "RevokeTokens",
        Command::ReplaceToken { .. } => "ReplaceToken",
        // --- edit ---
        Command::UpdateGroup { .. } => "UpdateGroup",
        Command::UpdateConstraint { .. } => "UpdateConstraint",
        // --- roles ---
        Command::PutTypeWithRoles { .. } => "PutTypeWithRoles",
        Command::ReplaceConfigWithRoles { .. } => "ReplaceConfigWithRoles",
    }
}

/// The fixture name of each event kind (events live in log entries and in snapshots).
fn event_fixture_name(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::NodeHealth { .. } => "NodeHealth",
        EventKind::NodeJoined { .. } => "NodeJoined",
        EventKind::NodeRemoved { .. } => "NodeRemoved",
        EventKind::NodeRole { .. } => "NodeRole",
        EventKind::MasterElected { .. } => "MasterElected",
        EventKind::QuorumForced { .. } => "QuorumForced",
        EventKind::ResourceAction { .. } => "ResourceAction",
        EventKind::OperatorAction { .. } => "OperatorAction",
        EventKind::AlertFailed { .. } => "AlertFailed",
        EventKind::Threshold { .. } => "Threshold",
        EventKind::ServerHealth { .. } => "ServerHealth",
        // --- remote ---
        EventKind::RemoteView { .. } => "RemoteView",
        // --- fence ---
        EventKind::Fencing { .. } => "Fencing",
        // --- lockout ---
        EventKind::LoginLocked { .. } => "LoginLocked",
        // --- rotate ---
        EventKind::CertExpiring { .. } => "CertExpiring",
    }
}

fn entry_fixture_name(entry: &Entry) -> &'static str {
    match entry.payload {
        EntryPayload::Blank => "Blank",
        EntryPayload::Normal(_) => "Normal",
        EntryPayload::Membership(_) => "Membership",
    }
}

/// Fails with every failure at once, so one run lists everything that changed.
fn assert_pinned(failures: impl IntoIterator<Item = String>) {
    let failures: Vec<String> = failures.into_iter().collect();
    assert!(failures.is_empty(), "\n\n{}\n", failures.join("\n\n"));
}

/// Pins each sample as laid out in log entries, at `<kind>-v<format>/<name>.hex`.
fn pin_each<T>(
    kind: &str,
    type_name: &str,
    samples: &[T],
    name: fn(&T) -> &'static str,
) -> Vec<String>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let mut failures = Vec::new();
    for sample in samples {
        let encoded = codec::encode(sample).expect("encoding a sample cannot fail");
        let name = name(sample);
        let what = format!("{type_name}::{name} (log entry format {})", encoded[0]);
        let path = format!("{kind}-v{}/{name}.hex", encoded[0]);
        let decode = codec::decode::<T>;
        failures.extend(check(Layout::Current, &what, &path, &encoded, decode, sample).err());
    }
    failures
}

#[test]
fn every_command_variant_matches_its_fixture() {
    let commands = samples::command_samples();
    assert_pinned(pin_each(
        "command",
        "Command",
        &commands,
        command_fixture_name,
    ));
}

#[test]
fn every_event_kind_matches_its_fixture() {
    let kinds = samples::event_kind_samples();
    assert_pinned(pin_each(
        "event-kind",
        "EventKind",
        &kinds,
        event_fixture_name,
    ));
}

#[test]
fn every_variant_inside_commands_and_snapshots_matches_its_fixture() {
    let mut failures = pin_each(
        "command-result",
        "CommandResult",
        &samples::command_result_samples(),
        variants::name_of,
    );
    failures.extend(pin_each(
        "assignment-change",
        "AssignmentChange",
        &samples::assignment_change_samples(),
        variants::name_of,
    ));
    failures.extend(pin_each(
        "stored-constraint",
        "StoredConstraint",
        &samples::constraint_samples(),
        variants::name_of,
    ));
    assert_pinned(failures);
}

#[test]
fn samples_cover_every_variant_of_the_persisted_enums() {
    let mut failures = Vec::new();
    failures.extend(variants::uncovered("Command", &samples::command_samples()));
    failures.extend(variants::uncovered(
        "EventKind",
        &samples::event_kind_samples(),
    ));
    let results = samples::command_result_samples();
    failures.extend(variants::uncovered("CommandResult", &results));
    let changes = samples::assignment_change_samples();
    failures.extend(variants::uncovered("AssignmentChange", &changes));
    let constraints = samples::constraint_samples();
    failures.extend(variants::uncovered("StoredConstraint", &constraints));
    assert_pinned(failures);
}

/// Log entries and the vote, committed index and purge point, as `log_store` stores them.
#[test]
fn log_entries_and_raft_meta_match_their_fixtures() {
    let entries = samples::entry_samples();
    let mut failures = pin_each("entry", "EntryPayload", &entries, entry_fixture_name);
    let committed = Some(samples::log_id(1_235));
    failures.extend(pin_meta("vote", &samples::vote()).err());
    failures.extend(pin_meta("committed", &committed).err());
    failures.extend(pin_meta("last_purged", &samples::log_id(1_000)).err());
    assert_pinned(failures);
}

fn pin_meta<T>(key: &str, value: &T) -> Result<(), String>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let encoded = codec::encode(value).expect("encoding a sample cannot fail");
    let what = format!("the Raft {key} (log store format {})", encoded[0]);
    let path = format!("raft-meta-v{}/{key}.hex", encoded[0]);
    check(
        Layout::Current,
        &what,
        &path,
        &encoded,
        codec::decode,
        value,
    )
}

/// A snapshot file's contents, with the cluster database inside decoded as well.
type SnapshotContents = (Option<LogId>, StoredMembership, ClusterDb);

fn snapshot_file(db: Vec<u8>) -> Vec<u8> {
    let file = SnapshotFile {
        last_log_id: Some(samples::log_id(1_234)),
        membership: samples::stored_membership(),
        db,
    };
    codec::encode_snapshot(&file).expect("encoding a sample cannot fail")
}

/// What the sample snapshot file holds, around `db`.
fn snapshot_contents(db: ClusterDb) -> SnapshotContents {
    let last_log_id = Some(samples::log_id(1_234));
    (last_log_id, samples::stored_membership(), db)
}

fn read_snapshot_file(bytes: &[u8]) -> io::Result<SnapshotContents> {
    let file: SnapshotFile = codec::decode_snapshot(bytes)?;
    Ok((
        file.last_log_id,
        file.membership,
        codec::decode_db(&file.db)?,
    ))
}

/// The format byte after the snapshot magic.
fn snapshot_format(bytes: &[u8]) -> u8 {
    bytes[codec::SNAPSHOT_MAGIC.len()]
}

#[test]
fn full_snapshot_matches_its_fixture() {
    let db = samples::db();
    let db_bytes = codec::encode_db(&db).expect("encoding a sample cannot fail");
    let db_format = snapshot_format(&db_bytes);
    let encoded = snapshot_file(db_bytes);
    let format = snapshot_format(&encoded);
    let what = format!("the snapshot file (format {format}) or the cluster database in it");
    let path = format!("snapshot-v{format}/db-v{db_format}.hex");
    let expected = snapshot_contents(db);
    let found = check(
        Layout::Current,
        &what,
        &path,
        &encoded,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(found.err());
}

/// The cluster database as encluster wrote it before client sessions: format byte 1, then
/// the fields of layout 2 up to `resources`, in order (postcard writes a struct as its
/// fields one after the other, as it does a tuple). Only used to write the fixture once.
fn db_layout_1(db: &ClusterDb) -> Vec<u8> {
    let fields = (
        &db.meta,
        &db.kv,
        db.kv_revision,
        &db.nodes,
        db.next_node_id,
        &db.tokens,
        &db.events,
        db.next_event_seq,
        resources_layout_2(&db.resources),
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_V1);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// The resource tables as layouts 1 and 2 wrote them: without `bans` and `unmanaged`.
fn resources_layout_2(resources: &crate::resources::ResourceDb) -> impl serde::Serialize + '_ {
    (
        &resources.resources,
        &resources.groups,
        &resources.constraints,
        &resources.moves,
        &resources.node_config,
        &resources.status,
        &resources.assignments,
        resources.next_fencing_token,
        &resources.operations,
        &resources.reported_tokens,
    )
}

/// The sample database as an older layout loads it: no bans, nothing unmanaged, no
/// checkpoints.
fn without_bans(db: ClusterDb) -> ClusterDb {
    let mut db = db;
    db.checkpoints.clear();
    db.resources.bans.clear();
    db.resources.unmanaged.clear();
    db.resources.types.clear();
    db.monitoring = Default::default();
    db.resources.promotion_scores.clear();
    db.resources.promotable.clear();
    db.users = Default::default();
    db
}

/// A snapshot from before client sessions (`codec::decode_db`'s branch for format 1) loads
/// the same cluster database, with no sessions.
#[test]
fn snapshot_of_db_layout_1_fixture_loads_with_empty_sessions() {
    let mut db = samples::db();
    let written_once = snapshot_file(db_layout_1(&db));
    db.fencing = Default::default();
    db.format = 0;
    db.certs = Default::default();
    db.type_roles = Default::default();
    let what = "a snapshot file holding the cluster database in layout 1 (before sessions)";
    let expected = snapshot_contents(without_bans(ClusterDb {
        sessions: Sessions::default(),
        ..db
    }));
    let path = "snapshot-v1/db-v1.hex";
    let outcome = check(
        Layout::Old,
        what,
        path,
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

/// The cluster database as encluster wrote it before bans and unmanaged resources: format
/// byte 2, then the fields of layout 3 with the resource tables of layout 2.
fn db_layout_2(db: &ClusterDb) -> Vec<u8> {
    let fields = (
        &db.meta,
        &db.kv,
        db.kv_revision,
        &db.nodes,
        db.next_node_id,
        &db.tokens,
        &db.events,
        db.next_event_seq,
        resources_layout_2(&db.resources),
        &db.sessions,
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_DB_V2);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// A snapshot from before bans (`codec::decode_db`'s branch for format 2) loads the same
/// cluster database, with no bans and nothing unmanaged. Its fixture is the one that
/// `full_snapshot_matches_its_fixture` wrote while layout 2 was current.
#[test]
fn snapshot_of_db_layout_2_fixture_loads_without_bans() {
    let mut db = samples::db();
    let written_once = snapshot_file(db_layout_2(&db));
    db.fencing = Default::default();
    db.format = 0;
    db.certs = Default::default();
    db.type_roles = Default::default();
    let what = "a snapshot file holding the cluster database in layout 2 (before bans)";
    let expected = snapshot_contents(without_bans(db));
    let path = "snapshot-v1/db-v2.hex";
    let outcome = check(
        Layout::Old,
        what,
        path,
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

// --- types ---
/// The cluster database as encluster wrote it before user types: format byte 3, the
/// fields of today's layout with the resource tables up to `unmanaged`.
fn db_layout_3(db: &ClusterDb) -> Vec<u8> {
    let r = &db.resources;
    let resources = (
        (
            &r.resources,
            &r.groups,
            &r.constraints,
            &r.moves,
            &r.node_config,
        ),
        (
            &r.status,
            &r.assignments,
            r.next_fencing_token,
            &r.operations,
        ),
        (&r.reported_tokens, &r.bans, &r.unmanaged),
    );
    let fields = (
        (&db.meta, &db.kv, db.kv_revision, &db.nodes, db.next_node_id),
        (
            &db.tokens,
            &db.events,
            db.next_event_seq,
            resources,
            &db.sessions,
        ),
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_DB_V3);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// A snapshot from before user types (`codec::decode_db`'s branch for format 3) loads the
/// same cluster database with no types. Its fixture is the one that
/// `full_snapshot_matches_its_fixture` wrote while layout 3 was current.
#[test]
fn snapshot_of_db_layout_3_fixture_loads_without_types() {
    let mut db = samples::db();
    let written_once = snapshot_file(db_layout_3(&db));
    db.users = Default::default();
    db.fencing = Default::default();
    db.format = 0;
    db.certs = Default::default();
    db.type_roles = Default::default();
    db.resources.types.clear();
    db.checkpoints.clear();
    db.monitoring = Default::default();
    db.resources.promotion_scores.clear();
    db.resources.promotable.clear();
    let what = "a snapshot file holding the cluster database in layout 3 (before types)";
    let expected = snapshot_contents(db);
    let outcome = check(
        Layout::Old,
        what,
        "snapshot-v1/db-v3.hex",
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

// --- app ---
/// The cluster database as encluster wrote it before checkpoints: format byte 4, the
/// fields of today's layout up to `sessions`.
fn db_layout_4(db: &ClusterDb) -> Vec<u8> {
    let fields = (
        (&db.meta, &db.kv, db.kv_revision, &db.nodes, db.next_node_id),
        (
            &db.tokens,
            &db.events,
            db.next_event_seq,
            resources_layout_6(&db.resources),
            &db.sessions,
        ),
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_DB_V4);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// A snapshot from before checkpoints (`codec::decode_db`'s branch for format 4) loads the
/// same cluster database with no checkpoints. Its fixture is the one that
/// `full_snapshot_matches_its_fixture` wrote while layout 4 was current.
#[test]
fn snapshot_of_db_layout_4_fixture_loads_without_checkpoints() {
    let mut db = samples::db();
    let written_once = snapshot_file(db_layout_4(&db));
    db.users = Default::default();
    db.fencing = Default::default();
    db.format = 0;
    db.certs = Default::default();
    db.type_roles = Default::default();
    db.checkpoints.clear();
    db.monitoring = Default::default();
    db.resources.promotion_scores.clear();
    db.resources.promotable.clear();
    let what = "a snapshot file holding the cluster database in layout 4 (before checkpoints)";
    let expected = snapshot_contents(db);
    let outcome = check(
        Layout::Old,
        what,
        "snapshot-v1/db-v4.hex",
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

// --- mon ---
/// The cluster database as encluster wrote it before alerts and incidents: format byte 5,
/// the fields of today's layout up to `checkpoints`.
fn db_layout_5(db: &ClusterDb) -> Vec<u8> {
    let fields = (
        (&db.meta, &db.kv, db.kv_revision, &db.nodes, db.next_node_id),
        (
            &db.tokens,
            &db.events,
            db.next_event_seq,
            resources_layout_6(&db.resources),
            &db.sessions,
            &db.checkpoints,
        ),
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_DB_V5);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// A snapshot from before alerts and incidents (`codec::decode_db`'s branch for format 5)
/// loads the same cluster database with none. Its fixture is the one that
/// `full_snapshot_matches_its_fixture` wrote while layout 5 was current.
#[test]
fn snapshot_of_db_layout_5_fixture_loads_without_alerts() {
    let mut db = samples::db();
    let written_once = snapshot_file(db_layout_5(&db));
    db.users = Default::default();
    db.fencing = Default::default();
    db.format = 0;
    db.certs = Default::default();
    db.type_roles = Default::default();
    db.monitoring = Default::default();
    db.resources.promotion_scores.clear();
    db.resources.promotable.clear();
    let what = "a snapshot file holding the cluster database in layout 5 (before alerts)";
    let expected = snapshot_contents(db);
    let outcome = check(
        Layout::Old,
        what,
        "snapshot-v1/db-v5.hex",
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

// --- promo ---
/// The resource tables as layouts 4 to 6 wrote them: up to `types`, before promotion
/// scores and promotable resources.
fn resources_layout_6(r: &crate::resources::ResourceDb) -> impl serde::Serialize + '_ {
    (
        (
            &r.resources,
            &r.groups,
            &r.constraints,
            &r.moves,
            &r.node_config,
        ),
        (
            &r.status,
            &r.assignments,
            r.next_fencing_token,
            &r.operations,
        ),
        (&r.reported_tokens, &r.bans, &r.unmanaged, &r.types),
    )
}

/// The cluster database as encluster wrote it before promotable resources: format byte 6,
/// today's fields with the resource tables of layout 6.
fn db_layout_6(db: &ClusterDb) -> Vec<u8> {
    let fields = (
        (&db.meta, &db.kv, db.kv_revision, &db.nodes, db.next_node_id),
        (
            &db.tokens,
            &db.events,
            db.next_event_seq,
            resources_layout_6(&db.resources),
            &db.sessions,
            &db.checkpoints,
            &db.monitoring,
        ),
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_DB_V6);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// A snapshot from before promotable resources (`codec::decode_db`'s branch for format 6)
/// loads the same cluster database with no promotable resources and no scores. Its
/// fixture is the one that `full_snapshot_matches_its_fixture` wrote while layout 6 was
/// current.
#[test]
fn snapshot_of_db_layout_6_fixture_loads_without_promotable_resources() {
    let mut db = samples::db();
    let written_once = snapshot_file(db_layout_6(&db));
    db.users = Default::default();
    db.fencing = Default::default();
    db.format = 0;
    db.certs = Default::default();
    db.type_roles = Default::default();
    db.resources.promotion_scores.clear();
    db.resources.promotable.clear();
    let what = "a snapshot file holding the cluster database in layout 6 (before promotable)";
    let expected = snapshot_contents(db);
    let outcome = check(
        Layout::Old,
        what,
        "snapshot-v1/db-v6.hex",
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

// --- users ---
/// The cluster database as encluster wrote it before users (format byte 7): today's fields
/// without `users`.
fn db_layout_7(db: &ClusterDb) -> Vec<u8> {
    let fields = (
        (&db.meta, &db.kv, db.kv_revision, &db.nodes, db.next_node_id),
        (
            &db.tokens,
            &db.events,
            db.next_event_seq,
            &db.resources,
            &db.sessions,
            &db.checkpoints,
            &db.monitoring,
        ),
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_DB_V7);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// A snapshot from before users (`codec::decode_db`'s branch for format 7) loads the same
/// cluster database with no users, sessions or token roles: every token stays admin. Its
/// fixture is the one that `full_snapshot_matches_its_fixture` wrote while layout 7 was
/// current.
#[test]
fn snapshot_of_db_layout_7_fixture_loads_without_users() {
    let mut db = samples::db();
    let written_once = snapshot_file(db_layout_7(&db));
    db.users = Default::default();
    db.fencing = Default::default();
    db.format = 0;
    db.certs = Default::default();
    db.type_roles = Default::default();
    let what = "a snapshot file holding the cluster database in layout 7 (before users)";
    let expected = snapshot_contents(db);
    let outcome = check(
        Layout::Old,
        what,
        "snapshot-v1/db-v7.hex",
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

// --- fence ---
/// The cluster database as encluster 0.11.0 wrote it (format byte 8): today's fields
/// without `fencing`, `format` and `certs`.
fn db_layout_8(db: &ClusterDb) -> Vec<u8> {
    let fields = (
        (&db.meta, &db.kv, db.kv_revision, &db.nodes, db.next_node_id),
        (
            &db.tokens,
            &db.events,
            db.next_event_seq,
            &db.resources,
            &db.sessions,
            &db.checkpoints,
            &db.monitoring,
        ),
        &db.users,
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_DB_V8);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// A snapshot from before fencing devices, the cluster format and certificate records
/// (`codec::decode_db`'s branch for format 8) loads the same cluster database at cluster
/// format 1, with no devices, no fencing history and no certificate records. Its fixture
/// is the one that `full_snapshot_matches_its_fixture` wrote while layout 8 was current.
#[test]
fn snapshot_of_db_layout_8_fixture_loads_without_fence_devices() {
    let mut db = samples::db();
    let written_once = snapshot_file(db_layout_8(&db));
    db.fencing = Default::default();
    db.format = 0;
    db.certs = Default::default();
    db.type_roles = Default::default();
    let what = "a snapshot file holding the cluster database in layout 8 (before fencing)";
    let expected = snapshot_contents(db);
    let outcome = check(
        Layout::Old,
        what,
        "snapshot-v1/db-v8.hex",
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

// --- roles ---
/// The cluster database as a cluster of format 2 writes it (format byte 9): today's fields
/// without `type_roles`.
fn db_layout_9(db: &ClusterDb) -> Vec<u8> {
    let fields = (
        (&db.meta, &db.kv, db.kv_revision, &db.nodes, db.next_node_id),
        (
            &db.tokens,
            &db.events,
            db.next_event_seq,
            &db.resources,
            &db.sessions,
            &db.checkpoints,
            &db.monitoring,
        ),
        (&db.users, &db.fencing, db.format, &db.certs),
    );
    let mut out = codec::SNAPSHOT_MAGIC.to_vec();
    out.push(codec::FORMAT_DB_V9);
    out.extend(postcard::to_stdvec(&fields).expect("encoding a sample cannot fail"));
    out
}

/// A snapshot from before the role programs of user types (`codec::decode_db`'s branch
/// for format 9) loads the same cluster database with no role programs. Its fixture is
/// the one that `full_snapshot_matches_its_fixture` wrote while layout 9 was current (the
/// sample then had cluster format 2).
#[test]
fn snapshot_of_db_layout_9_fixture_loads_without_type_roles() {
    let mut db = samples::db();
    db.format = crate::FORMAT_CLUSTER_FORMAT;
    let written_once = snapshot_file(db_layout_9(&db));
    db.type_roles = Default::default();
    let what = "a snapshot file holding the cluster database in layout 9 (before type roles)";
    let expected = snapshot_contents(db);
    let outcome = check(
        Layout::Old,
        what,
        "snapshot-v1/db-v9.hex",
        &written_once,
        read_snapshot_file,
        &expected,
    );
    assert_pinned(outcome.err());
}

/// Until the master raises the cluster format, a snapshot is written in layout 8, byte for
/// byte what encluster 0.11.0 writes and reads; at format 2, in layout 9, byte for byte
/// what a build of format 2 writes; from format 3 on, in layout 10.
#[test]
fn the_snapshot_layout_follows_the_cluster_format() {
    let mut db = samples::db();
    db.format = 0;
    // Fencing devices, certificate records and role programs are written only by
    // commands of format 2 and 3.
    db.fencing = Default::default();
    db.certs = Default::default();
    db.type_roles = Default::default();
    let old = codec::encode_db(&db).expect("encode");
    assert_eq!(snapshot_format(&old), codec::FORMAT_DB_V8);
    assert_eq!(old, db_layout_8(&db), "layout 8 as 0.11.0 wrote it");
    assert_eq!(codec::decode_db(&old).expect("decode"), db);
    db.format = 1;
    assert_eq!(snapshot_format(&codec::encode_db(&db).expect("encode")), 8);
    db.format = crate::FORMAT_CLUSTER_FORMAT;
    db.fencing = samples::db().fencing;
    db.certs = samples::db().certs;
    let format_2 = codec::encode_db(&db).expect("encode");
    assert_eq!(snapshot_format(&format_2), codec::FORMAT_DB_V9);
    assert_eq!(
        format_2,
        db_layout_9(&db),
        "layout 9 as a build of format 2 wrote it"
    );
    assert_eq!(codec::decode_db(&format_2).expect("decode"), db);
    db.format = crate::FORMAT_TYPE_ROLES;
    db.type_roles = samples::db().type_roles;
    let new = codec::encode_db(&db).expect("encode");
    assert_eq!(snapshot_format(&new), codec::FORMAT_DB_V10);
    assert_eq!(codec::decode_db(&new).expect("decode"), db);
}

/// Reads a fixture as the type its folder names, whatever its format byte.
fn read_any(kind: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
    match (kind, name) {
        ("command", _) => codec::decode::<Command>(bytes).map(drop),
        ("event-kind", _) => codec::decode::<EventKind>(bytes).map(drop),
        ("command-result", _) => codec::decode::<CommandResult>(bytes).map(drop),
        ("assignment-change", _) => codec::decode::<AssignmentChange>(bytes).map(drop),
        ("stored-constraint", _) => codec::decode::<StoredConstraint>(bytes).map(drop),
        ("entry", _) => codec::decode::<Entry>(bytes).map(drop),
        ("raft-meta", "vote") => codec::decode::<Vote>(bytes).map(drop),
        ("raft-meta", "committed") => codec::decode::<Option<LogId>>(bytes).map(drop),
        ("raft-meta", "last_purged") => codec::decode::<LogId>(bytes).map(drop),
        ("snapshot", _) => read_snapshot_file(bytes).map(drop),
        _ => Err(io::Error::other(
            "no reader for this kind of fixture: add one to read_any",
        )),
    }
}

/// Every fixture ever committed still decodes, including those of format bytes that
/// encluster no longer writes.
#[test]
fn every_committed_fixture_still_decodes() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (folder, name, bytes) in fixture::all().expect("read the fixtures") {
        count += 1;
        let kind = folder
            .rsplit_once("-v")
            .map_or(folder.as_str(), |(kind, _)| kind);
        if let Err(error) = read_any(kind, &name, &bytes) {
            failures.push(format!(
                "fixture {folder}/{name}.hex no longer decodes: {error}. Old records on disk \
                 must stay readable: keep a decoder branch for its format byte, and never \
                 edit a fixture; see ARCHITECTURE.md, \"Persisted formats\""
            ));
        }
    }
    assert!(count > 0, "no fixtures under {}", fixture::ROOT);
    assert_pinned(failures);
}
