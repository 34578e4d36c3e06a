//! Issue 24: survey answers packed on their response's row and roll-up cells in bytes
//! (migration 0041), a file streamed in batches, on both backends: an import stores
//! only when told its file was whole, refuses every repeated respondent of any batch,
//! and what was stored the old way (rating rows, JSON cells) still reads and merges.

use peakend_core::analysis::rollup::Rollup;
use peakend_core::survey::Response;
use peakend_core::{HallId, Journey, builtin};
use peakend_store::{CustomerStore, ImportBatch, Store, StoreError, connect};

fn service_hall() -> Journey {
    builtin::journeys().unwrap().remove(0)
}

fn synth(rows: usize, seed: u64) -> Vec<Response> {
    let halls = [HallId::parse("h1").unwrap(), HallId::parse("h2").unwrap()];
    peakend_core::synth::responses(&service_hall(), &halls, rows, seed).collect()
}

/// [`synth`]'s responses with respondents of their own (`prefix` before each name), so
/// that they are new beside those of another seed.
fn synth_named(rows: usize, seed: u64, prefix: &str) -> Vec<Response> {
    synth(rows, seed)
        .into_iter()
        .map(|mut r| {
            r.respondent = format!("{prefix}{}", r.respondent);
            r
        })
        .collect()
}

/// The built-in journeys and an organisation of halls h1 and h2.
async fn two_halls(store: &peakend_store::SqlStore) {
    crate::with_small_org(store, &[("h1", "一号厅"), ("h2", "二号厅")]).await;
}

/// Every stored response's answers as before migration 0041, a row per rating and need
/// element: `moment` rated 9 (importance) and 4 (satisfaction), its first need 6.
async fn legacy_rows(url: &str, moment: &peakend_core::Moment) {
    peakend_testkit::execute(
        url,
        &format!(
            "INSERT INTO response_rating (hall_id, response_id, journey_key, moment_key, importance, satisfaction)
             SELECT hall_id, id, journey_key, '{}', 9.0, 4.0 FROM survey_response",
            moment.key
        ),
    )
    .await;
    peakend_testkit::execute(
        url,
        &format!(
            "INSERT INTO response_need (hall_id, response_id, moment_key, need_key, importance)
             SELECT hall_id, id, '{}', '{}', 6.0 FROM survey_response",
            moment.key, moment.core_needs[0].key
        ),
    )
    .await;
}

async fn send(
    store: &peakend_store::SqlStore,
    batches: Vec<Vec<Response>>,
    end: bool,
) -> Result<usize, StoreError> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let j = service_hall();
    let import = store.import_response_stream(&j, rx);
    let feed = async move {
        for b in batches {
            tx.send(ImportBatch::Rows(b)).await.unwrap();
        }
        if end {
            tx.send(ImportBatch::End).await.unwrap();
        }
    };
    let (stored, ()) = tokio::join!(import, feed);
    stored
}

peakend_testkit::on_both_backends!(
    a_streamed_import_stores_only_once_told_its_file_was_whole,
    |url| {
        let store = connect(url).await.unwrap();
        two_halls(&store).await;
        let j = service_hall();
        let all = synth(300, 5);
        let n = send(&store, all.chunks(120).map(<[_]>::to_vec).collect(), true)
            .await
            .unwrap();
        assert_eq!(n, 300);
        // Every answer, need element and rating comes back as it was sent.
        assert_eq!(store.responses(&j, None, None, None).await.unwrap(), all);
        assert_eq!(
            peakend_testkit::fetch_i64(url, "SELECT COUNT(*) FROM response_rating").await,
            0,
            "answers are packed on their response's row"
        );

        // A reader that stops without saying the file was whole stores nothing.
        let more = synth_named(50, 6, "x-");
        let err = send(&store, vec![more.clone()], false).await.unwrap_err();
        assert!(err.to_string().contains("stopped before its end"), "{err}");
        // Repeats in a later batch refuse the whole import, all of them counted.
        let mut again = more[..10].to_vec();
        again.extend(all[..3].iter().cloned());
        again.extend(all[200..202].iter().cloned());
        let err = send(&store, vec![more[10..].to_vec(), again], true)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("5 respondents are already stored"),
            "{err}"
        );
        // Named: the repeats, never the new respondents stored beside them.
        for r in all[..3].iter().chain(&all[200..202]) {
            assert!(err.to_string().contains(&r.respondent), "{err}");
        }
        assert!(!err.to_string().contains("x-"), "{err}");
        assert_eq!(
            store.responses(&j, None, None, None).await.unwrap().len(),
            300
        );
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT CAST(SUM(respondents) AS BIGINT) FROM survey_rollup"
            )
            .await,
            300
        );
    }
);

