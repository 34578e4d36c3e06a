//! Peak-end analysis of aggregate figures (`moment,importance[,satisfaction]`), for
//! published studies that report only means, like the service-hall study itself.

use serde::Serialize;

use super::indices::{Quadrant, quadrant};
use crate::peak::{PeakRule, mean_sd};

#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub moment: String,
    pub importance: f64,
    pub satisfaction: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryMoment {
    pub key: String,
    pub importance: f64,
    pub satisfaction: Option<f64>,
    pub quadrant: Option<Quadrant>,
    pub peak: bool,
    pub end: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryAnalysis {
    pub peak_rule: PeakRule,
    pub mean_importance: f64,
    pub sd_importance: Option<f64>,
    pub peak_threshold: Option<f64>,
    pub mean_satisfaction: Option<f64>,
    pub moments: Vec<SummaryMoment>,
    /// Highest importance first.
    pub peaks: Vec<String>,
    pub end: String,
}

/// Rows in journey order; the last row is the end. `None` for no rows.
pub fn analyze_summary(rows: &[SummaryRow], rule: PeakRule) -> Option<SummaryAnalysis> {
    let last = rows.last()?;
    let importances: Vec<f64> = rows.iter().map(|r| r.importance).collect();
    let mean_importance = importances.iter().sum::<f64>() / rows.len() as f64;
    let (peak_idx, peak_threshold) = rule.apply(&importances);
    // Quadrants need satisfaction for every moment, else the crosshair would be biased.
    let sats: Option<Vec<f64>> = rows.iter().map(|r| r.satisfaction).collect();
    let mean_satisfaction = sats
        .as_ref()
        .map(|s| s.iter().sum::<f64>() / s.len() as f64);
    let moments = rows
        .iter()
        .enumerate()
        .map(|(i, r)| SummaryMoment {
            key: r.moment.clone(),
            importance: r.importance,
            satisfaction: r.satisfaction,
            quadrant: mean_satisfaction
                .zip(r.satisfaction)
                .map(|(ms, s)| quadrant(r.importance, s, mean_importance, ms)),
            peak: peak_idx.contains(&i),
            end: i == rows.len() - 1,
        })
        .collect();
    Some(SummaryAnalysis {
        peak_rule: rule,
        mean_importance,
        sd_importance: mean_sd(&importances).map(|(_, sd)| sd),
        peak_threshold,
        mean_satisfaction,
        moments,
        peaks: peak_idx.iter().map(|&i| rows[i].moment.clone()).collect(),
        end: last.moment.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study() -> Vec<SummaryRow> {
        crate::builtin::journeys().unwrap()[0]
            .moments()
            .iter()
            .map(|m| SummaryRow {
                moment: m.key.to_string(),
                importance: m.importance.unwrap(),
                satisfaction: None,
            })
            .collect()
    }

    #[test]
    fn the_study_figures_give_its_peaks_and_end() {
        let a = analyze_summary(&study(), PeakRule::default()).unwrap();
        assert_eq!(format!("{:.2}", a.mean_importance), "8.55");
        assert_eq!(a.peaks, ["result", "phone_purchase", "data_trial"]);
        assert_eq!(a.end, "leave");
        assert!(a.moments.iter().all(|m| m.quadrant.is_none()));
    }

    #[test]
    fn satisfaction_gives_quadrants() {
        let mut rows = study();
        for (i, r) in rows.iter_mut().enumerate() {
            r.satisfaction = Some(if i % 2 == 0 { 7.0 } else { 9.0 });
        }
        let a = analyze_summary(&rows, PeakRule::Top(1)).unwrap();
        assert_eq!(a.mean_satisfaction, Some(8.0));
        // result (index 13, odd → 9.0, importance 9.33) performs and matters.
        assert_eq!(a.moments[13].quadrant, Some(Quadrant::KeepUp));
        assert_eq!(
            a.moments[10].quadrant,
            Some(Quadrant::LowPriority),
            "queue 8.14 < 8.55, 7.0 < 8"
        );
        assert_eq!(a.peaks, ["result"]);
        assert!(analyze_summary(&[], PeakRule::default()).is_none());
    }
}
