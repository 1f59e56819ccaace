//! One module per subcommand.

pub mod build;
pub mod dev;
pub mod inspect;
pub mod keygen;
pub mod kv;
pub mod new;
pub mod plugins;
pub mod run;
pub mod serve;
pub mod sign;
pub mod test;
pub mod validate;
pub mod verify;
