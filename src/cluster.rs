//! Joining the cluster (ClusterSettings.Enable): the shared key, the advertised address, the
//! gossip listener, the coordinator and discovery.

use crate::config::{ClusterSettings, Config};
use crate::store::Store;
use actix::{Actor, Addr, Context, Handler};
use anyhow::Context as _;
use base64::Engine;
use starling_actors::cluster::discovery::{Discovery, DiscoveryRow, Unregister};
use starling_actors::cluster::{
    Cluster, ClusterCounters, ConfigHash, JoinSettings, Joined, NodeInfo, Tcp, TransportSettings,
};
use starling_actors::{BusEvent, Filter, Origin, Published, Realtime, Subscribe, Supervisor};
use starling_protocol::NodeId;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The discovery row type of Starling nodes.
pub const NODE_TYPE: &str = "starling_app";

pub struct ClusterHandle {
    pub cluster: Addr<Cluster>,
    pub discovery: Addr<Discovery>,
    pub me: NodeInfo,
    pub counters: Arc<ClusterCounters>,
    pub gossip_listen: SocketAddr,
    joined: Joined,
}

/// The host peers should dial: OverrideHostname; with UseIPAddress, AdvertiseAddress, the IP of
/// NetworkInterface, a specific BindAddress, or the first non-loopback address; else the OS hostname.
pub fn advertise_host(cs: &ClusterSettings) -> String {
    if !cs.override_hostname.is_empty() {
        return cs.override_hostname.clone();
    }
    if cs.use_ip_address {
        if !cs.advertise_address.is_empty() {
            return cs.advertise_address.clone();
        }
        if !cs.network_interface.is_empty() {
            if let Some(ip) = interface_ip(&cs.network_interface) {
                return ip.to_string();
            }
        }
        if let Ok(ip) = cs.bind_address.parse::<IpAddr>() {
            if !ip.is_unspecified() {
                return ip.to_string();
            }
        }
        if let Some(ip) = first_non_loopback() {
            return ip.to_string();
        }
    }
    crate::server::hostname()
}

fn interface_ip(name: &str) -> Option<IpAddr> {
    let ifs = if_addrs::get_if_addrs().ok()?;
    ifs.iter()
        .filter(|i| i.name == name)
        .map(|i| i.ip())
        .find(|ip| ip.is_ipv4())
        .or_else(|| ifs.iter().filter(|i| i.name == name).map(|i| i.ip()).next())
}

fn first_non_loopback() -> Option<IpAddr> {
    let ifs = if_addrs::get_if_addrs().ok()?;
    ifs.iter().map(|i| i.ip()).filter(|ip| !ip.is_loopback()).find(|ip| ip.is_ipv4())
}

/// The cluster key from the Systems table, generating it if this is the first node.
pub async fn shared_key(store: &Store) -> anyhow::Result<[u8; 32]> {
    let mut candidate = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut candidate);
    let b64 = base64::engine::general_purpose::STANDARD;
    let stored = store.cluster_key(&b64.encode(candidate)).await.context("reading the cluster key")?;
    let bytes = b64.decode(stored.trim()).context("the stored ClusterEncryptionKey is not base64")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("the stored ClusterEncryptionKey is not 32 bytes"))
}

/// What tests of version skew and clock skew make a node process advertise, from the environment:
/// `STARLING_TEST_APP_VERSION` (the app version peers and cluster status see),
/// `STARLING_TEST_PROTOCOL` (`MIN-MAX`, the protocol versions it offers; within what this build
/// speaks) and `STARLING_TEST_CLOCK_OFFSET_MS` (added to its clock in pings and pongs). Unset in
/// production; a node that has any of them logs a warning at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestOverrides {
    pub app_version: Option<String>,
    pub protocol: Option<(u16, u16)>,
    pub clock_offset_ms: i64,
}

impl TestOverrides {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let protocol = match var("STARLING_TEST_PROTOCOL") {
            None => None,
            Some(v) => {
                let range = v.split_once('-').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
                let speaks = starling_protocol::MIN_PROTOCOL_VERSION..=starling_protocol::MAX_PROTOCOL_VERSION;
                match range {
                    Some((lo, hi)) if lo <= hi && speaks.contains(&lo) && speaks.contains(&hi) => Some((lo, hi)),
                    _ => anyhow::bail!(
                        "STARLING_TEST_PROTOCOL: {v:?} is not MIN-MAX within {}-{}",
                        speaks.start(),
                        speaks.end()
                    ),
                }
            }
        };
        let clock_offset_ms = match var("STARLING_TEST_CLOCK_OFFSET_MS") {
            None => 0,
            Some(v) => v.parse().with_context(|| format!("STARLING_TEST_CLOCK_OFFSET_MS: {v:?} is not a number"))?,
        };
        Ok(Self { app_version: var("STARLING_TEST_APP_VERSION"), protocol, clock_offset_ms })
    }
}

