//! Times the reading of a file of comments (one a line) on the built-in service-hall
//! journey, as `peakend survey comments` reads stored ones: building the analyser,
//! then segmentation, clauses, moments, sentiment and top phrases on every core.
//! Used by bench/comments.py (the same as the hidden `peakend bench-comments FILE`).

use std::collections::HashMap;
use std::time::Instant;

use peakend_text::{Analyser, PhraseCounts, Sentiment};

fn main() {
    let path = std::env::args().nth(1).expect("usage: bench_comments FILE");
    let text = std::fs::read_to_string(&path).expect("a readable UTF-8 file");
    let comments: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let journey = peakend_core::builtin::journeys()
        .expect("the built-in journeys")
        .remove(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    let analyser = Analyser::new(&journey);
    let built = start.elapsed();
    let readings = analyser.read_many(&comments, threads);
    let mut phrases: HashMap<usize, PhraseCounts> = HashMap::new();
    for r in &readings {
        for (m, p) in &r.phrases {
            phrases.entry(*m).or_default().add(p);
        }
    }
    let top: usize = phrases.values().map(|c| c.top(5).len()).sum();
    let took = start.elapsed();
    let assigned = readings.iter().filter(|r| !r.moments.is_empty()).count();
    let negative = readings
        .iter()
        .filter(|r| r.sentiment == Sentiment::Negative)
        .count();
    println!(
        "{{\"comments\":{},\"threads\":{threads},\"build_s\":{:.3},\"total_s\":{:.3},\"assigned\":{assigned},\"negative\":{negative},\"top_phrases\":{top}}}",
        comments.len(),
        built.as_secs_f64(),
        took.as_secs_f64()
    );
}
