//! The strategy page's storage (issue 23): one director's document per org node and
//! journey (`peakend_core::strategy::Strategy`), and the ranking that puts it beside
//! the stored analysis of the node's halls. The CLI and the API both call
//! [`strategy_view`], so the same question gets the same answer everywhere.

use super::*;
use peakend_core::strategy::{RankedDimension, Strategy};

/// A stored strategy and who saved it last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredStrategy {
    pub strategy: Strategy,
    /// Milliseconds since the epoch.
    pub updated_at: i64,
    pub updated_by: String,
}

#[async_trait]
pub trait StrategyStore: Send + Sync {
    /// The strategy of `org` for `journey`, if one was saved.
    async fn strategy(
        &self,
        org: &OrgNodeId,
        journey: &JourneyKey,
    ) -> Result<Option<StoredStrategy>>;

    /// Saves (replaces) the strategy of `org` for `journey`; the caller has checked it
    /// against the journey ([`Strategy::parse`]). Returns what was stored.
    async fn put_strategy(
        &self,
        org: &OrgNodeId,
        journey: &JourneyKey,
        strategy: &Strategy,
        by: &str,
    ) -> Result<StoredStrategy>;
}

/// The ranking of the dimensions for `org` on `journey` and the stored strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyView {
    pub journey: String,
    pub org: String,
    /// Respondents of the analysis behind the ranking (0: nobody answered yet).
    pub respondents: u64,
    /// Whether the gaps are gap 5 from expectation items (else 10 − satisfaction).
    pub gap5: bool,
    pub ranking: Vec<RankedDimension>,
    /// The stored strategy; an empty one (and no `updated_*`) before the first save.
    pub strategy: Strategy,
    pub updated_at: Option<i64>,
    pub updated_by: Option<String>,
}

/// The stored analysis of the halls at or below `org` on `journey` (all dates, all
/// purposes, segment weights by respondents), ranked against its stored strategy.
pub async fn strategy_view(
    store: &dyn Store,
    journey: &Journey,
    org: &OrgNodeId,
) -> Result<StrategyView> {
    // Nobody answered yet: every dimension is listed, none ranked.
    let analysis = crate::whole_analysis(store, journey, Some(org), None).await?;
    let stored = store.strategy(org, journey.key()).await?;
    let strategy = stored
        .as_ref()
        .map(|s| s.strategy.clone())
        .unwrap_or_default();
    Ok(StrategyView {
        journey: journey.key().to_string(),
        org: org.to_string(),
        respondents: analysis.as_ref().map_or(0, |a| a.respondents),
        gap5: analysis.as_ref().is_some_and(|a| a.gaps.is_some()),
        ranking: peakend_core::strategy::rank_analysis(journey, analysis.as_ref(), &strategy),
        strategy,
        updated_at: stored.as_ref().map(|s| s.updated_at),
        updated_by: stored.map(|s| s.updated_by),
    })
}
