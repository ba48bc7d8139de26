//! `GET /api/v4/cluster/status`, for system admins: what the web client's System Console >
//! Environment > High Availability page (`/admin_console/environment/high_availability`) shows.

use super::{ok, AppState, Auth, State};
use crate::error::{ApiResult, AppError};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use starling_actors::cluster::{GetPeerStatuses, PeerStatus};
use starling_actors::cluster::{PeerState, MAX_CLOCK_SKEW_MS};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/cluster/status", web::get().to(status));
}

#[derive(Debug, Serialize, Clone)]
pub struct NodeRow {
    pub id: String,
    pub version: String,
    pub schema_version: String,
    pub config_hash: String,
    /// The gossip address (host:port), the console's Gossip Address column.
    pub ipaddress: String,
    pub hostname: String,
    /// "green" or "red".
    pub status: String,
    /// Why a node is red ("down: ...", "config mismatch", "version mismatch"), or a note.
    pub reason: String,
    pub last_ping_at: i64,
    pub is_leader: bool,
}

/// One row per node, this one first, then the peers by gossip address. Empty when clustering is off (as Mattermost answers).
pub async fn rows(state: &AppState) -> ApiResult<Vec<NodeRow>> {
    let Some(c) = &state.cluster else { return Ok(vec![]) };
    let me = &c.me;
    let my_hash = me.config_hash.get();
    let leader = state.jobs.leader_state().await;
    let mut out = vec![NodeRow {
        id: me.node_id.as_str().to_owned(),
        version: me.app_version.clone(),
        schema_version: me.schema_version.to_string(),
        config_hash: my_hash.clone(),
        ipaddress: me.gossip_addr.clone(),
        hostname: me.hostname.clone(),
        status: "green".into(),
        // What the node found at start (limits below what the HA guide asks): still green.
        reason: state.limits.warnings().join("; "),
        last_ping_at: crate::store::now_ms(),
        is_leader: leader.is_leader,
    }];
    let mut peers: Vec<PeerStatus> = c.cluster.send(GetPeerStatuses).await.map_err(AppError::internal)?;
    // A stable order (by gossip address), so that a table refreshed every few seconds keeps still.
    peers.sort_by(|a, b| a.gossip_addr.cmp(&b.gossip_addr));
    for p in peers {
        let (status, reason) = match p.state {
            PeerState::Down => ("red", format!("down: {}", p.reason)),
            PeerState::Connecting if p.node_id.as_str().is_empty() => ("red", "down: never reached".to_owned()),
            PeerState::Connecting => ("red", format!("down: reconnecting ({})", p.reason)),
            _ if p.app_version != me.app_version => (
                "red",
                format!("version mismatch: {} here, {} there (finish the upgrade)", me.app_version, p.app_version),
            ),
            _ if p.config_hash != my_hash => ("red", "config mismatch".to_owned()),
            _ if p.clock_skew_ms.is_some_and(|s| s.unsigned_abs() > MAX_CLOCK_SKEW_MS as u64) => {
                let skew = p.clock_skew_ms.unwrap_or_default();
                let (by, way) = (skew.unsigned_abs(), if skew > 0 { "ahead of" } else { "behind" });
                ("red", format!("clock skew: {by} ms {way} this node (limit {MAX_CLOCK_SKEW_MS} ms; check NTP)"))
            }
            PeerState::Suspect => ("green", "suspect: slow to answer".to_owned()),
            PeerState::Up => ("green", String::new()),
        };
        out.push(NodeRow {
            is_leader: !p.node_id.as_str().is_empty() && leader.leader.as_ref() == Some(&p.node_id),
            id: p.node_id.0,
            version: p.app_version,
            schema_version: p.schema_version.to_string(),
            config_hash: p.config_hash,
            ipaddress: p.gossip_addr,
            hostname: p.hostname,
            status: status.into(),
            reason,
            last_ping_at: p.last_heard_ms,
        });
    }
    Ok(out)
}

async fn status(state: State, auth: Auth) -> ApiResult<HttpResponse> {
    auth.require_admin()?;
    Ok(ok(&rows(&state).await?))
}
