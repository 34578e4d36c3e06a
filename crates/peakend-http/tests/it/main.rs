//! The HTTP and page stories, one test binary (one link instead of one per file).

mod access;
mod api;
mod attack;
mod audits;
mod cases;
mod checklist;
mod comments;
mod customers;
mod error_pages;
mod faults;
mod gaps;
mod handbook;
mod helpers;
mod invitations;
mod invite_senders;
mod journey_assignment;
mod kiosks;
mod monitoring;
mod programme;
mod qfd;
mod queue;
mod sales;
mod scope;
mod strategy;
mod survey_form;
mod zones;
