//! The storage story suite: every story runs against a fresh SQLite file and a
//! fresh PostgreSQL database, so the two backends cannot drift apart.

use peakend_core::{Journey, JourneyKey, OrgLevel, OrgNode, OrgNodeId, builtin};
use peakend_store::{Origin, PutOutcome, SqlStore, Store, StoreError, connect};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A story against a migrated store with the built-in journeys loaded.
macro_rules! story {
    ($name:ident, |$store:ident| $body:block) => {
        peakend_testkit::on_both_backends!($name, |url| {
            let $store = ready(url).await;
            $body
        });
    };
}

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    store.load_builtin_journeys().await.unwrap();
    store
}

fn service_hall() -> Journey {
    builtin::journeys()
        .unwrap()
        .into_iter()
        .find(|j| j.key().as_str() == builtin::SERVICE_HALL)
        .unwrap()
}

fn key(s: &str) -> JourneyKey {
    JourneyKey::parse(s).unwrap()
}

/// A journey derived from `base` under a new key that extends it, edited by `edit`.
fn derived(base: &Journey, new_key: &str, edit: impl FnOnce(&mut Vec<Value>)) -> Journey {
    let mut doc: Value = serde_json::from_str(&base.to_json_pretty()).unwrap();
    doc["key"] = json!(new_key);
    doc["extends"] = json!(base.key().as_str());
    edit(doc["moments"].as_array_mut().unwrap());
    Journey::from_json(&doc.to_string()).unwrap()
}

fn new_moment(k: &str) -> Value {
    json!({"key": k, "name": {"zh": "线上预约取号", "en": "Book a ticket online"}, "stage": "people_flow"})
}

fn position(moments: &[Value], k: &str) -> usize {
    moments.iter().position(|m| m["key"] == k).unwrap()
}

fn node(id: &str, parent: Option<&str>, level: OrgLevel) -> OrgNode {
    peakend_testkit::org_node(id, parent, level, 5, 2)
}

story!(schema_is_ready_for_what_comes_next, |store| {
    let tables = store.tables().await.unwrap();
    for t in [
        "org_node",
        "journey",
        "journey_moment",
        "journey_standard",
        "survey_response",
        "response_rating",
        "response_need",
        "visit_event",
        "event_quarantine",
        "alert",
        "service_case",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "missing table {t} in {tables:?}"
        );
    }
    // The large tables carry the hall id, the future shard key.
    for t in [
        "survey_response",
        "response_rating",
        "response_need",
        "visit_event",
        "alert",
        "service_case",
    ] {
        let cols = store.columns(t).await.unwrap();
        assert!(
            cols.iter().any(|c| c == "hall_id"),
            "{t} has no hall_id: {cols:?}"
        );
    }
});

story!(init_is_idempotent, |store| {
    let again = store.load_builtin_journeys().await.unwrap();
    assert_eq!(
        again,
        [
            (key("service-hall"), PutOutcome::Unchanged),
            (key("hotline"), PutOutcome::Unchanged),
            (key("app"), PutOutcome::Unchanged),
            (key("onsite"), PutOutcome::Unchanged),
        ]
    );
    store.migrate().await.unwrap();
    assert_eq!(store.list_journeys().await.unwrap().len(), 4);
});

story!(builtin_journey_is_stored_whole, |store| {
    let stored = store.journey(&key("service-hall")).await.unwrap().unwrap();
    assert_eq!(stored, service_hall());
    assert_eq!(stored.moments().len(), 16);
    let list = store.list_journeys().await.unwrap();
    let hall = list
        .iter()
        .find(|j| j.key.as_str() == "service-hall")
        .unwrap();
    assert!(hall.builtin);
    assert_eq!(hall.moments, 16);
    // Every built-in journey is loaded whole and marked built-in.
    assert_eq!(list.len(), 4);
    for j in builtin::journeys().unwrap() {
        let summary = list.iter().find(|s| &s.key == j.key()).unwrap();
        assert!(summary.builtin, "{}", j.key());
        assert_eq!(summary.moments, j.moments().len(), "{}", j.key());
        assert_eq!(store.journey(j.key()).await.unwrap().unwrap(), j);
    }
});

story!(extending_journey_may_add_a_moment_and_tighten, |store| {
    let child = derived(&service_hall(), "dongjiang-hall", |ms| {
        let at = position(ms, "find") + 1;
        ms.insert(at, new_moment("book_online"));
        let queue = position(ms, "queue");
        for s in ms[queue]["standards"].as_array_mut().unwrap() {
            if s["key"] == "care_after" {
                s["threshold"]["value"] = json!(10);
            }
        }
    });
    assert_eq!(
        store.put_journey(&child, Origin::User).await.unwrap(),
        PutOutcome::Created
    );
    let back = store.journey(child.key()).await.unwrap().unwrap();
    assert_eq!(back.to_json_pretty(), child.to_json_pretty());
    assert_eq!(back.moments().len(), 17);
    assert_eq!(back.threshold("care_after").unwrap().value, 10.0);
    assert_eq!(
        store.put_journey(&child, Origin::User).await.unwrap(),
        PutOutcome::Unchanged
    );
});

story!(
    dropping_a_moment_is_rejected_and_nothing_is_stored,
    |store| {
        let child = derived(&service_hall(), "no-dispute", |ms| {
            let at = position(ms, "dispute");
            ms.remove(at);
        });
        let err = store.put_journey(&child, Origin::User).await.unwrap_err();
        assert!(err.to_string().contains("drops moments dispute"), "{err}");
        assert!(matches!(err, StoreError::Journey(_)));
        assert_eq!(store.journey(child.key()).await.unwrap(), None);
        // Only the four built-in journeys.
        assert_eq!(store.list_journeys().await.unwrap().len(), 4);
    }
);

story!(loosening_a_standard_is_rejected, |store| {
    let child = derived(&service_hall(), "lax", |ms| {
        let queue = position(ms, "queue");
        for s in ms[queue]["standards"].as_array_mut().unwrap() {
            if s["key"] == "care_after" {
                s["threshold"]["value"] = json!(20);
            }
        }
    });
    let err = store.put_journey(&child, Origin::User).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("loosens standards queue.care_after"),
        "{err}"
    );
    assert_eq!(store.journey(child.key()).await.unwrap(), None);
});

story!(builtin_cannot_be_replaced_by_an_import, |store| {
    let err = store
        .put_journey(&service_hall(), Origin::User)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
});

story!(no_builtin_can_be_replaced_by_an_import, |store| {
    for j in builtin::journeys().unwrap() {
        let err = store.put_journey(&j, Origin::User).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{}: {err}", j.key());
    }
});

story!(
    a_region_extends_the_hotline_and_may_only_tighten_it,
    |store| {
        let hotline = store.journey(&key("hotline")).await.unwrap().unwrap();
        let with_answer = |new_key: &str, seconds: u32| {
            derived(&hotline, new_key, |ms| {
                let queue = position(ms, "queue");
                for s in ms[queue]["standards"].as_array_mut().unwrap() {
                    if s["key"] == "answer_within" {
                        s["threshold"]["value"] = json!(seconds);
                    }
                }
            })
        };
        let fast = with_answer("dongjiang-hotline", 15);
        assert_eq!(
            store.put_journey(&fast, Origin::User).await.unwrap(),
            PutOutcome::Created
        );
        assert_eq!(
            store
                .journey(fast.key())
                .await
                .unwrap()
                .unwrap()
                .threshold("answer_within")
                .unwrap()
                .value,
            15.0
        );
        let slow = with_answer("slow-hotline", 30);
        let err = store.put_journey(&slow, Origin::User).await.unwrap_err();
        assert!(err.to_string().contains("answer_within"), "{err}");
        assert_eq!(store.journey(slow.key()).await.unwrap(), None);
    }
);

story!(unknown_parent_is_rejected, |store| {
    let mut doc: Value = serde_json::from_str(&service_hall().to_json_pretty()).unwrap();
    doc["key"] = json!("orphan");
    doc["extends"] = json!("no-such-journey");
    let orphan = Journey::from_json(&doc.to_string()).unwrap();
    let err = store.put_journey(&orphan, Origin::User).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "extends: parent journey `no-such-journey` does not exist; import it first"
    );
});

