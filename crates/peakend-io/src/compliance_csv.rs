//! A compliance report as CSV: one row per line of the report (a hall, moment,
//! standard, day or agent), its checks made and passed, its compliance, the same per source,
//! and for halls their compliance index.

use peakend_core::audit::{ComplianceBy, ComplianceReport};

/// The sources, in the order of their columns.
const SOURCES: [&str; 6] = [
    "auto",
    "self",
    "walk",
    "mystery",
    "inspection",
    "monitoring",
];

pub fn compliance_csv(report: &ComplianceReport) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let by = match report.by {
        ComplianceBy::Hall => "hall",
        ComplianceBy::Moment => "moment",
        ComplianceBy::Standard => "standard",
        ComplianceBy::Day => "day",
        ComplianceBy::Agent => "agent",
    };
    // An agent's line names its centre where another names a standard's moment.
    let second = if report.by == ComplianceBy::Agent {
        "centre"
    } else {
        "moment"
    };
    let mut header = vec![by, second, "made", "passed", "compliance", "index"];
    header.extend(SOURCES);
    w.write_record(&header)?;
    let share = |x: Option<f64>| x.map_or(String::new(), |c| format!("{:.4}", c));
    for l in &report.lines {
        let index = (report.by == ComplianceBy::Hall)
            .then(|| report.league.iter().find(|h| h.hall == l.key))
            .flatten()
            .and_then(|h| h.index)
            .map_or(String::new(), |i| format!("{i:.1}"));
        let mut row = vec![
            l.key.clone(),
            l.moment
                .clone()
                .or_else(|| l.hall.clone())
                .unwrap_or_default(),
            l.made.to_string(),
            l.passed.to_string(),
            share(l.compliance),
            index,
        ];
        for s in SOURCES {
            row.push(
                l.sources
                    .get(s)
                    .map_or(String::new(), |t| format!("{}/{}", t.passed, t.made)),
            );
        }
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}
