//! The server's background work for service cases: every minute, the escalation
//! The server's background work for service cases: every minute, the escalation
//! sweep and the erasure of case contacts and of customers' contacts across channels
//! past their keeping time; every few seconds, the webhook deliveries waiting in the
//! outbox; every minute, the survey invitations due (through the configured
//! [`crate::invite_sender::InviteSender`]). Each runs on its own task, so a slow
//! webhook receiver or SMS gateway delays only its own next delivery, never a request
//! or the sweep.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::AppState;

/// How cases are kept: contacts are erased this long after a case closes.
#[derive(Debug, Clone, Copy)]
pub struct CaseSettings {
    pub erase_contacts_after_days: u32,
    /// Customers' contacts across channels (`customer_contact`) are deleted this long
    /// after they ended.
    pub erase_customer_contacts_after_days: u32,
    /// Run the sweep, the erasure and the deliveries in this server.
    pub workers: bool,
    /// How often the minute sweep runs (a minute; shorter in tests of several nodes).
    pub sweep_every: Duration,
}

impl Default for CaseSettings {
    fn default() -> Self {
        CaseSettings {
            erase_contacts_after_days: 180,
            erase_customer_contacts_after_days: peakend_store::CUSTOMER_CONTACT_RETENTION_DAYS,
            workers: true,
            sweep_every: Duration::from_secs(60),
        }
    }
}

/// The header that carries the signature: `sha256=` and the hex HMAC-SHA256 of the
/// body under the webhook's secret.
pub const SIGNATURE_HEADER: &str = "X-Peakend-Signature";

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Back-off after the n-th failed attempt: 10 s doubling, at most an hour.
pub fn retry_after(attempts: i64) -> Duration {
    let secs = 10u64.saturating_mul(1u64 << attempts.clamp(0, 12) as u32);
    Duration::from_secs(secs.min(3600))
}

/// Whether this server runs the sweeps that are not per hall now: always alone, and
/// with several nodes only the one holding partition 0 (`cluster.rs`), so they run
/// once. These are the erasure of case and customer contacts past their keeping time
/// (one retention rule for the network, a bulk delete) and the webhook outbox (its
/// deliveries name no hall).
fn sweeps_here(state: &AppState) -> bool {
    state.cluster.as_ref().is_none_or(|c| c.sweeps())
}

/// The halls whose sweeps run here now (case deadlines, automatic checks, invitation
/// decisions and sending): all of them alone; with several nodes those of the
/// partitions this node holds (`cluster.rs`), so each hall is swept by one node and
/// the work spreads and moves with the partitions. `None`: nothing to sweep here.
fn halls_here(state: &AppState) -> Option<peakend_store::SweepHalls> {
    match &state.cluster {
        None => Some(peakend_store::SweepHalls::All),
        Some(c) => Some(c.sweep_halls()).filter(|h| !h.is_empty()),
    }
}

/// Starts the workers; they stop when the server shuts down.
pub fn spawn(state: AppState) {
    if !state.cases.workers {
        return;
    }
    let s = state.clone();
    tokio::spawn(async move {
        // The first sweep a little after the start (which catches up on a server that
        // was down), not while the start's own writes and the first sign-ins run.
        let every = s.cases.sweep_every;
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + every.min(Duration::from_secs(5)),
            every,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut settling = peakend_store::Settling::default();
        loop {
            tokio::select! {
                _ = tick.tick() => sweep_here(&s, &mut settling).await,
                () = s.shutdown.wait() => break,
            }
        }
    });
    // The invitation queue: drained a second after an ingest wakes it (so a busy
    // minute's contacts are decided together), and every minute in any case (what a
    // crash left queued).
    let s = state.clone();
    tokio::spawn(async move {
        // What the decider remembers, read before the first drain takes the write lock.
        if let Err(e) = s.store.warm_decider(s.clock.now().timestamp_millis()).await {
            tracing::warn!(error = %e, "the invitation decider starts cold");
        }
        loop {
            tokio::select! {
                () = s.decider.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(60)) => {}
                () = s.shutdown.wait() => break,
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = s.shutdown.wait() => break,
            }
            if let Some(halls) = halls_here(&s) {
                drain_invitations_of(&s, &halls).await;
            }
        }
    });
    // The invitations on their own minute, so a slow gateway never holds the sweep.
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(7),
            Duration::from_secs(60),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(
            sender = s.invites.sender.name(),
            "survey invitations leave through this sender"
        );
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = s.shutdown.wait() => break,
            }
            while let Some(halls) = halls_here(&s) {
                let now = s.clock.now().timestamp_millis();
                let run = send_invitations_of(&s, now, &halls).await;
                if run.halted || run.waiting == 0 || s.shutdown.is_triggered() {
                    break;
                }
            }
        }
    });
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client unavailable; deliveries wait in the outbox");
                return;
            }
        };
        loop {
            let sent = if sweeps_here(&state) {
                deliver_once(&state, &client).await
            } else {
                0
            };
            let pause = if sent > 0 {
                Duration::from_millis(50)
            } else {
                Duration::from_secs(2)
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = state.shutdown.wait() => break,
            }
        }
    });
}

