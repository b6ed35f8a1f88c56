//! End-to-end tests of the `herald` binary: one target, one module per topic.

#[macro_use]
mod util;

mod bad_inputs;
mod bench;
mod capture;
mod check;
mod cluster;
mod cluster_http;
mod cluster_leases;
mod cluster_starts;
mod config;
mod config_reference;
mod crash;
mod crash_timers;
mod dlq;
mod dlq_retry;
mod escalation;
mod exits;
mod http;
mod init;
mod json_logs;
mod keys;
mod live;
mod reload;
mod reload_in_flight;
mod replay;
mod rule_tests;
mod sandbox;
mod secrets;
mod snapshots;
mod timers_cli;
mod webhooks;
