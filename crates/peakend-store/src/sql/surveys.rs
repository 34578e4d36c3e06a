//! Survey responses: their import, the roll-up cells kept per hall and month, and
//! the responses read back for a scan.

use super::*;
use peakend_core::analysis::rollup::RollupFold;
use peakend_core::answers::{self, AnswerLayout};

/// A stored rating: (response, moment, importance, satisfaction).
type RatingRow = (
    i64,
    String,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);
/// A stored need rating: (response, moment, need, importance).
type NeedRow = (i64, String, String, f64);

pub(super) async fn import_responses(
    store: &SqlStore,
    journey: &Journey,
    responses: &[Response],
) -> Result<usize> {
    import_feed(store, journey, Feed::Slice(responses), None).await
}

pub(super) async fn import_responses_answering(
    store: &SqlStore,
    journey: &Journey,
    responses: &[Response],
    answering: Option<(i64, i64)>,
) -> Result<usize> {
    import_feed(store, journey, Feed::Slice(responses), answering).await
}

pub(super) async fn import_response_stream(
    store: &SqlStore,
    journey: &Journey,
    batches: tokio::sync::mpsc::Receiver<ImportBatch>,
) -> Result<usize> {
    import_feed(store, journey, Feed::Stream(batches), None).await
}

/// Where an import's responses come from: all at hand (a form's answer, an API
/// batch) or in batches from a reader that holds no more than a few at a time.
enum Feed<'a> {
    Slice(&'a [Response]),
    Stream(tokio::sync::mpsc::Receiver<ImportBatch>),
}

impl<'a> Feed<'a> {
    async fn next(&mut self) -> Result<Option<std::borrow::Cow<'a, [Response]>>> {
        match self {
            Feed::Slice(s) => {
                Ok((!s.is_empty()).then(|| std::borrow::Cow::Borrowed(std::mem::take(s))))
            }
            Feed::Stream(rx) => match rx.recv().await {
                Some(ImportBatch::Rows(rows)) => Ok(Some(std::borrow::Cow::Owned(rows))),
                Some(ImportBatch::End) => Ok(None),
                // The reader stopped without saying the file was whole: nothing is kept.
                // Not the file's fault (its reader reports its own errors): retryable.
                None => Err(StoreError::Unavailable(
                    "the import was stopped before its end".into(),
                )),
            },
        }
    }
}