peakend_testkit::on_both_backends!(
    a_respondent_given_twice_in_one_import_is_found_by_the_store,
    |url| {
        // A reader that remembers no respondent (to read a file of any size) leaves
        // repeats to the store: in one statement, in statements apart, in batches
        // apart, and beside respondents stored before.
        let store = connect(url).await.unwrap();
        two_halls(&store).await;
        let j = service_hall();
        let stored = synth(20, 3);
        store.import_responses(&j, &stored).await.unwrap();
        let all: Vec<Response> = synth_named(2600, 4, "n-");
        let names = |err: &StoreError| match err {
            StoreError::Repeated { count, respondents } => (*count, respondents.clone()),
            other => panic!("not a repeat: {other:?}"),
        };
        let count = || async {
            peakend_testkit::fetch_i64(url, "SELECT COUNT(*) FROM survey_response").await
        };

        // Twice in one statement (rows 0 and 5 of the first thousand).
        let mut feed = all[..900].to_vec();
        feed.insert(5, all[0].clone());
        let err = send(&store, vec![feed], true).await.unwrap_err();
        assert_eq!(names(&err), (1, vec![all[0].respondent.clone()]));
        assert_eq!(
            err.kind(),
            peakend_store::ErrorKind::Invalid,
            "the file's fault"
        );

        // In statements and batches apart: the first batch is stored by two statements,
        // the second gives one respondent of each again, and one stored before.
        let mut second = all[2000..2600].to_vec();
        second.push(all[10].clone());
        second.push(stored[4].clone());
        second.push(all[1500].clone());
        let err = send(&store, vec![all[..2000].to_vec(), second.clone()], true)
            .await
            .unwrap_err();
        let (n, mut who) = names(&err);
        who.sort();
        let mut want = vec![all[10].respondent.clone(), all[1500].respondent.clone()];
        want.sort();
        assert_eq!((n, who), (2, want), "{err}");
        assert_eq!(count().await, 20, "nothing of a refused import is kept");

        // Given twice after the first repeat, in the rest that is only checked.
        let mut rest = all[2000..2100].to_vec();
        rest.push(all[2050].clone());
        let mut first = all[..1200].to_vec();
        first.push(all[3].clone());
        let err = send(&store, vec![first, rest], true).await.unwrap_err();
        let (n, who) = names(&err);
        assert_eq!(n, 2, "{err}");
        assert!(
            who.contains(&all[3].respondent) && who.contains(&all[2050].respondent),
            "{err}"
        );

        // A batch at hand (an API's) is checked the same way.
        let mut batch = all[..30].to_vec();
        batch.push(all[29].clone());
        let err = store.import_responses(&j, &batch).await.unwrap_err();
        assert_eq!(names(&err), (1, vec![all[29].respondent.clone()]));

        // Only stored before: a conflict, as always.
        let err = send(&store, vec![vec![all[0].clone(), stored[1].clone()]], true)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("1 respondents are already stored"),
            "{err}"
        );
        assert_eq!(count().await, 20);

        // And the file without its repeats imports whole.
        assert_eq!(send(&store, vec![all.clone()], true).await.unwrap(), 2600);
        assert_eq!(count().await, 2620);
    }
);

