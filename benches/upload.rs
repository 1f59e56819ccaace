//! Proxy mode with big bodies: a real `warden serve` process between a
//! loopback client and a loopback upstream that reads and discards what it
//! gets (`/sink`). Two routes on the same gateway: one whose plugins only
//! touch headers (the example `header-modifier` and `logger`), one with no
//! plugins. For each route, in a fresh gateway process:
//!
//! - one 100 MiB upload: wall time, MiB/s, and the gateway's peak resident
//!   memory over what it held after warming up (`VmHWM`);
//! - 64 concurrent 1 MiB uploads: wall time and peak memory growth.
//!
//! Prints the ratio of the plugin route's throughput to the plain route's.
//! Under `cargo test --benches` it runs with small bodies, to check that it
//! works.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench upload`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use warden_fixtures::http::TestServer;

/// A `warden serve` process, killed when dropped.
struct Gateway {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Gateway {
    fn start(upstream: SocketAddr) -> Gateway {
        let dir = TempDir::new().unwrap();
        for (name, wasm) in [("header-modifier", warden_fixtures::HEADER_MODIFIER), ("logger", warden_fixtures::LOGGER)]
        {
            let shipped = Path::new(warden_fixtures::PLUGINS_DIR).join(name);
            let manifest = warden::Manifest::from_dir(&shipped).unwrap();
            let folder = dir.path().join("plugins").join(name);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::copy(shipped.join("plugin.toml"), folder.join("plugin.toml")).unwrap();
            std::fs::copy(wasm, folder.join(manifest.component.file_name().unwrap())).unwrap();
        }
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\naccess-log = false\n[admin]\nenabled = false\n\
             [[route]]\nname = \"plugins\"\npath = \"/sink\"\nupstream = \"http://{upstream}\"\n\
             on-request = [\"header-modifier\", \"logger\"]\n\
             [[route]]\nname = \"plain\"\npath = \"/plain\"\nstrip-prefix = true\nupstream = \"http://{upstream}\"\n"
        );
        std::fs::write(dir.path().join("gateway.toml"), config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
            .arg("serve")
            .arg("--config")
            .arg(dir.path().join("gateway.toml"))
            .env("WARDEN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        while !banner.contains("stop with") {
            assert!(out.read_line(&mut banner).unwrap() > 0, "warden serve exited: {banner}");
        }
        let addr =
            warden_fixtures::process::listening_addr(&banner).unwrap_or_else(|| panic!("no address in: {banner}"));
        Gateway { child, addr, _dir: dir }
    }

    /// Peak resident memory so far, in bytes.
    fn peak_rss(&self) -> u64 {
        warden_fixtures::process::peak_rss(self.child.id()).unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Uploads `size` bytes to `path`, written in 64 KiB pieces as they are
/// made; checks that the upstream counted them all.
fn upload(addr: SocketAddr, path: &str, size: usize) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(conn, "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/octet-stream\r\ncontent-length: {size}\r\n\r\n").unwrap();
    let piece = vec![b'u'; 64 << 10];
    let mut left = size;
    while left > 0 {
        let n = left.min(piece.len());
        conn.write_all(&piece[..n]).unwrap();
        left -= n;
    }
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(&format!("\r\n\r\n{size} ")), "the upstream got every byte: {answer}");
}

/// Runs `uploads` concurrent uploads of `size` bytes on a fresh gateway:
/// wall time and peak memory growth.
fn measure(upstream: SocketAddr, path: &str, uploads: usize, size: usize) -> (Duration, u64) {
    let gateway = Gateway::start(upstream);
    upload(gateway.addr, path, 64 << 10); // warm-up: instances made, pools filled
    let before = gateway.peak_rss();
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..uploads {
            s.spawn(|| upload(gateway.addr, path, size));
        }
    });
    (start.elapsed(), gateway.peak_rss().saturating_sub(before))
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (big, many, each) = if full { (100 << 20, 64, 1 << 20) } else { (4 << 20, 8, 64 << 10) };
    let upstream = TestServer::start();
    let mib = |bytes: usize| bytes as f64 / f64::from(1 << 20);
    println!("upload (proxy mode, warden serve on loopback; peak RSS = growth of VmHWM after warm-up)");
    for (label, uploads, size) in
        [(format!("1 x {} MiB", mib(big)), 1, big), (format!("{many} x {} MiB", mib(each)), many, each)]
    {
        let mut rates = Vec::new();
        for (route, path) in [("no plugins", "/plain/sink"), ("header-only plugins", "/sink")] {
            let (took, grown) = measure(upstream.addr(), path, uploads, size);
            let rate = mib(uploads * size) / took.as_secs_f64();
            rates.push(rate);
            println!(
                "  {label:<14} {route:<20} {:>8.3} s  {rate:>8.1} MiB/s  peak RSS +{:.1} MiB",
                took.as_secs_f64(),
                grown as f64 / f64::from(1 << 20)
            );
        }
        println!("  {label:<14} throughput, plugins / no plugins: {:.2} (target >= 0.80)", rates[1] / rates[0]);
    }
}
