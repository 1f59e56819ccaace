//! TEMPORARY STUB (replaced by the real parser).
#![allow(missing_docs)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use crate::limits::Limits;
use crate::permissions::Permissions;
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Manifest { pub file: PathBuf, pub dir: PathBuf, pub name: String, pub version: semver::Version, pub description: Option<String>, pub authors: Vec<String>, pub license: Option<String>, pub component: PathBuf, pub sha256: Option<String>, pub permissions: Permissions, pub limits: Limits, pub config: BTreeMap<String, String> }
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ManifestError { pub file: PathBuf, pub line: Option<usize>, pub column: Option<usize>, pub key: Option<String>, pub message: String }
impl Manifest { pub fn from_dir(_dir: impl AsRef<Path>) -> Result<Manifest, ManifestError> { unimplemented!() } }
