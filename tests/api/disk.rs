//! A real full disk: the data directory is a tiny tmpfs. Commits fail with ENOSPC, those
//! requests get 503 and store nothing, `/healthz` says so, and when the file system grows
//! again the server heals itself — no restart, nothing lost, the store checks clean.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{json_body, spawn_app_with};

/// A tmpfs mounted for one test, unmounted when dropped.
struct TinyDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TinyDisk {
    /// `None` where this machine does not let the test mount (not root, no tmpfs).
    fn mount(kib: u32) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .status()
            .ok()?;
        status.success().then(|| TinyDisk {
            path: dir.path().to_owned(),
            _dir: dir,
        })
    }

    fn resize(&self, kib: u32) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={kib}k")])
            .arg(&self.path)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {}", self.path.display());
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn data_dir(disk: &TinyDisk) -> PathBuf {
    Path::new(&disk.path).join("data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_and_the_server_heals_when_space_returns() {
    let Some(disk) = TinyDisk::mount(600) else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the injected-fault tests still cover the logic"
        );
        return;
    };
    let dir = data_dir(&disk);
    let app = spawn_app_with(|config| {
        config.data_dir = dir.clone();
        config.rate_limit = None;
        config.global_rate_limit = None;
    })
    .await;
    app.create_campaign("expo", json!({})).await;
    let padding = "满".repeat(600);
    let mut acked = Vec::new();
    let mut refused = None;
    for n in 0..5000 {
        let body = json!({"phone": format!("1390000{n:04}"), "consent": true, "message": padding});
        let resp = app.submit_json("expo", &body).await;
        let (status, body) = json_body(resp).await;
        match status {
            201 => acked.push(body["lead_id"].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
                refused = Some(n);
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(refused.is_some(), "the 600 KiB disk never filled up");
    assert!(!acked.is_empty());
    let health = app.get("/healthz").await;
    assert_eq!(
        health.status(),
        503,
        "healthz right after the failed commit"
    );

    disk.resize(64 * 1024);
    // The writer reopens the store at most once a second; give it a bounded while.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if app.get("/healthz").await.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "healthz never recovered after the disk grew"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = json!({"phone": "13911112222", "consent": true, "message": padding});
    let (status, after) = json_body(app.submit_json("expo", &body).await).await;
    assert_eq!(status, 201, "{after}");

    let stored = app.all_leads("expo").await;
    for id in &acked {
        assert!(
            stored.iter().any(|l| l["id"] == json!(id)),
            "acknowledged {id} lost"
        );
    }
    assert_eq!(
        stored.len(),
        acked.len() + 1,
        "the refused submission left nothing behind"
    );
}
