//! Standards checked and improved as stored (issue 21): audits and their photos, the
//! checks made and passed per hall, day and standard (from audits and from the device
//! events), and each hall's improvement plan (stock-takes, actions, drills, exams).
//! The rules are `peakend_core::audit`; this is where they meet the database.

use chrono::NaiveDate;
use peakend_core::audit::{AgentChecks, CheckRow, Checker};
use peakend_core::ops::day::CheckTally;
use peakend_core::{HallId, JourneyKey, MomentKey, StandardKey};
use serde::Serialize;

use crate::Result;

/// The largest photo an audit item may carry.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

/// An audit to record, already checked against the hall's journey.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub hall: HallId,
    pub kind: Checker,
    pub at_ms: i64,
    /// The hall's local date of `at_ms`.
    pub day: NaiveDate,
    pub journey: JourneyKey,
    pub by: String,
    /// The call a `monitoring` audit scores, and the agent who took it.
    pub call: Option<String>,
    pub agent: Option<String>,
    pub items: Vec<NewAuditItem>,
}

#[derive(Debug, Clone)]
pub struct NewAuditItem {
    pub standard: StandardKey,
    pub moment: MomentKey,
    /// The result as recorded (`yes`, `3`, `95%`).
    pub result: String,
    pub passed: bool,
    pub note: Option<String>,
    pub photo: Option<String>,
}

/// An audit as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditSummary {
    pub id: i64,
    pub hall: String,
    pub kind: String,
    pub at_ms: i64,
    pub by: String,
    pub items: i64,
    pub passed: i64,
    /// The call and agent of a `monitoring` audit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// A stock-take of the hall (step 2): the form's fields as JSON, kept with its date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stocktake {
    pub id: i64,
    pub at_ms: i64,
    pub by: String,
    pub body: serde_json::Value,
}

/// An improvement action (step 4).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanAction {
    pub id: i64,
    pub moment: String,
    pub standard: Option<String>,
    pub what: String,
    pub owner: String,
    pub due: NaiveDate,
    /// What it must move: `satisfaction.<moment>`, `overall`, `compliance.<moment>`.
    pub metric: String,
    pub baseline: Option<f64>,
    pub target: f64,
    pub created_at: i64,
    pub by: String,
}

/// A morning-meeting drill held (step 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drill {
    pub id: i64,
    pub day: NaiveDate,
    pub moment: String,
    pub attendees: Vec<String>,
    pub note: Option<String>,
    pub by: String,
}

/// An exam a staff member sat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exam {
    pub id: i64,
    pub hall: String,
    pub staff: String,
    /// `week`, `month` or `quarter`.
    pub period: String,
    pub taken: NaiveDate,
    pub score: f64,
    pub out_of: f64,
}

/// How [`AuditStore::check_rows`] sums checks; the fields a grouping drops are empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckGrouping {
    /// Per hall, moment, standard and source, over the whole range.
    Standards,
    /// Per month (`YYYY-MM`), moment and source, over all the halls.
    Months,
    /// Per day (`YYYY-MM-DD`), moment and source, over all the halls.
    Days,
}

/// Which sites' checks [`AuditStore::check_rows_of`] sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sites<'a> {
    /// Every hall and centre.
    All,
    /// These halls or centres.
    Only(&'a [HallId]),
    /// Every one but these (a province's halls without its contact centres).
    AllBut(&'a [HallId]),
}

/// What a centre's stored events say of a call a monitor names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOnRecord {
    /// The centre has no events stored: its calls cannot be checked.
    NoEvents,
    /// The centre's events are stored and none of its offers, answers or transfers
    /// names the call.
    Unknown,
    /// The call as its events tell it: when it was offered, and the agents who took it
    /// (answered or were transferred it), in order.
    Found {
        offered_at: Option<i64>,
        agents: Vec<String>,
    },
}