pub struct Start<'a> {
    pub config: &'a Config,
    pub store: &'a Store,
    pub node_id: &'a NodeId,
    pub schema_version: i32,
    pub http_port: u16,
    pub realtime: &'a Realtime,
    pub supervisor: &'a Supervisor,
    pub log: slog::Logger,
}

pub async fn start(s: Start<'_>) -> anyhow::Result<ClusterHandle> {
    let cs = &s.config.cluster_settings;
    let key = shared_key(s.store).await?;
    let host = advertise_host(cs);
    let bind_ip: IpAddr = if cs.bind_address.is_empty() {
        IpAddr::from([0, 0, 0, 0])
    } else {
        cs.bind_address
            .parse()
            .map_err(|_| anyhow::anyhow!("ClusterSettings.BindAddress: {:?} is not an IP address", cs.bind_address))?
    };
    let listen = SocketAddr::new(bind_ip, cs.gossip_port as u16);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("ClusterSettings.GossipPort: cannot listen on {listen}"))?;
    let listen = listener.local_addr().unwrap_or(listen);
    let gossip_addr =
        if host.contains(':') { format!("[{host}]:{}", listen.port()) } else { format!("{host}:{}", listen.port()) };
    let test = TestOverrides::from_env()?;
    if test != TestOverrides::default() {
        slog::warn!(s.log, "cluster test overrides in effect (STARLING_TEST_*): not for production";
            "app_version" => &test.app_version, "protocol" => ?test.protocol, "clock_offset_ms" => test.clock_offset_ms);
    }
    let me = NodeInfo {
        node_id: s.node_id.clone(),
        cluster_name: cs.cluster_name.clone(),
        app_version: test.app_version.clone().unwrap_or_else(|| crate::VERSION.to_owned()),
        schema_version: s.schema_version,
        config_hash: ConfigHash::new(s.config.hash()),
        gossip_addr,
        hostname: crate::server::hostname(),
        protocol: test
            .protocol
            .unwrap_or((starling_protocol::MIN_PROTOCOL_VERSION, starling_protocol::MAX_PROTOCOL_VERSION)),
        clock_offset_ms: test.clock_offset_ms,
    };
    let transport = TransportSettings {
        key,
        encrypt: cs.enable_experimental_gossip_encryption,
        compress: cs.enable_gossip_compression,
    };
    let log = s.log.new(slog::o!("gossip_addr" => me.gossip_addr.clone()));
    let joined = s.realtime.join_cluster(
        s.supervisor,
        JoinSettings { me: me.clone(), transport, network: Arc::new(Tcp), log: log.clone() },
        listener,
    );
    let row = DiscoveryRow {
        id: s.node_id.as_str().to_owned(),
        kind: NODE_TYPE.into(),
        cluster_name: cs.cluster_name.clone(),
        hostname: host,
        gossip_port: i32::from(listen.port()),
        port: i32::from(s.http_port),
        create_at: crate::store::now_ms(),
        last_ping_at: crate::store::now_ms(),
    };
    let discovery = {
        let (store, peers, log) = (Arc::new(s.store.clone()), joined.cluster.clone().recipient(), log.clone());
        s.supervisor.start("discovery", move |_| Discovery::new(store, row, peers, log))
    };
    slog::info!(log, "cluster joined"; "cluster_name" => &cs.cluster_name, "gossip_listen" => %listen,
        "encrypt" => cs.enable_experimental_gossip_encryption, "compress" => cs.enable_gossip_compression);
    Ok(ClusterHandle {
        cluster: joined.cluster.clone(),
        discovery,
        me,
        counters: joined.counters.clone(),
        gossip_listen: listen,
        joined,
    })
}

impl ClusterHandle {
    /// The node's part of the cluster, as the actors see it.
    pub fn joined(&self) -> &Joined {
        &self.joined
    }

    /// Leave: remove our discovery row, close the links, stop accepting. Safe to call twice.
    pub async fn leave(&mut self) {
        let _ = self.discovery.send(Unregister).await; // already gone: nothing to remove
        self.joined.leave().await;
    }
}

/// Tells the node's read routing which sessions wrote through other nodes (read your writes):
/// a subscriber of the bus for peers' [`BusEvent::SessionWrote`].
pub struct RemoteWrites {
    pub mark: Arc<dyn Fn(u64) + Send + Sync>,
}

impl RemoteWrites {
    /// What it hears.
    pub fn filter() -> Filter {
        Filter::new(|e, o| matches!(e, BusEvent::SessionWrote { .. }) && *o != Origin::Local)
    }

    pub fn subscribe(self, bus: &Addr<starling_actors::EventBus>) {
        bus.do_send(Subscribe { subscriber: self.start().recipient(), filter: Self::filter() });
    }
}

impl Actor for RemoteWrites {
    type Context = Context<Self>;
}

impl Handler<Published> for RemoteWrites {
    type Result = ();
    fn handle(&mut self, msg: Published, _ctx: &mut Self::Context) {
        if let BusEvent::SessionWrote { session } = &*msg.event {
            (self.mark)(*session);
        }
    }
}
