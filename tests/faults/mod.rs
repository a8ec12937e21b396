//! Faults around the gateway: its process killed mid-write, its database locked, its shutdown with requests in flight.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Starts the server with a file-size limit of `kib` KiB: writes beyond it fail as on a full disk.
fn serve_limited(path: &std::path::Path, kib: u32) -> Served {
    let script = format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" serve --config \"$1\"");
    serve_with(Command::new("bash").args(["-c", &script, env!("CARGO_BIN_EXE_tokengate"), path.to_str().unwrap()]))
}

fn config(dir: &std::path::Path, upstream: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("t.toml");
    let id: u64 = rand::random();
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\npid_file = \"/tmp/tg-faults-{id}.pid\"\nupgrade_sock = \"/tmp/tg-faults-{id}.sock\"\n{extra}\n\
             [metrics]\nlisten = \"off\"\n[upstream]\nurl = \"{upstream}\"\n\
             [authorization_server]\nenabled = true\nissuer = \"https://tg.test\"\ndatabase = \"{}\"\nmax_apps = 10000\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\n",
            dir.join("data").join("tokengate.db").display()
        ),
    )
    .unwrap();
    path
}

/// The client ids of every stored app, and the count the API reports.
async fn stored_apps(admin: &str) -> (std::collections::HashSet<String>, usize) {
    let list: serde_json::Value = client()
        .get(format!("{admin}/admin/v1/apps"))
        .basic_auth("root", Some("root-password"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids = list["apps"].as_array().unwrap().iter().map(|a| a["client_id"].as_str().unwrap().to_string()).collect();
    (ids, list["count"].as_u64().unwrap() as usize)
}

fn add_admin(path: &std::path::Path) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["users", "add", "root", "--admin", "--password-stdin", "--config", path.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"root-password").unwrap();
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_in_the_middle_of_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9", "");
    add_admin(&path);
    let served = serve(&path);
    let admin = format!("http://{}", served.addrs["admin"]);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));

    // Four writers create apps as fast as they can; the process is killed while they run.
    let mut writers = Vec::new();
    for w in 0..4 {
        let (admin, acknowledged) = (admin.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            let c = client();
            for i in 0.. {
                let body = serde_json::json!({"type": "machine", "name": format!("w{w}-{i}")});
                match c
                    .post(format!("{admin}/admin/v1/apps"))
                    .basic_auth("root", Some("root-password"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 201 => {
                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                        if let Some(id) = v["client_id"].as_str() {
                            acknowledged.lock().unwrap().push(id.to_string());
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut served = served;
    served.signal(9);
    let _ = served.child.wait();
    for w in writers {
        let _ = w.await;
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(acked.len() >= 10, "only {} writes were acknowledged before the kill", acked.len());

    let again = serve(&path);
    let admin = format!("http://{}", again.addrs["admin"]);
    let (stored, count) = stored_apps(&admin).await;
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} acknowledged writes lost out of {}: {lost:?}", lost.len(), acked.len());
    // The count of places agrees with the rows (the counter and the insert are one transaction).
    assert_eq!(count, stored.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_gives_a_clear_503_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9", "");
    add_admin(&path);
    let served = serve(&path);
    let admin = format!("http://{}", served.addrs["admin"]);
    // Warm the admin's credential cache, so the write below is the only thing that needs the database's write lock.
    let r =
        client().get(format!("{admin}/admin/v1/apps")).basic_auth("root", Some("root-password")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Another process takes the write lock and holds it past the 5 s busy timeout.
    let db = dir.path().join("data").join("tokengate.db");
    let mut locker = Command::new("python3")
        .args(["-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(12)", db.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(locker.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");

    let r = client()
        .post(format!("{admin}/admin/v1/apps"))
        .basic_auth("root", Some("root-password"))
        .json(&serde_json::json!({"type": "machine", "name": "during the lock"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["error_description"].as_str().unwrap().contains("locked"), "{body}");
    let _ = locker.kill();
    let _ = locker.wait();

    assert_eq!(stored_apps(&admin).await.1, 0);
    let r = client()
        .post(format!("{admin}/admin/v1/apps"))
        .basic_auth("root", Some("root-password"))
        .json(&serde_json::json!({"type": "machine", "name": "after the lock"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the store recovers by itself");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_in_flight_finish_then_exits() {
    let upstream = TestUpstream::start().await;
    upstream.set_mode(UpstreamMode::Delay(Duration::from_millis(1500)));
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), &upstream.url(), "grace_period_secs = 3\ngraceful_shutdown_timeout_secs = 2\n");
    let mut served = serve(&path);
    let url = format!("http://{}/slow", served.addrs["proxy"]);
    let in_flight = tokio::spawn(async move { client().get(url).send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(upstream.hits(), 1, "the request is in flight");
    let sent = Instant::now();
    served.signal(15);
    assert_eq!(in_flight.await.unwrap().expect("the in-flight request is answered"), 200);
    let status = served.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(sent.elapsed() < Duration::from_secs(10), "shutdown took {:?}", sent.elapsed());
}

/// A configuration for the reload tests: the built-in server, one external issuer, one route needing `scope`.
fn reloadable(
    dir: &std::path::Path,
    id: u64,
    upstream: &TestUpstream,
    issuer: &TestIssuer,
    scope: &str,
    metrics: &str,
) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npid_file = \"/tmp/tg-hup-{id}.pid\"\nupgrade_sock = \"/tmp/tg-hup-{id}.sock\"\ngrace_period_secs = 0\n\
         [metrics]\nlisten = \"{metrics}\"\n[upstream]\nurl = \"{}\"\n\
         [authorization_server]\nenabled = true\nissuer = \"https://tg.test\"\ndatabase = \"{}\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[auth.issuers]]\nissuer = \"{}\"\naudiences = [\"{AUDIENCE}\"]\nalgorithms = [\"ES256\"]\n\
         [[routes]]\npath = \"/api/\"\nscopes = [\"{scope}\"]\n",
        upstream.url(),
        dir.join("tokengate.db").display(),
        issuer.issuer_url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_routes_and_a_bad_file_is_refused_while_the_old_one_serves() {
    let issuer = TestIssuer::start().await;
    let upstream = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    let id: u64 = rand::random();
    let write =
        |scope: &str| std::fs::write(&path, reloadable(dir.path(), id, &upstream, &issuer, scope, "off")).unwrap();
    write("api:read");
    let served = serve(&path);
    let url = format!("http://{}/api/x", served.addrs["proxy"]);
    let token = issuer.mint(&Claims::new(&issuer).scope("api:read"));
    let status = || async { client().get(&url).bearer_auth(&token).send().await.unwrap().status().as_u16() };
    let mut ready = false;
    for _ in 0..100 {
        if status().await == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the gateway never accepted the token");

    // The route now demands another scope: after SIGHUP the same token gets 403.
    write("api:admin");
    served.signal(1);
    let mut reloaded = false;
    for _ in 0..100 {
        if status().await == 403 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the new route never took effect");

    // A broken file is refused; the running configuration keeps answering as before.
    std::fs::write(&path, "[server]\nthreads = \"many\"\n").unwrap();
    served.signal(1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status().await, 403);
    let ok_token = issuer.mint(&Claims::new(&issuer).scope("api:admin"));
    assert_eq!(client().get(&url).bearer_auth(&ok_token).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_a_clear_503_keeps_what_was_written_and_recovers_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9", "grace_period_secs = 0\n");
    add_admin(&path);
    let served = serve_limited(&path, 400);
    let admin = format!("http://{}", served.addrs["admin"]);
    let c = client();
    let create = |i: usize| {
        let body = serde_json::json!({"type": "web", "name": format!("app {i}"), "description": "x".repeat(600), "redirect_urls": ["https://x.example/cb"]});
        c.post(format!("{admin}/admin/v1/apps")).basic_auth("root", Some("root-password")).json(&body).send()
    };
    let mut created = Vec::new();
    let mut refusal = None;
    for i in 0..2000 {
        let r = create(i).await.unwrap();
        if r.status() != 201 {
            refusal = Some((r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap()));
            break;
        }
        created.push(r.json::<serde_json::Value>().await.unwrap()["client_id"].as_str().unwrap().to_string());
    }
    let (status, body) = refusal.expect("the file size limit was never reached");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["error_description"].as_str().unwrap().contains("disk"), "{body}");
    drop(served);

    // Restarted without the limit: every acknowledged app is there, the count agrees, and writes work again.
    let again = serve(&path);
    let admin = format!("http://{}", again.addrs["admin"]);
    let (stored, count) = stored_apps(&admin).await;
    assert!(created.iter().all(|id| stored.contains(id)), "an acknowledged app was lost");
    assert_eq!(count, stored.len());
    let body = serde_json::json!({"type": "machine", "name": "after"});
    let r = c
        .post(format!("{admin}/admin/v1/apps"))
        .basic_auth("root", Some("root-password"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_stops_the_start_with_a_clear_error_and_is_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), "http://127.0.0.1:9", "grace_period_secs = 0\n");
    let data = dir.path().join("data");
    add_admin(&path);
    let snapshot = |d: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files.iter().map(|f| (f.display().to_string(), std::fs::read(f).unwrap())).collect()
    };
    let before = snapshot(&data);

    // The data directory mounted read-only, in a mount namespace of the server's own (nothing leaks out of it).
    let d = data.display().to_string();
    let out = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && exec \"$2\" serve --config \"$3\"",
        ])
        .args(["sh", &d, env!("CARGO_BIN_EXE_tokengate"), path.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .expect("unshare");
    assert!(!out.status.success(), "started on a read-only database");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read-only") || err.contains("readonly"), "{err}");
    assert_eq!(snapshot(&data), before, "the database files changed");

    // Writable again: it starts and the admin created before is there.
    let served = serve(&path);
    let admin = format!("http://{}", served.addrs["admin"]);
    let r =
        client().get(format!("{admin}/admin/v1/users")).basic_auth("root", Some("root-password")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// Regression: the first edge's key-refresh loop ran as a service until shutdown, so every process that was
/// reloaded kept fetching discovery and keys for a configuration it no longer served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_stop_the_key_refresh_of_the_configuration_they_replace() {
    let issuer = TestIssuer::start().await;
    let upstream = TestUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    let id: u64 = rand::random();
    let write = |scope: &str| {
        std::fs::write(&path, reloadable(dir.path(), id, &upstream, &issuer, scope, "127.0.0.1:0")).unwrap()
    };
    write("api:read");
    let served = serve(&path);
    let url = format!("http://{}/api/x", served.addrs["proxy"]);
    let metrics = format!("http://{}/metrics", served.addrs["metrics"]);
    let token = issuer.mint(&Claims::new(&issuer).scope("api:read"));
    let status = || async { client().get(&url).bearer_auth(&token).send().await.unwrap().status().as_u16() };
    let wait_for = |want: u16| async move {
        for _ in 0..100 {
            if status().await == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the gateway never answered {want}");
    };
    wait_for(200).await;
    let tasks = || async {
        let text = client().get(&metrics).send().await.unwrap().text().await.unwrap();
        text.lines().find_map(|l| l.strip_prefix("tokengate_key_refresh_tasks ")).map(|v| v.trim().to_string())
    };
    // The refresh loop is started by a service of its own, which a loaded machine may start after the first answer
    // (the keys can come from the on-demand fetch): wait for it, then for each replaced loop to stop.
    let settles_at_one = || async {
        let mut last = None;
        for _ in 0..100 {
            last = tasks().await;
            if last.as_deref() == Some("1") {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        last
    };
    assert_eq!(settles_at_one().await.as_deref(), Some("1"));
    for round in 0..4 {
        let (scope, want) = if round % 2 == 0 { ("api:admin", 403) } else { ("api:read", 200) };
        write(scope);
        served.signal(1);
        wait_for(want).await;
    }
    assert_eq!(settles_at_one().await.as_deref(), Some("1"), "a replaced configuration still refreshes its keys");
    // And it stays there: no loop of a replaced configuration comes back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tasks().await.as_deref(), Some("1"), "a replaced configuration still refreshes its keys");
}

/// Regression: the demo's listeners were bound without naming their address, so a taken port said only "Address
/// already in use".
#[test]
fn a_port_in_use_is_named_in_the_error_whichever_listener_it_is() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (listen, demo) in [(addr.to_string(), "127.0.0.1:0".to_string()), ("127.0.0.1:0".to_string(), addr.to_string())]
    {
        let path = dir.path().join("t.toml");
        let id: u64 = rand::random();
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"{listen}\"\npid_file = \"/tmp/tg-port-{id}.pid\"\nupgrade_sock = \"/tmp/tg-port-{id}.sock\"\n\
                 [metrics]\nlisten = \"off\"\n[upstream]\nurl = \"http://127.0.0.1:9\"\n\
                 [demo]\nenabled = true\nupstream_listen = \"{demo}\"\nissuer_listen = \"127.0.0.1:0\"\n\
                 [[routes]]\npath = \"/\"\nauth = \"none\"\n"
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(["serve", "--config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&addr.to_string()) && stderr.contains("in use"), "{stderr}");
    }
}

/// Regression: an upstream that died in the middle of a body had tokengate's JSON 502 written after the bytes
/// already sent, so the client read a corrupt body (the tail of one answer, then another's JSON) instead of a
/// connection closed short of its `Content-Length`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_a_body_cut_short_upstream_gets_no_json_appended() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b").await;
            // Closed 90 bytes short.
        }
    });
    let issuer = TestIssuer::start().await;
    let unused = TestUpstream::start().await;
    let mut cfg = GatewayConfig::new(&issuer, &unused);
    cfg.upstream = upstream;
    let gw = TestGateway::start(&cfg).await;
    let mut s = tokio::net::TcpStream::connect(gw.url.trim_start_matches("http://")).await.unwrap();
    s.write_all(b"GET /public/x HTTP/1.1\r\nHost: api.test\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    assert_eq!(body, "only ten b", "{answer}");
}