story!(changing_a_parent_may_not_break_its_children, |store| {
    let region = derived(&service_hall(), "region", |ms| {
        ms.insert(1, new_moment("book_online"))
    });
    store.put_journey(&region, Origin::User).await.unwrap();
    let city = derived(&region, "city", |_| {});
    store.put_journey(&city, Origin::User).await.unwrap();
    // The region adds a standard that its child lacks (as a built-in journey does when
    // a release upgrades it): the child lives by it too, rather than the change being
    // refused and the upgrade stopped.
    let stricter = derived(&service_hall(), "region", |ms| {
        ms.insert(1, new_moment("book_online"));
        ms[1]["standards"] = json!([{"key": "book_confirm", "text": {"zh": "预约确认短信", "en": "Confirm bookings by SMS"}, "owner": "back_office", "threshold": null}]);
    });
    store.put_journey(&stricter, Origin::User).await.unwrap();
    let read = store.journey(&key("city")).await.unwrap().unwrap();
    assert!(read.standard("book_confirm").is_some(), "{read:?}");
    // A moment the child lacks still breaks it (its place and answers are the region's
    // to decide), and is refused.
    let more = derived(&service_hall(), "region", |ms| {
        ms.insert(1, new_moment("book_online"));
        ms[1]["standards"] = json!([{"key": "book_confirm", "text": {"zh": "预约确认短信", "en": "Confirm bookings by SMS"}, "owner": "back_office", "threshold": null}]);
        ms.push(new_moment("follow_up"));
    });
    let err = store.put_journey(&more, Origin::User).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(
        err.to_string().contains("journey `city` extends it"),
        "{err}"
    );
    assert_eq!(
        store.journey(&key("region")).await.unwrap().unwrap(),
        stricter
    );
    // A release that gives the built-in journey a new standard upgrades it, and the
    // region and its city live by the standard too.
    let mut upgraded: Value = serde_json::from_str(&service_hall().to_json_pretty()).unwrap();
    upgraded["moments"][0]["standards"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "map_pin", "text": {"zh": "地图标注准确", "en": "Map pin right"}, "owner": "back_office", "threshold": null}));
    let upgraded = Journey::from_json(&upgraded.to_string()).unwrap();
    store.put_journey(&upgraded, Origin::Builtin).await.unwrap();
    for region in ["region", "city"] {
        let read = store.journey(&key(region)).await.unwrap().unwrap();
        assert!(read.standard("map_pin").is_some(), "{region}");
    }
});

story!(a_journey_cannot_extend_itself_through_a_chain, |store| {
    let a = derived(&service_hall(), "chain-a", |_| {});
    store.put_journey(&a, Origin::User).await.unwrap();
    let b = derived(&a, "chain-b", |_| {});
    store.put_journey(&b, Origin::User).await.unwrap();
    let cycle = derived(&b, "chain-a", |_| {});
    let err = store.put_journey(&cycle, Origin::User).await.unwrap_err();
    assert!(err.to_string().contains("would extend itself"), "{err}");
});

story!(updating_a_journey_rewrites_its_moments, |store| {
    let v1 = derived(&service_hall(), "evolving", |ms| {
        ms.insert(1, new_moment("book_online"))
    });
    store.put_journey(&v1, Origin::User).await.unwrap();
    let v2 = derived(&service_hall(), "evolving", |ms| {
        ms.push(new_moment("follow_up"))
    });
    assert_eq!(
        store.put_journey(&v2, Origin::User).await.unwrap(),
        PutOutcome::Updated
    );
    let back = store.journey(&key("evolving")).await.unwrap().unwrap();
    assert_eq!(back.end().key.as_str(), "follow_up");
    assert!(back.moment(&"book_online".parse().unwrap()).is_none());
});

story!(org_import_is_all_or_nothing, |store| {
    let good = vec![
        node("h1", Some("d1"), OrgLevel::Hall),
        node("p", None, OrgLevel::Province),
        node("c1", Some("p"), OrgLevel::City),
        node("d1", Some("c1"), OrgLevel::District),
    ];
    let s = store.import_org(good).await.unwrap();
    assert_eq!((s.created, s.updated), (4, 0));

    let bad = vec![
        node("h2", Some("d1"), OrgLevel::Hall),
        node("h3", Some("nowhere"), OrgLevel::Hall),
    ];
    let err = store.import_org(bad).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node `h3`: parent `nowhere` does not exist"
    );
    assert_eq!(
        store.org_nodes().await.unwrap().len(),
        4,
        "h2 must not have been stored"
    );

    let mut renamed = node("h1", Some("d1"), OrgLevel::Hall);
    renamed.name = "中心厅".into();
    let s = store
        .import_org(vec![renamed, node("h2", Some("c1"), OrgLevel::Hall)])
        .await
        .unwrap();
    assert_eq!((s.created, s.updated), (1, 1));
    let tree = store.org_tree().await.unwrap();
    assert_eq!(
        tree.get(&OrgNodeId::parse("h1").unwrap()).unwrap().name,
        "中心厅"
    );
    assert_eq!(tree.halls_under(&OrgNodeId::parse("p").unwrap()).len(), 2);
});

story!(moving_a_node_under_its_own_hall_is_rejected, |store| {
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c", Some("p"), OrgLevel::City),
            node("h", Some("c"), OrgLevel::Hall),
        ])
        .await
        .unwrap();
    let err = store
        .import_org(vec![node("c", Some("h"), OrgLevel::City)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Org(_)), "{err}");
    let tree = store.org_tree().await.unwrap();
    assert_eq!(
        tree.get(&OrgNodeId::parse("c").unwrap()).unwrap().parent,
        Some(OrgNodeId::parse("p").unwrap())
    );
});

/// The same import gives byte-identical exports on both backends.
#[tokio::test]
async fn round_trip_is_identical_on_both_backends() {
    let child = derived(&service_hall(), "dongjiang-hall", |ms| {
        ms.insert(3, new_moment("book_online"))
    });
    let mut exports = Vec::new();
    for (_, db) in peakend_testkit::each_backend().await {
        let store = ready(&db.url).await;
        store.put_journey(&child, Origin::User).await.unwrap();
        let back = store.journey(child.key()).await.unwrap().unwrap();
        exports.push(back.to_json_pretty());
        store.close().await;
    }
    assert!(exports.iter().all(|e| *e == child.to_json_pretty()));
    if !peakend_testkit::postgres_skipped() {
        assert_eq!(exports.len(), 2);
    }
}

fn survey_response(
    respondent: &str,
    hall: &str,
    date: (i32, u32, u32),
    sat: f64,
) -> peakend_core::survey::Response {
    use peakend_core::survey::{NeedRating, Rating};
    let j = service_hall();
    let mut ratings = vec![Rating::default(); j.moments().len()];
    // With the gap model's expectation items (issue 23): kept and read back.
    ratings[0] = Rating {
        importance: Some(8.5),
        satisfaction: Some(sat),
        expectation: Some(9.0),
        competitor: None,
    };
    ratings[3] = Rating {
        importance: None,
        satisfaction: Some(8.0),
        expectation: Some(7.5),
        competitor: Some(6.5),
    };
    ratings[15] = Rating {
        importance: None,
        satisfaction: Some(9.0),
        expectation: None,
        competitor: None,
    };
    peakend_core::survey::Response {
        respondent: respondent.into(),
        hall: peakend_core::HallId::parse(hall).unwrap(),
        date: chrono::NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
        segment: "全球通".into(),
        purpose: Some("缴费".into()),
        overall: Some(8.0),
        nps: Some(9.5),
        tolerable_wait_min: Some(16.0),
        contact: None,
        comment: None,
        customer: None,
        ratings,
        needs: vec![
            NeedRating {
                moment: 10,
                need: 0,
                importance: 7.0,
            },
            NeedRating {
                moment: 10,
                need: 1,
                importance: 9.0,
            },
        ],
        short_form: false,
    }
}

async fn with_halls(store: &SqlStore) {
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c", Some("p"), OrgLevel::City),
            node("h1", Some("c"), OrgLevel::Hall),
            node("h2", Some("c"), OrgLevel::Hall),
        ])
        .await
        .unwrap();
}

story!(responses_round_trip_and_are_never_duplicated, |store| {
    with_halls(&store).await;
    let j = service_hall();
    let batch = vec![
        survey_response("r1", "h1", (2024, 3, 1), 7.0),
        survey_response("r2", "h2", (2024, 3, 15), 6.5),
        survey_response("r3", "h1", (2024, 4, 2), 9.0),
    ];
    assert_eq!(store.import_responses(&j, &batch).await.unwrap(), 3);
    assert_eq!(store.responses(&j, None, None, None).await.unwrap(), batch);

    // Filters: inclusive date range and a set of halls.
    let march = store
        .responses(
            &j,
            None,
            chrono::NaiveDate::from_ymd_opt(2024, 3, 1),
            chrono::NaiveDate::from_ymd_opt(2024, 3, 31),
        )
        .await
        .unwrap();
    assert_eq!(
        march
            .iter()
            .map(|r| r.respondent.as_str())
            .collect::<Vec<_>>(),
        ["r1", "r2"]
    );
    let h1 = [peakend_core::HallId::parse("h1").unwrap()];
    let only_h1 = store.responses(&j, Some(&h1), None, None).await.unwrap();
    assert_eq!(
        only_h1
            .iter()
            .map(|r| r.respondent.as_str())
            .collect::<Vec<_>>(),
        ["r1", "r3"]
    );

    // Re-importing a respondent is refused and nothing of the batch is stored.
    let again = vec![
        survey_response("r4", "h1", (2024, 5, 1), 8.0),
        survey_response("r2", "h2", (2024, 5, 1), 8.0),
    ];
    let err = store.import_responses(&j, &again).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("1 respondents are already stored for journey `service-hall`"),
        "{err}"
    );
    let err = store
        .import_responses(&j, &[survey_response("r5", "h9", (2024, 5, 1), 8.0)])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown halls: h9 (import the organisation first)"
    );
    assert_eq!(
        store.responses(&j, None, None, None).await.unwrap().len(),
        3
    );
});

