//! The demo province: a fictional 示范省 with 3 cities, 8 districts and 38 halls,
//! the same every time so that demos, screenshots and benchmarks are reproducible.
//! Later issues add survey responses and hall events to it.

use anyhow::Context;
use peakend_core::{JourneyKey, OrgLevel, OrgNode, OrgNodeId, Role, UserName, builtin, synth};
use peakend_store::CaseStore;
use peakend_store::{SqlStore, Store, User};

const PROVINCE: (&str, &str) = ("demo", "示范省");

/// Survey responses per hall in the demo, and the seed that makes them reproducible.
const SURVEY_PER_HALL: usize = 60;
const SURVEY_SEED: u64 = 2019;

/// (district id, district name, number of halls)
type District = (&'static str, &'static str, usize);

/// (city id, city name, its districts)
const CITIES: &[(&str, &str, &[District])] = &[
    (
        "dj",
        "东江市",
        &[("cq", "城区", 6), ("lg", "临港区", 5), ("dh", "东湖县", 4)],
    ),
    ("xl", "西岭市", &[("zx", "中心区", 6), ("bs", "北山区", 4)]),
    (
        "nh",
        "南湖市",
        &[
            ("bh", "滨湖区", 5),
            ("gx", "高新区", 5),
            ("nx", "南湖县", 3),
        ],
    ),
];

const STREETS: &[&str] = &[
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "新华路",
    "文化路",
    "和平路",
    "长安街",
    "滨江路",
    "东风路",
    "青年路",
    "朝阳路",
];

fn id(s: &str) -> OrgNodeId {
    OrgNodeId::parse(s).expect("demo ids are valid")
}

fn node(id_: &str, parent: Option<&str>, level: OrgLevel, name: String) -> OrgNode {
    OrgNode {
        id: id(id_),
        parent: parent.map(id),
        level,
        name,
        counters: 0,
        kiosks: 0,
        tz: None,
        targets: Default::default(),
    }
}

/// The demo organisation, parents before children.
pub fn org() -> Vec<OrgNode> {
    let (pid, pname) = PROVINCE;
    // The demo province's own headline targets (the study sets none): each overview
    // shows its NPS and satisfaction index against them.
    let mut province = node(pid, None, OrgLevel::Province, pname.to_owned());
    province.targets = peakend_core::Targets {
        nps: Some(40),
        index: Some(80),
    };
    let mut nodes = vec![province];
    let mut hall_no = 0usize;
    let mut district_no = 0usize;
    for (cid, cname, districts) in CITIES {
        let city_id = format!("{pid}-{cid}");
        nodes.push(node(
            &city_id,
            Some(pid),
            OrgLevel::City,
            (*cname).to_owned(),
        ));
        for (did, dname, halls) in *districts {
            let district_id = format!("{city_id}-{did}");
            nodes.push(node(
                &district_id,
                Some(&city_id),
                OrgLevel::District,
                format!("{cname}{dname}"),
            ));
            district_no += 1;
            for h in 0..*halls {
                // Districts have at most 6 halls and there are 12 streets: names never repeat within one.
                let street = STREETS[(district_no * 5 + h) % STREETS.len()];
                let mut hall = node(
                    &format!("{district_id}-{:02}", h + 1),
                    Some(&district_id),
                    OrgLevel::Hall,
                    format!("{}{dname}{street}营业厅", cname.trim_end_matches('市')),
                );
                // Flagship halls (the first of each district) are larger.
                hall.counters = if h == 0 {
                    10
                } else {
                    4 + ((hall_no * 7 + 3) % 5) as u32
                };
                hall.kiosks = if h == 0 {
                    4
                } else {
                    1 + ((hall_no * 3) % 3) as u32
                };
                nodes.push(hall);
                hall_no += 1;
            }
        }
    }
    // The province's contact centre (issue 22): its calls live by the `hotline`.
    nodes.push(node(
        CENTRE,
        Some(pid),
        OrgLevel::Centre,
        "示范省10086客服中心".to_owned(),
    ));
    nodes
}

/// The demo's contact centre.
pub const CENTRE: &str = "demo-centre";