/// `visit_date` as stored, `YYYY-MM-DD` (chrono's `format` parses its pattern each time).
fn day_text(d: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Respondents an import's error names: how many, and the first few (a re-import of a
/// large file would otherwise hold every respondent of it).
#[derive(Default)]
struct Named {
    count: usize,
    first: Vec<String>,
}

impl Named {
    const SHOWN: usize = 10;

    fn add(&mut self, respondent: String) {
        self.count += 1;
        if self.first.len() < Self::SHOWN {
            self.first.push(respondent);
        }
    }

    fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn text(&self) -> String {
        let more = if self.count > self.first.len() {
            ", …"
        } else {
            ""
        };
        format!("{}{more}", self.first.join(", "))
    }
}

/// SQLite's page cache during a survey import, in KiB (negative, as the pragma takes it).
const IMPORT_CACHE: i64 = -524_288;

/// Responses a statement: 14 values a row stays under either database's limit.
const RESPONSE_CHUNK: usize = 1000;

/// SQLite: once an import has brought this many responses and more than the table held
/// before, the table's non-unique indexes are dropped in the import's transaction and
/// built again from the sorted rows before the commit: a random page per row and index
/// costs more than one sort. Readers keep their snapshot (WAL), a refused import
/// rolls the drop back with the rest, and the unique indexes that find a respondent
/// stored twice stay.
pub(super) const DEFER_INDEXES_AFTER: usize = 200_000;

/// Stores what `feed` brings in one transaction, all or nothing; when `answering` is
/// `(invitation, at)`, the answer came through that invitation's link: in the same
/// transaction the invitation becomes `answered` with the respondent as its
/// `response_id`, or, when it was answered before or has expired, nothing is stored
/// ([`StoreError::Gone`]). Memory holds a batch and the roll-up cells, never the file.
async fn import_feed(
    store: &SqlStore,
    journey: &Journey,
    mut feed: Feed<'_>,
    answering: Option<(i64, i64)>,
) -> Result<usize> {
    let key = journey.key().as_str();
    // Answers that left a contact with consent and went badly open cases, in the
    // import's transaction; the contact is kept on the case only. The halls' rules are
    // read before the transaction (an in-memory SQLite has a single connection).
    let book = match &feed {
        Feed::Slice(s) if s.iter().all(|r| r.contact.is_none()) => None,
        _ => Some(crate::RulesBook::load(store).await?),
    };
    let layout = AnswerLayout::of(journey);
    let layout_text = layout.text();
    let layout_hash = super::sha256_hex(&layout_text);
    let cells_layout = rollup::layout(journey);
    let now = now_ms();
    let postgres = matches!(store.pool, Pool::Postgres(_));
    on_pool!(store, pool => {
        let mut tx = pool.begin_with(write_begin(&store.pool)).await?;
        if postgres {
            // One import of a journey at a time: two would both read a roll-up cell
            // and the second write would lose the first's responses from it.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('survey:' || $1))")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        if !postgres {
            // The indexes of millions of responses take random pages: a large import
            // gets a larger page cache while it lasts (set back on this connection
            // whether the import commits or not: it goes back to the pool).
            sqlx::query(&format!("PRAGMA cache_size = {IMPORT_CACHE}")).execute(&mut *tx).await?;
        }
        let outcome: Result<(i64, Rollup, usize)> = async {
        // A contact centre's callers answer its surveys as a hall's visitors do.
        let halls: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM org_node WHERE level IN ('hall', 'centre')").fetch_all(&mut *tx).await?;
        let halls: HashSet<String> = halls.into_iter().map(|(h,)| h).collect();
        sqlx::query(
            "INSERT INTO answer_layout (journey_key, layout_hash, layout) VALUES ($1, $2, $3)
             ON CONFLICT (journey_key, layout_hash) DO NOTHING",
        )
        .bind(key)
        .bind(&layout_hash)
        .bind(&layout_text)
        .execute(&mut *tx)
        .await?;
        let (layout_id,): (i64,) =
            sqlx::query_as("SELECT id FROM answer_layout WHERE journey_key = $1 AND layout_hash = $2")
                .bind(key)
                .bind(&layout_hash)
                .fetch_one(&mut *tx)
                .await?;
        let mut unknown: BTreeSet<String> = BTreeSet::new();
        // Respondents stored before (found by the unique index as rows are inserted), and
        // those the feed gives twice (a reader that streams a file of any size remembers
        // none: the index finds them too); after the first, the rest of the feed is only
        // checked, so the error counts all that were stored before.
        let mut again = Named::default();
        let mut repeated = Named::default();
        let mut fold = RollupFold::new(journey);
        let mut analyser = None;
        let mut first: Option<String> = None;
        let mut count = 0usize;
        // The highest id any response had before the import: the import's rows get higher
        // ones (its journey's imports take turns, and ids only grow: SQLite's rowid in the
        // one writer's transaction, PostgreSQL's sequence), so an id tells a respondent
        // stored before from one this import stored earlier in the feed. SQLite also
        // uses it as the count of rows stored before (about).
        let floor: i64 = if postgres {
            sqlx::query_as::<_, (i64,)>(
                "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('survey_response', 'id')), 0)",
            )
            .fetch_one(&mut *tx)
            .await?
            .0
        } else {
            sqlx::query_as::<_, (i64,)>("SELECT coalesce(max(id), 0) FROM survey_response")
                .fetch_one(&mut *tx)
                .await?
                .0
        };
        let held_before = if postgres { 0 } else { usize::try_from(floor).unwrap_or(0) };
        let mut deferred: Option<Vec<String>> = None;
        // The statement for a whole chunk is made once; a batch's last chunk gets its own.
        let insert_sql = |rows: usize| {
            format!(
                "INSERT INTO survey_response (hall_id, journey_key, respondent, visit_date, segment, purpose,
                   overall, nps, tolerable_wait_min, received_at, comment, customer, layout_id, answers,
                   short_form)
                 VALUES {} ON CONFLICT (journey_key, respondent) DO NOTHING",
                value_marks(postgres, rows, 15)
            )
        };
        let whole_chunk = insert_sql(RESPONSE_CHUNK);
        macro_rules! bound {
            ($sql:expr, $chunk:expr) => {{
                let mut q = sqlx::query($sql);
                for r in $chunk {
                    q = q
                        .bind(r.hall.as_str())
                        .bind(key)
                        .bind(r.respondent.as_str())
                        .bind(day_text(r.date))
                        .bind(r.segment.as_str())
                        .bind(r.purpose.as_deref())
                        .bind(r.overall)
                        .bind(r.nps)
                        .bind(r.tolerable_wait_min)
                        .bind(now)
                        .bind(r.comment.as_deref())
                        .bind(r.customer.as_deref())
                        .bind(layout_id)
                        .bind(answers::pack(&layout, &r.ratings, &r.needs))
                        .bind(r.short_form);
                }
                q
            }};
        }
        // What `$chunk`'s statement, which inserted `$inserted` of its rows (0: not run),
        // did not store: respondents stored before the import (ids up to `floor`), and
        // respondents given twice in the feed, earlier in it (an id above `floor` that
        // this statement did not insert: its rows got the highest ids, one each) or
        // twice in the chunk. Run once an insert stored fewer rows than it was given.
        macro_rules! not_stored {
            ($chunk:expr, $inserted:expr) => {{
                let chunk: &[Response] = $chunk;
                let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT respondent, id FROM survey_response WHERE journey_key = $1 AND respondent IN ({})
                     ORDER BY id",
                    marks.join(", ")
                );
                let mut q = sqlx::query_as::<_, (String, i64)>(&sql).bind(key);
                for r in chunk {
                    q = q.bind(r.respondent.as_str());
                }
                let found = q.fetch_all(&mut *tx).await?;
                let mine = found.iter().filter(|(_, id)| *id > floor).count();
                let earlier = mine.saturating_sub($inserted);
                let mut seen = HashSet::with_capacity(chunk.len());
                let twice: BTreeSet<&str> = chunk
                    .iter()
                    .map(|r| r.respondent.as_str())
                    .filter(|r| !seen.insert(*r))
                    .collect();
                let before: Vec<String> =
                    found.iter().filter(|(_, id)| *id <= floor).map(|(r, _)| r.clone()).collect();
                let mut given_twice: BTreeSet<String> = found
                    .into_iter()
                    .filter(|(_, id)| *id > floor)
                    .take(earlier)
                    .map(|(r, _)| r)
                    .collect();
                given_twice.extend(twice.into_iter().map(str::to_owned));
                before.into_iter().for_each(|r| again.add(r));
                given_twice.into_iter().for_each(|r| repeated.add(r));
            }};
        }
        while let Some(batch) = feed.next().await? {
            for r in batch.iter() {
                if !halls.contains(r.hall.as_str()) {
                    unknown.insert(r.hall.as_str().to_owned());
                }
            }
            if first.is_none() {
                first = batch.first().map(|r| r.respondent.clone());
            }
            count += batch.len();
            if !unknown.is_empty() {
                continue;
            }
            if !again.is_empty() || !repeated.is_empty() {
                // After the first respondent not stored, the rest is only checked, so the
                // error names them all.
                for chunk in batch.chunks(RESPONSE_CHUNK) {
                    not_stored!(chunk, 0);
                }
                continue;
            }
            let last_chunk = (batch.len() % RESPONSE_CHUNK != 0).then(|| insert_sql(batch.len() % RESPONSE_CHUNK));
            let sql_of = |c: &[Response]| match &last_chunk {
                Some(sql) if c.len() != RESPONSE_CHUNK => sql.as_str(),
                _ => whole_chunk.as_str(),
            };
            // Each chunk's statement is bound while the one before runs (on the driver's
            // thread), and the chunk folds into the roll-up meanwhile: a large import
            // keeps both cores busy. A refused import drops the roll-up with the rest.
            let mut chunks = batch.chunks(RESPONSE_CHUNK);
            let mut next = chunks.next().map(|c| (c, bound!(sql_of(c), c)));
            while let Some((chunk, q)) = next.take() {
                let (done, following) = tokio::join!(q.execute(&mut *tx), async {
                    chunk.iter().for_each(|r| fold.push(r));
                    chunks.next().map(|c| (c, bound!(sql_of(c), c)))
                });
                let inserted = done?.rows_affected() as usize;
                if inserted != chunk.len() {
                    not_stored!(chunk, inserted);
                    // The rest is only checked, as above.
                    if let Some((chunk, _)) = following {
                        not_stored!(chunk, 0);
                    }
                    for chunk in chunks.by_ref() {
                        not_stored!(chunk, 0);
                    }
                    break;
                }
                next = following;
            }
            if !again.is_empty() || !repeated.is_empty() {
                continue;
            }
            if !postgres && deferred.is_none() && count >= store.defer_indexes_after && count > held_before {
                let indexes: Vec<(String, String)> = sqlx::query_as(
                    "SELECT name, sql FROM sqlite_master
                     WHERE type = 'index' AND tbl_name = 'survey_response' AND sql IS NOT NULL
                       AND upper(sql) NOT LIKE 'CREATE UNIQUE%'",
                )
                .fetch_all(&mut *tx)
                .await?;
                for (name, _) in &indexes {
                    sqlx::query(&format!("DROP INDEX \"{}\"", name.replace('"', "\"\"")))
                        .execute(&mut *tx)
                        .await?;
                }
                deferred = Some(indexes.into_iter().map(|(_, sql)| sql).collect());
            }
            if let Some(book) = &book {
                let cases = survey_cases(book, journey, &batch, &mut analyser);
                open_cases!(&mut *tx, &cases, "system", now);
            }
        }
        if !unknown.is_empty() {
            return Err(StoreError::Invalid(format!(
                "unknown halls: {} (import the organisation first)",
                unknown.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        if !repeated.is_empty() {
            // The file's fault before the store's: named as the reader would have.
            return Err(StoreError::Repeated {
                count: repeated.count,
                respondents: repeated.first,
            });
        }
        if !again.is_empty() {
            return Err(StoreError::Conflict(format!(
                "{} respondents are already stored for journey `{key}` (re-imports are refused, not duplicated): {}",
                again.count,
                again.text()
            )));
        }
        /// The roll-up, and each cell's bytes when made before the merge (all-purpose
        /// cells, then purpose cells).
        type Encoded = (Rollup, Vec<Option<Vec<u8>>>, Vec<Option<Vec<u8>>>);
        fn encoded(fold: RollupFold) -> Encoded {
            let rollup = fold.into_rollup();
            let encode = |c: &SegmentStats| Some(c.to_bytes());
            let cells = rollup.cells.values().map(encode).collect();
            let purposes = rollup.purposes.values().map(encode).collect();
            (rollup, cells, purposes)
        }
        let (rollup, mut cell_bytes, mut purpose_bytes) = match &deferred {
            // A smaller import's cells are encoded as they are merged, once each (most of
            // them may merge into stored ones).
            None => {
                let rollup = fold.into_rollup();
                let (cells, purposes) = (vec![None; rollup.cells.len()], vec![None; rollup.purposes.len()]);
                (rollup, cells, purposes)
            }
            // The dropped indexes are built again on the driver's thread while another
            // encodes the roll-up cells.
            Some(sqls) => {
                let encoding = tokio::task::spawn_blocking(move || encoded(fold));
                for sql in sqls {
                    sqlx::query(sql).execute(&mut *tx).await?;
                }
                encoding.await.map_err(|e| {
                    StoreError::Corrupt(format!("the roll-up cells could not be encoded: {e}"))
                })?
            }
        };
        // The import's roll-up cells merge into the stored ones in the same
        // transaction. A stored cell that no longer fits the journey is replaced;
        // its count then disagrees with the responses and analyses rescan.
        merge_cells!(tx, key, cells_layout, "survey_rollup",
            rollup.cells.iter().zip(cell_bytes.iter_mut()).map(|((k, c), b)| (k, None, c, b.take())), postgres);
        merge_cells!(tx, key, cells_layout, "survey_rollup_purpose",
            rollup.purposes.iter().zip(purpose_bytes.iter_mut()).map(|(((k, p), c), b)| (k, Some(p.as_str()), c, b.take())), postgres);
        if let (Some((invitation, at)), Some(r)) = (answering, first) {
            let done = sqlx::query(
                "UPDATE invitation SET status = 'answered', reason = NULL, response_id = $1
                 WHERE id = $2 AND status IN ('sent', 'held') AND expires_at > $3",
            )
            .bind(&r)
            .bind(invitation)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Gone(
                    "this survey link has been used or has expired".into(),
                ));
            }
        }
        let (generation,): (i64,) = sqlx::query_as(
            "UPDATE data_generation SET generation = generation + 1 WHERE id = 1 RETURNING generation",
        )
        .fetch_one(&mut *tx)
        .await?;
        Ok((generation, rollup, count))
        }
        .await;
        if !postgres {
            let restored = sqlx::query(&format!("PRAGMA cache_size = {}", super::SQLITE_CACHE))
                .execute(&mut *tx)
                .await;
            // A failed import's own error says more than the pragma's.
            if outcome.is_ok() {
                restored?;
            }
        }
        let (generation, rollup, count) = outcome?;
        tx.commit().await?;
        // Analyses cached in this process catch up with these cells instead of
        // starting over (see `AnalysisCache`).
        store.analyses.record(generation, journey.key(), rollup);
        Ok(count)
    })
}

/// The cases the answers open (see `peakend_core::case::case_of_response`), on each
/// hall's rules, as of now. Comments are read (`analyser`, made once) only when one
/// could open a case (a contact was left).
fn survey_cases(
    book: &crate::RulesBook,
    journey: &Journey,
    responses: &[Response],
    analyser: &mut Option<std::sync::Arc<peakend_text::Analyser>>,
) -> Vec<peakend_core::case::NewCase> {
    if responses.iter().all(|r| r.contact.is_none()) {
        return Vec::new();
    }
    let moments: Vec<peakend_core::MomentKey> =
        journey.moments().iter().map(|m| m.key.clone()).collect();
    let now = chrono::Utc::now().fixed_offset();
    if analyser.is_none()
        && responses
            .iter()
            .any(|r| r.contact.is_some() && r.comment.is_some())
    {
        *analyser = Some(self::analyser(journey));
    }
    let analyser = analyser.as_ref();
    responses
        .iter()
        .filter(|r| r.contact.is_some())
        .filter_map(|r| {
            let rules = book.hall(&r.hall);
            peakend_core::case::case_of_response(
                &rules.cases,
                &moments,
                r,
                now,
                rules.zone,
                &rules.holidays,
            )
            .or_else(|| {
                let reading = analyser?.read(r.comment.as_deref()?);
                comment_case(
                    &rules.cases,
                    &moments,
                    r,
                    &reading,
                    now,
                    rules.zone,
                    &rules.holidays,
                )
            })
        })
        .collect()
}

/// The case a negative comment opens when its respondent left a contact with consent
/// and the answer's ratings opened none (one case per answer): about the comment's
/// first negative moment, else the hall's complaint moment; its own cause, so it
/// opens once.
fn comment_case(
    rules: &peakend_core::case::CaseRules,
    moments: &[peakend_core::MomentKey],
    r: &Response,
    reading: &peakend_text::Reading,
    now: chrono::DateTime<chrono::FixedOffset>,
    zone: peakend_core::time::Zone,
    holidays: &BTreeSet<NaiveDate>,
) -> Option<peakend_core::case::NewCase> {
    let contact = r.contact.as_deref()?.trim();
    if contact.is_empty() || reading.sentiment != peakend_text::Sentiment::Negative {
        return None;
    }
    let moment = reading
        .first_negative()
        .and_then(|m| moments.get(m).cloned())
        .unwrap_or_else(|| rules.complaint_moment.clone());
    let (acknowledge_due, resolve_due) = rules.deadlines(now, zone, holidays);
    // The comment is what the callback is about; the first 200 characters of it.
    let excerpt: String = r.comment.as_deref()?.chars().take(200).collect();
    Some(peakend_core::case::NewCase {
        hall: r.hall.clone(),
        source: peakend_core::case::CaseSource::Survey,
        cause: format!("comment:{}", r.respondent),
        ticket: None,
        response: Some(r.respondent.clone()),
        moment: moment.clone(),
        severity: peakend_core::case::Severity::Medium,
        summary: format!(
            "survey {}: negative comment on {moment}: {excerpt}",
            r.respondent
        ),
        contact: Some(contact.to_owned()),
        staff: None,
        owner: None,
        opened_at: now.timestamp_millis(),
        acknowledge_due,
        resolve_due,
    })
}

/// The analyser of a journey, built once per process and journey (building loads
/// jieba's dictionary), rebuilt when the journey changes.
pub(crate) fn analyser(journey: &Journey) -> std::sync::Arc<peakend_text::Analyser> {
    type Cache =
        std::sync::Mutex<HashMap<String, (String, std::sync::Arc<peakend_text::Analyser>)>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let doc = journey.to_json_pretty();
    let key = journey.key().as_str().to_owned();
    if let Some((d, a)) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if *d == doc {
            return a.clone();
        }
    }
    let built = std::sync::Arc::new(peakend_text::Analyser::new(journey));
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, (doc, built.clone()));
    built
}

