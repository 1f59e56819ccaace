//! The scanner's world as Warden sees it: where the `scan` export is found
//! in a plugin, and how much of a report counts against `max-output`.

use warden::OutputSize;

use crate::bindings::{Scanner, ScannerIndices};
use crate::{Finding, ScanError, ScanReport, SealedSecret};

warden::world!(Scanner, ScannerIndices, "example:scanner/scanner");

impl OutputSize for ScanReport {
    fn output_size(&self) -> u64 {
        self.findings.output_size()
    }
}

impl OutputSize for Finding {
    fn output_size(&self) -> u64 {
        self.rule.output_size() + self.message.output_size() + self.sealed.output_size() + self.refusal.output_size()
    }
}

impl OutputSize for SealedSecret {
    fn output_size(&self) -> u64 {
        self.key_id.output_size() + self.sealed.output_size()
    }
}

impl OutputSize for ScanError {
    fn output_size(&self) -> u64 {
        self.code.output_size() + self.message.output_size()
    }
}
