//! One module per subcommand.

pub mod build;
pub mod inspect;
pub mod plugins;
pub mod run;
pub mod serve;
pub mod validate;
