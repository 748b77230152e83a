//! Backups (issue #18, item 4): `GET /api/backup` and `leadgate backup` take a consistent
//! copy while the server keeps writing, `leadgate restore` puts one in place (refusing
//! a running server's directory, a non-empty one without `--force`, and anything that is
//! not a whole backup), and the restored store checks clean and serves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::helpers::{TOKEN, TestApp, lead, mobile, spawn_app_in, spawn_app_with};
use crate::process::check_store;

const CAMPAIGN: &str = "expo";

async fn app_without_limits(dir: tempfile::TempDir) -> TestApp {
    let app = spawn_app_in(dir, |config| {
        config.rate_limit = None;
        config.global_rate_limit = None;
    })
    .await;
    app.create_campaign(CAMPAIGN, json!({})).await;
    app
}

/// Submits leads `from..to` (one phone each); returns their ids.
async fn submit(app: &TestApp, from: usize, to: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for n in from..to {
        ids.push(
            app.submit_json_ok(CAMPAIGN, &lead(&mobile(n), &format!("Visitor {n}")))
                .await,
        );
    }
    ids
}

/// Runs `leadgate` with `args` and a clean `LEADGATE_*` environment, off the async
/// workers (an in-process server may have to answer it); returns success and its output.
async fn leadgate(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadgate"));
        cmd.args(&args).stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LEADGATE_") {
                cmd.env_remove(key);
            }
        }
        let output = cmd.env("NO_COLOR", "1").output().expect("run leadgate");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    })
    .await
    .unwrap()
}

fn args(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<String> {
    parts
        .iter()
        .map(|p| p.as_ref().to_string_lossy().into_owned())
        .collect()
}

async fn restore(from: &Path, data: &Path, force: bool) -> (bool, String) {
    let mut parts = args(&[&"restore", &"--from", &from, &"--data", &data]);
    if force {
        parts.push("--force".into());
    }
    leadgate(parts).await
}

/// Starts a server on a restored directory and reads the campaign's lead ids from it.
async fn served_ids(dir: tempfile::TempDir) -> BTreeSet<String> {
    let app = spawn_app_in(dir, |_| {}).await;
    let ids = app
        .all_leads(CAMPAIGN)
        .await
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let problems = app.stop_and_check().await;
    assert!(problems.is_empty(), "{problems:?}");
    ids
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let (_, log) = crate::helpers::json_body(app.admin_get("/api/audit").await).await;
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "backup")
        .map(|e| {
            (
                e["credential"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_concurrent_writes_holds_every_acknowledged_lead_and_restores_to_a_serving_store()
 {
    let app = Arc::new(app_without_limits(tempfile::tempdir().unwrap()).await);
    let acknowledged = submit(&app, 0, 300).await;

    // Writers keep going before, during and after the backup.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 1_000 + w * 100_000;
                while !stop.load(Ordering::Relaxed) {
                    submit(&app, n, n + 1).await;
                    n += 1;
                }
                n - (1_000 + w * 100_000)
            })
        })
        .collect();
    submit(&app, 300, 310).await;
    let mut acknowledged = acknowledged;
    acknowledged.extend(submit(&app, 310, 320).await);

    let resp = app.admin_get("/api/backup").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        crate::helpers::header(&resp, "content-type").as_deref(),
        Some("application/octet-stream")
    );
    let disposition = crate::helpers::header(&resp, "content-disposition").unwrap();
    let name = disposition
        .strip_prefix("attachment; filename=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{disposition}"));
    assert!(
        name.starts_with("leadgate-backup-20") && name.ends_with(".lgbackup"),
        "{name}"
    );
    let bytes = resp.bytes().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut during = 0;
    for writer in writers {
        during += writer.await.unwrap();
    }
    assert!(during > 0, "the writers wrote while the backup ran");
    assert_eq!(
        audit_actions(&app).await,
        vec![("bearer".to_owned(), name.to_owned())]
    );

    let work = tempfile::tempdir().unwrap();
    let file = work.path().join(name);
    std::fs::write(&file, &bytes).unwrap();
    let restored = tempfile::tempdir().unwrap();
    let (ok, output) = restore(&file, restored.path(), false).await;
    assert!(ok, "{output}");
    assert!(output.contains("ok"), "{output}");
    let (clean, report) = check_store(restored.path());
    assert!(clean, "{report}");

    let served = served_ids(restored).await;
    for id in &acknowledged {
        assert!(
            served.contains(id),
            "lead {id}, acknowledged before the backup, is missing"
        );
    }
    let app = Arc::into_inner(app).unwrap();
    let everything: BTreeSet<String> = app
        .all_leads(CAMPAIGN)
        .await
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        served.is_subset(&everything),
        "the backup holds only leads the server has"
    );
}

