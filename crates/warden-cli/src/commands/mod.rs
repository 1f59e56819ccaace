//! One module per subcommand.

pub mod build;
pub mod dev;
pub mod dist;
pub mod inspect;
pub mod install;
pub mod keygen;
pub mod kv;
pub mod new;
pub mod plugins;
pub mod pull;
pub mod push;
pub mod run;
pub mod serve;
pub mod sign;
pub mod test;
pub mod update;
pub mod validate;
pub mod verify;
pub mod versions;