/// A hall-day whose automatic checks are due: its day start and the events it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayToCheck {
    pub hall: HallId,
    pub day_start: i64,
    pub events: i64,
}

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Keeps a photo once by the SHA-256 of its bytes; returns that id.
    async fn put_photo(&self, bytes: &[u8], content_type: &str, by: &str) -> Result<String>;

    /// A photo's type and bytes.
    async fn photo(&self, id: &str) -> Result<Option<(String, Vec<u8>)>>;

    /// The halls whose audits name a photo.
    async fn photo_halls(&self, id: &str) -> Result<Vec<HallId>>;

    /// Records an audit and counts its items into the hall's checks, in one
    /// transaction. A photo id that is not stored refuses the whole audit.
    async fn record_audit(&self, audit: &NewAudit) -> Result<i64>;

    /// A hall's audits made at or after `from_ms`, newest first.
    async fn audits(&self, hall: &HallId, from_ms: i64) -> Result<Vec<AuditSummary>>;

    /// Hall-days that ended before `before_ms` whose automatic checks were never made,
    /// or were made before the day gained events.
    async fn days_to_check(&self, before_ms: i64, limit: i64) -> Result<Vec<DayToCheck>> {
        self.days_to_check_of(before_ms, limit, &crate::SweepHalls::All)
            .await
    }

    /// [`AuditStore::days_to_check`] of some halls.
    async fn days_to_check_of(
        &self,
        before_ms: i64,
        limit: i64,
        halls: &crate::SweepHalls,
    ) -> Result<Vec<DayToCheck>>;

    /// Replaces a hall-day's automatic checks with `tallies` and marks it checked at
    /// `events` events. Two writers of one hall-day (a partition changing hands during
    /// a sweep) take turns, and the second finds the day checked at that count and
    /// leaves it: the month's sums take the day once.
    async fn record_auto_checks(
        &self,
        day: &DayToCheck,
        date: NaiveDate,
        tallies: &[CheckTally],
    ) -> Result<()>;

    /// Checks made and passed in [from, to] (local dates) of some halls (all when
    /// `None`), summed in the database as `grouping` says (a row may repeat a key: the
    /// whole months and the days around them are summed apart).
    async fn check_rows(
        &self,
        halls: Option<&[HallId]>,
        from: NaiveDate,
        to: NaiveDate,
        grouping: CheckGrouping,
    ) -> Result<Vec<CheckRow>> {
        let sites = match halls {
            Some(h) => Sites::Only(h),
            None => Sites::All,
        };
        self.check_rows_of(sites, from, to, grouping).await
    }

    /// [`AuditStore::check_rows`] of any set of sites.
    async fn check_rows_of(
        &self,
        sites: Sites<'_>,
        from: NaiveDate,
        to: NaiveDate,
        grouping: CheckGrouping,
    ) -> Result<Vec<CheckRow>>;

    /// Per centre and agent, the items of the call-monitoring audits of `centres` made
    /// in [from, to] (the centres' local dates): checks made and passed.
    async fn agent_checks(
        &self,
        centres: &[HallId],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<AgentChecks>>;

    /// What the stored events of `centre` say of call `call`.
    async fn call_on_record(&self, centre: &HallId, call: &str) -> Result<CallOnRecord>;

    async fn add_stocktake(
        &self,
        hall: &HallId,
        at_ms: i64,
        body: &serde_json::Value,
        by: &str,
    ) -> Result<i64>;

    /// A hall's stock-takes, newest first.
    async fn stocktakes(&self, hall: &HallId, limit: i64) -> Result<Vec<Stocktake>>;

    async fn add_action(&self, hall: &HallId, action: &PlanAction) -> Result<i64>;

    /// A hall's actions, newest first.
    async fn actions(&self, hall: &HallId) -> Result<Vec<PlanAction>>;

    async fn add_drill(&self, hall: &HallId, drill: &Drill) -> Result<i64>;

    /// A hall's drills on or after `from`, newest first.
    async fn drills(&self, hall: &HallId, from: NaiveDate) -> Result<Vec<Drill>>;

    async fn add_exam(&self, exam: &Exam, by: &str) -> Result<i64>;

    /// A hall's exams taken on or after `from`, newest first.
    async fn exams(&self, hall: &HallId, from: NaiveDate) -> Result<Vec<Exam>>;
}

