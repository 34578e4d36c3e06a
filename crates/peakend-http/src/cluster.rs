//! Several nodes on one PostgreSQL database with device events through NATS JetStream
//! (issue 24, `peakend serve --nats URL`).
//!
//! - A device's batch is published to the stream on the subject of its hall's
//!   partition (`{prefix}.events.{partition}.{hall}`), with a message id made from its
//!   hall and bytes so a batch sent again within JetStream's duplicate window is stored
//!   once; the device is answered 202 only once JetStream has stored it, so an
//!   acknowledged batch survives the loss of any node. NATS unreachable: 503 with
//!   `Retry-After`, nothing acknowledged.
//! - Partitions (a fixed number, by hash of the hall) are applied by the live nodes, one
//!   node per partition at a time: a node holds a partition by a PostgreSQL advisory lock
//!   on its own connection ([`peakend_store::PartitionLocks`]), takes its fair share of
//!   the free ones every second and gives back what is over its share when a node joins.
//!   A node that dies frees its locks with its connection. Each held partition is read
//!   by a durable pull consumer one message at a time, acknowledged after the store has
//!   committed; a batch whose node died before its acknowledgement comes again after the
//!   consumer's ack wait and is applied idempotently (by event id), so nothing is applied
//!   twice.
//! - The stream is a work queue: a batch leaves it once its partition's consumer has
//!   acknowledged it (each partition's consumer filters its own subjects, so no two
//!   consumers share a batch), and a batch no consumer has read yet stays. A stream an
//!   earlier build made keeps every batch (limits retention cannot be changed on a
//!   stream), so on it each partition purges its own subjects up to the batch just
//!   acknowledged.
//! - After applying, the node publishes `{prefix}.applied.{hall}`; every node wakes its
//!   own live streams of that hall, so a board on any node sees every node's events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use axum::http::StatusCode;
use futures_util::StreamExt;
use peakend_core::HallId;
use peakend_core::ops::event::Event;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::{ApiError, AppState};

/// How long a delivered batch waits for its acknowledgement before JetStream hands it
/// to the partition's next holder: how soon a dead node's last batch is applied again.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// A node's link to NATS.
pub struct Cluster {
    client: async_nats::Client,
    js: jetstream::Context,
    prefix: String,
    stream: String,
    partitions: u32,
    /// The stream keeps acknowledged batches (made by an earlier build with limits
    /// retention): each applied batch is purged with the partition's earlier ones.
    purge_applied: bool,
    /// The partitions this node holds now: it sweeps their halls (case deadlines,
    /// automatic checks, invitation decisions and sending), so each hall's sweep runs on
    /// one node and moves with its partition when a node dies or joins.
    held: std::sync::Mutex<Vec<u32>>,
}

impl Cluster {
    /// Whether this node runs the sweeps that are not per hall now (contact erasure
    /// across the network, the webhook outbox): the holder of partition 0 alone, so
    /// they run once, and move with the partition.
    pub fn sweeps(&self) -> bool {
        self.held.lock().expect("held lock").contains(&0)
    }

    /// The halls this node sweeps now: those of the partitions it holds.
    pub fn sweep_halls(&self) -> peakend_store::SweepHalls {
        peakend_store::SweepHalls::Partitions {
            of: self.partitions,
            held: self.held.lock().expect("held lock").clone(),
        }
    }

    fn set_held(&self, held: Vec<u32>) {
        *self.held.lock().expect("held lock") = held;
    }
}

/// A device batch as it travels: its hall, the parsed lines (the phone already keyed)
/// and the refused ones with their reasons, so the applying node quarantines the same.
#[derive(Serialize, Deserialize)]
struct Batch {
    hall: String,
    events: Vec<(usize, String)>,
    refused: Vec<(usize, String, String)>,
}

/// What a device is told when its batch is stored in JetStream.
#[derive(Serialize)]
pub struct Queued {
    pub queued: usize,
    pub refused: usize,
    pub stream_sequence: u64,
    /// The same batch was stored before (sent again): it is applied once.
    pub duplicate: bool,
}

