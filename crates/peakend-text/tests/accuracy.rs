//! The labelled set (tests/fixtures/comments.csv: 319 comments written for this test
//! before the algorithm) read by the analyser: how often it finds exactly the labelled
//! moments, the precision and recall of its (comment, moment) pairs, and how often
//! its sentiment is the labelled one. The synonym list and lexicon were written with
//! that set in view, so its figures are in-sample; tests/fixtures/holdout.csv (60
//! comments written after the algorithm was frozen) gives the out-of-sample ones. The
//! floors are what each reaches, rounded down; the figures are in docs/methods.md.

use peakend_text::{Analyser, Sentiment};

struct Scores {
    n: usize,
    exact: usize,
    pairs_found: usize,
    pairs_labelled: usize,
    pairs_right: usize,
    sentiment_right: usize,
}

fn score(file: &str, show: bool) -> Scores {
    let journey = peakend_core::builtin::journeys().unwrap().remove(0);
    let a = Analyser::new(&journey);
    let mut rows = csv::Reader::from_path(format!(
        "{}/tests/fixtures/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut s = Scores {
        n: 0,
        exact: 0,
        pairs_found: 0,
        pairs_labelled: 0,
        pairs_right: 0,
        sentiment_right: 0,
    };
    for row in rows.records() {
        let row = row.unwrap();
        let (comment, labelled, sentiment) = (&row[0], &row[1], &row[2]);
        let mut want: Vec<&str> = labelled.split(';').filter(|m| !m.is_empty()).collect();
        want.sort_unstable();
        let reading = a.read(comment);
        let mut got: Vec<&str> = reading
            .moments
            .iter()
            .map(|m| journey.moments()[m.moment].key.as_str())
            .collect();
        got.sort_unstable();
        s.n += 1;
        s.exact += usize::from(got == want);
        s.pairs_found += got.len();
        s.pairs_labelled += want.len();
        s.pairs_right += got.iter().filter(|m| want.contains(m)).count();
        let want_sentiment = Sentiment::parse(sentiment).expect("a sentiment label");
        s.sentiment_right += usize::from(reading.sentiment == want_sentiment);
        if show && (got != want || reading.sentiment != want_sentiment) {
            println!(
                "{comment}\t{want:?} {sentiment}\tgot {got:?} {} ({:.2})\t{:?}",
                reading.sentiment.as_str(),
                reading.score,
                a.segment(comment)
            );
        }
    }
    s
}

fn report(name: &str, s: &Scores) -> (f64, f64, f64, f64) {
    let exact = s.exact as f64 / s.n as f64;
    let precision = s.pairs_right as f64 / s.pairs_found.max(1) as f64;
    let recall = s.pairs_right as f64 / s.pairs_labelled.max(1) as f64;
    let sentiment = s.sentiment_right as f64 / s.n as f64;
    println!(
        "{name}: {} comments; moments exactly right {:.1}%, pair precision {:.1}%, recall {:.1}%, F1 {:.1}%; sentiment right {:.1}%",
        s.n,
        exact * 100.0,
        precision * 100.0,
        recall * 100.0,
        200.0 * precision * recall / (precision + recall),
        sentiment * 100.0
    );
    (exact, precision, recall, sentiment)
}

#[test]
fn the_labelled_set_is_read_with_known_accuracy() {
    let s = score("comments.csv", std::env::var_os("SHOW_MISSES").is_some());
    assert!(s.n >= 300, "the set has {} comments", s.n);
    let (exact, precision, recall, sentiment) = report("labelled set", &s);
    assert!(exact >= 0.85, "exact {exact}");
    assert!(precision >= 0.90, "precision {precision}");
    assert!(recall >= 0.93, "recall {recall}");
    assert!(sentiment >= 0.88, "sentiment {sentiment}");
}

/// A second set of 60 comments written after the algorithm was frozen and never used
/// to tune it: the honest, out-of-sample figure.
#[test]
fn a_held_out_set_is_read_with_known_accuracy() {
    let s = score("holdout.csv", std::env::var_os("SHOW_MISSES").is_some());
    let (exact, precision, recall, sentiment) = report("held-out set", &s);
    assert!(exact >= 0.68, "exact {exact}");
    assert!(precision >= 0.84, "precision {precision}");
    assert!(recall >= 0.74, "recall {recall}");
    assert!(sentiment >= 0.73, "sentiment {sentiment}");
}