/// A deterministic day of calls at the demo centre (09:00–17:00, +08:00): about one a
/// minute, most answered within the hotline's 20 s, some abandoned, some held or
/// transferred, a few customers calling twice.
pub fn centre_day(day: chrono::NaiveDate, calls: u32) -> Vec<String> {
    let mut seed: u64 = 0x2026_0822;
    let mut roll = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let at = |s: u64| {
        format!(
            "{day}T{:02}:{:02}:{:02}+08:00",
            9 + s / 3600,
            s / 60 % 60,
            s % 60
        )
    };
    let mut lines = Vec::new();
    let mut ev = |id: String, s: u64, kind: &str, fields: String| {
        lines.push(format!(
            r#"{{"id":"{id}","hall":"{CENTRE}","type":"{kind}","at":"{}",{fields}}}"#,
            at(s)
        ));
    };
    let queues = ["billing", "plans", "broadband"];
    for i in 0..u64::from(calls) {
        let call = format!("{day}-{i:04}");
        let t0 = i * 28_800 / u64::from(calls.max(1)) + roll(20);
        let queue = queues[roll(3) as usize];
        // A salted key stands for the caller's number: one in ten calls again.
        let customer = peakend_core::customer::customer_key(
            "demo",
            &format!("1380000{:04}", roll(u64::from(calls) * 9 / 10 + 1)),
        );
        ev(
            format!("{call}o"),
            t0,
            "call_offered",
            format!(r#""call":"{call}","queue":"{queue}","customer":"{customer}""#),
        );
        let wait = if roll(10) < 7 {
            roll(20)
        } else {
            20 + roll(90)
        };
        if roll(100) < 8 {
            ev(
                format!("{call}x"),
                t0 + wait.min(3 + roll(60)),
                "call_abandoned",
                format!(r#""call":"{call}""#),
            );
            continue;
        }
        let agent = format!("a{:02}", 1 + roll(12));
        let answered = t0 + wait;
        ev(
            format!("{call}a"),
            answered,
            "call_answered",
            format!(r#""call":"{call}","agent":"{agent}""#),
        );
        let mut end = answered + 60 + roll(300);
        if roll(10) < 2 {
            ev(
                format!("{call}h"),
                answered + 30,
                "call_held",
                format!(r#""call":"{call}""#),
            );
            ev(
                format!("{call}r"),
                answered + 30 + 10 + roll(60),
                "call_resumed",
                format!(r#""call":"{call}""#),
            );
            end += 80;
        }
        let outcome = if roll(10) < 8 { "done" } else { "unresolved" };
        ev(
            format!("{call}e"),
            end,
            "call_ended",
            format!(
                r#""call":"{call}","outcome":"{outcome}","acw_s":{}"#,
                5 + roll(40)
            ),
        );
    }
    lines
}

/// One user per role, at the node that role works at: (name, role, org node).
const USERS: &[(&str, Role, &str)] = &[
    ("admin", Role::Admin, "demo"),
    ("director", Role::Director, "demo"),
    ("regional", Role::RegionalManager, "demo-dj"),
    ("manager", Role::HallManager, "demo-dj-cq-01"),
    ("staff", Role::Frontline, "demo-dj-cq-01"),
    ("shopper", Role::Auditor, "demo-dj"),
];

/// Halls of the demo city 东江市's 城区 whose audits the demo brings: a manager's walk
/// every week and a mystery visit every month over the last quarter.
const AUDITED_HALLS: usize = 6;
const AUDIT_WEEKS: u64 = 13;

/// Creates the demo users, or gives them new passwords when they exist, and prints
/// their logins: a demo's passwords are printed, so they must not outlive it.
async fn users(store: &SqlStore) -> anyhow::Result<()> {
    outln!("logins (a new password each run):");
    for (name, role, org) in USERS {
        let name = UserName::parse(*name)?;
        let (password, hash) = crate::user_cmd::new_password()?;
        // The frontline user serves at counter 1 of the simulated days (staff `s1`):
        // cases about the visits served there are theirs.
        let staff = (*role == Role::Frontline).then(|| "s1".to_owned());
        if store.user_credentials(&name).await?.is_some() {
            store.set_password(&name, &hash).await?;
            store.set_staff(&name, staff.as_deref()).await?;
        } else {
            let user = User {
                name: name.clone(),
                role: *role,
                org: id(org),
                created_at: chrono::Utc::now().timestamp_millis(),
                staff,
            };
            store.create_user(&user, &hash).await?;
        }
        let (zh, _) = role.name();
        outln!("  {:<9} {password}  {role} ({zh}) at {org}", name.as_str());
    }
    Ok(())
}

/// Loads the demo data (idempotent: nodes are upserted) and prints what is there.
pub async fn load(store: &SqlStore) -> anyhow::Result<()> {
    store
        .import_org(org())
        .await
        .context("loading the demo province")?;
    let tree = store.org_tree().await?;
    outln!(
        "demo province {}: {} cities, {} districts, {} halls",
        PROVINCE.1,
        tree.count(OrgLevel::City),
        tree.count(OrgLevel::District),
        tree.count(OrgLevel::Hall)
    );
    for j in store.list_journeys().await? {
        outln!("journey {} {} ({} moments)", j.key, j.name.zh, j.moments);
    }
    // Survey responses, once: a visit survey of each hall's customers.
    let journey = store
        .journey(&JourneyKey::parse(builtin::SERVICE_HALL)?)
        .await?
        .context("the built-in journey is missing")?;
    if store
        .responses(&journey, None, None, None)
        .await?
        .is_empty()
    {
        let halls: Vec<_> = tree.nodes().iter().filter_map(|n| n.hall_id()).collect();
        // With the gap model's expectation items and competitor ratings, so the
        // analysis page shows gap 5 and the house of quality its competitive column.
        let rows: Vec<_> = synth::responses_with(
            &journey,
            &halls,
            SURVEY_PER_HALL * halls.len(),
            SURVEY_SEED,
            synth::SynthOptions {
                expectations: true,
                competitors: true,
            },
        )
        .collect();
        store
            .import_responses(&journey, &rows)
            .await
            .context("loading the demo survey")?;
        // The demo's managers have said what they think customers care about, so the
        // analysis page has a gap 1 to show (illustrative figures, not the study's).
        for (user, org, role, guess) in [
            ("manager", "demo-dj-cq-01", Role::HallManager, [6.5, 8.5]),
            ("regional", "demo-dj", Role::RegionalManager, [8.0, 7.5]),
        ] {
            let estimates = journey
                .moments()
                .iter()
                .map(|m| {
                    let importance = match m.key.as_str() {
                        "queue" => guess[0],
                        "leave" => guess[1],
                        _ => m.importance.unwrap_or(8.0).clamp(1.0, 10.0),
                    };
                    peakend_core::analysis::ImportanceEstimate {
                        moment: m.key.clone(),
                        importance,
                    }
                })
                .collect();
            let batch = peakend_core::analysis::EstimateBatch {
                org: peakend_core::OrgNodeId::parse(org)?,
                role,
                estimates,
            };
            let now = chrono::Utc::now().timestamp_millis();
            store.put_estimate(journey.key(), user, &batch, now).await?;
        }
    }
    let stored = store.responses(&journey, None, None, None).await?.len();
    outln!(
        "survey: {stored} responses to {key} (peakend analyze --from-db --journey {key}; GET /api/v1/analysis?journey={key})",
        key = journey.key()
    );
    audits(store, &journey).await?;
    centre(store).await?;
    invite_rule(store).await?;
    users(store).await?;
    Ok(())
}

/// The province's survey invitations (issue 22): three in ten ended visits and calls
/// invited, none twice in 30 days, none sent 21:00–08:00 (held to the morning), through
/// the `log` sender. Set on every run (a rule is replaced, not added).
async fn invite_rule(store: &SqlStore) -> anyhow::Result<()> {
    use peakend_core::invitation::{InviteRule, parse_queue_shares, parse_quiet};
    use peakend_store::InvitationStore;
    let rule = InviteRule {
        share: 0.3,
        // The centre's billing line is its busiest: one call in ten is enough.
        queue_shares: parse_queue_shares("billing=0.1").map_err(anyhow::Error::msg)?,
        quotas: Default::default(),
        suppress_days: 30,
        quiet: Some(parse_quiet("21:00-08:00").map_err(anyhow::Error::msg)?),
    };
    store
        .set_invite_rule(&id(PROVINCE.0), &rule)
        .await
        .context("setting the demo's invitation rule")?;
    outln!(
        "invitations: 30% of ended contacts of {} (10% of billing calls), none twice in 30 days, quiet 21:00-08:00, log sender (peakend survey invitations)",
        PROVINCE.0
    );
    Ok(())
}

/// Yesterday's calls at the demo centre, through the ingest (resent each run: the ids
/// make them duplicates).
async fn centre(store: &SqlStore) -> anyhow::Result<()> {
    let day = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).context("+08:00")?)
        .date_naive()
        - chrono::Days::new(1);
    let batch = centre_day(day, 400)
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let e = peakend_core::ops::event::Event::from_json(&line)
                .map_err(|e| anyhow::anyhow!("demo call {i}: {e}"))?;
            Ok((i + 1, e, line))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let o = store
        .ingest_events(&peakend_core::HallId::parse(CENTRE)?, batch, vec![])
        .await
        .context("loading the demo centre's calls")?;
    outln!(
        "centre {CENTRE}: {} call events of {day} (peakend kpi --org {CENTRE} --from {day} --to {day})",
        o.accepted + o.duplicates
    );
    monitored_calls(store, day).await
}

/// Every 15th answered call of the centre's day scored by a quality monitor against the
/// hotline's standards a recording can judge, once; each agent a little better or worse,
/// so `compliance --org demo-centre --by agent` has figures.
async fn monitored_calls(store: &SqlStore, day: chrono::NaiveDate) -> anyhow::Result<()> {
    use peakend_core::audit::Checker;
    use peakend_store::{AuditStore, NewAudit, NewAuditItem};
    let centre = peakend_core::HallId::parse(CENTRE)?;
    let done = store
        .audits(&centre, 0)
        .await?
        .iter()
        .filter(|a| a.kind == Checker::Monitoring.as_str())
        .count();
    if done > 0 {
        outln!(
            "call monitoring: {done} calls scored (peakend compliance --org {CENTRE} --by agent)"
        );
        return Ok(());
    }
    let journey = crate::journey(store, &peakend_core::JourneyKey::parse("hotline")?).await?;
    let list = peakend_core::checklist::checklist(&journey, Checker::Monitoring);
    let answered: Vec<(String, String)> = centre_day(day, 400)
        .iter()
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["type"] == "call_answered").then(|| {
                Some((
                    v["call"].as_str()?.to_owned(),
                    v["agent"].as_str()?.to_owned(),
                ))
            })?
        })
        .collect();
    let mut n = 0u64;
    let mut scored = 0;
    for (call, agent) in answered.iter().step_by(15) {
        let skill: u64 = agent.trim_start_matches('a').parse().unwrap_or(6);
        let items: Vec<NewAuditItem> = list
            .items()
            .filter_map(|(m, i)| {
                let (_, s) = journey.standard(i.standard.as_str())?;
                let verify = s.check.as_ref()?.verify;
                n += 1;
                let pass = (n * 2_654_435_761) % 100 < 95 - 3 * skill;
                let result = demo_result(&verify, pass);
                Some(NewAuditItem {
                    standard: s.key.clone(),
                    moment: peakend_core::MomentKey::parse(&m.key).ok()?,
                    passed: verify.passes(verify.parse_result(&result).ok()?),
                    result,
                    note: None,
                    photo: None,
                })
            })
            .collect();
        store
            .record_audit(&NewAudit {
                hall: centre.clone(),
                kind: Checker::Monitoring,
                at_ms: local_noon(day) + 8 * 3_600_000,
                day,
                journey: journey.key().clone(),
                by: "monitor".into(),
                call: Some(call.clone()),
                agent: Some(agent.clone()),
                items,
            })
            .await
            .context("loading the demo's call monitoring")?;
        scored += 1;
    }
    outln!("call monitoring: {scored} calls scored (peakend compliance --org {CENTRE} --by agent)");
    Ok(())
}

