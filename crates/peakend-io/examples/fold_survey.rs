//! Times the fast survey fold of a file, for profiling `peakend analyze FILE` without
//! building the whole binary:
//!
//!     cargo run --release -p peakend-io --example fold_survey -- FILE [dense|view] [threads]
//!
//! `dense` is what `analyze` runs; `view` folds each row as a `ResponseView` into
//! `GroupedStats::push_view`, the careful path's arithmetic. Prints the time and the
//! analysis as JSON on one line (to compare the two). `FILE synth ROWS` writes a
//! synthetic file of 38 halls instead (`survey synth` needs a database).

use std::time::Instant;

use peakend_core::analysis::GroupedStats;
use peakend_core::analysis::dense::DenseGrouped;
use peakend_core::peak::PeakRule;
use peakend_io::survey_csv::Options;
use peakend_io::survey_fast;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("FILE");
    let mode = args.get(2).map_or("dense", String::as_str);
    let threads = args.get(3).map_or(2, |t| t.parse().expect("threads"));
    let journey = peakend_core::builtin::journeys()
        .unwrap()
        .into_iter()
        .find(|j| j.key().to_string() == "service-hall")
        .expect("service-hall");
    if mode == "synth" {
        // A file like `survey synth`'s, for a first look: FILE synth ROWS.
        let halls: Vec<peakend_core::HallId> = (1..=38)
            .map(|i| peakend_core::HallId::parse(format!("h{i:02}")).unwrap())
            .collect();
        let rows = threads;
        let out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        peakend_io::survey_csv::write(
            &journey,
            peakend_core::synth::responses(&journey, &halls, rows, 1),
            out,
        )
        .unwrap();
        return;
    }
    let bytes = std::fs::read(path).expect("readable");
    let opts = Options {
        ignore_unknown: false,
        halls: None,
        ..Default::default()
    };
    let new = || GroupedStats::new(&journey, None, None);
    let t = Instant::now();
    let stats = match mode {
        "view" => {
            let parts =
                survey_fast::fold(&bytes, &journey, &opts, threads, new, |s, r| s.push_view(r))
                    .expect("a clean file");
            let mut parts = parts.into_iter();
            let mut all = parts.next().unwrap();
            parts.for_each(|p| all.merge(&p));
            all
        }
        _ => {
            let parts = survey_fast::fold_dense(&bytes, &journey, &opts, threads, |l| {
                DenseGrouped::new(new(), l)
            })
            .expect("a clean file");
            let mut parts = parts.into_iter();
            let mut all = parts.next().unwrap();
            parts.for_each(|p| all.merge(&p));
            all.into_grouped()
        }
    };
    let fold = t.elapsed();
    let analysis = stats.analyze(&journey, None, PeakRule::default()).unwrap();
    eprintln!(
        "{mode}: fold {:.3} s, total {:.3} s",
        fold.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    println!("{}", serde_json::to_string(&analysis).unwrap());
}