/// Makes the automatic checks of every hall-day that has ended (a day after its start
/// and ten minutes more, for late batches) and was not checked at its current count of
/// events: the day is replayed from its stored events with the faults it carries in,
/// and judged with its alerts' acknowledgements. At most `limit` days a call; returns
/// how many it checked.
pub async fn close_days(store: &dyn crate::Store, now_ms: i64, limit: i64) -> Result<usize> {
    let days = due_days(store, now_ms, limit, &crate::SweepHalls::All).await?;
    check_days(store, &days).await
}

/// The hall-days [`close_days`] would check, of some halls.
async fn due_days(
    store: &dyn crate::Store,
    now_ms: i64,
    limit: i64,
    halls: &crate::SweepHalls,
) -> Result<Vec<DayToCheck>> {
    store
        .days_to_check_of(now_ms - 86_400_000 - 600_000, limit, halls)
        .await
}

/// A server's memory of the ended days still gaining events, so that a backfill of
/// past days is checked once it has settled, not replayed again and again while its
/// ingest goes on.
#[derive(Debug, Default)]
pub struct Settling {
    seen: std::collections::HashMap<(HallId, i64), i64>,
}

/// [`close_days`] for the server's sweep: a due day is checked once its count of events
/// is the one the previous sweep saw (a day that is still being written waits).
pub async fn close_settled_days(
    store: &dyn crate::Store,
    now_ms: i64,
    limit: i64,
    settling: &mut Settling,
) -> Result<usize> {
    close_settled_days_of(store, now_ms, limit, settling, &crate::SweepHalls::All).await
}

/// [`close_settled_days`] for the halls of some partitions (a node of several).
pub async fn close_settled_days_of(
    store: &dyn crate::Store,
    now_ms: i64,
    limit: i64,
    settling: &mut Settling,
    halls: &crate::SweepHalls,
) -> Result<usize> {
    let due = due_days(store, now_ms, limit, halls).await?;
    let mut seen = std::collections::HashMap::with_capacity(due.len());
    let mut settled = Vec::new();
    for d in due {
        let key = (d.hall.clone(), d.day_start);
        if settling.seen.get(&key) == Some(&d.events) {
            settled.push(d);
        } else {
            seen.insert(key, d.events);
        }
    }
    settling.seen = seen;
    check_days(store, &settled).await
}

async fn check_days(store: &dyn crate::Store, days: &[DayToCheck]) -> Result<usize> {
    if days.is_empty() {
        return Ok(0);
    }
    let book = crate::RulesBook::load(store).await?;
    for d in days {
        let rules = book.hall(&d.hall);
        let Some(start) = rules.zone.local(d.day_start) else {
            continue;
        };
        let date = start.date_naive();
        let next = date.succ_opt().unwrap_or(date);
        let end = crate::local_midnight(next, rules.zone.offset_on(next));
        let day = crate::replay_day(store, &d.hall, rules, d.day_start, end - 1).await?;
        let acks = store.alert_acks_raised(&d.hall, d.day_start, end).await?;
        store
            .record_auto_checks(d, date, &day.checks(&acks))
            .await?;
    }
    Ok(days.len())
}

