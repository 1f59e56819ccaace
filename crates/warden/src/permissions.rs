//! TEMPORARY STUB.
#![allow(missing_docs)]
use std::path::PathBuf;
#[derive(Debug, Clone, Default)]
pub struct Permissions { pub files: Vec<FileGrant>, pub env: Vec<String>, pub network: Vec<HostPattern>, pub modify_request: bool, pub modify_response: bool }
#[derive(Debug, Clone)]
pub struct FileGrant { pub host: PathBuf, pub guest: String, pub access: Access }
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Access { ReadOnly, ReadWrite }
#[derive(Debug, Clone)]
pub struct HostPattern;
