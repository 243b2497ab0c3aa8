//! openraft's network traits over the peer channel.

use std::future::Future;
use std::io::Cursor;
use std::sync::Arc;

use cmdb::{TypeConfig, Vote};
use model::NodeInfo;
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use serde::{Serialize, de::DeserializeOwned};

use super::client::{PeerClient, PeerError};
use crate::recovery::ForcedHistory;

type Snapshot = cmdb::alias::SnapshotOf<TypeConfig, Cursor<Vec<u8>>>;

/// Creates one connection handle per Raft peer.
#[derive(Clone)]
pub struct Network {
    client: PeerClient,
    forced: Arc<ForcedHistory>,
}

impl Network {
    /// A network over the given peer client; appends carry `forced`'s newest point.
    pub fn new(client: PeerClient, forced: Arc<ForcedHistory>) -> Network {
        Network { client, forced }
    }
}

/// The Raft RPC client for one peer.
pub struct Connection {
    client: PeerClient,
    addr: String,
    forced: Arc<ForcedHistory>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, _target: u64, node: &NodeInfo) -> Connection {
        Connection {
            client: self.client.clone(),
            addr: node.peer_addr.clone(),
            forced: self.forced.clone(),
        }
    }
}

impl Connection {
    async fn rpc<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<TypeConfig>> {
        let answer: Result<Resp, String> = self
            .client
            .call(&self.addr, path, request, option.soft_ttl())
            .await
            .map_err(to_rpc_error)?;
        answer.map_err(|message| RPCError::Network(NetworkError::from_string(message)))
    }
}

fn to_rpc_error(error: PeerError) -> RPCError<TypeConfig> {
    match error {
        PeerError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&error)),
        _ => RPCError::Network(NetworkError::new(&error)),
    }
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        // postcard encodes a pair as its two parts in a row: an agent that predates the
        // forced point reads the request and ignores the bytes after it.
        let request = (rpc, self.forced.known());
        self.rpc("/raft/append", &request, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.rpc("/raft/vote", &rpc, &option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.rpc("/raft/pre-vote", &rpc, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        // As with appends, the forced point follows the three parts an older agent reads.
        let request = (
            vote,
            snapshot.meta,
            snapshot.snapshot.into_inner(),
            self.forced.known(),
        );
        self.rpc("/raft/snapshot", &request, &option)
            .await
            .map_err(|error| match error {
                RPCError::Unreachable(e) => StreamingError::Unreachable(e),
                RPCError::Timeout(e) => StreamingError::Timeout(e),
                other => StreamingError::Network(NetworkError::new(&other)),
            })
    }
}
