//! Issue 19: the parsers fed what an attacker or a broken spreadsheet would send.
//! Generated inputs (cargo-fuzz needs a nightly toolchain, which this project's machines
//! cannot install; these run in the ordinary test command instead): no input panics,
//! and the fast survey reader accepts a file only when the careful parser does, with the
//! same figures.

use peakend_core::analysis::dense::DenseGrouped;
use peakend_core::analysis::{GroupedStats, SurveyStats, analyze};
use peakend_core::ops::event::Event;
use peakend_core::{Journey, builtin};
use peakend_io::survey_csv::{self, Options};
use peakend_io::survey_fast;
use proptest::prelude::*;

fn journey() -> Journey {
    builtin::journeys().unwrap().remove(0)
}

/// Cells that are good, bad, or good but spelled oddly.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1u8..=10).prop_map(|n| n.to_string()),
        1 => Just(String::new()),
        1 => Just(" 7".to_owned()),
        1 => Just("7.5".to_owned()),
        1 => Just("11".to_owned()),
        1 => Just("x".to_owned()),
        1 => Just("\"8\"".to_owned()),
        1 => Just("\"a,b\"".to_owned()),
        1 => Just("-0".to_owned()),
        1 => Just("1e1".to_owned()),
        1 => Just("NaN".to_owned()),
    ]
}

fn date() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("2024-03-05".to_owned()),
        1 => Just("2024/3/5".to_owned()),
        1 => Just("2024-02-30".to_owned()),
        1 => Just("9999-01-01".to_owned()),
        1 => Just(" 2024-03-05".to_owned()),
        1 => Just(String::new()),
    ]
}

/// hall, date, segment, overall, satisfaction and expectation of `queue`.
type Row = (String, String, String, String, String, String);