/// Contacts decided in one transaction of a drain.
pub const DRAIN_LIMIT: usize = 20_000;

/// Decides every queued contact's survey invitation by its org node's rule, as of the
/// server's clock, in transactions of [`DRAIN_LIMIT`]. A failure leaves the rest queued
/// for the next drain, and is logged.
pub async fn drain_invitations(state: &AppState) -> peakend_store::Decided {
    drain_invitations_of(state, &peakend_store::SweepHalls::All).await
}

/// [`drain_invitations`] of the contacts of some halls (a node of several).
pub async fn drain_invitations_of(
    state: &AppState,
    halls: &peakend_store::SweepHalls,
) -> peakend_store::Decided {
    let mut total = peakend_store::Decided::default();
    loop {
        let now = state.clock.now().timestamp_millis();
        match state.store.decide_pending_of(now, DRAIN_LIMIT, halls).await {
            Ok(d) => {
                total.add(&d.decided);
                if d.taken < DRAIN_LIMIT || state.shutdown.is_triggered() {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "survey invitations not decided; they stay queued");
                break;
            }
        }
    }
    if total.sent + total.held + total.suppressed > 0 {
        tracing::debug!(
            sent = total.sent,
            held = total.held,
            suppressed = total.suppressed,
            "survey invitations decided"
        );
    }
    total
}

/// One sweep as of the server's clock: escalations, contact erasure, then the
/// automatic checks of the hall-days that ended and have stopped gaining events (a
/// backfill of past days is checked once its ingest is over, not while it goes on).
/// Each replays a whole day, so a sweep makes at most 300.
pub async fn sweep_once(state: &AppState, settling: &mut peakend_store::Settling) {
    sweep(state, settling, Some(&peakend_store::SweepHalls::All), true).await;
}

/// The minute's sweeps this node runs now: those of its halls, and the network's if
/// it holds partition 0. Alone: [`sweep_once`].
async fn sweep_here(state: &AppState, settling: &mut peakend_store::Settling) {
    let halls = halls_here(state);
    sweep(state, settling, halls.as_ref(), sweeps_here(state)).await;
}

/// [`sweep_once`]'s steps for the cases and hall-days of `halls` (none: `None`), and
/// the erasures when `network`.
async fn sweep(
    state: &AppState,
    settling: &mut peakend_store::Settling,
    halls: Option<&peakend_store::SweepHalls>,
    network: bool,
) {
    let now = state.clock.now().timestamp_millis();
    if let Some(halls) = halls {
        match state.store.sweep_cases_of(now, halls).await {
            Ok(e) if !e.is_empty() => {
                tracing::info!(escalated = e.len(), "case sweep");
                // Which node escalated what, when asked for (RUST_LOG=…=debug).
                for x in &e {
                    tracing::debug!(case = x.case.0, hall = %x.hall, "case escalated");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "case sweep failed; the next one retries"),
        }
    }
    if network {
        let keep = i64::from(state.cases.erase_contacts_after_days) * 86_400_000;
        match state.store.erase_contacts(now - keep, now).await {
            Ok(n) if n > 0 => tracing::info!(erased = n, "case contacts erased"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "contact erasure failed; the next sweep retries"),
        }
        let keep = i64::from(state.cases.erase_customer_contacts_after_days) * 86_400_000;
        match state.store.erase_customer_contacts(now - keep).await {
            Ok(n) if n > 0 => tracing::info!(erased = n, "customer contacts erased"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "customer contact erasure failed; the next sweep retries")
            }
        }
    }
    if let Some(halls) = halls {
        match peakend_store::close_settled_days_of(state.store.as_ref(), now, 300, settling, halls)
            .await
        {
            Ok(n) if n > 0 => tracing::info!(days = n, "automatic checks made"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "automatic checks failed; the next sweep retries")
            }
        }
    }
}

/// At most this many invitations leave in one run; the rest follow in the next run,
/// straight after.
pub const INVITE_BATCH: usize = 2_000;

/// Invitations in flight at once.
const INVITE_CONCURRENCY: usize = 8;

/// A run stops after this many sends in a row found the gateway unreachable: the rest
/// wait for the next minute instead of timing out one by one.
const UNREACHABLE_STOP: usize = 3;

/// What one run of [`send_invitations`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InviteRun {
    /// Taken by the gateway and marked sent (their tokens dropped).
    pub sent: usize,
    /// Failed: each stays in the outbox, due again after its back-off.
    pub failed: usize,
    /// Due but not tried: over [`INVITE_BATCH`], or after the gateway was found down.
    pub waiting: usize,
    /// The run stopped because the gateway could not be reached.
    pub halted: bool,
}

enum Sent {
    Delivered,
    Failed,
    NotTried,
}

