//! `tokengate serve` as a child process of its own (for `kill -9`, resource limits, several instances), with the
//! addresses it bound read from its log.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `tokengate serve` child process; killed on drop.
pub struct Served {
    /// The process.
    pub child: Child,
    /// Bound addresses by name (`proxy`, `admin`, and `metrics` when on), as it logged them.
    pub addrs: std::collections::HashMap<String, String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tokengate serve --config path` and reads the bound addresses (`proxy`, `admin`) from its log.
pub fn serve(path: &std::path::Path) -> Served {
    serve_with(Command::new(env!("CARGO_BIN_EXE_tokengate")).args(["serve", "--config", path.to_str().unwrap()]))
}

pub fn serve_with(command: &mut Command) -> Served {
    let mut child = command.env("NO_COLOR", "1").env("RUST_LOG", "info").stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addrs = std::collections::HashMap::new();
    let mut log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // `admin` is logged last.
    while !(addrs.contains_key("proxy") && addrs.contains_key("admin")) && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            continue;
        };
        log.push(line.clone());
        for key in ["proxy", "tls", "metrics", "admin"] {
            if let Some(rest) = line.split(&format!("{key}=")).nth(1) {
                let addr: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
                addrs.insert(key.to_string(), addr);
            }
        }
    }
    assert!(
        addrs.contains_key("proxy") && addrs.contains_key("admin"),
        "tokengate did not report its listeners:\n{}",
        log.join("\n")
    );
    Served { child, addrs }
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

impl Served {
    /// Sends signal `sig` (1 SIGHUP, 10 SIGUSR1, ...) to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child this test owns and has not reaped.
        assert_eq!(unsafe { kill(self.child.id() as i32, sig) }, 0, "kill -{sig} failed");
    }

    /// `http://` + the bound address named `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}", self.addrs[name])
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
