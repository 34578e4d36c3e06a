//! The analysis kernel of the voice-of-the-customer engine: mergeable statistics,
//! segment-weighted means with stratified confidence intervals, Johnson's relative
//! weights, importance–performance quadrants, and the published indices (NPS, the
//! 0–100 index). Pure functions over numbers; the survey engine folds responses into
//! these and the adapters read files and databases. Definitions: docs/methods.md.

pub mod cell;
pub mod dense;
pub mod drivers;
pub mod engine;
pub mod gaps;
pub mod indices;
pub mod programme;
pub mod rake;
pub mod rollup;
pub mod stats;
pub mod summary;

pub use drivers::{DriverError, RelativeWeights, relative_weights};
pub use engine::{
    Analysis, AnalysisError, ExpectationStats, GroupAnalysis, GroupBy, GroupedStats, MomentResult,
    SegmentStats, SurveyStats, analyze,
};
pub use gaps::{
    CompetitiveMoment, EstimateBatch, Gap1Report, GapMoment, Gaps, ImportanceEstimate, gap1_of,
};
pub use indices::{Quadrant, index_0_100, nps, quadrant, sample_size_for, satisfied_share};
pub use stats::{PairStats, PairTable, RunningStats, Stratified, stratified_mean};
pub use summary::{SummaryAnalysis, SummaryRow, analyze_summary};
