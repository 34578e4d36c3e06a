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
    fn too_few_values_have_no_peaks() {
        assert!(peaks_above_sd(&[9.0], 1.0).is_empty());
        assert!(peaks_above_sd(&[5.0, 5.0, 5.0], 1.0).is_empty());
    }
}