peakend_testkit::on_both_backends!(
    answers_and_cells_stored_the_old_way_still_read_and_merge,
    |url| {
        let store = connect(url).await.unwrap();
        two_halls(&store).await;
        let j = service_hall();
        let mut first = synth(1, 9);
        first[0].hall = HallId::parse("h1").unwrap();
        store.import_responses(&j, &first).await.unwrap();

        // As stored before migration 0041: no packed answers, a row per rating and need
        // element, the cell as JSON.
        let r = &first[0];
        let find = &j.moments()[0];
        peakend_testkit::execute(
            url,
            "UPDATE survey_response SET answers = NULL, layout_id = NULL",
        )
        .await;
        legacy_rows(url, find).await;
        let mut legacy = r.clone();
        legacy.ratings = vec![Default::default(); j.moments().len()];
        legacy.ratings[0].importance = Some(9.0);
        legacy.ratings[0].satisfaction = Some(4.0);
        legacy.needs = vec![peakend_core::survey::NeedRating {
            moment: 0,
            need: 0,
            importance: 6.0,
        }];
        assert_eq!(
            store.responses(&j, None, None, None).await.unwrap(),
            vec![legacy.clone()]
        );
        let mut cells = Rollup::new(&j);
        cells.push(&legacy);
        let (key, cell) = cells.cells.iter().next().unwrap();
        peakend_testkit::execute(
        url,
        &format!(
            "UPDATE survey_rollup SET cell = NULL, stats = '{}' WHERE hall_id = '{}' AND period = '{}' AND segment = '{}'",
            serde_json::to_string(cell).unwrap().replace('\'', "''"),
            key.hall,
            key.period,
            key.segment.replace('\'', "''")
        ),
    )
    .await;

        // The next open rewrites JSON cells in bytes (migration 0041's task), once.
        let before = store.responses(&j, None, None, None).await.unwrap();
        peakend_testkit::execute(
            url,
            "INSERT INTO store_task (task) VALUES ('cells_to_bytes')",
        )
        .await;
        let reopened = connect(url).await.unwrap();
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM survey_rollup WHERE cell IS NULL OR stats <> ''"
            )
            .await,
            0
        );
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM store_task WHERE task = 'cells_to_bytes'"
            )
            .await,
            0
        );
        assert_eq!(
            reopened.responses(&j, None, None, None).await.unwrap(),
            before
        );
        // Back to JSON for what follows: a cell the task has not reached yet.
        peakend_testkit::execute(
        url,
        &format!(
            "UPDATE survey_rollup SET cell = NULL, stats = '{}' WHERE hall_id = '{}' AND period = '{}' AND segment = '{}'",
            serde_json::to_string(cell).unwrap().replace('\'', "''"),
            key.hall,
            key.period,
            key.segment.replace('\'', "''")
        ),
    )
    .await;

        // A second answer in the same cell, packed, merges into the JSON cell, which is
        // written back in bytes; both answers read back and count across channels.
        let mut second = synth(1, 10);
        second[0].respondent = "second".into();
        second[0].hall = r.hall.clone();
        second[0].date = r.date;
        second[0].segment = r.segment.clone();
        store.import_responses(&j, &second).await.unwrap();
        assert_eq!(
            store.responses(&j, None, None, None).await.unwrap(),
            vec![legacy.clone(), second[0].clone()]
        );
        let (period, segment) = (key.period.clone(), key.segment.replace('\'', "''"));
        assert_eq!(
        peakend_testkit::fetch_i64(
            url,
            &format!(
                "SELECT respondents FROM survey_rollup WHERE cell IS NOT NULL AND hall_id = 'h1' AND period = '{period}' AND segment = '{segment}'"
            )
        )
        .await,
        2
    );
        let ratings = store.moment_ratings(r.date, r.date).await.unwrap();
        let find_sat = ratings
            .iter()
            .find(|m| m.moment == find.key.as_str())
            .expect("the first moment was rated");
        let second_find = second[0].ratings[0].satisfaction;
        assert_eq!(find_sat.n, 1 + u64::from(second_find.is_some()));
        assert_eq!(find_sat.sum, 4.0 + second_find.unwrap_or(0.0));
    }
);

peakend_testkit::on_both_backends!(
    short_form_answers_keep_their_mark_through_the_store,
    |url| {
        use peakend_core::analysis::{SurveyStats, analyze};
        use peakend_store::{AnalysisPath, AnalysisQuery, stored_analysis_by};
        let store = connect(url).await.unwrap();
        two_halls(&store).await;
        let j = service_hall();
        // Every third answer from the short form, its unasked moments left blank.
        let all: Vec<Response> = synth(300, 9)
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                r.short_form = i % 3 == 0;
                if r.short_form {
                    for (m, rating) in r.ratings.iter_mut().enumerate() {
                        if (m + i) % 4 != 0 && m != 15 {
                            rating.satisfaction = None;
                        }
                        rating.importance = None;
                    }
                    r.needs.clear();
                }
                r
            })
            .collect();
        send(&store, vec![all.clone()], true).await.unwrap();
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM survey_response WHERE short_form"
            )
            .await,
            100
        );
        // Read back marked, and the roll-up and a scan both weigh them by purpose: the
        // analysis of the same answers in memory.
        assert_eq!(store.responses(&j, None, None, None).await.unwrap(), all);
        let mut stats = SurveyStats::new(&j);
        all.iter().for_each(|r| stats.push(r));
        let expected = analyze(&j, &stats, None, Default::default()).unwrap();
        for path in [AnalysisPath::RollUp, AnalysisPath::Scan] {
            let got = stored_analysis_by(&store, &j, &AnalysisQuery::default(), path)
                .await
                .unwrap()
                .unwrap();
            peakend_testkit::assert_json_near(
                &serde_json::to_value(&got).unwrap(),
                &serde_json::to_value(&expected).unwrap(),
                "analysis",
            );
        }
    }
);

