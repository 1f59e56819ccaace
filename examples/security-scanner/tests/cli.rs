//! The `security-scanner` binary on real files and plugin folders (its own
//! test binary: it starts processes, which the `scan` tests check that
//! plugins cannot).

use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempDir;

/// A folder of plugin folders: the real manifests, components from the
/// fixture build.
fn plugins(root: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    for (name, wasm) in [("secret-sealer", warden_fixtures::SECRET_SEALER), ("shell-out", warden_fixtures::SHELL_OUT)] {
        let text = std::fs::read_to_string(source.join(name).join("plugin.toml")).unwrap();
        let text: String = text
            .lines()
            .map(|l| if l.starts_with("component = ") { format!("component = {wasm:?}\n") } else { format!("{l}\n") })
            .collect();
        std::fs::create_dir(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("plugin.toml"), text).unwrap();
    }
}

fn scanner(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_security-scanner"))
        .args(args)
        .current_dir(dir)
        .env("SCANNER_KEY", "42".repeat(32))
        .output()
        .unwrap()
}

#[test]
fn cli_scans_reveals_and_audits() {
    let dir = TempDir::new().unwrap();
    plugins(dir.path());
    std::fs::write(dir.path().join("app.env"), "user = admin\npassword = \"hunter2\"\n").unwrap();

    let out = scanner(&["app.env", "--plugins", ".", "--reveal", "--audit", "audit.jsonl"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("sealing key 'scanner': from $SCANNER_KEY"), "{stdout}");
    assert!(stdout.contains("plugins: secret-sealer, shell-out"), "{stdout}");
    assert!(stdout.contains("line 2    password-assignment"), "{stdout}");
    assert!(stdout.contains("revealed: \"hunter2\""), "{stdout}");
    assert!(stdout.contains("shell-out-refused"), "{stdout}");
    assert!(stdout.contains("refused: capability-denied: plugin 'shell-out' may not run `sh`"), "{stdout}");
    assert!(stdout.contains("2 finding(s), 1 secret(s) sealed, in 1 file(s) scanned by 2 plugin(s)"), "{stdout}");
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().filter(|l| l.contains(r#""event":"capability-denied""#)).count(), 1, "{audit}");

    // Without --reveal the secret stays sealed.
    let out = scanner(&["app.env", "--plugins", "secret-sealer"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("sealed with host key 'scanner'") && !stdout.contains("hunter2"), "{stdout}");
}

#[test]
fn cli_reports_what_fails() {
    let dir = TempDir::new().unwrap();
    plugins(dir.path());
    std::fs::write(dir.path().join("app.env"), "token: abc\n").unwrap();
    // A plugin asking for execute fails to load, naming the line; the
    // other plugin still scans, and the exit status says something failed.
    let manifest = dir.path().join("shell-out/plugin.toml");
    let text =
        std::fs::read_to_string(&manifest).unwrap().replace("[permissions]\n", "[permissions]\nexecute = true\n");
    std::fs::write(&manifest, text).unwrap();
    let out = scanner(&["app.env", "--plugins", "."], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("plugin.toml:") && stderr.contains("permissions.execute: this host never grants"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("app.env [secret-sealer]"));

    let out = scanner(&["missing.txt", "--plugins", "."], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: cannot scan `missing.txt`: "));
}