// Issue 3: whole months are answered from the roll-up cells, merged across imports,
// and give the analysis of rescanning the responses; anything the cells cannot answer,
// or cells that do not account for every response, falls back to the rescan.
peakend_testkit::on_both_backends!(rollups_answer_whole_months_like_a_rescan, |url| {
    use peakend_core::analysis::GroupBy;
    use peakend_store::{AnalysisPath, AnalysisQuery, stored_analysis, stored_analysis_by};
    let store = ready(url).await;
    with_halls(&store).await;
    let j = service_hall();
    let halls: Vec<_> = ["h1", "h2"]
        .iter()
        .map(|h| peakend_core::HallId::parse(*h).unwrap())
        .collect();
    let all: Vec<_> = peakend_core::synth::responses(&j, &halls, 1200, 5).collect();
    let (a, b) = all.split_at(700);
    store.import_responses(&j, a).await.unwrap();
    store.import_responses(&j, b).await.unwrap();

    let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d);
    let city = OrgNodeId::parse("c").unwrap();
    let h2 = OrgNodeId::parse("h2").unwrap();
    let cases = [
        AnalysisQuery::default(),
        AnalysisQuery {
            by: Some(GroupBy::Hall),
            ..Default::default()
        },
        AnalysisQuery {
            org: Some(&city),
            by: Some(GroupBy::City),
            from: date(2026, 8, 1),
            to: date(2026, 9, 30),
            ..Default::default()
        },
        AnalysisQuery {
            org: Some(&h2),
            by: Some(GroupBy::Segment),
            to: date(2026, 8, 31),
            ..Default::default()
        },
        AnalysisQuery {
            by: Some(GroupBy::Purpose),
            ..Default::default()
        },
        AnalysisQuery {
            org: Some(&city),
            purpose: Some("购机"),
            from: date(2026, 9, 1),
            ..Default::default()
        },
        AnalysisQuery {
            org: Some(&h2),
            by: Some(GroupBy::Purpose),
            purpose: Some("缴费"),
            ..Default::default()
        },
    ];
    for q in &cases {
        let rolled = stored_analysis_by(&store, &j, q, AnalysisPath::RollUp)
            .await
            .unwrap()
            .expect("whole months come from the roll-up");
        let scanned = stored_analysis_by(&store, &j, q, AnalysisPath::Scan)
            .await
            .unwrap()
            .unwrap();
        assert!(rolled.respondents > 0);
        peakend_testkit::assert_json_near(
            &serde_json::to_value(&rolled).unwrap(),
            &serde_json::to_value(&scanned).unwrap(),
            "analysis",
        );
    }
    let mid_month = AnalysisQuery {
        from: date(2026, 8, 15),
        ..Default::default()
    };
    let mid_month_purpose = AnalysisQuery {
        from: date(2026, 8, 15),
        purpose: Some("购机"),
        ..Default::default()
    };
    for q in [&mid_month, &mid_month_purpose] {
        let rolled = stored_analysis_by(&store, &j, q, AnalysisPath::RollUp).await;
        assert!(rolled.unwrap().is_none());
        assert!(stored_analysis(&store, &j, q).await.unwrap().respondents > 0);
    }
    let buying = |a: &peakend_core::analysis::Analysis| a.respondents;
    let one = stored_analysis(&store, &j, &cases[5]).await.unwrap();
    let grouped = stored_analysis(
        &store,
        &j,
        &AnalysisQuery {
            org: Some(&city),
            by: Some(GroupBy::Purpose),
            from: date(2026, 9, 1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let group = grouped.groups.iter().find(|g| g.group == "购机").unwrap();
    assert_eq!(buying(&one), group.analysis.respondents);
    assert!(buying(&one) > 50 && buying(&one) < grouped.respondents);

    // Cells lost (as in a database written before roll-ups existed): the counts no
    // longer agree, so the analysis rescans and stays right.
    peakend_testkit::execute(url, "DELETE FROM survey_rollup WHERE hall_id = 'h2'").await;
    let q = AnalysisQuery::default();
    assert!(
        stored_analysis_by(&store, &j, &q, AnalysisPath::RollUp)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        stored_analysis(&store, &j, &q).await.unwrap().respondents,
        1200
    );
});

// Analyses are cached by data generation: a write through another connection (another
// process: a CLI import while the server runs) is seen at once.
peakend_testkit::on_both_backends!(cached_analyses_follow_writes_from_elsewhere, |url| {
    use peakend_store::{AnalysisQuery, stored_analysis};
    let server = ready(url).await;
    with_halls(&server).await;
    let cli = peakend_store::connect(url).await.unwrap();
    let j = service_hall();
    let halls = [peakend_core::HallId::parse("h1").unwrap()];
    let all: Vec<_> = peakend_core::synth::responses(&j, &halls, 300, 9).collect();
    let (a, b) = all.split_at(100);
    server.import_responses(&j, a).await.unwrap();
    let q = AnalysisQuery::default();
    let before = server.data_generation().await.unwrap();
    assert_eq!(
        stored_analysis(&server, &j, &q).await.unwrap().respondents,
        100
    );
    assert_eq!(
        stored_analysis(&server, &j, &q).await.unwrap().respondents,
        100
    );
    cli.import_responses(&j, b).await.unwrap();
    assert!(server.data_generation().await.unwrap() > before);
    assert_eq!(
        stored_analysis(&server, &j, &q).await.unwrap().respondents,
        300,
        "not the cached answer"
    );
});

// Issue 5: survey answers arriving one by one do not start the cached analyses over:
// each logged import's cells are added to them. What they then answer must equal what a
// fresh process computes from the stored cells, for every kind of question, and an org
// import in between (a write the log does not hold) must be seen.
peakend_testkit::on_both_backends!(cached_analyses_catch_up_with_each_answer, |url| {
    use peakend_core::analysis::GroupBy;
    use peakend_store::{AnalysisQuery, stored_analysis};
    let server = ready(url).await;
    with_halls(&server).await;
    let j = service_hall();
    let halls: Vec<_> = ["h1", "h2"]
        .iter()
        .map(|h| peakend_core::HallId::parse(*h).unwrap())
        .collect();
    let all: Vec<_> = peakend_core::synth::responses(&j, &halls, 460, 21).collect();
    let (bulk, singles) = all.split_at(400);
    server.import_responses(&j, bulk).await.unwrap();
    let city = OrgNodeId::parse("c").unwrap();
    let h1 = OrgNodeId::parse("h1").unwrap();
    let date = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d);
    let weights: BTreeMap<String, f64> = [("全球通", 1.0), ("神州行", 0.0), ("动感地带", 0.0)]
        .map(|(k, w)| (k.to_owned(), w))
        .into();
    let queries = [
        AnalysisQuery::default(),
        AnalysisQuery {
            org: Some(&city),
            by: Some(GroupBy::Hall),
            ..Default::default()
        },
        AnalysisQuery {
            org: Some(&h1),
            from: date(2026, 9, 1),
            to: date(2026, 9, 30),
            weights: Some(&weights),
            ..Default::default()
        },
        AnalysisQuery {
            by: Some(GroupBy::Purpose),
            ..Default::default()
        },
        AnalysisQuery {
            org: Some(&city),
            purpose: Some("购机"),
            by: Some(GroupBy::City),
            ..Default::default()
        },
        // Inside a month: a rescan, which is never added to.
        AnalysisQuery {
            from: date(2026, 8, 10),
            ..Default::default()
        },
    ];
    for q in &queries {
        stored_analysis(&server, &j, q).await.unwrap();
    }
    for (i, r) in singles.iter().enumerate() {
        server
            .import_responses(&j, std::slice::from_ref(r))
            .await
            .unwrap();
        if i % 20 == 19 {
            // What another process, with no cache, answers.
            let other = peakend_store::connect(url).await.unwrap();
            for q in &queries {
                let want =
                    serde_json::to_value(stored_analysis(&other, &j, q).await.unwrap()).unwrap();
                let got =
                    serde_json::to_value(stored_analysis(&server, &j, q).await.unwrap()).unwrap();
                peakend_testkit::assert_json_near(
                    &got,
                    &want,
                    "cached analysis after single answers",
                );
            }
            other.close().await;
        }
    }
    assert_eq!(
        stored_analysis(&server, &j, &queries[0])
            .await
            .unwrap()
            .respondents,
        460
    );
    // A new hall under the city (an org write): the city's by-hall analysis is computed
    // anew, not caught up across the gap, and the tree is read again.
    server
        .import_org(vec![node("h3", Some("c"), OrgLevel::Hall)])
        .await
        .unwrap();
    let h3 = [peakend_core::HallId::parse("h3").unwrap()];
    let more: Vec<_> = peakend_core::synth::responses(&j, &h3, 5, 22)
        .map(|mut r| {
            r.respondent = format!("h3-{}", r.respondent);
            r
        })
        .collect();
    server.import_responses(&j, &more).await.unwrap();
    let by_hall = stored_analysis(&server, &j, &queries[1]).await.unwrap();
    assert_eq!(by_hall.respondents, 465);
    assert!(by_hall.groups.iter().any(|g| g.group == "h3"));
});

// Migration 0008 added purpose cells: a database with responses from before it gets
// them folded in when the store next opens it.
peakend_testkit::on_both_backends!(purpose_cells_are_built_for_older_responses, |url| {
    use peakend_core::analysis::GroupBy;
    use peakend_store::{AnalysisPath, AnalysisQuery, stored_analysis_by};
    let store = ready(url).await;
    with_halls(&store).await;
    let j = service_hall();
    let halls = [peakend_core::HallId::parse("h1").unwrap()];
    let all: Vec<_> = peakend_core::synth::responses(&j, &halls, 300, 23).collect();
    store.import_responses(&j, &all).await.unwrap();
    // As a database written before the migration: no purpose cells, the task pending.
    peakend_testkit::execute(url, "DELETE FROM survey_rollup_purpose").await;
    peakend_testkit::execute(
        url,
        "INSERT INTO store_task (task) VALUES ('rebuild_purpose_cells')",
    )
    .await;
    let q = AnalysisQuery {
        by: Some(GroupBy::Purpose),
        ..Default::default()
    };
    assert!(
        stored_analysis_by(&store, &j, &q, AnalysisPath::RollUp)
            .await
            .unwrap()
            .is_none(),
        "missing purpose cells do not pass for none"
    );
    let reopened = peakend_store::connect(url).await.unwrap();
    let rolled = stored_analysis_by(&reopened, &j, &q, AnalysisPath::RollUp)
        .await
        .unwrap()
        .expect("purpose cells rebuilt");
    let scanned = stored_analysis_by(&reopened, &j, &q, AnalysisPath::Scan)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rolled.respondents, 300);
    peakend_testkit::assert_json_near(
        &serde_json::to_value(&rolled).unwrap(),
        &serde_json::to_value(&scanned).unwrap(),
        "rebuilt",
    );
});

