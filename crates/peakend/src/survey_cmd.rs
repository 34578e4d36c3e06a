use anyhow::Context;
use clap::Subcommand;
use peakend_core::JourneyKey;
use peakend_io::survey_csv;
use peakend_store::Store;

#[derive(Subcommand)]
pub enum SurveyCmd {
    /// Print the CSV header of the survey file for a journey
    Template { journey: JourneyKey },
}

pub async fn run(db: &str, cmd: SurveyCmd) -> anyhow::Result<()> {
    match cmd {
        SurveyCmd::Template { journey } => {
            let store = crate::init(db).await?;
            let j = store
                .journey(&journey)
                .await?
                .with_context(|| format!("journey `{journey}` not found"))?;
            outln!("{}", survey_csv::header(&j).join(","));
        }
    }
    Ok(())
}
