//! Service and sales across halls (issue 23): how the peak moments' satisfaction of a
//! node's halls ranks with what they sell, from the grouped survey analysis (one
//! analysis `--by hall`, not one per hall) and a KPI report of the same period.

use super::*;
use crate::analysis::query_halls;
use peakend_core::ops::sales::{HallPoint, MIN_PEAK_RESPONDENTS, PeaksVsSales, peaks_vs_sales};

/// Across the halls at or below `org` (every hall when `None`), Spearman's ρ of each
/// hall's peak-moment satisfaction (its analysis over the visit dates [from, to]) with
/// its sales per served visit in `kpis` (a report of the same node and days, e.g. from
/// [`stored_kpis`]); halls left out are listed with the reason
/// ([`peakend_core::ops::sales::peaks_vs_sales`]). The survey is analysed on the journey
/// the node's halls live by ([`analysis_journey`]), grouped by hall.
pub async fn stored_peaks_vs_sales(
    store: &dyn Store,
    org: Option<&OrgNodeId>,
    from: NaiveDate,
    to: NaiveDate,
    kpis: &KpiReport,
) -> Result<PeaksVsSales> {
    let tree = store.org_tree().await?;
    let node = match org {
        Some(n) => n.clone(),
        None => {
            let roots: Vec<_> = tree.roots().collect();
            match roots.as_slice() {
                [one] => one.id.clone(),
                _ => {
                    return Err(StoreError::Invalid(
                        "org: name the node whose halls to compare (the tree has several roots)"
                            .into(),
                    ));
                }
            }
        }
    };
    let halls: Vec<HallId> = query_halls(&tree, Some(&node))?.unwrap_or_default();
    let (journey, also) = analysis_journey(store, &node).await?;
    let q = AnalysisQuery {
        org: Some(&node),
        from: Some(from),
        to: Some(to),
        by: Some(GroupBy::Hall),
        also: &also,
        ..Default::default()
    };
    let analysis = match stored_analysis(store, &journey, &q).await {
        Ok(a) => Some(a),
        // No answers in the period: every hall is left out for want of rated peaks.
        Err(StoreError::Invalid(_)) => None,
        Err(e) => return Err(e),
    };
    let groups: BTreeMap<&str, &Analysis> = analysis
        .as_ref()
        .map(|a| {
            a.groups
                .iter()
                .map(|g| (g.group.as_str(), &g.analysis))
                .collect()
        })
        .unwrap_or_default();
    let sales: BTreeMap<&str, &Kpis> = kpis
        .halls
        .iter()
        .map(|k| (k.key.as_str(), &k.kpis))
        .collect();
    let empty = KpiSums::default().kpis();
    let points: Vec<HallPoint> = halls
        .iter()
        .map(|h| {
            let k = sales.get(h.as_str()).copied().unwrap_or(&empty);
            match groups.get(h.as_str()) {
                Some(a) => HallPoint::from_analysis(h.as_str(), a, k.served, &k.sales),
                None => HallPoint::new(h.as_str(), None, 0, k.served, &k.sales),
            }
        })
        .collect();
    Ok(peaks_vs_sales(&points, MIN_PEAK_RESPONDENTS))
}
