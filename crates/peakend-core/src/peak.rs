//! Peaks and end of a journey (峰终). The study's peaks are *importance* peaks:
//! moments whose importance lies more than k sample standard deviations above the
//! mean importance. (Kahneman's peaks are intensity peaks of one experience; see
//! docs/methods.md.) The end is structural: the journey's last moment.

/// Mean and sample standard deviation (n − 1) of `values`; `None` for fewer than two.
pub fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    Some((mean, var.sqrt()))
}

/// How peaks are picked: more than k standard deviations above the mean (`sd:1`,
/// the default), or the K highest (`top:3`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "rule", content = "k", rename_all = "snake_case")]
pub enum PeakRule {
    Sd(f64),
    Top(usize),
}

impl Default for PeakRule {
    fn default() -> Self {
        PeakRule::Sd(1.0)
    }
}

impl std::str::FromStr for PeakRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("invalid peak rule `{s}` (expected sd:K such as sd:1, or top:K such as top:3)")
        };
        match s.split_once(':') {
            Some(("sd", k)) => k
                .parse::<f64>()
                .ok()
                .filter(|k| k.is_finite())
                .map(PeakRule::Sd)
                .ok_or_else(bad),
            Some(("top", k)) => k
                .parse::<usize>()
                .ok()
                .filter(|&k| k > 0)
                .map(PeakRule::Top)
                .ok_or_else(bad),
            _ => Err(bad()),
        }
    }
}

impl PeakRule {
    /// The peak indices, highest first, and the threshold line when the rule has one.
    pub fn apply(self, values: &[f64]) -> (Vec<usize>, Option<f64>) {
        match self {
            PeakRule::Sd(k) => {
                let line = mean_sd(values).map(|(m, sd)| m + k * sd);
                (peaks_above_sd(values, k), line)
            }
            PeakRule::Top(k) => {
                let mut order: Vec<usize> = (0..values.len()).collect();
                order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
                order.truncate(k);
                (order, None)
            }
        }
    }
}

/// Indices of the values above mean + `k_sd` × sd, highest first.
pub fn peaks_above_sd(values: &[f64], k_sd: f64) -> Vec<usize> {
    let Some((mean, sd)) = mean_sd(values) else {
        return Vec::new();
    };
    let threshold = mean + k_sd * sd;
    let mut peaks: Vec<usize> = (0..values.len())
        .filter(|&i| values[i] > threshold)
        .collect();
    peaks.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    peaks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 16 published importances of the 2019 service-hall study.
    const STUDY: [f64; 16] = [
        8.27, 8.18, 8.42, 8.46, 8.86, 7.62, 9.08, 9.22, 8.01, 9.26, 8.14, 8.93, 7.80, 9.33, 8.71,
        8.50,
    ];

    #[test]
    fn study_figures_give_the_published_peaks() {
        let (mean, sd) = mean_sd(&STUDY).unwrap();
        assert_eq!(format!("{mean:.2}"), "8.55");
        assert_eq!(format!("{sd:.3}"), "0.532");
        // result 9.33, phone_purchase 9.26, data_trial 9.22; enquiry (9.08) sits just under.
        assert_eq!(peaks_above_sd(&STUDY, 1.0), [13, 9, 7]);
    }

    #[test]
    fn rules_parse_and_apply() {
        assert_eq!("sd:1".parse::<PeakRule>(), Ok(PeakRule::Sd(1.0)));
        assert_eq!("top:2".parse::<PeakRule>(), Ok(PeakRule::Top(2)));
        assert!("top:0".parse::<PeakRule>().is_err() && "max".parse::<PeakRule>().is_err());
        let (peaks, line) = PeakRule::Sd(1.0).apply(&STUDY);
        assert_eq!(peaks, [13, 9, 7]);
        assert_eq!(format!("{:.2}", line.unwrap()), "9.08");
        assert_eq!(PeakRule::Top(4).apply(&STUDY), (vec![13, 9, 7, 6], None));
    }

    #[test]
    fn too_few_values_have_no_peaks() {
        assert!(peaks_above_sd(&[9.0], 1.0).is_empty());
        assert!(peaks_above_sd(&[5.0, 5.0, 5.0], 1.0).is_empty());
    }
}
