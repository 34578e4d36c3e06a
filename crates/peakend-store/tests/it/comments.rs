//! Issue 22's comments, on a fresh SQLite file and a fresh PostgreSQL database: a
//! comment is stored with its answer (never the contact), read back with its hall and
//! date, assigned to moments with a sentiment; a negative comment whose respondent
//! left a contact with consent opens one survey case about its moment.

use peakend_core::case::CaseSource;
use peakend_core::survey::Response;
use peakend_core::{HallId, OrgLevel};
use peakend_store::{CaseFilter, CaseStore, SqlStore, Store, connect};

async fn ready(url: &str) -> SqlStore {
    let store = connect(url).await.unwrap();
    store.load_builtin_journeys().await.unwrap();
    let node = |id, parent, level| peakend_testkit::org_node(id, parent, level, 6, 2);
    store
        .import_org(vec![
            node("p", None, OrgLevel::Province),
            node("c1", Some("p"), OrgLevel::City),
            node("d1", Some("c1"), OrgLevel::District),
            node("h1", Some("d1"), OrgLevel::Hall),
            node("h2", Some("d1"), OrgLevel::Hall),
        ])
        .await
        .unwrap();
    store
}

fn answer(respondent: &str, hall: &str, comment: Option<&str>, contact: Option<&str>) -> Response {
    let j = peakend_core::builtin::journeys().unwrap().remove(0);
    Response {
        respondent: respondent.into(),
        hall: HallId::parse(hall).unwrap(),
        date: chrono::NaiveDate::from_ymd_opt(2026, 8, 7).unwrap(),
        segment: "全球通".into(),
        purpose: None,
        // Good ratings: only the comment can open a case.
        overall: Some(9.0),
        nps: Some(9.0),
        tolerable_wait_min: None,
        ratings: vec![Default::default(); j.moments().len()],
        needs: Vec::new(),
        contact: contact.map(str::to_owned),
        comment: comment.map(str::to_owned),
        customer: None,
        short_form: false,
    }
}

peakend_testkit::on_both_backends!(
    comments_are_stored_read_back_assigned_and_open_cases,
    |url| {
        let store = ready(url).await;
        let j = store
            .journey(&peakend_core::JourneyKey::parse("service-hall").unwrap())
            .await
            .unwrap()
            .unwrap();
        let fixed = [
            (
                "r1",
                "h1",
                Some("排队排了一个多小时，太慢了"),
                Some("13800000001"),
            ),
            (
                "r2",
                "h1",
                Some("营业员态度很好，解释得很清楚"),
                Some("13800000002"),
            ),
            ("r3", "h2", Some("自助机坏了，贴着暂停使用"), None),
            ("r4", "h2", None, Some("13800000004")),
            ("r5", "h2", Some("停车不方便，进门也没人引导"), None),
        ];
        let answers: Vec<Response> = fixed
            .iter()
            .map(|(r, h, c, k)| answer(r, h, *c, *k))
            .collect();
        store.import_responses(&j, &answers).await.unwrap();

        let comments = store.comments(&j, None, None, None).await.unwrap();
        let texts: Vec<(&str, &str, &str)> = comments
            .iter()
            .map(|c| (c.respondent.as_str(), c.hall.as_str(), c.comment.as_str()))
            .collect();
        assert_eq!(
            texts,
            [
                ("r1", "h1", "排队排了一个多小时，太慢了"),
                ("r2", "h1", "营业员态度很好，解释得很清楚"),
                ("r3", "h2", "自助机坏了，贴着暂停使用"),
                ("r5", "h2", "停车不方便，进门也没人引导"),
            ]
        );
        let h2 = [HallId::parse("h2").unwrap()];
        assert_eq!(
            store
                .comments(&j, Some(&h2), None, None)
                .await
                .unwrap()
                .len(),
            2
        );
        // Read back with the responses too, never with the contact.
        let back = store.responses(&j, None, None, None).await.unwrap();
        assert_eq!(
            back[0].comment.as_deref(),
            Some("排队排了一个多小时，太慢了")
        );
        assert!(back.iter().all(|r| r.contact.is_none()));

        // Each fixed comment on its moments, with its sentiment.
        let a = peakend_store::comment_analyser(&j);
        let read: Vec<(Vec<&str>, &str)> = comments
            .iter()
            .map(|c| {
                let r = a.read(&c.comment);
                (
                    r.moments
                        .iter()
                        .map(|m| j.moments()[m.moment].key.as_str())
                        .collect(),
                    r.sentiment.as_str(),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                (vec!["queue"], "negative"),
                (vec!["counter_talk"], "positive"),
                (vec!["self_service"], "negative"),
                (vec!["arrive", "enter"], "negative"),
            ]
        );

        // r1's negative comment with a contact opened one case about the queue; r2's
        // praise, r3's complaint without a contact and r4's silence opened none.
        let cases = store
            .cases(&CaseFilter {
                source: Some(CaseSource::Survey),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(cases.len(), 1, "{cases:?}");
        assert_eq!(cases[0].response.as_deref(), Some("r1"));
        assert_eq!(cases[0].moment.as_str(), "queue");
        assert_eq!(cases[0].contact.as_deref(), Some("13800000001"));
        assert!(cases[0].summary.contains("排队排了一个多小时"));

        // A re-import is refused whole: nothing half-stored, no second case.
        assert!(store.import_responses(&j, &answers[..1]).await.is_err());
        assert_eq!(store.comments(&j, None, None, None).await.unwrap().len(), 4);
    }
);
