//! The command-line stories, one test binary (one link instead of one per file).

mod analyze_fast;
mod audit_template;
mod cli;
mod comments_cli;
mod handbook;
mod invite_sender_cli;
mod rates_cli;
mod sales_cli;
mod strategy_cli;