pub(super) async fn comments(
    store: &SqlStore,
    journey: &Journey,
    halls: Option<&[HallId]>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<crate::StoredComment>> {
    let key = journey.key().as_str();
    let (from, to) = date_bounds(from, to);
    let rows: Vec<(String, String, String, String)> = on_pool!(store, pool => {
        sqlx::query_as(
            "SELECT respondent, hall_id, visit_date, comment FROM survey_response
             WHERE journey_key = $1 AND visit_date >= $2 AND visit_date <= $3 AND comment IS NOT NULL
             ORDER BY visit_date, id",
        )
        .bind(key).bind(&from).bind(&to).fetch_all(pool).await?
    });
    let wanted: Option<HashSet<&str>> = halls.map(|h| h.iter().map(HallId::as_str).collect());
    rows.into_iter()
        .filter(|(_, hall, _, _)| wanted.as_ref().is_none_or(|w| w.contains(hall.as_str())))
        .map(|(respondent, hall, date, comment)| {
            let corrupt = |e: String| StoreError::Corrupt(format!("response `{respondent}`: {e}"));
            Ok(crate::StoredComment {
                hall: HallId::parse(&hall).map_err(|e| corrupt(e.to_string()))?,
                date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                    .map_err(|e| corrupt(e.to_string()))?,
                respondent,
                comment,
            })
        })
        .collect()
}

pub(super) async fn rollup_snapshot(
    store: &SqlStore,
    journey: &Journey,
    q: &CellQuery<'_>,
) -> Result<RollupSnapshot> {
    let key = journey.key().as_str();
    let (from, to) = date_bounds(q.from, q.to);
    let (from_month, to_month) = (from[..7].to_owned(), to[..7].to_owned());
    let postgres = matches!(store.pool, Pool::Postgres(_));
    let purpose = match q.which {
        PurposeCells::One(p) => Some(p),
        _ => None,
    };
    // SQLite numbers anonymous marks in order; PostgreSQL's `$n` follow the same order.
    let mark = |n: usize| {
        if postgres {
            format!("${n}")
        } else {
            "?".to_owned()
        }
    };
    // A few halls are picked in SQL; a province's are filtered here (before any
    // cell is decoded), which is cheaper than a long IN list.
    let few = q.halls.filter(|h| h.len() <= 64);
    let first_hall = if purpose.is_some() { 5 } else { 4 };
    let hall_in = few.map_or_else(String::new, |hs| {
        let marks: Vec<String> = (0..hs.len()).map(|i| mark(first_hall + i)).collect();
        format!(" AND hall_id IN ({})", marks.join(", "))
    });
    let counts_sql = format!(
        "SELECT hall_id, COUNT(*) FROM survey_response
         WHERE journey_key = {} AND visit_date >= {} AND visit_date <= {}{}{hall_in} GROUP BY hall_id",
        mark(1), mark(2), mark(3),
        if purpose.is_some() { format!(" AND COALESCE(purpose, '') = {}", mark(4)) } else { String::new() },
    );
    let (table, purpose_col) = match q.which {
        PurposeCells::All => ("survey_rollup", "NULL"),
        _ => ("survey_rollup_purpose", "purpose"),
    };
    let cells_sql = format!(
        "SELECT hall_id, period, segment, {purpose_col}, respondents, stats, cell FROM {table}
         WHERE journey_key = {} AND period >= {} AND period <= {}{}{hall_in}",
        mark(1),
        mark(2),
        mark(3),
        if purpose.is_some() {
            format!(" AND purpose = {}", mark(4))
        } else {
            String::new()
        },
    );
    type CellRow = (
        String,
        String,
        String,
        Option<String>,
        i64,
        String,
        Option<Vec<u8>>,
    );
    // One read transaction: the generation, the counts and the cells are of one
    // moment, so an analysis cached under that generation can later take exactly
    // the writes after it.
    let (generation, counts, rows): (i64, Vec<(String, i64)>, Vec<CellRow>) = on_pool!(store, pool => {
        let mut tx = pool.begin().await?;
        if postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await?;
        }
        let (generation,): (i64,) = sqlx::query_as("SELECT generation FROM data_generation WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        // Both queries take the journey, a range, then the purpose and halls if any.
        macro_rules! filtered {
            ($sql:expr, $from:expr, $to:expr) => {{
                let mut q = sqlx::query_as($sql).bind(key).bind($from).bind($to);
                if let Some(p) = purpose {
                    q = q.bind(p);
                }
                for h in few.unwrap_or_default() {
                    q = q.bind(h.as_str());
                }
                q.fetch_all(&mut *tx).await?
            }};
        }
        let counts = filtered!(&counts_sql, &from, &to);
        let rows = filtered!(&cells_sql, &from_month, &to_month);
        tx.commit().await?;
        (generation, counts, rows)
    });
    let wanted: Option<HashSet<&str>> = q.halls.map(|h| h.iter().map(HallId::as_str).collect());
    let wanted = |h: &str| wanted.as_ref().is_none_or(|w| w.contains(h));
    let responses = counts
        .iter()
        .filter(|(h, _)| wanted(h))
        .map(|(_, n)| *n as u64)
        .sum();
    let cells = rows
        .into_iter()
        .filter(|row| wanted(&row.0))
        .map(
            |(hall, period, segment, purpose, respondents, json, bytes)| {
                let hall = HallId::parse(hall.as_str())
                    .map_err(|e| StoreError::Corrupt(format!("roll-up hall `{hall}`: {e}")))?;
                // Cells in bytes; those stored before as JSON. Decoded as they are merged.
                let stats = match bytes {
                    Some(b) => crate::StoredCell::Bytes(b),
                    None => crate::StoredCell::Json(json),
                };
                let key = CellKey {
                    hall,
                    period,
                    segment,
                };
                Ok((key, purpose, respondents as u64, stats))
            },
        )
        .collect::<Result<Vec<_>>>()?;
    Ok(RollupSnapshot {
        generation,
        responses,
        cells,
    })
}

pub(super) async fn responses(
    store: &SqlStore,
    journey: &Journey,
    halls: Option<&[HallId]>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<Response>> {
    let key = journey.key().as_str();
    let (from, to) = date_bounds(from, to);
    const WHERE: &str = "s.journey_key = $1 AND s.visit_date >= $2 AND s.visit_date <= $3";
    type Head = (
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<Vec<u8>>,
        bool,
    );
    type Read = (Vec<Head>, Vec<RatingRow>, Vec<NeedRow>, Vec<(i64, String)>);
    let (heads, ratings, needs, layouts): Read = on_pool!(store, pool => {
        let heads = sqlx::query_as(&format!(
            "SELECT s.id, s.hall_id, s.respondent, s.visit_date, s.segment, s.purpose, s.overall, s.nps,
               s.tolerable_wait_min, s.comment, s.customer, s.layout_id, s.answers, s.short_form
             FROM survey_response s WHERE {WHERE} ORDER BY s.id"
        ))
        .bind(key).bind(&from).bind(&to).fetch_all(pool).await?;
        let layouts = sqlx::query_as("SELECT id, layout FROM answer_layout WHERE journey_key = $1")
            .bind(key).fetch_all(pool).await?;
        let ratings = sqlx::query_as(&format!(
            "SELECT r.response_id, r.moment_key, r.importance, r.satisfaction, r.expectation, r.competitor FROM response_rating r
             JOIN survey_response s ON s.hall_id = r.hall_id AND s.id = r.response_id WHERE {WHERE}"
        ))
        .bind(key).bind(&from).bind(&to).fetch_all(pool).await?;
        let needs = sqlx::query_as(&format!(
            "SELECT n.response_id, n.moment_key, n.need_key, n.importance FROM response_need n
             JOIN survey_response s ON s.hall_id = n.hall_id AND s.id = n.response_id WHERE {WHERE}"
        ))
        .bind(key).bind(&from).bind(&to).fetch_all(pool).await?;
        (heads, ratings, needs, layouts)
    });
    let layouts = read_layouts(journey, layouts)?;
    let wanted: Option<HashSet<&str>> = halls.map(|h| h.iter().map(HallId::as_str).collect());
    let moment_at: HashMap<&str, usize> = journey
        .moments()
        .iter()
        .enumerate()
        .map(|(i, m)| (m.key.as_str(), i))
        .collect();
    let mut out = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    for (
        id,
        hall,
        respondent,
        date,
        segment,
        purpose,
        overall,
        nps,
        wait,
        comment,
        customer,
        layout_id,
        packed,
        short_form,
    ) in heads
    {
        if wanted.as_ref().is_some_and(|w| !w.contains(hall.as_str())) {
            continue;
        }
        let corrupt = |e: String| StoreError::Corrupt(format!("response {id}: {e}"));
        // Answers stored packed; older responses have rows (read below).
        let (ratings, needs) = match (layout_id, packed) {
            (Some(l), Some(bytes)) => {
                let (layout, map) = layouts
                    .get(&l)
                    .ok_or_else(|| corrupt(format!("no answer layout {l}")))?;
                answers::unpack(layout, map, &bytes).map_err(corrupt)?
            }
            _ => (vec![Rating::default(); journey.moments().len()], Vec::new()),
        };
        index.insert(id, out.len());
        out.push(Response {
            respondent,
            hall: HallId::parse(hall).map_err(|e| corrupt(e.to_string()))?,
            date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                .map_err(|e| corrupt(e.to_string()))?,
            segment,
            purpose,
            overall,
            nps,
            tolerable_wait_min: wait,
            ratings,
            needs,
            // Contacts are kept only on the cases they open.
            contact: None,
            comment,
            customer,
            short_form,
        });
    }
    for (id, moment, importance, satisfaction, expectation, competitor) in ratings {
        if let (Some(&i), Some(&j)) = (index.get(&id), moment_at.get(moment.as_str())) {
            out[i].ratings[j] = Rating {
                importance,
                satisfaction,
                expectation,
                competitor,
            };
        }
    }
    // Needs come back in database order; keep them in journey order.
    for (id, moment, need, importance) in needs {
        let (Some(&i), Some(&j)) = (index.get(&id), moment_at.get(moment.as_str())) else {
            continue;
        };
        if let Some(n) = journey.moments()[j]
            .core_needs
            .iter()
            .position(|x| x.key.as_str() == need)
        {
            out[i].needs.push(NeedRating {
                moment: j,
                need: n,
                importance,
            });
        }
    }
    for r in &mut out {
        r.needs.sort_by_key(|n| (n.moment, n.need));
    }
    Ok(out)
}

/// The journey's stored answer layouts, each with its places in `journey` now.
pub(super) fn read_layouts(
    journey: &Journey,
    rows: Vec<(i64, String)>,
) -> Result<HashMap<i64, (AnswerLayout, answers::LayoutMap)>> {
    Ok(super::customers::parse_layouts(rows)?
        .into_iter()
        .map(|(id, layout)| {
            let map = layout.map_to(journey);
            (id, (layout, map))
        })
        .collect())
}
