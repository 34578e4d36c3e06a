//! Issue 22's survey-programme reports, on a fresh SQLite file and a fresh PostgreSQL
//! database: a day of served visits in two halls, invitations decided for them, some
//! answered through their link (stored as `inv-{id}` and joined back), and the numbers
//! worked out by hand: response rates per hall, segment and purpose with the suppressed
//! apart, the non-response check (χ² = 1 on 3 df), the waits bins, staff and counter
//! effects shrunk to the hall mean, and the respondents raked to the visits (weights
//! 3, 1 and 4, design effect 1.25), refused when a category has no visits or no
//! respondent.

use chrono::NaiveDate;
use peakend_core::analysis::rake::RakeMargin;
use peakend_core::invitation::InviteRule;
use peakend_core::survey::{Rating, Response};
use peakend_core::{HallId, Journey, JourneyKey, OrgNodeId};
use peakend_store::{
    AnalysisQuery, EndedContact, InvitationStore, ProgrammeQuery, SqlStore, Store, StoreError,
    connect, raked_analysis, response_rates, visit_cells, wait_report,
};

fn ms(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 8, 7).unwrap()
}

/// A hall's day: counter 1 opened, then each (ticket, segment, service, served) issued a
/// minute apart and, when served, called, started and ended five minutes apart.
async fn visits(store: &SqlStore, hall: &str, tickets: &[(&str, &str, &str, bool)]) {
    let at = |min: usize| format!("2026-08-07T{:02}:{:02}:00+08:00", 9 + min / 60, min % 60);
    let mut lines = vec![format!(
        r#"{{"id":"{hall}-open","hall":"{hall}","type":"counter_opened","at":"{}","counter":"1"}}"#,
        at(0)
    )];
    for (i, (ticket, segment, service, served)) in tickets.iter().enumerate() {
        lines.push(format!(
            r#"{{"id":"{hall}-{ticket}-i","hall":"{hall}","type":"ticket_issued","at":"{}","ticket":"{ticket}","service":"{service}","segment":"{segment}"}}"#,
            at(i)
        ));
        if *served {
            let called = 60 + 5 * i;
            for (kind, min) in [
                ("called", called),
                ("service_started", called),
                ("service_ended", called + 4),
            ] {
                let outcome = if kind == "service_ended" {
                    r#","outcome":"done""#
                } else {
                    ""
                };
                lines.push(format!(
                    r#"{{"id":"{hall}-{ticket}-{kind}","hall":"{hall}","type":"{kind}","at":"{}","ticket":"{ticket}","counter":"1","staff":"S01"{outcome}}}"#,
                    at(min)
                ));
            }
        } else {
            lines.push(format!(
                r#"{{"id":"{hall}-{ticket}-left","hall":"{hall}","type":"left","at":"{}","ticket":"{ticket}"}}"#,
                at(i + 30)
            ));
        }
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let hall = HallId::parse(hall).unwrap();
    store
        .ingest_events(&hall, peakend_testkit::event_batch(&lines), Vec::new())
        .await
        .unwrap();
    assert!(store.quarantined(Some(&hall)).await.unwrap().is_empty());
}

/// (contact, hall, customer, segment, purpose, staff, counter, wait in minutes)
type Contact = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
);

const CONTACTS: [Contact; 9] = [
    ("i1", "h1", Some("k1"), "全球通", "payment", "S01", "1", 3),
    ("i2", "h1", Some("k2"), "全球通", "payment", "S01", "1", 8),
    ("i3", "h1", Some("k3"), "神州行", "payment", "S02", "2", 12),
    ("i4", "h1", Some("k4"), "神州行", "payment", "S02", "2", 18),
    ("i5", "h1", Some("k5"), "全球通", "data", "S01", "1", 25),
    ("i6", "h1", Some("k6"), "神州行", "payment", "S02", "2", 40),
    // The same customer as i1 again: invited in the last 30 days.
    ("i7", "h1", Some("k1"), "全球通", "payment", "S01", "1", 5),
    ("i8", "h1", None, "神州行", "data", "S02", "2", 5),
    ("j1", "h2", Some("k9"), "神州行", "data", "S03", "1", 35),
];