/// The table's indexes, by name (the store's own and the migrations').
async fn response_indexes(url: &str) -> i64 {
    let sql = if url.starts_with("postgres") {
        "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'survey_response'"
    } else {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'survey_response'"
    };
    peakend_testkit::fetch_i64(url, sql).await
}

/// Rows of survey_response that some index lacks or holds wrongly (SQLite's check;
/// PostgreSQL never drops them).
async fn broken_indexes(url: &str) -> i64 {
    if url.starts_with("postgres") {
        return 0;
    }
    peakend_testkit::fetch_i64(
        url,
        "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check <> 'ok'",
    )
    .await
}

peakend_testkit::on_both_backends!(
    a_large_import_builds_its_indexes_at_the_end_and_a_refused_one_keeps_them,
    |url| {
        // Past 100 responses (and more than the table held), SQLite drops the
        // non-unique indexes and builds them again before the commit.
        let store = connect(url).await.unwrap().defer_indexes_after(100);
        two_halls(&store).await;
        let j = service_hall();
        // The unique (journey, respondent) and at least three to drop (SQLite's since
        // migration 0050: comments', by hall and respondent, by journey and hall).
        let indexes = response_indexes(url).await;
        assert!(indexes >= 4, "{indexes}");
        let all = synth(300, 5);
        let n = send(&store, all.chunks(120).map(<[_]>::to_vec).collect(), true)
            .await
            .unwrap();
        assert_eq!(n, 300);
        assert_eq!(response_indexes(url).await, indexes);
        assert_eq!(broken_indexes(url).await, 0);
        assert_eq!(store.responses(&j, None, None, None).await.unwrap(), all);
        // Read by hall through the rebuilt indexes: each hall's responses.
        let h1 = HallId::parse("h1").unwrap();
        let by_hall = store
            .responses(&j, Some(std::slice::from_ref(&h1)), None, None)
            .await
            .unwrap();
        assert_eq!(
            by_hall,
            all.iter()
                .filter(|r| r.hall == h1)
                .cloned()
                .collect::<Vec<_>>()
        );

        // 400 new respondents (past the threshold and the 300 held), then repeats:
        // refused whole, the dropped indexes back as they were.
        let more: Vec<Response> = synth_named(400, 6, "x-");
        let again = all[..3].to_vec();
        let err = send(&store, vec![more.clone(), again], true)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(response_indexes(url).await, indexes);
        assert_eq!(broken_indexes(url).await, 0);
        assert_eq!(
            store.responses(&j, None, None, None).await.unwrap().len(),
            300
        );
        // And the same 400 accepted alone, indexed like the rest.
        assert_eq!(send(&store, vec![more], true).await.unwrap(), 400);
        assert_eq!(response_indexes(url).await, indexes);
        assert_eq!(broken_indexes(url).await, 0);
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                "SELECT COUNT(*) FROM survey_response WHERE hall_id = 'h2'"
            )
            .await,
            store
                .responses(&j, None, None, None)
                .await
                .unwrap()
                .iter()
                .filter(|r| r.hall.as_str() == "h2")
                .count() as i64
        );
    }
);

// Migration 0050: SQLite's legacy rating and need rows lost their foreign key to their
// response with the response's (hall_id, id) key (a trigger deletes them with it);
// PostgreSQL's cascade is the foreign key's. On both, they go with their response only.
peakend_testkit::on_both_backends!(legacy_answers_go_with_their_response, |url| {
    let store = connect(url).await.unwrap();
    two_halls(&store).await;
    let j = service_hall();
    store.import_responses(&j, &synth(2, 3)).await.unwrap();
    let find = &j.moments()[0];
    legacy_rows(url, find).await;
    let kept = peakend_testkit::fetch_i64(url, "SELECT MAX(id) FROM survey_response").await;
    peakend_testkit::execute(
        url,
        "DELETE FROM survey_response WHERE id = (SELECT MIN(id) FROM survey_response)",
    )
    .await;
    for table in ["response_rating", "response_need"] {
        assert_eq!(
            peakend_testkit::fetch_i64(
                url,
                &format!("SELECT COUNT(*) FROM {table} WHERE response_id = {kept}")
            )
            .await,
            1,
            "{table}"
        );
        assert_eq!(
            peakend_testkit::fetch_i64(url, &format!("SELECT COUNT(*) FROM {table}")).await,
            1,
            "{table}"
        );
    }
});