/// A result for a standard's check that passes or not, as an auditor writes it.
fn demo_result(verify: &peakend_core::audit::CheckMethod, pass: bool) -> String {
    use peakend_core::audit::CheckMethod;
    match (verify, pass) {
        (CheckMethod::YesNo, true) => "yes".into(),
        (CheckMethod::YesNo, false) => "no".into(),
        (CheckMethod::CountMax { max } | CheckMethod::DurationMax { max }, true) => max.to_string(),
        (CheckMethod::CountMax { max } | CheckMethod::DurationMax { max }, false) => {
            (max + 1.0).to_string()
        }
        (CheckMethod::ShareMin { min }, true) => min.to_string(),
        (CheckMethod::ShareMin { min }, false) => (min * 0.9).to_string(),
    }
}

/// The demo's audits, once: weekly walks and monthly mystery visits of the first halls
/// of 城区 over the last quarter, each hall keeping its standards a little better or
/// worse (and the queue's the worst), so compliance and the plans have figures.
async fn audits(store: &SqlStore, journey: &peakend_core::Journey) -> anyhow::Result<()> {
    use peakend_store::AuditStore;
    let first = peakend_core::HallId::parse("demo-dj-cq-01")?;
    if store.audits(&first, 0).await?.is_empty() {
        record_audits(store, journey).await?;
    }
    let mut n = 0;
    for h in 1..=AUDITED_HALLS {
        let hall = peakend_core::HallId::parse(format!("demo-dj-cq-{h:02}"))?;
        n += store.audits(&hall, 0).await?.len();
    }
    outln!(
        "audits: {n}, weekly walks and monthly mystery visits of {AUDITED_HALLS} halls (peakend compliance --org demo-dj-cq; /compliance)"
    );
    Ok(())
}

