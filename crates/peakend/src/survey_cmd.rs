use anyhow::{Context, bail};
use clap::Subcommand;
use peakend_core::JourneyKey;
use std::collections::HashSet;

use peakend_io::{FileErrors, survey_csv};
use peakend_store::Store;

#[derive(Subcommand)]
pub enum SurveyCmd {
    /// Print the CSV header of the survey file for a journey
    Template { journey: JourneyKey },
    /// Print a questionnaire (HTML, ready to print) for a journey
    Questionnaire {
        journey: JourneyKey,
        /// zh (default) or en
        #[arg(long, default_value = "zh", value_parser = ["zh", "en"])]
        lang: String,
    },
    /// Write a realistic synthetic survey file for the halls in the database
    Synth {
        #[arg(long)]
        journey: JourneyKey,
        #[arg(long, default_value_t = 1000)]
        rows: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write to this file instead of stdout
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Store the responses of a survey file in one transaction (all or nothing)
    Import {
        file: std::path::PathBuf,
        #[arg(long)]
        journey: JourneyKey,
        /// Skip columns that are not part of the survey format
        #[arg(long)]
        ignore_unknown: bool,
        /// Force the file's text encoding (default: detect UTF-8 or GB18030)
        #[arg(long)]
        encoding: Option<String>,
    },
    /// The stored comments of a journey with their moments and sentiment, and the
    /// top phrases per moment and hall
    Comments {
        #[arg(long)]
        journey: JourneyKey,
        /// Only the halls under this org node
        #[arg(long)]
        org: Option<peakend_core::OrgNodeId>,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::Format,
    },
}

pub async fn run(db: &str, cmd: SurveyCmd) -> anyhow::Result<()> {
    match cmd {
        SurveyCmd::Comments {
            journey,
            org,
            format,
        } => crate::comments_cmd::run(db, journey, org, format).await?,
        SurveyCmd::Template { journey } => {
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            outln!("{}", survey_csv::header(&j).join(","));
        }
        SurveyCmd::Questionnaire { journey, lang } => {
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            out!("{}", peakend_http::questionnaire_html(&j, lang == "en")?);
        }
        SurveyCmd::Synth {
            journey,
            rows,
            seed,
            output,
        } => {
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            let halls: Vec<_> = store
                .org_nodes()
                .await?
                .iter()
                .filter_map(|n| n.hall_id())
                .collect();
            if halls.is_empty() {
                bail!(
                    "no halls in {db}: import an organisation (peakend org import) or run peakend demo first"
                );
            }
            let responses = peakend_core::synth::responses(&j, &halls, rows, seed);
            match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    survey_csv::write(&j, responses, std::io::BufWriter::new(file))?;
                }
                None => match survey_csv::write(&j, responses, std::io::stdout().lock()) {
                    // `peakend survey synth … | head` closes the pipe early: not an error.
                    Err(e) if matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe) =>
                        {}
                    other => other?,
                },
            }
        }
        SurveyCmd::Import {
            file,
            journey,
            ignore_unknown,
            encoding,
        } => {
            let name = file.display().to_string();
            let store = crate::init(db).await?;
            let j = crate::journey(&store, &journey).await?;
            let halls: HashSet<String> = store
                .org_nodes()
                .await?
                .into_iter()
                .filter_map(|n| n.hall_id())
                .map(String::from)
                .collect();
            let source = crate::read_table(&file, encoding.as_deref())?;
            let opts = survey_csv::Options {
                ignore_unknown,
                halls: Some(&halls),
            };
            let responses = survey_csv::parse(&source, &j, &opts).map_err(|errors| FileErrors {
                file: name.clone(),
                errors,
            })?;
            let n = store
                .import_responses(&j, &responses)
                .await
                .with_context(|| format!("{name} not imported"))?;
            outln!("{name}: {n} responses imported for journey {journey}");
        }
    }
    Ok(())
}