impl Cluster {
    /// Connects (a comma-separated list of servers is tried in turn) and makes sure the
    /// stream exists; a clear error when NATS cannot be reached or has no JetStream.
    pub async fn connect(
        url: &str,
        prefix: &str,
        partitions: u32,
        replicas: usize,
    ) -> Result<Arc<Cluster>, String> {
        if prefix.is_empty() || prefix.contains(['.', '*', '>', ' ']) {
            return Err(format!(
                "--nats-prefix `{prefix}`: letters, digits, - and _ only"
            ));
        }
        let servers: Vec<&str> = url.split(',').map(str::trim).collect();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(servers.as_slice())
            .await
            .map_err(|e| format!("NATS at {url} cannot be reached: {e}"))?;
        let js = jetstream::new(client.clone());
        let stream = format!("{}_EVENTS", prefix.to_uppercase().replace('-', "_"));
        let made = js
            .get_or_create_stream(stream::Config {
                name: stream.clone(),
                subjects: vec![format!("{prefix}.events.>")],
                storage: stream::StorageType::File,
                // Without it every batch would stay on every server for ever.
                retention: stream::RetentionPolicy::WorkQueue,
                duplicate_window: Duration::from_secs(120),
                // Three on a three-server cluster: a stored batch survives losing a server.
                num_replicas: replicas.max(1),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("NATS at {url}: the JetStream stream `{stream}`: {e}"))?;
        let purge_applied =
            made.cached_info().config.retention != stream::RetentionPolicy::WorkQueue;
        let partitions = partitions.max(1);
        if !purge_applied {
            waiting_where_they_belong(&made, prefix, partitions)
                .await
                .map_err(|e| format!("NATS at {url}: the JetStream stream `{stream}`: {e}"))?;
        }
        if purge_applied {
            tracing::warn!(
                stream = %stream,
                "the stream keeps acknowledged batches (made by an earlier build): each \
                 partition purges what it has applied; delete the stream when no node runs \
                 and none of its batches is waiting, and it is made again as a work queue"
            );
        }
        Ok(Arc::new(Cluster {
            client,
            js,
            prefix: prefix.to_owned(),
            stream,
            partitions,
            purge_applied,
            held: std::sync::Mutex::new(Vec::new()),
        }))
    }

    /// The partition of a hall: FNV-1a of its id, stable across builds and nodes (the
    /// sweeps' filter computes the same in SQL).
    pub fn partition(&self, hall: &HallId) -> u32 {
        peakend_store::SweepHalls::partition(hall.as_str(), self.partitions)
    }

    /// Stores a batch in JetStream and says so; NATS lost: 503, retryable.
    pub async fn publish(
        &self,
        hall: &HallId,
        events: &[(usize, Event, String)],
        refused: &[(usize, String, String)],
    ) -> Result<Queued, ApiError> {
        let batch = Batch {
            hall: hall.to_string(),
            events: events.iter().map(|(n, _, t)| (*n, t.clone())).collect(),
            refused: refused.to_vec(),
        };
        let body = serde_json::to_vec(&batch)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let id = format!("{:x}", Sha256::digest(&body));
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        // Subject tokens may not hold a dot; the payload names the hall.
        let subject = format!(
            "{}.events.{}.{}",
            self.prefix,
            self.partition(hall),
            hall.as_str().replace('.', "_")
        );
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::warn!("NATS publish failed: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event stream is unavailable; send the batch again",
            )
        };
        let ack = tokio::time::timeout(Duration::from_secs(5), async {
            self.js
                .publish_with_headers(subject, headers, body.into())
                .await
                .map_err(|e| unavailable(&e))?
                .await
                .map_err(|e| unavailable(&e))
        })
        .await
        .map_err(|_| unavailable(&"timed out"))??;
        Ok(Queued {
            queued: events.len(),
            refused: refused.len(),
            stream_sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }
}

/// The node's background work: partitions taken and applied, and other nodes' applied
/// events turned into wake-ups of this node's live streams.
pub fn spawn(state: AppState, cluster: Arc<Cluster>, db_url: String) {
    tokio::spawn(wake_on_applied(state.clone(), cluster.clone()));
    tokio::spawn(hold_partitions(state, cluster, db_url));
}

async fn wake_on_applied(state: AppState, cluster: Arc<Cluster>) {
    let subject = format!("{}.applied.>", cluster.prefix);
    loop {
        match cluster.client.subscribe(subject.clone()).await {
            Ok(mut sub) => {
                while let Some(msg) = sub.next().await {
                    if let Ok(hall) = HallId::parse(String::from_utf8_lossy(&msg.payload).as_ref())
                    {
                        state.live.notify(&hall);
                    }
                }
            }
            Err(e) => tracing::warn!("NATS subscribe failed: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Every second: count the live nodes, take free partitions up to this node's share,
/// give back any over it; a lost database connection stops every consumer of this node
/// (another node may hold its partitions now) and joins again.
async fn hold_partitions(state: AppState, cluster: Arc<Cluster>, db_url: String) {
    let mut held: BTreeMap<u32, watch::Sender<bool>> = BTreeMap::new();
    let mut locks: Option<peakend_store::PartitionLocks> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if locks.is_none() {
            match peakend_store::PartitionLocks::join(&db_url).await {
                Ok(l) => locks = Some(l),
                Err(e) => {
                    tracing::warn!("cannot join the nodes: {e}");
                    continue;
                }
            }
        }
        let l = locks.as_mut().expect("joined above");
        let result: peakend_store::Result<()> = async {
            let share = cluster.partitions.div_ceil(l.live_nodes().await?);
            while held.len() as u32 > share {
                let (p, stop) = held.pop_last().expect("more than the share");
                let _ = stop.send(true);
                // No sweep of this node starts on its halls once the lock is free.
                cluster.set_held(held.keys().copied().collect());
                l.release(p).await?;
                tracing::info!(partition = p, "partition given back");
            }
            for p in 0..cluster.partitions {
                if held.len() as u32 >= share {
                    break;
                }
                if !held.contains_key(&p) && l.try_take(p).await? {
                    let (stop, stopped) = watch::channel(false);
                    tokio::spawn(apply_partition(state.clone(), cluster.clone(), p, stopped));
                    held.insert(p, stop);
                    tracing::info!(partition = p, "partition taken");
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!("the partition locks were lost: {e}");
            for (_, stop) in std::mem::take(&mut held) {
                let _ = stop.send(true);
            }
            locks = None;
        }
        cluster.set_held(held.keys().copied().collect());
    }
}

/// Applies partition `p`'s batches in order, one at a time, until told to stop.
async fn apply_partition(
    state: AppState,
    cluster: Arc<Cluster>,
    p: u32,
    mut stop: watch::Receiver<bool>,
) {
    // NATS may be lost when a partition is taken (a node died meanwhile): the partition
    // is held all the same, so its consumer is asked for again until NATS answers.
    let (stream, consumer) = loop {
        match consumer_of(&cluster, p).await {
            Ok(c) => break c,
            Err(e) => tracing::warn!(partition = p, "no consumer yet, asking again: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if *stop.borrow() {
            return;
        }
    };
    while !*stop.borrow() {
        let batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_millis(500))
            .messages()
            .await;
        let mut messages = match batch {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(partition = p, "fetch failed: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(Ok(msg)) = messages.next().await {
            if *stop.borrow_and_update() {
                // Not ours any more (a pull made before the hand-back): refused at once,
                // so the partition's next holder gets it now rather than after the ack
                // wait, with nothing of the partition passing it meanwhile.
                let _ = msg.ack_with(jetstream::AckKind::Nak(None)).await;
                return;
            }
            match apply(&state, &msg.payload).await {
                Ok(applied) => {
                    // A batch no store could apply (it does not parse) was dropped, said.
                    let _ = msg.ack().await;
                    if cluster.purge_applied {
                        purge_applied(&cluster, &stream, p, &msg).await;
                    }
                    if let Some(hall) = applied {
                        let _ = cluster
                            .client
                            .publish(
                                format!("{}.applied.{p}", cluster.prefix),
                                hall.to_string().into(),
                            )
                            .await;
                    }
                }
                // The store is unavailable: not acknowledged, so it comes again.
                Err(e) => {
                    tracing::warn!(partition = p, "batch not applied, will come again: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// Refuses a start whose `--partitions` would give a hall whose batches wait in the
/// stream (a work queue holds only those) another partition than they wait under: two
/// nodes could then apply the hall's batches out of order, and a partition beyond the
/// new number would never be read. Subjects name the hall with `.` as `_`, so both
/// readings of a name with `_` are tried.
async fn waiting_where_they_belong(
    stream: &stream::Stream,
    prefix: &str,
    partitions: u32,
) -> Result<(), String> {
    let under = format!("{prefix}.events.");
    let mut subjects = stream
        .info_with_subjects(format!("{under}>"))
        .await
        .map_err(|e| e.to_string())?;
    let mut misplaced: Vec<(String, u32, usize)> = Vec::new();
    while let Some(next) = subjects.next().await {
        let (subject, count) = next.map_err(|e| e.to_string())?;
        let Some((p, hall)) = subject
            .strip_prefix(under.as_str())
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        let Ok(p) = p.parse::<u32>() else { continue };
        let fits = |h: &str| peakend_store::SweepHalls::partition(h, partitions) == p;
        if count > 0 && !fits(hall) && !fits(&hall.replace('_', ".")) {
            misplaced.push((hall.to_owned(), p, count));
        }
    }
    match misplaced.first() {
        None => Ok(()),
        Some((hall, p, _)) => Err(format!(
            "{} batches of {} halls wait under partitions that --partitions {partitions} \
             would not give their halls (hall `{hall}`: partition {p}); start the nodes with \
             the --partitions they had until the stream is empty, then change it",
            misplaced.iter().map(|m| m.2).sum::<usize>(),
            misplaced.len()
        )),
    }
}

/// On a stream that keeps acknowledged batches: partition `p`'s batches up to `msg`,
/// which has just been acknowledged. One at a time and in order, so every earlier one
/// was acknowledged too; a purge that fails is made good by the next one.
async fn purge_applied(
    cluster: &Cluster,
    stream: &jetstream::stream::Stream,
    p: u32,
    msg: &jetstream::Message,
) {
    let Ok(info) = msg.info() else {
        return;
    };
    let purged = stream
        .purge()
        .filter(format!("{}.events.{p}.>", cluster.prefix))
        .sequence(info.stream_sequence + 1)
        .await;
    if let Err(e) = purged {
        tracing::warn!(partition = p, "applied batches not purged: {e}");
    }
}

/// Partition `p`'s durable consumer (and its stream): one batch delivered at a time, in
/// order.
async fn consumer_of(
    cluster: &Cluster,
    p: u32,
) -> Result<(jetstream::stream::Stream, jetstream::consumer::PullConsumer), String> {
    let name = format!("{}-p{p}", cluster.prefix);
    let stream = cluster
        .js
        .get_stream(&cluster.stream)
        .await
        .map_err(|e| e.to_string())?;
    let consumer = stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: format!("{}.events.{p}.>", cluster.prefix),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: 1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok((stream, consumer))
}

/// Applies one stored batch through the same path as a single node's ingest.
async fn apply(state: &AppState, payload: &[u8]) -> Result<Option<HallId>, String> {
    let Ok(batch) = serde_json::from_slice::<Batch>(payload) else {
        tracing::error!("a batch in the event stream does not parse; dropped");
        return Ok(None);
    };
    let Ok(hall) = HallId::parse(batch.hall.as_str()) else {
        tracing::error!("a batch in the event stream names no hall; dropped");
        return Ok(None);
    };
    let mut events = Vec::with_capacity(batch.events.len());
    let mut refused = batch.refused;
    for (n, text) in batch.events {
        match Event::from_json(&text) {
            Ok(e) => events.push((n, e, text)),
            Err(reason) => refused.push((n, reason, text)),
        }
    }
    match crate::live::ingest(state, &hall, events, refused).await {
        Ok(_) => Ok(Some(hall)),
        Err(e) if e.kind() == peakend_store::ErrorKind::Unavailable => Err(e.to_string()),
        Err(e) => {
            // The client's fault or ours, but final: coming again would not mend it.
            tracing::error!(hall = %hall, "a batch could not be applied: {e}");
            Ok(Some(hall))
        }
    }
}