async fn record_audits(store: &SqlStore, journey: &peakend_core::Journey) -> anyhow::Result<()> {
    use peakend_core::audit::Checker;
    use peakend_store::{AuditStore, NewAudit, NewAuditItem};
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).context("+08:00")?)
        .date_naive();
    let mut n = 0u64;
    for h in 1..=AUDITED_HALLS {
        let hall = peakend_core::HallId::parse(format!("demo-dj-cq-{h:02}"))?;
        for week in 1..=AUDIT_WEEKS {
            let day = today - chrono::Days::new(week * 7);
            let kinds: &[Checker] = if week % 4 == 0 {
                &[Checker::Walk, Checker::Mystery]
            } else {
                &[Checker::Walk]
            };
            for kind in kinds {
                let list = peakend_core::checklist::checklist(journey, *kind);
                let items: Vec<NewAuditItem> = list
                    .items()
                    .filter_map(|(m, i)| {
                        let (_, s) = journey.standard(i.standard.as_str())?;
                        let verify = s.check.as_ref()?.verify;
                        n += 1;
                        // Deterministic: better halls and later weeks keep more.
                        let roll = (n * 2_654_435_761) % 100;
                        let queue = m.key == "queue";
                        let keep = 70 + 4 * (AUDITED_HALLS - h) as u64 + (AUDIT_WEEKS - week)
                            - if queue { 25 } else { 0 };
                        let pass = roll < keep;
                        Some(NewAuditItem {
                            standard: s.key.clone(),
                            moment: peakend_core::MomentKey::parse(&m.key).ok()?,
                            result: demo_result(&verify, pass),
                            passed: verify
                                .passes(verify.parse_result(&demo_result(&verify, pass)).ok()?),
                            note: None,
                            photo: None,
                        })
                    })
                    .collect();
                let at = local_noon(day);
                store
                    .record_audit(&NewAudit {
                        hall: hall.clone(),
                        kind: *kind,
                        at_ms: at,
                        day,
                        journey: journey.key().clone(),
                        by: if *kind == Checker::Mystery {
                            "shopper"
                        } else {
                            "manager"
                        }
                        .into(),
                        call: None,
                        agent: None,
                        items,
                    })
                    .await
                    .context("loading the demo audits")?;
            }
        }
    }
    Ok(())
}

/// 10:00 of `day` at +08:00, in ms.
fn local_noon(day: chrono::NaiveDate) -> i64 {
    day.and_hms_opt(10, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp_millis() - 8 * 3_600_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use peakend_core::OrgTree;

    #[test]
    fn demo_province_is_a_valid_tree_of_the_promised_size() {
        let tree = OrgTree::build(org()).unwrap();
        assert_eq!(tree.count(OrgLevel::Province), 1);
        assert!(tree.count(OrgLevel::City) >= 2);
        assert!(tree.count(OrgLevel::District) >= 5);
        assert!(tree.count(OrgLevel::Hall) >= 30);
        let halls: Vec<_> = tree
            .nodes()
            .iter()
            .filter(|n| n.level == OrgLevel::Hall)
            .collect();
        assert!(halls.iter().all(|h| h.counters >= 4 && h.kiosks >= 1));
        let names: std::collections::HashSet<_> = halls.iter().map(|h| &h.name).collect();
        assert_eq!(names.len(), halls.len(), "hall names are unique");
    }
}
