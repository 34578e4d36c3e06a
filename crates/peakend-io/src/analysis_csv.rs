//! The survey analysis as CSV: one row per moment (and per group with `--by`), for
//! spreadsheets. The whole-survey rows come first with an empty `group`.

use peakend_core::Journey;
use peakend_core::analysis::{Analysis, MomentResult};

pub const HEADER: [&str; 19] = [
    "group",
    "moment",
    "name_zh",
    "name_en",
    "importance",
    "importance_ci95_low",
    "importance_ci95_high",
    "satisfaction",
    "satisfaction_ci95_low",
    "satisfaction_ci95_high",
    "n",
    "margin_of_error",
    "sample_needed",
    "quadrant",
    "driver_weight",
    "driver_share",
    "core_need",
    "peak",
    "end",
];

fn num(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn row(group: &str, m: &MomentResult, journey: &Journey) -> Vec<String> {
    let (zh, en) = journey
        .moments()
        .iter()
        .find(|jm| jm.key.as_str() == m.key)
        .map(|jm| (jm.name.zh.clone(), jm.name.en.clone()))
        .unwrap_or_default();
    let quadrant = m
        .quadrant
        .and_then(|q| serde_json::to_value(q).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    vec![
        group.to_owned(),
        m.key.clone(),
        zh,
        en,
        num(m.importance),
        num(m.importance_ci95.map(|c| c.0)),
        num(m.importance_ci95.map(|c| c.1)),
        num(m.satisfaction),
        num(m.satisfaction_ci95.map(|c| c.0)),
        num(m.satisfaction_ci95.map(|c| c.1)),
        m.n.to_string(),
        num(m.margin_of_error),
        m.sample_needed.map(|v| v.to_string()).unwrap_or_default(),
        quadrant,
        num(m.driver_weight),
        num(m.driver_share),
        m.core_need.clone().unwrap_or_default(),
        m.peak.to_string(),
        m.end.to_string(),
    ]
}

/// The rows under [`HEADER`]: the whole survey's moments, then each group's.
pub fn rows(a: &Analysis, journey: &Journey) -> Vec<Vec<String>> {
    let whole = a.moments.iter().map(|m| row("", m, journey));
    let groups = a
        .groups
        .iter()
        .flat_map(|g| g.analysis.moments.iter().map(|m| row(&g.group, m, journey)));
    whole.chain(groups).collect()
}

pub fn write<W: std::io::Write>(a: &Analysis, journey: &Journey, out: W) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    for r in rows(a, journey) {
        w.write_record(r)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use peakend_core::analysis::{GroupBy, GroupedStats};
    use peakend_core::peak::PeakRule;

    #[test]
    fn one_row_per_moment_and_group_that_reads_back() {
        let j = peakend_core::builtin::journeys().unwrap().remove(0);
        let halls = [peakend_core::HallId::parse("h1").unwrap()];
        let mut stats = GroupedStats::new(&j, Some(GroupBy::Segment), None);
        peakend_core::synth::responses(&j, &halls, 500, 1).for_each(|r| stats.push(&r));
        let a = stats.analyze(&j, None, PeakRule::default()).unwrap();
        let mut buf = Vec::new();
        write(&a, &j, &mut buf).unwrap();
        let mut reader = csv::Reader::from_reader(buf.as_slice());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 16 * (1 + a.groups.len()));
        let result = rows.iter().find(|r| &r[1] == "result").unwrap();
        assert_eq!(&result[0], "");
        assert_eq!(&result[2], "办理结果");
        let m = a.moments.iter().find(|m| m.key == "result").unwrap();
        assert_eq!(result[4].parse::<f64>().unwrap(), m.importance.unwrap());
        assert_eq!(&result[17], if m.peak { "true" } else { "false" });
        assert_eq!(&rows.last().unwrap()[18], "true", "the last row is an end");
        let quadrants = ["concentrate", "keep_up", "low_priority", "overkill"];
        assert!(rows.iter().all(|r| quadrants.contains(&&r[13])));
    }
}