/// One event of hall h1 on Friday 2026-08-07 at `hm` (+08:00), parsed as the API does.
fn hall_event(
    id: &str,
    hm: &str,
    kind: &str,
    fields: &str,
) -> (usize, peakend_core::ops::event::Event, String) {
    hall_event_on("07", id, hm, kind, fields)
}

/// The same on another day of August 2026 (`day`: two digits).
fn hall_event_on(
    day: &str,
    id: &str,
    hm: &str,
    kind: &str,
    fields: &str,
) -> (usize, peakend_core::ops::event::Event, String) {
    let line = format!(
        r#"{{"id":"{id}","hall":"h1","type":"{kind}","at":"2026-08-{day}T{hm}:00+08:00",{fields}}}"#
    );
    (
        0,
        peakend_core::ops::event::Event::from_json(&line).unwrap(),
        line,
    )
}

/// `ticket_issued` of `ticket` at hall h1 on August `day` (two digits) at `hm`.
fn issued_on(
    id: &str,
    day: &str,
    hm: &str,
    ticket: &str,
) -> (usize, peakend_core::ops::event::Event, String) {
    let fields = format!(r#""ticket":"{ticket}","service":"payment""#);
    hall_event_on(day, id, hm, "ticket_issued", &fields)
}

/// `called` of `ticket` to counter c1 at hall h1 on August `day` at `hm`.
fn called_on(
    id: &str,
    day: &str,
    hm: &str,
    ticket: &str,
) -> (usize, peakend_core::ops::event::Event, String) {
    let fields = format!(r#""ticket":"{ticket}","counter":"c1""#);
    hall_event_on(day, id, hm, "called", &fields)
}

/// Province p, city c1, district d1 and these halls under it.
async fn district_of(store: &SqlStore, halls: &[&str]) -> Vec<peakend_core::HallId> {
    let mut nodes = vec![
        node("p", None, OrgLevel::Province),
        node("c1", Some("p"), OrgLevel::City),
        node("d1", Some("c1"), OrgLevel::District),
    ];
    nodes.extend(halls.iter().map(|h| node(h, Some("d1"), OrgLevel::Hall)));
    store.import_org(nodes).await.unwrap();
    halls
        .iter()
        .map(|h| peakend_core::HallId::parse(*h).unwrap())
        .collect()
}

async fn one_hall(store: &SqlStore) -> peakend_core::HallId {
    district_of(store, &["h1"]).await.remove(0)
}

// Issue 4: the ingest keeps each hall's replayed day between batches; what another
// process (a second store on the same database) wrote meanwhile, and late events that
// sort before stored ones, must still be seen.
peakend_testkit::on_both_backends!(
    an_ingest_sees_events_another_writer_stored_and_late_ones,
    |url| {
        let store = ready(url).await;
        let hall = one_hall(&store).await;
        let other = connect(url).await.unwrap();
        let t = |id, hm, ticket: &str| {
            hall_event(
                id,
                hm,
                "ticket_issued",
                &format!(r#""ticket":"{ticket}","service":"payment""#),
            )
        };
        let call = |id, hm, ticket: &str| {
            hall_event(
                id,
                hm,
                "called",
                &format!(r#""ticket":"{ticket}","counter":"c1""#),
            )
        };
        let a = store
            .ingest_events(
                &hall,
                vec![
                    hall_event("e1", "09:00", "counter_opened", r#""counter":"c1""#),
                    t("e2", "09:00", "T1"),
                ],
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(a.accepted, 2);
        // Another writer issues T2; this store's cached day does not know it.
        assert_eq!(
            other
                .ingest_events(&hall, vec![t("e3", "09:01", "T2")], vec![])
                .await
                .unwrap()
                .accepted,
            1
        );
        let b = store
            .ingest_events(&hall, vec![call("e4", "09:02", "T2")], vec![])
            .await
            .unwrap();
        assert_eq!((b.accepted, b.rejected.len()), (1, 0), "{b:?}");
        // A late ticket from before everything stored, then its call: both apply.
        let c = store
            .ingest_events(&hall, vec![t("e5", "08:59", "T0")], vec![])
            .await
            .unwrap();
        assert_eq!(c.accepted, 1);
        let d = store
            .ingest_events(
                &hall,
                vec![call("e6", "09:03", "T0"), call("e7", "09:03", "T9")],
                vec![],
            )
            .await
            .unwrap();
        assert_eq!((d.accepted, d.rejected.len()), (1, 1), "{d:?}");
        // T2 was called once; calling it again is impossible, whoever cached what.
        let e = store
            .ingest_events(&hall, vec![call("e8", "09:04", "T2")], vec![])
            .await
            .unwrap();
        assert_eq!((e.accepted, e.rejected.len()), (0, 1), "{e:?}");
        // The same batch again: duplicates, nothing applied.
        let f = store
            .ingest_events(
                &hall,
                vec![call("e6", "09:03", "T0"), t("e5", "08:59", "T0")],
                vec![],
            )
            .await
            .unwrap();
        assert_eq!((f.accepted, f.duplicates), (0, 2));
        assert_eq!(
            store.hall_events(&hall, 0, i64::MAX).await.unwrap().len(),
            6
        );
    }
);

// Issue 4: an event id is a hall's for good. One reused at a later time, the same day
// or another, is a duplicate even when the batch goes on from the day the ingest kept,
// and the day goes on as if the repeat had not come.
peakend_testkit::on_both_backends!(an_id_reused_later_is_a_duplicate_whatever_the_day, |url| {
    let store = ready(url).await;
    let hall = one_hall(&store).await;
    let (issue, call) = (issued_on, called_on);
    let open = |id: &str, day: &str| {
        hall_event_on(day, id, "08:30", "counter_opened", r#""counter":"c1""#)
    };
    let ingest = |batch| store.ingest_events(&hall, batch, vec![]);
    let a = ingest(vec![open("e1", "07"), issue("e2", "07", "09:00", "T1")])
        .await
        .unwrap();
    assert_eq!((a.accepted, a.duplicates), (2, 0), "{a:?}");
    // The same day goes on: e2 again, later and about another ticket, beside a new one.
    let b = ingest(vec![
        issue("e3", "07", "09:05", "T2"),
        issue("e2", "07", "09:06", "T3"),
    ])
    .await
    .unwrap();
    assert_eq!((b.accepted, b.duplicates), (1, 1), "{b:?}");
    // The kept day has T2 and not T3.
    let c = ingest(vec![
        call("e4", "07", "09:07", "T2"),
        call("e5", "07", "09:08", "T3"),
    ])
    .await
    .unwrap();
    assert_eq!((c.accepted, c.rejected.len()), (1, 1), "{c:?}");
    // The next day, kept after its first batch: e1 of the day before comes again.
    let d = ingest(vec![open("f1", "08"), issue("f2", "08", "09:00", "T1")])
        .await
        .unwrap();
    assert_eq!(d.accepted, 2, "{d:?}");
    let e = ingest(vec![
        issue("e1", "08", "09:10", "T2"),
        issue("f3", "08", "09:11", "T2"),
    ])
    .await
    .unwrap();
    assert_eq!(
        (e.accepted, e.duplicates, e.rejected.len()),
        (1, 1, 0),
        "{e:?}"
    );
    let f = ingest(vec![call("f4", "08", "09:12", "T2")]).await.unwrap();
    assert_eq!((f.accepted, f.rejected.len()), (1, 0), "{f:?}");
    let stored = store.hall_events(&hall, 0, i64::MAX).await.unwrap();
    assert_eq!(stored.len(), 8, "{stored:?}");
    let e2 = stored.iter().find(|e| e.id == "e2").unwrap();
    assert_eq!(e2.at.to_rfc3339(), "2026-08-07T09:00:00+08:00");
});

// Issue 24: a batch is written before its ids are looked up, and a day no ingest kept
// (another process's, or after a restart) is read before. A reused id still makes the
// batch a duplicate's, an event that cannot be applied is quarantined and not stored,
// and what was stored before the batch is replayed once.
peakend_testkit::on_both_backends!(a_day_no_ingest_kept_counts_duplicates_and_refusals, |url| {
    let store = ready(url).await;
    let hall = one_hall(&store).await;
    let issue = issued_on;
    let call = |id: &str, hm: &str, ticket: &str| called_on(id, "07", hm, ticket);
    let a = store
        .ingest_events(
            &hall,
            vec![
                hall_event("e1", "08:30", "counter_opened", r#""counter":"c1""#),
                issue("e2", "07", "09:00", "T1"),
            ],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(a.accepted, 2, "{a:?}");
    // Each batch from a store that has kept no day.
    let fresh = || async { connect(url).await.unwrap() };
    let b = fresh()
        .await
        .ingest_events(
            &hall,
            vec![
                issue("e2", "07", "09:05", "T9"),
                issue("e3", "07", "09:06", "T2"),
            ],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!((b.accepted, b.duplicates), (1, 1), "{b:?}");
    // T2 was issued and T9 was not (its line was a duplicate): T9's call is refused.
    let c = fresh()
        .await
        .ingest_events(
            &hall,
            vec![call("e4", "09:07", "T2"), call("e5", "09:08", "T9")],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        (c.accepted, c.duplicates, c.rejected.len()),
        (1, 0, 1),
        "{c:?}"
    );
    let d = fresh()
        .await
        .ingest_events(
            &hall,
            vec![
                issue("e1", "08", "09:00", "T1"),
                issue("f1", "08", "09:01", "T1"),
            ],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!((d.accepted, d.duplicates), (1, 1), "{d:?}");
    let stored = store.hall_events(&hall, 0, i64::MAX).await.unwrap();
    let mut ids: Vec<&str> = stored.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["e1", "e2", "e3", "e4", "f1"]);
    let e2 = stored.iter().find(|e| e.id == "e2").unwrap();
    assert_eq!(e2.at.to_rfc3339(), "2026-08-07T09:00:00+08:00");
    assert_eq!(store.quarantined(Some(&hall)).await.unwrap().len(), 1);
});

// Issue 4: a kiosk that fails on the Friday before a Monday holiday of its province is
// overdue one working day later than without the holiday.
story!(
    a_province_holiday_is_not_a_working_day_for_repairs,
    |store| {
        use peakend_core::ops::day::{AlertKind, HallDay};
        use peakend_core::ops::holiday::Holiday;
        let hall = one_hall(&store).await;
        store
            .ingest_events(
                &hall,
                vec![hall_event(
                    "k1",
                    "10:00",
                    "kiosk_fault",
                    r#""kiosk":"k1","fault":"paper""#,
                )],
                vec![],
            )
            .await
            .unwrap();
        let at = |d: &str| {
            chrono::DateTime::parse_from_rfc3339(&format!("2026-08-{d}T10:00:00+08:00"))
                .unwrap()
                .timestamp_millis()
        };
        let events = store.hall_events(&hall, 0, i64::MAX).await.unwrap();
        let overdue_at = |rules| {
            let day = HallDay::replay(rules, &events, at("14"));
            day.alerts()
                .iter()
                .find(|a| a.kind == AlertKind::KioskOverdue)
                .map(|a| a.raised_at)
        };
        let rules = peakend_store::hall_rules(&store, &hall).await.unwrap();
        assert!(rules.holidays.is_empty());
        // Friday 10:00 + 2 working days: Monday, Tuesday.
        assert_eq!(overdue_at(rules), Some(at("11")));
        store
            .import_holidays(&[Holiday {
                province: OrgNodeId::parse("p").unwrap(),
                date: chrono::NaiveDate::from_ymd_opt(2026, 8, 10).unwrap(),
                name: "示范节".into(),
            }])
            .await
            .unwrap();
        let rules = peakend_store::hall_rules(&store, &hall).await.unwrap();
        assert_eq!(rules.holidays.len(), 1);
        // Monday is a holiday: Tuesday, Wednesday.
        assert_eq!(overdue_at(rules), Some(at("12")));
        assert_eq!(store.holidays().await.unwrap()[0].name, "示范节");
    }
);

// Issue 5: the overview's operations figures come from the ingest's per-hall-day
// roll-ups; they must equal a replay of the stored events, whatever the time of the
// request (waiting customers raise care alerts as time passes), with acknowledged
// alerts left out, and for a day whose last batch straddled midnight (replayed).
story!(a_province_day_from_rollups_equals_its_replay, |store| {
    use peakend_core::HallId;
    use peakend_core::ops::day::{AlertKind, HallDay};
    use peakend_core::ops::kpi::Bucket;
    use peakend_core::ops::simulate::{SimHall, day};
    use peakend_store::{KpiQuery, stored_day_ops, stored_kpis};
    let halls: Vec<HallId> = district_of(&store, &["h1", "h2", "h3"]).await;
    let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
    let sim: Vec<SimHall> = halls
        .iter()
        .map(|h| SimHall {
            hall: h.clone(),
            counters: 2,
            kiosks: 1,
            zone: peakend_core::time::Zone::DEFAULT,
        })
        .collect();
    let events = day(&sim, date, 11);
    let at = |hm: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-08-07T{hm}:00+08:00"))
            .unwrap()
            .timestamp_millis()
    };
    let cst = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let ingest = |hall: HallId, evs: Vec<peakend_core::ops::event::Event>| {
        let store = &store;
        async move {
            for batch in evs.chunks(40) {
                let batch = batch
                    .iter()
                    .map(|e| (0, e.clone(), serde_json::to_string(e).unwrap()))
                    .collect();
                let o = store.ingest_events(&hall, batch, vec![]).await.unwrap();
                assert!(o.rejected.is_empty(), "{o:?}");
            }
        }
    };
    // What the overview showed before roll-ups: KPIs of a replay, and each hall's care
    // alerts open now from its day replayed up to now, less the acknowledged.
    let check = |now: i64| {
        let store = &store;
        let halls = &halls;
        async move {
            let got = stored_day_ops(store, halls, date, date, now).await.unwrap();
            // The KPI report replayed from the stored events, by day and by hour.
            let replayed = |bucket| async move {
                let mut days = Vec::new();
                for hall in halls {
                    let rules = peakend_store::hall_rules(store, hall).await.unwrap();
                    let (lo, hi) = (at("00:00"), at("00:00") + 86_400_000);
                    days.push(
                        peakend_store::replay_hall(store, hall, &rules, lo, hi, cst, now)
                            .await
                            .unwrap(),
                    );
                }
                let measure = peakend_core::ops::day::Rules::default().measure();
                peakend_core::ops::kpi::report(&days, measure, bucket, cst)
            };
            let want = replayed(Bucket::Day).await;
            assert!(want.total.arrivals > 0);
            let same = |a: &peakend_core::ops::ticket::Kpis,
                        b: &peakend_core::ops::ticket::Kpis| {
                let r = |x: Option<f64>| x.map(|x| (x * 1e9).round());
                assert_eq!(
                    (a.arrivals, a.served, a.abandoned, a.care_alerts),
                    (b.arrivals, b.served, b.abandoned, b.care_alerts),
                    "at {now}"
                );
                for (x, y) in [
                    (a.service_level, b.service_level),
                    (a.abandonment_rate, b.abandonment_rate),
                    (a.asa_s, b.asa_s),
                    (a.aht_s, b.aht_s),
                    (a.longest_wait_s, b.longest_wait_s),
                    (a.avg_rating, b.avg_rating),
                    (a.top_rating_share, b.top_rating_share),
                    (a.over_system_time_rate, b.over_system_time_rate),
                ] {
                    assert_eq!(r(x), r(y), "at {now}");
                }
            };
            same(&got.total, &want.total);
            // The KPI report (from the roll-ups where they answer) equals the replay's,
            // line by line, by day and by hour.
            for bucket in [Bucket::Day, Bucket::Hour] {
                let report = stored_kpis(
                    store,
                    &KpiQuery {
                        org: Some(&OrgNodeId::parse("p").unwrap()),
                        from: date,
                        to: date,
                        bucket,
                        offset: cst,
                        now_ms: now,
                    },
                )
                .await
                .unwrap();
                let replay = replayed(bucket).await;
                same(&report.total, &replay.total);
                for (a, b) in [
                    (&report.buckets, &replay.buckets),
                    (&report.halls, &replay.halls),
                    (&report.counters, &replay.counters),
                    (&report.staff, &replay.staff),
                ] {
                    let keys = |v: &Vec<peakend_core::ops::kpi::Keyed>| {
                        v.iter().map(|k| k.key.clone()).collect::<Vec<_>>()
                    };
                    assert_eq!(keys(a), keys(b), "at {now}");
                    a.iter().zip(b).for_each(|(x, y)| same(&x.kpis, &y.kpis));
                }
                assert_eq!(report.announced_wait.n, replay.announced_wait.n);
                let r = |x: Option<f64>| x.map(|x| (x * 1e6).round());
                assert_eq!(
                    r(report.announced_wait.rmse_s),
                    r(replay.announced_wait.rmse_s)
                );
                assert_eq!(
                    r(report.announced_wait.mae_s),
                    r(replay.announced_wait.mae_s)
                );
            }
            assert_eq!(got.halls.len(), want.halls.len());
            for line in &want.halls {
                same(
                    &got.halls[&HallId::parse(line.key.as_str()).unwrap()],
                    &line.kpis,
                );
            }
            let mut open = std::collections::BTreeMap::new();
            for hall in halls {
                let rules = peakend_store::hall_rules(store, hall).await.unwrap();
                let evs = store.hall_events(hall, at("00:00"), now + 1).await.unwrap();
                if evs.is_empty() {
                    continue;
                }
                let acks = store.alert_acks(hall).await.unwrap();
                let n = HallDay::replay(rules, &evs, now)
                    .alerts()
                    .iter()
                    .filter(|a| a.kind == AlertKind::CareDue && a.cleared_at.is_none())
                    .filter(|a| !acks.contains_key(&a.key()))
                    .count();
                open.insert(hall.clone(), n);
            }
            assert_eq!(got.open_care, open, "at {now}");
            open.values().sum::<usize>()
        }
    };
    // The morning so far, read at 11:00 and later as the waits grow.
    for hall in &halls {
        let morning = events
            .iter()
            .filter(|e| &e.hall == hall && e.at_ms() <= at("11:00"))
            .cloned()
            .collect();
        ingest(hall.clone(), morning).await;
    }
    let mut most = 0;
    for hm in ["11:00", "11:10", "11:30", "13:00"] {
        most = most.max(check(at(hm)).await);
    }
    assert!(most > 0, "the test must see open care alerts");
    // Someone takes care of one waiting customer: that alert is no longer open.
    let rules = peakend_store::hall_rules(&store, &halls[0]).await.unwrap();
    let evs = store.hall_events(&halls[0], 0, i64::MAX).await.unwrap();
    let day_then = HallDay::replay(rules, &evs, at("13:00"));
    if let Some(alert) = day_then
        .alerts()
        .iter()
        .find(|a| a.kind == AlertKind::CareDue && a.cleared_at.is_none())
    {
        assert!(
            store
                .ack_alert(&halls[0], alert, "manager", at("13:00"))
                .await
                .unwrap()
        );
    }
    check(at("13:00")).await;
    // A period before today has no operations, but today's open alerts still show.
    let day_before = date.pred_opt().unwrap();
    let past = stored_day_ops(&store, &halls, day_before, day_before, at("13:00"))
        .await
        .unwrap();
    let today = stored_day_ops(&store, &halls, date, date, at("13:00"))
        .await
        .unwrap();
    assert!(past.halls.is_empty(), "{past:?}");
    assert_eq!(past.open_care, today.open_care);
    // The rest of the day; h3's last batch carries an event stamped in another offset
    // (its local day is not the halls' day), so h3's day is replayed rather than summed.
    for hall in &halls {
        let rest: Vec<_> = events
            .iter()
            .filter(|e| &e.hall == hall && e.at_ms() > at("11:00"))
            .cloned()
            .collect();
        ingest(hall.clone(), rest).await;
    }
    let next_day = peakend_core::ops::event::Event::from_json(
        r#"{"id":"n1","hall":"h3","type":"counter_opened","at":"2026-08-08T08:00:00+08:00","counter":"c1"}"#,
    )
    .unwrap();
    let last_h3 = peakend_core::ops::event::Event::from_json(
        r#"{"id":"n0","hall":"h3","type":"counter_opened","at":"2026-08-07T15:00:00+00:00","counter":"c9"}"#,
    )
    .unwrap();
    ingest(halls[2].clone(), vec![last_h3, next_day]).await;
    // Read during the day (later events stored: open alerts replayed) and after it.
    for hm in ["12:00", "16:00", "23:30"] {
        check(at(hm)).await;
    }
});

// The org tree is cached by data generation: an import through another store (another
// process on the same database) must show in the next tree.
peakend_testkit::on_both_backends!(an_org_import_elsewhere_shows_in_the_cached_tree, |url| {
    let store = ready(url).await;
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
        ])
        .await
        .unwrap();
    assert_eq!(store.org_tree().await.unwrap().nodes().len(), 2);
    let other = connect(url).await.unwrap();
    other
        .import_org(vec![
            node("c2", Some("p"), OrgLevel::City),
            node("d1", Some("c2"), OrgLevel::District),
        ])
        .await
        .unwrap();
    let tree = store.org_tree().await.unwrap();
    assert_eq!(tree.nodes().len(), 4);
    assert!(tree.get(&OrgNodeId::parse("d1").unwrap()).is_some());
});

// Issue 5: responses are stored many rows a statement; across statement boundaries
// every response, rating and need answer must read back as imported, and a second
// import of the same respondents is refused without storing anything.
story!(a_large_import_reads_back_exactly, |store| {
    with_halls(&store).await;
    let j = service_hall();
    let halls = [
        peakend_core::HallId::parse("h1").unwrap(),
        peakend_core::HallId::parse("h2").unwrap(),
    ];
    let mut imported: Vec<_> = peakend_core::synth::responses(&j, &halls, 1_234, 5).collect();
    assert_eq!(store.import_responses(&j, &imported).await.unwrap(), 1_234);
    let mut stored = store.responses(&j, None, None, None).await.unwrap();
    let by_respondent = |a: &peakend_core::survey::Response, b: &peakend_core::survey::Response| {
        a.respondent.cmp(&b.respondent)
    };
    imported.sort_by(by_respondent);
    stored.sort_by(by_respondent);
    assert!(imported.iter().any(|r| !r.needs.is_empty()));
    assert_eq!(stored.len(), imported.len());
    for (s, i) in stored.iter().zip(&imported) {
        let mut s = s.clone();
        let mut i = i.clone();
        s.needs.sort_by_key(|n| (n.moment, n.need));
        i.needs.sort_by_key(|n| (n.moment, n.need));
        assert_eq!(s, i);
    }
    let again = store.import_responses(&j, &imported[600..700]).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(
        store.responses(&j, None, None, None).await.unwrap().len(),
        1_234
    );
});

// Issue 4: ticket names start over each day, so a batch that runs past midnight (a
// replayed file, a device that was offline) holds the same ticket on two days; each day
// is checked against its own events, and both days' roll-ups are kept.
peakend_testkit::on_both_backends!(a_batch_across_midnight_checks_each_day_on_its_own, |url| {
    let store = ready(url).await;
    let hall = one_hall(&store).await;
    let ev = |id: &str, at: &str, kind: &str, fields: &str| {
        let line = format!(r#"{{"id":"{id}","hall":"h1","type":"{kind}","at":"{at}",{fields}}}"#);
        (
            0,
            peakend_core::ops::event::Event::from_json(&line).unwrap(),
            line,
        )
    };
    let day = |d: &str, n: &str| {
        vec![
            ev(
                &format!("o{n}"),
                &format!("{d}T09:00:00+08:00"),
                "counter_opened",
                r#""counter":"c1""#,
            ),
            ev(
                &format!("t{n}"),
                &format!("{d}T09:01:00+08:00"),
                "ticket_issued",
                r#""ticket":"A1","service":"payment""#,
            ),
            ev(
                &format!("c{n}"),
                &format!("{d}T09:02:00+08:00"),
                "called",
                r#""ticket":"A1","counter":"c1""#,
            ),
        ]
    };
    let mut batch = day("2026-08-07", "1");
    batch.extend(day("2026-08-08", "2"));
    let o = store.ingest_events(&hall, batch, vec![]).await.unwrap();
    assert_eq!((o.accepted, o.rejected.len()), (6, 0), "{o:?}");
    let d7 = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
    let d8 = chrono::NaiveDate::from_ymd_opt(2026, 8, 8).unwrap();
    let rollups = store
        .ops_rollups(None, d7, d8, peakend_store::RollupRead::WithDetail)
        .await
        .unwrap();
    assert_eq!(rollups.len(), 2);
    for (_, _, r) in &rollups {
        assert_eq!(r.as_ref().map(|r| r.done.arrivals), Some(1), "{r:?}");
    }
    // A third day's call of that day's A1 before it is issued is still refused.
    let late = store
        .ingest_events(
            &hall,
            vec![ev(
                "c3",
                "2026-08-09T09:02:00+08:00",
                "called",
                r#""ticket":"A1","counter":"c1""#,
            )],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(late.rejected.len(), 1, "{late:?}");
});

// Issue 18: a journey re-imported with another moment list has its roll-up cells rebuilt
// from the stored responses, so the roll-up answers again (and equals the rescan) instead
// of every analysis falling back to a rescan of the journey's responses.
peakend_testkit::on_both_backends!(changing_a_journey_s_moments_rebuilds_its_cells, |url| {
    use peakend_store::{AnalysisPath, AnalysisQuery, stored_analysis_by};
    let store = ready(url).await;
    with_halls(&store).await;
    let regional = derived(&service_hall(), "regional", |_| {});
    store.put_journey(&regional, Origin::User).await.unwrap();
    let halls: Vec<_> = ["h1", "h2"]
        .iter()
        .map(|h| peakend_core::HallId::parse(*h).unwrap())
        .collect();
    let all: Vec<_> = peakend_core::synth::responses(&regional, &halls, 400, 7).collect();
    store.import_responses(&regional, &all).await.unwrap();

    // The region adds a moment: the responses keep their ratings of the others.
    let wider = derived(&service_hall(), "regional", |ms| {
        let at = position(ms, "queue");
        ms.insert(at, new_moment("book_online"));
    });
    assert_eq!(
        store.put_journey(&wider, Origin::User).await.unwrap(),
        PutOutcome::Updated
    );
    let q = AnalysisQuery::default();
    let rolled = stored_analysis_by(&store, &wider, &q, AnalysisPath::RollUp)
        .await
        .unwrap()
        .expect("the cells were rebuilt for the new moment list");
    let scanned = stored_analysis_by(&store, &wider, &q, AnalysisPath::Scan)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rolled.respondents, 400);
    assert_eq!(rolled.moments.len(), 17);
    peakend_testkit::assert_json_near(
        &serde_json::to_value(&rolled).unwrap(),
        &serde_json::to_value(&scanned).unwrap(),
        "analysis",
    );
});

// Issue 18: the system time per transaction is the journey's `counter_wait.system_time`
// standard, not a constant: the KPI reports the share of transactions over it in total,
// per counter and per staff member, for the journey each hall lives by.
peakend_testkit::on_both_backends!(
    transactions_are_measured_against_the_journey_s_system_time,
    |url| {
        use peakend_core::ops::kpi::Bucket;
        use peakend_store::{KpiQuery, stored_kpis};
        let store = ready(url).await;
        with_halls(&store).await;
        let strict = derived(&service_hall(), "strict", |ms| {
            let at = position(ms, "counter_wait");
            for s in ms[at]["standards"].as_array_mut().unwrap() {
                if s["key"] == "system_time" {
                    s["threshold"]["value"] = json!(1.0);
                }
            }
        });
        store.put_journey(&strict, Origin::User).await.unwrap();
        // Two transactions: 90 s at c1 by s1, 40 s at c2 by s2.
        let lines = [
            r#"{"id":"e1","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:00+08:00","ticket":"A1","service":"payment"}"#,
            r#"{"id":"e2","hall":"h1","type":"ticket_issued","at":"2026-08-07T09:00:10+08:00","ticket":"A2","service":"payment"}"#,
            r#"{"id":"e3","hall":"h1","type":"called","at":"2026-08-07T09:01:00+08:00","ticket":"A1","counter":"c1","staff":"s1"}"#,
            r#"{"id":"e4","hall":"h1","type":"service_started","at":"2026-08-07T09:01:00+08:00","ticket":"A1","counter":"c1","staff":"s1"}"#,
            r#"{"id":"e5","hall":"h1","type":"service_ended","at":"2026-08-07T09:02:30+08:00","ticket":"A1","counter":"c1","outcome":"done"}"#,
            r#"{"id":"e6","hall":"h1","type":"called","at":"2026-08-07T09:01:00+08:00","ticket":"A2","counter":"c2","staff":"s2"}"#,
            r#"{"id":"e7","hall":"h1","type":"service_started","at":"2026-08-07T09:01:00+08:00","ticket":"A2","counter":"c2","staff":"s2"}"#,
            r#"{"id":"e8","hall":"h1","type":"service_ended","at":"2026-08-07T09:01:40+08:00","ticket":"A2","counter":"c2","outcome":"done"}"#,
        ];
        let batch = peakend_testkit::event_batch(&lines);
        let h1 = peakend_core::HallId::parse("h1").unwrap();
        store.ingest_events(&h1, batch, Vec::new()).await.unwrap();
        let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
        let report = |store: SqlStore| async move {
            stored_kpis(
                &store,
                &KpiQuery {
                    org: Some(&OrgNodeId::parse("p").unwrap()),
                    from: date,
                    to: date,
                    bucket: Bucket::Day,
                    offset: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
                    now_ms: 1_900_000_000_000,
                },
            )
            .await
            .unwrap()
        };
        // The built-in 2.5 minutes: nothing over.
        let built_in = report(store.clone()).await;
        assert_eq!(built_in.total.over_system_time_rate, Some(0.0));
        // The province lives by the 1-minute journey: the 90 s transaction is over it.
        store
            .assign_journey(&OrgNodeId::parse("p").unwrap(), &key("strict"), "test", 0)
            .await
            .unwrap();
        let strict = report(store.clone()).await;
        assert_eq!(strict.total.over_system_time_rate, Some(0.5));
        let rate = |rows: &[peakend_core::ops::kpi::Keyed], k: &str| {
            rows.iter()
                .find(|r| r.key == k)
                .and_then(|r| r.kpis.over_system_time_rate)
        };
        assert_eq!(rate(&strict.counters, "h1/c1"), Some(1.0));
        assert_eq!(rate(&strict.counters, "h1/c2"), Some(0.0));
        assert_eq!(rate(&strict.staff, "h1/s1"), Some(1.0));
        assert_eq!(rate(&strict.staff, "h1/s2"), Some(0.0));
    }
);

// Issue 19: any arrival order of the same events gives the same day. An event that
// comes before the one it follows (a ticket rated before it was issued, a service
// ended before it started) is quarantined and held; it is applied once the event it
// follows comes. Two halls get the same simulated day, one in time order and one
// shuffled into random batches; both store the same events and the same roll-up.
story!(any_arrival_order_stores_the_same_day, |store| {
    use peakend_core::ops::day::{HallDay, Rules};
    use peakend_core::ops::event::Event;
    use peakend_core::ops::simulate::{SimHall, day};
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let halls = district_of(&store, &["h1", "h2"]).await;
    let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
    let sim = [SimHall {
        hall: halls[0].clone(),
        counters: 3,
        kiosks: 2,
        zone: peakend_core::time::Zone::DEFAULT,
    }];
    for seed in [3, 17] {
        let ordered = day(&sim, date + chrono::Duration::days(seed), seed as u64);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64);
        let mut arrived: Vec<Event> = ordered
            .iter()
            .map(|e| Event {
                hall: halls[1].clone(),
                ..e.clone()
            })
            .collect();
        arrived.shuffle(&mut rng);
        let ingest = |hall: &peakend_core::HallId, evs: &[Event]| {
            let batch = evs
                .iter()
                .enumerate()
                .map(|(i, e)| (i, e.clone(), serde_json::to_string(e).unwrap()))
                .collect();
            let store = &store;
            let hall = hall.clone();
            async move { store.ingest_events(&hall, batch, vec![]).await.unwrap() }
        };
        for batch in ordered.chunks(200) {
            assert!(ingest(&halls[0], batch).await.rejected.is_empty());
        }
        let mut rest = &arrived[..];
        let (mut accepted, mut released) = (0, 0);
        while !rest.is_empty() {
            let n = rest.len().min(rand::Rng::random_range(&mut rng, 1..60));
            let o = ingest(&halls[1], &rest[..n]).await;
            accepted += o.accepted;
            released += o.released;
            rest = &rest[n..];
        }
        assert_eq!(accepted + released, ordered.len(), "seed {seed}");
        assert!(released > 0, "seed {seed}: the shuffle held nothing back");
        // The same stored events replay to the same tickets and alerts.
        let (lo, hi) = (i64::MIN / 4, i64::MAX / 4);
        let replayed = |hall: peakend_core::HallId| {
            let store = &store;
            async move {
                let events = store.hall_events(&hall, lo, hi).await.unwrap();
                HallDay::replay(Rules::default(), &events, hi)
            }
        };
        let (a, b) = (
            replayed(halls[0].clone()).await,
            replayed(halls[1].clone()).await,
        );
        assert_eq!(
            a.tickets().collect::<Vec<_>>(),
            b.tickets().collect::<Vec<_>>(),
            "seed {seed}"
        );
        assert_eq!(a.alerts(), b.alerts(), "seed {seed}");
        // Nothing of the hall is left in quarantine.
        assert_eq!(store.quarantined(Some(&halls[1])).await.unwrap(), vec![]);
        // And the roll-up kept batch by batch says the same.
        let d = date + chrono::Duration::days(seed);
        let rollups = store
            .ops_rollups(None, d, d, peakend_store::RollupRead::WithDetail)
            .await
            .unwrap();
        let of = |h: &peakend_core::HallId| {
            let r = rollups.iter().find(|r| &r.0 == h).unwrap();
            serde_json::to_value(r.2.as_ref().expect("a roll-up")).unwrap()
        };
        peakend_testkit::assert_json_near(&of(&halls[0]), &of(&halls[1]), "roll-up");
    }
});

// Issue 19: PostgreSQL writes a batch with COPY, whose text format gives backslashes,
// tabs and line ends a meaning: an event's text must come back as it was sent. And
// with no foreign key on `visit_event` any more, a hall outside the organisation is
// refused before anything is written.
story!(
    event_texts_come_back_as_sent_and_unknown_halls_are_refused,
    |store| {
        use peakend_core::ops::event::{Event, EventKind};
        let hall = one_hall(&store).await;
        let text = "{\"id\":\"e\\\\1\",\"hall\":\"h1\",\t\"type\":\"ticket_issued\",\
                \"at\":\"2026-08-07T09:00:00+08:00\",\"ticket\":\"A1\",\
                \"service\":\"缴费 \\\\ \\t \\n \\r \\\"x\\\"\"}";
        let e = Event::from_json(text).unwrap();
        let o = store
            .ingest_events(&hall, vec![(0, e, text.to_owned())], vec![])
            .await
            .unwrap();
        assert_eq!(o.accepted, 1, "{o:?}");
        let stored = store.hall_events(&hall, 0, i64::MAX / 4).await.unwrap();
        assert_eq!(stored[0].id, "e\\1");
        match &stored[0].kind {
            EventKind::TicketIssued { service, .. } => {
                assert_eq!(service, "缴费 \\ \t \n \r \"x\"")
            }
            other => panic!("{other:?}"),
        }
        let stranger = peakend_core::HallId::parse("h9").unwrap();
        let e = Event::from_json(&text.replace("\"h1\"", "\"h9\"")).unwrap();
        let err = store
            .ingest_events(&stranger, vec![(0, e, text.to_owned())], vec![])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
        assert!(
            store
                .hall_events(&stranger, 0, i64::MAX / 4)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

// Issue 19: SQLite writes a large batch in parts (so that another hall's live events
// wait for one part, not the whole batch). Answered as one: the same counts, every
// refused line by its place in the batch, and the same stored day as a replay.
story!(a_large_batch_is_answered_as_one, |store| {
    use peakend_core::ops::day::{HallDay, Rules};
    use peakend_core::ops::event::Event;
    use peakend_core::ops::simulate::{SimHall, day};
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let hall = one_hall(&store).await;
    let date = chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap();
    let sim = [SimHall {
        hall: hall.clone(),
        counters: 10,
        kiosks: 3,
        zone: peakend_core::time::Zone::DEFAULT,
    }];
    let ordered: Vec<Event> = [day(&sim, date, 5), day(&sim, date.succ_opt().unwrap(), 6)].concat();
    assert!(ordered.len() > 5_000, "{} events", ordered.len());
    let mut batch: Vec<(usize, Event, String)> = ordered
        .iter()
        .map(|e| (0, e.clone(), serde_json::to_string(e).unwrap()))
        .collect();
    batch.shuffle(&mut rand::rngs::StdRng::seed_from_u64(9));
    // The same id twice (the first counts), and a call of a ticket never issued.
    batch.push(batch[17].clone());
    let stray = Event::from_json(
        r#"{"id":"stray","hall":"h1","type":"called","at":"2026-08-07T12:00:00+08:00","ticket":"Z9","counter":"c1"}"#,
    )
    .unwrap();
    batch.push((0, stray.clone(), serde_json::to_string(&stray).unwrap()));
    for (i, item) in batch.iter_mut().enumerate() {
        item.0 = i;
    }
    let o = store.ingest_events(&hall, batch, vec![]).await.unwrap();
    assert_eq!((o.accepted, o.duplicates), (ordered.len(), 1), "{o:?}");
    assert_eq!(o.rejected.len(), 1, "{o:?}");
    assert_eq!(o.rejected[0].line, ordered.len() + 1);
    let stored = store.hall_events(&hall, 0, i64::MAX / 4).await.unwrap();
    let end = ordered.iter().map(Event::at_ms).max().unwrap();
    let mut sorted = ordered.clone();
    peakend_core::ops::event::sort_for_replay(&mut sorted);
    let (a, b) = (
        HallDay::replay(Rules::default(), &stored, end),
        HallDay::replay(Rules::default(), &sorted, end),
    );
    assert_eq!(
        a.tickets().collect::<Vec<_>>(),
        b.tickets().collect::<Vec<_>>()
    );
    assert_eq!(a.alerts(), b.alerts());
});

// A hall's stored events are read back joined into one value on SQLite, split on a
// control character no JSON text holds unescaped: one escaped in a string, and a
// newline, must not cut an event in two.
story!(
    stored_events_come_back_whole_whatever_their_strings_hold,
    |store| {
        let hall = one_hall(&store).await;
        store
            .ingest_events(
                &hall,
                vec![
                    hall_event(
                        "x1",
                        "09:00",
                        "ticket_issued",
                        r#""ticket":"A\u001e1\n","service":"bill""#,
                    ),
                    hall_event(
                        "x2",
                        "09:01",
                        "ticket_issued",
                        r#""ticket":"B2","service":"bill""#,
                    ),
                ],
                vec![],
            )
            .await
            .unwrap();
        let events = store.hall_events(&hall, 0, i64::MAX).await.unwrap();
        let tickets: Vec<Option<&str>> = events.iter().map(|e| e.kind.ticket()).collect();
        assert_eq!(tickets, [Some("A\u{1e}1\n"), Some("B2")]);
    }
);

/// A partial index's condition runs on every write of its table, and SQLite evaluates
/// an IN list of more than two constants through a temporary B-tree built afresh each
/// time a statement runs (a fifth of the event writer's time, found on a province's
/// day): SQLite's partial indexes say such a condition as equalities joined by OR.
#[tokio::test]
async fn no_partial_index_on_sqlite_tests_an_in_list() {
    let db = peakend_testkit::sqlite();
    connect(&db.url).await.unwrap();
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let partial: Vec<&(String, String)> = indexes
        .iter()
        .filter(|(_, sql)| sql.to_uppercase().contains(" WHERE "))
        .collect();
    assert!(
        partial.iter().any(|(n, _)| n == "visit_event_call"),
        "{indexes:?}"
    );
    for (name, sql) in partial {
        let condition = &sql.to_uppercase()[sql.to_uppercase().find(" WHERE ").unwrap()..];
        assert!(!condition.contains(" IN ("), "{name}: {sql}");
    }
}

/// PostgreSQL compares every text column byte by byte (COLLATE "C"), as SQLite does:
/// under a database's locale each B-tree step on a hall or event id was a strcoll call
/// (a tenth of the database's time in a busy ingest), and a text ordering differed
/// between the backends. A table added later must say COLLATE "C" on its text columns.
#[tokio::test]
async fn postgres_text_columns_compare_byte_by_byte() {
    if peakend_testkit::postgres_skipped() {
        return;
    }
    let db = peakend_testkit::postgres().await;
    connect(&db.url).await.unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let columns: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.collation_name::text
         FROM information_schema.columns c
         JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
           AND c.data_type = 'text' AND c.table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        columns
            .iter()
            .any(|(t, c, _)| t == "visit_event" && c == "event_id"),
        "{columns:?}"
    );
    let other: Vec<_> = columns
        .iter()
        .filter(|(_, _, collation)| collation.as_deref() != Some("C"))
        .collect();
    assert!(other.is_empty(), "not COLLATE \"C\": {other:?}");
}

// On SQLite the event writer has a connection of its own and commits many times a
// second. A pool transaction that read before it wrote (a new user checked against the
// organisation and the names taken, a device token against the halls) failed at once
// with "database is locked" whenever such a commit fell between its read and its write;
// every writing transaction now takes the write lock when it begins.
story!(
    writes_that_read_first_succeed_while_events_stream_in,
    |store| {
        use peakend_core::{Role, UserName};
        let hall = one_hall(&store).await;
        let batches = 400;
        let ingest = async {
            for i in 0..batches {
                let (h, m) = (8 + i / 60, i % 60);
                let e = hall_event(
                    &format!("e{i}"),
                    &format!("{h:02}:{m:02}"),
                    "ticket_issued",
                    &format!(r#""ticket":"A{i:03}","service":"payment""#),
                );
                store.ingest_events(&hall, vec![e], vec![]).await.unwrap();
                tokio::task::yield_now().await;
            }
        };
        let writes = async {
            let mut failed = Vec::new();
            for i in 0..100 {
                let user = peakend_store::User {
                    name: UserName::parse(format!("staff{i}")).unwrap(),
                    role: Role::Frontline,
                    org: OrgNodeId::parse("h1").unwrap(),
                    created_at: 0,
                    staff: None,
                };
                if let Err(e) = store.create_user(&user, "x").await {
                    failed.push(format!("user {i}: {e}"));
                }
                if let Err(e) = store.create_device_token(&hall).await {
                    failed.push(format!("token {i}: {e}"));
                }
                tokio::task::yield_now().await;
            }
            failed
        };
        let ((), failed) = tokio::join!(ingest, writes);
        assert!(
            failed.is_empty(),
            "{} writes failed: {:?}",
            failed.len(),
            &failed[..failed.len().min(5)]
        );
        let day = store.hall_events(&hall, 0, i64::MAX).await.unwrap();
        assert_eq!(day.len(), batches);
        assert_eq!(store.users().await.unwrap().len(), 100);
    }
);

/// PostgreSQL's text cannot hold U+0000: an import that carries it is refused as the
/// client's error (it would never succeed sent again), in the store's own words, and
/// nothing of it is kept. SQLite keeps the character.
#[tokio::test]
async fn postgres_refuses_the_nul_character_as_the_clients_error() {
    if peakend_testkit::postgres_skipped() {
        return;
    }
    let db = peakend_testkit::postgres().await;
    let store = connect(&db.url).await.unwrap();
    let mut city = node("c1", Some("p"), OrgLevel::City);
    city.name = "城市\0一".into();
    let err = store
        .import_org(vec![node("p", None, OrgLevel::Province), city])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), peakend_store::ErrorKind::Invalid, "{err:?}");
    let text = err.to_string();
    assert!(text.contains("U+0000") && !text.contains("0x00"), "{text}");
    assert!(store.org_nodes().await.unwrap().is_empty());
}