/// Hands the survey invitations due at `now` (the halls' clock, ms) to the state's
/// sender (issue 22): each delivered one is marked sent and loses its token; each
/// failed one stays in the outbox with one more attempt and its reason, due again after
/// [`retry_after`]. The log lines name the invitation, hall and kind, never the token,
/// the link or the customer's key.
pub async fn send_invitations(state: &AppState, now: i64) -> InviteRun {
    send_invitations_of(state, now, &peakend_store::SweepHalls::All).await
}

/// [`send_invitations`] of the invitations of some halls (a node of several): the
/// store claims the batch for this node, so a node that takes a partition over during
/// a run does not send the same invitation.
pub async fn send_invitations_of(
    state: &AppState,
    now: i64,
    halls: &peakend_store::SweepHalls,
) -> InviteRun {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use futures_util::StreamExt;

    use crate::invite_sender::InviteMessage;

    let mut run = InviteRun::default();
    let (mut due, left) = match state
        .store
        .sweep_invitations_of(now, halls, INVITE_BATCH)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "invitation sweep failed; the next one retries");
            return run;
        }
    };
    run.waiting = left;
    if due.len() > INVITE_BATCH {
        run.waiting += due.len() - INVITE_BATCH;
        due.truncate(INVITE_BATCH);
    }
    let sender = state.invites.sender.clone();
    let base = state.invites.link_base.as_str();
    let store = state.store.as_ref();
    let (halted, streak) = (AtomicBool::new(false), AtomicUsize::new(0));
    let outcomes: Vec<Sent> = futures_util::stream::iter(due)
        .map(|o| {
            let (sender, halted, streak) = (&sender, &halted, &streak);
            async move {
                if halted.load(Ordering::Relaxed) {
                    return Sent::NotTried;
                }
                let message = InviteMessage::of(&o, base, now);
                match sender.send(&message).await {
                    Ok(()) => {
                        streak.store(0, Ordering::Relaxed);
                        if let Err(e) = store.invitation_delivered(o.outbox_id, now).await {
                            tracing::warn!(error = %e, invitation = o.invitation_id, "invitation not marked sent; it is sent again next sweep");
                        }
                        Sent::Delivered
                    }
                    Err(e) => {
                        if !e.unreachable {
                            streak.store(0, Ordering::Relaxed);
                        } else if streak.fetch_add(1, Ordering::Relaxed) + 1 >= UNREACHABLE_STOP {
                            halted.store(true, Ordering::Relaxed);
                        }
                        tracing::warn!(
                            invitation = o.invitation_id,
                            hall = %o.hall,
                            kind = %o.kind,
                            sender = sender.name(),
                            reason = %e.reason,
                            attempts = o.attempts + 1,
                            "survey invitation not sent; it is tried again later"
                        );
                        let retry = now + retry_after(o.attempts).as_millis() as i64;
                        if let Err(e) = store
                            .invitation_send_failed(o.outbox_id, &e.reason, retry)
                            .await
                        {
                            tracing::warn!(error = %e, invitation = o.invitation_id, "failed send not recorded; it is tried again next sweep");
                        }
                        Sent::Failed
                    }
                }
            }
        })
        .buffer_unordered(INVITE_CONCURRENCY)
        .collect()
        .await;
    for o in outcomes {
        match o {
            Sent::Delivered => run.sent += 1,
            Sent::Failed => run.failed += 1,
            Sent::NotTried => run.waiting += 1,
        }
    }
    run.halted = halted.into_inner();
    if run.halted {
        tracing::warn!(
            sender = sender.name(),
            waiting = run.waiting,
            "invitation gateway unreachable; the rest wait for the next minute"
        );
    }
    if run.sent + run.failed > 0 {
        tracing::info!(
            sent = run.sent,
            failed = run.failed,
            waiting = run.waiting,
            sender = sender.name(),
            "survey invitations"
        );
    }
    run
}

/// Sends the deliveries due now, one at a time; returns how many were tried.
pub async fn deliver_once(state: &AppState, client: &reqwest::Client) -> usize {
    let now = chrono::Utc::now().timestamp_millis();
    let due = match state.store.due_deliveries(now, 50).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "webhook outbox unreadable; retrying");
            return 0;
        }
    };
    let n = due.len();
    for d in due {
        let result = client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("X-Peakend-Event", &d.event)
            .header(SIGNATURE_HEADER, signature(&d.secret, &d.body))
            .body(d.body.clone())
            .send()
            .await;
        let error = match result {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
            // The receiver's address is the admin's own; the error names no customer.
            Err(e) => Some(if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "request failed".to_owned()
            }),
        };
        let at = chrono::Utc::now().timestamp_millis();
        let retry = at + retry_after(d.attempts).as_millis() as i64;
        if let Err(e) = state
            .store
            .delivery_attempted(d.id, error.is_none(), error.as_deref(), at, retry)
            .await
        {
            tracing::warn!(error = %e, "webhook delivery not recorded; it will be sent again");
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_rfc_4231() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_after(0), Duration::from_secs(10));
        assert_eq!(retry_after(1), Duration::from_secs(20));
        assert_eq!(retry_after(3), Duration::from_secs(80));
        assert_eq!(retry_after(20), Duration::from_secs(3600));
    }
}