fn row() -> impl Strategy<Value = Row> {
    (
        prop_oneof![4 => Just("h1".to_owned()), 1 => Just("h 1".to_owned()), 1 => Just(String::new())],
        date(),
        prop_oneof![
            4 => Just("全球通".to_owned()),
            1 => Just(String::new()),
            1 => Just("全球\0通".to_owned()),
        ],
        cell(),
        cell(),
        cell(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_fast_reader_agrees_with_the_careful_parser(
        rows in proptest::collection::vec(row(), 0..12),
        crlf in any::<bool>(),
        chunks in 1usize..4,
        expectations in any::<bool>(),
    ) {
        let j = journey();
        let nl = if crlf { "\r\n" } else { "\n" };
        // With the gap model's expectation column or without it.
        let exp_col = if expectations { ",exp.queue" } else { "" };
        let mut text = format!("respondent,hall,date,segment,overall,sat.queue{exp_col}{nl}");
        for (i, (hall, date, segment, overall, sat, exp)) in rows.iter().enumerate() {
            let exp = if expectations { format!(",{exp}") } else { String::new() };
            text.push_str(&format!("r{i},{hall},{date},{segment},{overall},{sat}{exp}{nl}"));
        }
        let opts = Options { ignore_unknown: false, halls: None, ..Default::default() };
        let careful = survey_csv::parse(&text, &j, &opts);
        let fast = survey_fast::fold(
            text.as_bytes(), &j, &opts, chunks,
            || SurveyStats::new(&j),
            |s, r| s.push_view(r),
        );
        if let Some(parts) = fast {
            let responses = careful.unwrap_or_else(|e| {
                panic!("fast accepted what the careful parser refused: {e:?}\n{text}")
            });
            let mut merged = SurveyStats::new(&j);
            parts.iter().for_each(|p| merged.merge(p));
            let mut direct = SurveyStats::new(&j);
            responses.iter().for_each(|r| direct.push(r));
            prop_assert_eq!(
                serde_json::to_value(&merged.segments).unwrap(),
                serde_json::to_value(&direct.segments).unwrap()
            );
            // The dense fold `analyze` runs: the same statistics to rounding, and the
            // same analysis.
            let dense = survey_fast::fold_dense(
                text.as_bytes(), &j, &opts, chunks,
                |l| DenseGrouped::new(GroupedStats::new(&j, None, None), l),
            ).expect("the same file as the fold's");
            let mut parts = dense.into_iter();
            let mut all = parts.next().unwrap();
            parts.for_each(|p| all.merge(&p));
            let dense = all.into_grouped();
            peakend_testkit::assert_json_near(
                &serde_json::to_value(&dense.all.segments).unwrap(),
                &serde_json::to_value(&direct.segments).unwrap(),
                "segments",
            );
            let rule = peakend_core::peak::PeakRule::default();
            match (dense.all.respondents() > 0).then(|| (dense.analyze(&j, None, rule), analyze(&j, &direct, None, rule))) {
                Some((Ok(a), Ok(b))) => peakend_testkit::assert_json_near(
                    &serde_json::to_value(&a).unwrap(),
                    &serde_json::to_value(&b).unwrap(),
                    "analysis",
                ),
                Some((a, b)) => prop_assert_eq!(a.is_ok(), b.is_ok()),
                None => {}
            }
        }
    }

    #[test]
    fn no_survey_file_panics(text in "(?s).{0,300}") {
        let j = journey();
        let opts = Options { ignore_unknown: true, halls: None, ..Default::default() };
        let _ = survey_csv::parse(&text, &j, &opts);
        let _ = survey_fast::fold(text.as_bytes(), &j, &opts, 2, || 0u64, |n, _| *n += 1);
    }

    #[test]
    fn no_event_line_panics(text in "(?s).{0,200}") {
        let _ = Event::from_json(&text);
    }

    /// Events that are nearly right: every field shape, numbers out of range, times
    /// at the edges of the calendar.
    #[test]
    fn no_nearly_valid_event_panics(
        kind in "(ticket_issued|called|service_started|service_ended|rated|left|counter_opened|counter_closed|kiosk_fault|kiosk_restored|complaint|x)",
        at in prop_oneof![
            Just("2026-08-07T09:00:00+08:00".to_owned()),
            Just("9999-12-31T23:59:59+14:00".to_owned()),
            Just("0000-01-01T00:00:00-12:00".to_owned()),
            Just("+275760-09-13T00:00:00Z".to_owned()),
            "[0-9:T+-]{0,30}",
        ],
        score in any::<f64>(),
        scale in any::<f64>(),
        ticket in "[A-Z0-9~]{0,6}",
    ) {
        let line = serde_json::json!({
            "id": "e1", "hall": "h1", "type": kind, "at": at, "ticket": ticket,
            "counter": "c1", "kiosk": "k1", "service": "payment", "outcome": "done",
            "score": score, "scale": scale, "text": ticket, "moment": ticket,
        })
        .to_string();
        if let Ok(e) = Event::from_json(&line) {
            let year = chrono::Datelike::year(&e.at);
            prop_assert!((2000..=2100).contains(&year));
        }
    }

    /// A hotline export of any text: read or refused with its cells named, never a panic;
    /// what is read has its times in the years the product accepts.
    #[test]
    fn no_case_import_panics(
        rows in proptest::collection::vec(
            (
                prop_oneof![3 => Just("h1".to_owned()), 1 => "[ -~]{0,8}"],
                prop_oneof![
                    3 => Just("2026-08-07 09:30".to_owned()),
                    1 => Just("2026-08-07T09:30:00+08:00".to_owned()),
                    1 => Just("9999-12-31 23:59".to_owned()),
                    1 => Just("2026-02-30 10:00".to_owned()),
                    1 => "[0-9: T/+-]{0,20}",
                ],
                prop_oneof![3 => Just("dispute".to_owned()), 1 => "[ -~]{0,8}"],
                "(?s).{0,12}",
                prop_oneof![Just(String::new()), "[0-9+ -]{0,14}", "(?s).{0,120}"],
                "(low|medium|high|高|urgent|)",
            ),
            0..6,
        ),
    ) {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["hall", "opened_at", "moment", "summary", "contact", "severity"]).unwrap();
        for r in &rows {
            w.write_record([&r.0, &r.1, &r.2, &r.3, &r.4, &r.5]).unwrap();
        }
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        match peakend_io::case_io::parse(text.as_str()) {
            Ok(read) => {
                // Wholly blank rows are skipped, as spreadsheets leave them.
                prop_assert!(read.len() <= rows.len());
                for r in read {
                    if let peakend_io::case_io::OpenedAt::Local(t) = r.opened_at {
                        prop_assert!((2000..=2100).contains(&chrono::Datelike::year(&t)));
                    }
                }
            }
            Err(errors) => prop_assert!(errors.iter().all(|e| e.row >= 2 && e.column.is_some())),
        }
    }

    /// The consent rule: a contact is kept only with a yes, whatever the words.
    #[test]
    fn a_contact_is_kept_only_with_consent(contact in "(?s).{0,120}", consent in "(?s).{0,6}") {
        if let Ok(Some(kept)) = survey_csv::contact_with_consent(&contact, &consent) {
            let yes = ["yes", "y", "true", "1", "是", "同意"];
            prop_assert!(yes.contains(&consent.trim().to_lowercase().as_str()));
            prop_assert_eq!(kept, contact.trim());
        }
    }

    /// A journey file cut anywhere, or with a byte changed, is refused or read; never a
    /// panic.
    #[test]
    fn no_damaged_journey_panics(cut in 0.0f64..1.0, at in 0.0f64..1.0, byte in any::<u8>(), yaml in any::<bool>()) {
        let j = journey();
        let text = if yaml { j.to_yaml() } else { j.to_json_pretty() };
        let mut bytes = text.into_bytes();
        let end = (cut * bytes.len() as f64) as usize;
        bytes.truncate(end.max(1));
        let i = ((at * bytes.len() as f64) as usize).min(bytes.len() - 1);
        bytes[i] = byte;
        let damaged = String::from_utf8_lossy(&bytes);
        let _ = Journey::from_str_any(&damaged);
        let _ = Journey::from_json(&damaged);
        let _ = Journey::from_yaml(&damaged);
    }
}

/// The agreement property above means something only if the fast reader takes clean
/// files: it does.
#[test]
fn a_clean_file_takes_the_fast_path() {
    let j = journey();
    let text = "respondent,hall,date,segment,overall,sat.queue\nr1,h1,2024-03-05,全球通,8,7\nr2,h1,2024-03-05,全球通,9,6\n";
    let opts = Options {
        ignore_unknown: false,
        halls: None,
        ..Default::default()
    };
    let parts = survey_fast::fold(text.as_bytes(), &j, &opts, 2, || 0u64, |n, _| *n += 1)
        .expect("the fast path reads a clean file");
    assert_eq!(parts.iter().sum::<u64>(), 2);
}
