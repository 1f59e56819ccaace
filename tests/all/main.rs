//! Warden's integration tests: one binary, a module per topic. Plugin
//! fixtures are built from source by the `warden-fixtures` build script.

mod admin_ui;
mod author;
mod cache;
mod cli;
mod cli_kv;
mod clients;
mod common;
mod dev;
mod examples;
mod fuzz;
mod gateway;
mod hooks;
mod kv;
mod languages;
mod limits;
mod loading;
mod manager;
mod messaging;
mod outbound;
mod registry;
mod reload;
mod sandbox;
mod serve;
mod signing;
mod trust;
mod worlds;