#[tokio::test]
async fn the_backup_needs_the_admin_token_and_the_console_may_take_one() {
    let app = spawn_app_with(|_| {}).await;
    let resp = app.get("/api/backup").await;
    crate::helpers::assert_error(resp, 401, None).await;
    let resp = app
        .client
        .get(app.url("/api/backup"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(resp, 401, None).await;
    assert!(
        audit_actions(&app).await.is_empty(),
        "a refusal is no backup"
    );
    let resp = app
        .client
        .head(app.url("/api/backup"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        crate::helpers::header(&resp, "content-disposition").is_some(),
        "HEAD names the file"
    );
    assert!(
        audit_actions(&app).await.is_empty(),
        "a HEAD copies nothing"
    );

    // The console's link: the browser sends its Basic login.
    let resp = app
        .client
        .get(app.url("/api/backup"))
        .basic_auth("ops", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.bytes()
            .await
            .unwrap()
            .starts_with(b"leadgate-backup\n")
    );
    let actions = audit_actions(&app).await;
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].0, "basic:ops");
    let page = crate::console::page(&app, "/admin/erasures").await;
    assert!(
        page.contains("href=\"/api/backup\""),
        "the console links it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leadgate_backup_asks_a_running_server_and_reads_a_stopped_ones_store() {
    let app = app_without_limits(tempfile::tempdir().unwrap()).await;
    let first = submit(&app, 0, 40).await;
    let data = app._dir.path().to_owned();
    let work = tempfile::tempdir().unwrap();

    let online = work.path().join("online.lgbackup");
    let (ok, output) = leadgate(args(&[&"backup", &"--data", &data, &"--out", &online])).await;
    assert!(ok, "{output}");
    assert!(output.contains("from the running server"), "{output}");
    assert_eq!(mode(&online), 0o600);
    assert_eq!(audit_actions(&app).await[0].0, "cli");
    let socket = data.join("backup.sock");
    assert_eq!(mode(&socket), 0o600, "only the store's owner may ask");

    let later = submit(&app, 40, 50).await;
    let dir = app.stop().await;
    assert!(!socket.exists(), "a clean stop takes its socket away");
    let offline = work.path().join("offline.lgbackup");
    let (ok, output) = leadgate(args(&[
        &"backup",
        &"--data",
        &dir.path(),
        &"--out",
        &offline,
    ]))
    .await;
    assert!(ok, "{output}");
    assert!(!output.contains("running server"), "{output}");
    assert_eq!(mode(&offline), 0o600);

    for (file, expected) in [
        (&online, first.clone()),
        (&offline, first.iter().chain(&later).cloned().collect()),
    ] {
        let restored = tempfile::tempdir().unwrap();
        let (ok, output) = restore(file, restored.path(), false).await;
        assert!(ok, "{output}");
        let expected: BTreeSet<String> = expected.into_iter().collect();
        assert_eq!(served_ids(restored).await, expected, "{}", file.display());
    }
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_refuses_a_running_server_a_non_empty_directory_and_what_is_not_a_whole_backup() {
    let app = app_without_limits(tempfile::tempdir().unwrap()).await;
    let ids = submit(&app, 0, 20).await;
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("b.lgbackup");
    std::fs::write(
        &backup,
        app.admin_get("/api/backup").await.bytes().await.unwrap(),
    )
    .unwrap();
    let data = app._dir.path().to_owned();

    // A server holds the directory: nothing is touched, the server goes on.
    let (ok, output) = restore(&backup, &data, true).await;
    assert!(!ok);
    assert!(output.contains("running"), "{output}");
    assert_eq!(app.all_leads(CAMPAIGN).await.len(), ids.len());

    // A directory with anything in it needs --force.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("notes.txt"), "keep me").unwrap();
    let (ok, output) = restore(&backup, other.path(), false).await;
    assert!(!ok);
    assert!(output.contains("--force"), "{output}");
    assert!(!other.path().join("leadgate.redb").exists());

    // Not a backup, a store file, a cut-short or damaged download: refused, old store kept.
    let dir = app.stop().await;
    let store = dir.path().join("leadgate.redb");
    let before = std::fs::read(&store).unwrap();
    let whole = std::fs::read(&backup).unwrap();
    let mut damaged = whole.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x55;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "text.lgbackup",
            b"phone,name\n".to_vec(),
            "not a leadgate backup",
        ),
        ("store.lgbackup", before.clone(), "not a leadgate backup"),
        (
            "cut.lgbackup",
            whole[..whole.len() * 2 / 3].to_vec(),
            "cut short",
        ),
        ("damaged.lgbackup", damaged, "damaged"),
    ];
    for (name, bytes, expected) in cases {
        let file = work.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let (ok, output) = restore(&file, dir.path(), true).await;
        assert!(!ok, "{name} was restored");
        assert!(output.contains(expected), "{name}: {output}");
        assert_eq!(
            std::fs::read(&store).unwrap(),
            before,
            "{name} touched the store"
        );
        let leftovers: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".restore"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    // With --force a whole backup replaces the store.
    let (ok, output) = restore(&backup, dir.path(), true).await;
    assert!(ok, "{output}");
    let expected: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(served_ids(dir).await, expected);
}

/// A backup still holds the people erased after it; restored over the store whose
/// receipts record those erasures, it loses them again, on disk too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restoring_over_a_store_erases_again_whom_its_receipts_name() {
    let app = app_without_limits(tempfile::tempdir().unwrap()).await;
    let gone = app
        .submit_json_ok(CAMPAIGN, &lead("137-0013-7000", "抹除Restored"))
        .await;
    let kept = app
        .submit_json_ok(CAMPAIGN, &lead("136-0013-6000", "保留Restored"))
        .await;
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("before-the-erasure.lgbackup");
    std::fs::write(
        &backup,
        app.admin_get("/api/backup").await.bytes().await.unwrap(),
    )
    .unwrap();
    let resp = app
        .admin_post("/api/erasures", &json!({"phone": "13700137000"}))
        .await;
    assert_eq!(resp.status(), 200);
    let dir = app.stop().await;

    let (ok, output) = restore(&backup, dir.path(), true).await;
    assert!(ok, "{output}");
    assert!(output.contains("erased again 1 "), "{output}");
    let on_disk = crate::privacy::found_on_disk(
        dir.path(),
        &["+8613700137000", "抹除Restored", "保留Restored"],
    );
    assert_eq!(
        on_disk.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        vec!["保留Restored"],
        "only the person not erased is in the data directory: {on_disk:?}"
    );
    let served = served_ids(dir).await;
    assert!(
        served.contains(&kept) && !served.contains(&gone),
        "{served:?}"
    );
}