/// A compliance report over the halls at or below `org`, dates [from, to] (the halls'
/// local dates): checks from audits and the events, each moment weighted by its
/// segment-weighted importance in the survey of `org` (the journey's prior importance
/// where the survey has none), and per moment across halls compliance against the
/// halls' satisfaction.
pub async fn compliance(
    store: &dyn crate::Store,
    org: &peakend_core::OrgNodeId,
    from: NaiveDate,
    to: NaiveDate,
    by: peakend_core::audit::ComplianceBy,
) -> Result<peakend_core::audit::ComplianceReport> {
    use peakend_core::OrgLevel;
    use peakend_core::audit::ComplianceBy;
    use std::collections::BTreeMap;
    let tree = store.org_tree().await?;
    let halls = crate::analysis::query_halls(&tree, Some(org))?.unwrap_or_default();
    let centres: Vec<HallId> = tree
        .subtree(org)
        .into_iter()
        .filter(|n| n.level == OrgLevel::Centre)
        .filter_map(|n| HallId::parse(n.id.as_str()).ok())
        .collect();
    // A region's report is of its halls, on the journey they live by; a contact centre's
    // (asked of the centre, of a node with only centres below, or per agent) is of its
    // centres, on theirs: a call's moments are not a visit's.
    let of_centres = by == ComplianceBy::Agent || halls.is_empty();
    let (journey, also) = if of_centres {
        match centres.first() {
            Some(c) => {
                let node = peakend_core::OrgNodeId::parse(c.as_str())
                    .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
                (crate::effective_journey(store, &node).await?.0, Vec::new())
            }
            None => crate::analysis_journey(store, org).await?,
        }
    } else {
        crate::analysis_journey(store, org).await?
    };
    // A node above every hall (the province) reads every row but its centres': no list
    // of 2,000 ids for the database to match each row against.
    let every_hall = tree.count(OrgLevel::Hall);
    let every_centre: Vec<HallId> = tree
        .nodes()
        .iter()
        .filter(|n| n.level == OrgLevel::Centre)
        .filter_map(|n| HallId::parse(n.id.as_str()).ok())
        .collect();
    let sites = if of_centres {
        Sites::Only(&centres)
    } else if halls.len() >= every_hall {
        Sites::AllBut(&every_centre)
    } else {
        Sites::Only(&halls)
    };
    let rows = store
        .check_rows_of(sites, from, to, CheckGrouping::Standards)
        .await?;
    let periods = store
        .check_rows_of(
            sites,
            from,
            to,
            if by == ComplianceBy::Day {
                CheckGrouping::Days
            } else {
                CheckGrouping::Months
            },
        )
        .await?;
    let moments: Vec<String> = journey
        .moments()
        .iter()
        .map(|m| m.key.to_string())
        .collect();
    let mut importance: BTreeMap<String, f64> = journey
        .moments()
        .iter()
        .filter_map(|m| Some((m.key.to_string(), m.importance?)))
        .collect();
    let mut satisfaction = BTreeMap::new();
    // The survey over whole months around the range, so the roll-up answers it.
    let (a_from, a_to) = month_bounds(from, to);
    let q = crate::AnalysisQuery {
        org: Some(org),
        from: Some(a_from),
        to: Some(a_to),
        by: Some(peakend_core::analysis::GroupBy::Hall),
        also: &also,
        ..Default::default()
    };
    let survey = if of_centres {
        None
    } else {
        crate::stored_analysis(store, &journey, &q).await.ok()
    };
    if let Some(a) = survey {
        for m in &a.moments {
            if let Some(i) = m.importance {
                importance.insert(m.key.clone(), i);
            }
        }
        for g in &a.groups {
            for m in &g.analysis.moments {
                if let Some(s) = m.satisfaction {
                    satisfaction.insert((g.group.clone(), m.key.clone()), s);
                }
            }
        }
    }
    let mut report = peakend_core::audit::compliance_report(
        &rows,
        &periods,
        by,
        &moments,
        &importance,
        &satisfaction,
    );
    if by == ComplianceBy::Agent {
        report.lines =
            peakend_core::audit::agent_lines(&store.agent_checks(&centres, from, to).await?);
    }
    Ok(report)
}

/// The first day of `from`'s month and the last of `to`'s.
pub fn month_bounds(from: NaiveDate, to: NaiveDate) -> (NaiveDate, NaiveDate) {
    use chrono::Datelike;
    let first = from.with_day(1).unwrap_or(from);
    let last = to
        .with_day(1)
        .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
        .and_then(|d| d.pred_opt())
        .unwrap_or(to);
    (first, last)
}