/// (contact, queue satisfaction, counter_talk, result, overall, tolerable wait)
type Answer = (&'static str, f64, f64, Option<f64>, f64, f64);

const ANSWERS: [Answer; 5] = [
    ("i1", 9.0, 9.0, Some(8.0), 9.0, 15.0),
    ("i2", 8.0, 8.0, Some(8.0), 9.0, 20.0),
    ("i3", 7.0, 6.0, None, 6.0, 16.0),
    ("i4", 5.0, 5.0, Some(6.0), 6.0, 17.0),
    ("j1", 2.0, 7.0, None, 3.0, 12.0),
];

fn answer(journey: &Journey, respondent: &str, hall: &str, a: &Answer) -> Response {
    let at = |key: &str| {
        journey
            .moments()
            .iter()
            .position(|m| m.key.as_str() == key)
            .unwrap()
    };
    let mut ratings = vec![
        Rating {
            importance: None,
            satisfaction: None,
            expectation: None,
            competitor: None,
        };
        journey.moments().len()
    ];
    ratings[at("queue")].satisfaction = Some(a.1);
    ratings[at("counter_talk")].satisfaction = Some(a.2);
    ratings[at("result")].satisfaction = a.3;
    // A moment of another kind, which no staff effect reads.
    ratings[at("leave")].satisfaction = Some(1.0);
    Response {
        respondent: respondent.to_owned(),
        hall: HallId::parse(hall).unwrap(),
        date: day(),
        // The form's own segment: the invitation's cell is the one raked.
        segment: "form".into(),
        purpose: None,
        overall: Some(a.4),
        nps: None,
        tolerable_wait_min: Some(a.5),
        ratings,
        needs: Vec::new(),
        contact: None,
        comment: None,
        customer: None,
        short_form: false,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

peakend_testkit::on_both_backends!(rates_non_response_waits_staff_and_raking_by_hand, |url| {
    let store = connect(url).await.unwrap();
    crate::with_small_org(&store, &[("h1", "人民路营业厅"), ("h2", "解放路营业厅")]).await;
    // Served visits: h1 4 gold and 4 basic paying, 2 gold for data; h2 2 basic for
    // data and one who left unserved.
    let mut h1 = Vec::new();
    for i in 0..4 {
        h1.push((["G1", "G2", "G3", "G4"][i], "全球通", "payment", true));
        h1.push((["B1", "B2", "B3", "B4"][i], "神州行", "payment", true));
    }
    h1.push(("G5", "全球通", "data", true));
    h1.push(("G6", "全球通", "data", true));
    visits(&store, "h1", &h1).await;
    visits(
        &store,
        "h2",
        &[
            ("B5", "神州行", "data", true),
            ("B6", "神州行", "data", true),
            ("B7", "神州行", "data", false),
        ],
    )
    .await;
    let both: std::collections::HashSet<HallId> = ["h1", "h2"]
        .iter()
        .map(|h| HallId::parse(*h).unwrap())
        .collect();
    let cells = visit_cells(&store, &both, day(), day()).await.unwrap();
    let cell = |s: &str, p: &str| (s.to_owned(), p.to_owned());
    let want = std::collections::BTreeMap::from([
        (cell("全球通", "payment"), 4),
        (cell("神州行", "payment"), 4),
        (cell("全球通", "data"), 2),
        (cell("神州行", "data"), 2),
    ]);
    assert_eq!(cells, want);
    // A day whose roll-up must be replayed counts the same.
    peakend_testkit::execute(
        url,
        "UPDATE ops_rollup SET rollup = NULL WHERE hall_id = 'h2'",
    )
    .await;
    assert_eq!(
        visit_cells(&store, &both, day(), day()).await.unwrap(),
        want
    );

    // Every contact sampled, no quiet hours: decided at noon.
    let rule = InviteRule {
        share: 1.0,
        quiet: None,
        ..InviteRule::default()
    };
    store
        .set_invite_rule(&OrgNodeId::parse("p").unwrap(), &rule)
        .await
        .unwrap();
    let noon = ms("2026-08-07T12:00:00+08:00");
    let contacts: Vec<EndedContact> = CONTACTS
        .iter()
        .map(|c| EndedContact {
            hall: HallId::parse(c.1).unwrap(),
            channel: "hall".into(),
            id: c.0.to_owned(),
            customer: c.2.map(str::to_owned),
            segment: c.3.into(),
            purpose: c.4.into(),
            staff: Some(c.5.into()),
            counter: Some(c.6.into()),
            wait_s: Some(c.7 * 60),
            outcome: Some("done".into()),
            ended_at: noon - 60_000,
        })
        .collect();
    let decided = store.decide_invitations(&contacts, noon).await.unwrap();
    assert_eq!((decided.sent, decided.suppressed), (7, 2));
    // Five answer through their link: stored as `inv-{id}`, the invitation joined.
    let journey = store
        .journey(&JourneyKey::parse("service-hall").unwrap())
        .await
        .unwrap()
        .unwrap();
    let list = store.invitations(None).await.unwrap();
    let id_of = |contact: &str| list.iter().find(|i| i.contact == contact).unwrap().id;
    let responses: Vec<Response> = ANSWERS
        .iter()
        .map(|a| {
            let hall = CONTACTS.iter().find(|c| c.0 == a.0).unwrap().1;
            answer(&journey, &format!("inv-{}", id_of(a.0)), hall, a)
        })
        .collect();
    store.import_responses(&journey, &responses).await.unwrap();
    for (contact, ..) in &ANSWERS {
        let id = id_of(contact);
        peakend_testkit::execute(
                url,
                &format!(
                    "UPDATE invitation SET status = 'answered', response_id = 'inv-{id}' WHERE id = {id}"
                ),
            )
            .await;
    }
    // Three days later the unanswered two have expired.
    store
        .sweep_invitations(noon + 73 * 3_600_000)
        .await
        .unwrap();

    // Rates: 7 invited (4 + 1 answered, 2 expired), 2 suppressed apart.
    let q = ProgrammeQuery {
        org: None,
        from: day(),
        to: day(),
    };
    let r = response_rates(&store, &q).await.unwrap();
    assert_eq!(
        (r.total.invited, r.total.answered, r.total.suppressed),
        (7, 5, 2)
    );
    assert!(close(r.total.rate.unwrap(), 5.0 / 7.0));
    assert_eq!(r.total.suppressed_by["no_customer"], 1);
    assert_eq!(r.total.suppressed_by["invited in the last 30 days"], 1);
    let line = |lines: &[peakend_store::RateLine], k: &str| {
        let l = lines.iter().find(|l| l.key == k).unwrap().clone();
        (l.counts.invited, l.counts.answered, l.counts.suppressed)
    };
    assert_eq!(line(&r.halls, "h1"), (6, 4, 2));
    assert_eq!(line(&r.halls, "h2"), (1, 1, 0));
    assert_eq!(r.halls[0].name.as_deref(), Some("人民路营业厅"));
    assert_eq!(line(&r.segments, "全球通"), (3, 2, 1));
    assert_eq!(line(&r.segments, "神州行"), (4, 3, 1));
    assert_eq!(line(&r.purposes, "payment"), (5, 4, 1));
    assert_eq!(line(&r.purposes, "data"), (2, 1, 1));
    // Non-response: respondents 2, 2, 0, 1 against visits 4, 4, 2, 2 of 12; expected
    // 5/3, 5/3, 5/6, 5/6; χ² = 2/15 + 2/15 + 5/6 + 1/30 = 1 on 3 df.
    let nr = &r.non_response;
    assert_eq!(
        (nr.respondents, nr.visits, nr.unmatched_respondents),
        (5, 12, 0)
    );
    assert!(close(nr.chi_square.unwrap(), 1.0), "{nr:?}");
    assert_eq!(nr.df, Some(3));
    assert!((nr.p_value.unwrap() - 0.8013).abs() < 1e-4);
    assert_eq!(nr.small_expected, 4);
    let gold = nr
        .cells
        .iter()
        .find(|c| c.segment == "全球通" && c.purpose == "payment")
        .unwrap();
    assert!(close(gold.respondent_share.unwrap(), 0.4));
    assert!(close(gold.visit_share.unwrap(), 4.0 / 12.0));
    assert!(close(gold.difference.unwrap(), 0.4 - 1.0 / 3.0));
    // Of h2 alone: its one invitation, answered, against its two visits.
    let h2 = OrgNodeId::parse("h2").unwrap();
    let r2 = response_rates(
        &store,
        &ProgrammeQuery {
            org: Some(&h2),
            ..q
        },
    )
    .await
    .unwrap();
    assert_eq!((r2.total.invited, r2.non_response.visits), (1, 2));
    // Another day has none.
    let next = day().succ_opt().unwrap();
    let empty = response_rates(
        &store,
        &ProgrammeQuery {
            org: None,
            from: next,
            to: next,
        },
    )
    .await
    .unwrap();
    assert_eq!((empty.total.invited, empty.non_response.visits), (0, 0));
    assert_eq!(empty.total.rate, None);
    assert!(matches!(
        response_rates(
            &store,
            &ProgrammeQuery {
                org: Some(&OrgNodeId::parse("nowhere").unwrap()),
                ..q
            }
        )
        .await,
        Err(StoreError::NotFound(_))
    ));

    // Waits: (3, 9), (8, 8), (12, 7), (18, 5), (35, 2) in their bins.
    let w = wait_report(&store, &q).await.unwrap();
    assert_eq!((w.answers, w.rated_waits), (5, 5));
    assert_eq!(w.wait_moments, ["queue"]);
    let bins: Vec<(u64, Option<f64>)> = w.bins.iter().map(|b| (b.n, b.mean)).collect();
    assert_eq!(
        bins,
        [
            (1, Some(9.0)),
            (1, Some(8.0)),
            (1, Some(7.0)),
            (1, Some(5.0)),
            (0, None),
            (1, Some(2.0))
        ]
    );
    // Five answers are too few for the break; the reference is the respondents'
    // stated tolerable wait, (15 + 20 + 16 + 17 + 12) / 5 = 16.
    assert!(w.fit.is_none());
    assert_eq!(w.tolerance.source, "respondents");
    assert!(close(w.tolerance.reference_min, 16.0));
    // Staff: each answer's mean over counter_talk and result (leave is no staff
    // moment): h1 8.5, 8 (S01) and 6, 5.5 (S02), hall mean 7; σ² = 0.125,
    // τ² = 1.5625 − 0.0625 = 1.5, B = 1.5 / 1.5625 = 0.96: S01 7 + 0.96 · 1.25 = 8.2.
    assert_eq!(w.staff_moments, ["counter_talk", "result"]);
    let s01 = w.staff.iter().find(|e| e.key == "S01").unwrap();
    assert_eq!((s01.hall.as_str(), s01.n), ("h1", 2));
    assert!(close(s01.mean, 8.25) && close(s01.hall_mean, 7.0));
    assert!(close(s01.weight, 0.96) && close(s01.shrunk, 8.2), "{s01:?}");
    let half = 1.96 * (0.96f64 * 0.0625 + 0.04 * 0.04 * 0.125 / 4.0).sqrt();
    assert!(close(s01.shrunk_ci95.1 - s01.shrunk, half));
    let s02 = w.staff.iter().find(|e| e.key == "S02").unwrap();
    assert!(close(s02.shrunk, 5.8));
    // Alone in h2, S03 is the hall.
    let s03 = w.staff.iter().find(|e| e.key == "S03").unwrap();
    assert!(close(s03.shrunk, 7.0) && close(s03.weight, 0.0));
    // Counters 1 and 2 of h1 are S01's and S02's.
    let c2 = w
        .counters
        .iter()
        .find(|e| e.hall == "h1" && e.key == "2")
        .unwrap();
    assert!(close(c2.shrunk, 5.8));

    // Raking to the visits: gold 6, basic 6; payment 8, data 4. Gold payment's two
    // stand for 6 (3 each), basic payment's two for 2 (1 each), basic data's one
    // for 4: overall (9 + 9)·3 + (6 + 6)·1 + 3·4 over 12 = 6.5 (unweighted 6.6).
    let both_margins = [RakeMargin::Segment, RakeMargin::Purpose];
    let aq = AnalysisQuery {
        org: None,
        from: Some(day()),
        to: Some(day()),
        weights: None,
        rule: peakend_core::peak::PeakRule::default(),
        by: None,
        purpose: None,
        also: &[],
    };
    let a = raked_analysis(&store, &journey, &aq, &both_margins)
        .await
        .unwrap();
    let raking = a.raking.as_ref().unwrap();
    assert_eq!((raking.respondents, raking.visits), (5, 12));
    assert!(close(raking.weight_min, 1.0) && close(raking.weight_max, 4.0));
    assert!(close(raking.design_effect, 1.25) && close(raking.effective_n, 4.0));
    let weight = |s: &str, p: &str| {
        raking
            .cells
            .iter()
            .find(|c| c.segment == s && c.purpose == p)
            .map(|c| (c.respondents, c.weight))
            .unwrap()
    };
    assert_eq!(weight("全球通", "payment").0, 2);
    assert!(close(weight("全球通", "payment").1, 3.0));
    assert!(close(weight("神州行", "payment").1, 1.0));
    assert!(close(weight("神州行", "data").1, 4.0));
    assert!(close(a.weights["全球通 × payment"], 0.5));
    assert!(close(a.indices.overall.unwrap(), 6.5), "{:?}", a.indices);
    // Raked on purpose alone: payment's four stand for 8 (2 each), data's one for 4.
    let by_purpose = raked_analysis(&store, &journey, &aq, &[RakeMargin::Purpose])
        .await
        .unwrap();
    assert!(close(
        by_purpose.indices.overall.unwrap(),
        (30.0 * 2.0 + 3.0 * 4.0) / 12.0
    ));

    // Only payment's respondents: data has visits and no one to stand for them.
    let payment = AnalysisQuery {
        purpose: Some("payment"),
        ..aq
    };
    let e = raked_analysis(&store, &journey, &payment, &both_margins)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("purpose `data` has 4 served visits but no respondent")),
        "{e}"
    );
    // A respondent of a segment no visit has is named.
    let stray = Response {
        segment: "动感地带".into(),
        purpose: Some("payment".into()),
        ..answer(&journey, "walk-in-1", "h1", &ANSWERS[0])
    };
    store.import_responses(&journey, &[stray]).await.unwrap();
    let e = raked_analysis(&store, &journey, &aq, &both_margins)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("segment `动感地带` has 1 respondents but no served visits from 2026-08-07 to 2026-08-07")),
        "{e}"
    );
    // No visits at all in the period: refused, saying so.
    let later = AnalysisQuery {
        from: Some(next),
        to: Some(next),
        ..aq
    };
    let late = Response {
        date: next,
        ..answer(&journey, "walk-in-2", "h1", &ANSWERS[0])
    };
    store.import_responses(&journey, &[late]).await.unwrap();
    let e = raked_analysis(&store, &journey, &later, &both_margins)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.contains("no served visits are recorded")),
        "{e}"
    );
});
