//! Integration tests of the graph-analyzer example: its two plugins, built
//! from source by `warden-fixtures`, loaded from their real `plugin.toml`
//! files and called through the host's own world.

mod cli;
mod common;
mod limits;
mod loading;
mod reload;
mod sample;
