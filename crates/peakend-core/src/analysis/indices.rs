//! Published indices and planning figures.

use serde::Serialize;

/// Net Promoter Score (Reichheld 2003): % of 9–10 minus % of 0–6 on the 0–10
/// recommend question. `None` without answers.
pub fn nps(scores: &[f64]) -> Option<f64> {
    if scores.is_empty() {
        return None;
    }
    let promoters = scores.iter().filter(|&&s| s >= 9.0).count() as f64;
    let detractors = scores.iter().filter(|&&s| s <= 6.0).count() as f64;
    Some(100.0 * (promoters - detractors) / scores.len() as f64)
}

/// Share (0–1) of overall ratings at or above `threshold` (the study's "satisfied" is ≥ 8).
pub fn satisfied_share(overall: &[f64], threshold: f64) -> Option<f64> {
    (!overall.is_empty())
        .then(|| overall.iter().filter(|&&x| x >= threshold).count() as f64 / overall.len() as f64)
}

/// The ACSI-style 0–100 rescale of a mean on the 1–10 scale: (x̄ − 1) / 9 × 100.
pub fn index_0_100(mean_1_to_10: f64) -> f64 {
    (mean_1_to_10 - 1.0) / 9.0 * 100.0
}

/// Respondents needed for a margin of error of ±`margin` at 95 % when the standard
/// deviation is `sd`: ⌈(1.96 · sd / margin)²⌉.
pub fn sample_size_for(sd: f64, margin: f64) -> u64 {
    ((1.96 * sd / margin).powi(2) - 1e-9).ceil().max(1.0) as u64
}

/// Importance–performance quadrants (Martilla & James 1977) around the grand means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quadrant {
    /// Important and under-performing: fix first.
    Concentrate,
    /// Important and performing: keep up the good work.
    KeepUp,
    /// Neither important nor performing.
    LowPriority,
    /// Performing beyond what its importance asks: possible overkill.
    Overkill,
}

pub fn quadrant(
    importance: f64,
    satisfaction: f64,
    mean_importance: f64,
    mean_satisfaction: f64,
) -> Quadrant {
    match (
        importance >= mean_importance,
        satisfaction >= mean_satisfaction,
    ) {
        (true, false) => Quadrant::Concentrate,
        (true, true) => Quadrant::KeepUp,
        (false, false) => Quadrant::LowPriority,
        (false, true) => Quadrant::Overkill,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nps_is_promoters_minus_detractors() {
        // 70 % promoters, 20 % passives, 10 % detractors → NPS 60.
        let scores = [10., 9., 9., 9., 9., 9., 9., 8., 7., 3.];
        assert_eq!(nps(&scores), Some(60.0));
        assert_eq!(
            nps(&[6., 6., 10.]).map(|n| (n * 100.0).round() / 100.0),
            Some(-33.33)
        );
        assert_eq!(nps(&[7., 8.]), Some(0.0));
        assert_eq!(nps(&[]), None);
    }

    #[test]
    fn index_and_satisfied_share() {
        assert_eq!(index_0_100(10.0), 100.0);
        assert_eq!(index_0_100(1.0), 0.0);
        assert!((index_0_100(8.2) - 80.0).abs() < 1e-12);
        assert_eq!(satisfied_share(&[8.0, 7.9, 10.0, 5.0], 8.0), Some(0.5));
    }

    #[test]
    fn sample_sizes_match_the_textbook() {
        // A proportion at p = 0.5 (sd 0.5) within ±5 points needs the classic 385.
        assert_eq!(sample_size_for(0.5, 0.05), 385);
        // A rating with sd 1.0 within ±0.1 needs 385 too; with sd 2.0, 1537.
        assert_eq!(sample_size_for(1.0, 0.1), 385);
        assert_eq!(sample_size_for(2.0, 0.1), 1537);
    }

    #[test]
    fn quadrants_follow_the_crosshairs() {
        assert_eq!(quadrant(9.3, 7.0, 8.55, 8.0), Quadrant::Concentrate);
        assert_eq!(quadrant(9.3, 8.5, 8.55, 8.0), Quadrant::KeepUp);
        assert_eq!(quadrant(7.6, 7.0, 8.55, 8.0), Quadrant::LowPriority);
        assert_eq!(quadrant(7.6, 9.0, 8.55, 8.0), Quadrant::Overkill);
        assert_eq!(
            quadrant(8.55, 8.0, 8.55, 8.0),
            Quadrant::KeepUp,
            "ties go to the upper side"
        );
    }
}
