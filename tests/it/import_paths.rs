//! Server-side file paths (`/data-sources/preview` and `/data-sources/save`) as an attacker would
//! send them: the server's own environment, an endless device, a FIFO, a 2 GB sparse file, a
//! symlink out of the import roots and a path outside them. Each is refused with a 4xx at once,
//! with memory flat and no byte of the file in the answer.
use crate::support::TestDesk;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn body(path: &std::path::Path) -> Value {
    json!({ "type": "csv", "name": "x", "file_path": path, "mapping": null })
}

/// Resident memory of this process, in MiB.
fn rss_mib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    (pages * 4096) >> 20
}

/// Both routes refuse `path` with `code` and a message naming `why`, and leak none of `secret`.
async fn refused(
    d: &TestDesk,
    path: &std::path::Path,
    code: StatusCode,
    why: &str,
    secret: &[&str],
) {
    for route in ["/data-sources/preview", "/data-sources/save"] {
        let resp = d
            .client
            .post(d.url(route))
            .json(&body(path))
            // a hang guard, not a speed check: a FIFO opened for reading would block for ever
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{route} {}: {e}", path.display()));
        assert_eq!(resp.status(), code, "{route} {}", path.display());
        let text = resp.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(
            v["detail"].as_str().unwrap().contains(why),
            "{route} {}: {text}",
            path.display()
        );
        for s in secret {
            assert!(
                !text.contains(s),
                "{route} {} leaked {s:?}: {text}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn hostile_paths_are_refused_at_once_with_nothing_read() {
    let d = TestDesk::start().await;
    let dir = d.dir.path();
    let fifo = dir.join("pipe.csv");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let sparse = dir.join("sparse.csv");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let link = dir.join("passwd.csv");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let env_secret = ["PATH=", "HOME="];
    let passwd = ["root:x:", "/bin/bash", "nologin"];
    let before = rss_mib();
    let outside = "outside the import roots";
    refused(
        &d,
        "/proc/self/environ".as_ref(),
        StatusCode::FORBIDDEN,
        outside,
        &env_secret,
    )
    .await;
    refused(
        &d,
        "/dev/zero".as_ref(),
        StatusCode::FORBIDDEN,
        outside,
        &[],
    )
    .await;
    refused(
        &d,
        &fifo,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not a regular file",
        &[],
    )
    .await;
    refused(
        &d,
        &sparse,
        StatusCode::PAYLOAD_TOO_LARGE,
        "more than the import limit",
        &[],
    )
    .await;
    // a symlink's refusal names the link, not where it leads
    let passwd_and_target = ["root:x:", "/bin/bash", "nologin", "/etc/passwd"];
    refused(
        &d,
        &link,
        StatusCode::FORBIDDEN,
        "passwd.csv is (or leads) outside",
        &passwd_and_target,
    )
    .await;
    refused(
        &d,
        "/etc/passwd".as_ref(),
        StatusCode::FORBIDDEN,
        outside,
        &passwd,
    )
    .await;
    refused(
        &d,
        &dir.join("../../etc/passwd"),
        StatusCode::FORBIDDEN,
        outside,
        &passwd,
    )
    .await;
    let grew = rss_mib().saturating_sub(before);
    assert!(grew < 64, "memory grew by {grew} MiB");
    // nothing was imported, and the desk still imports a real file
    let (_, list) = d.get("/datasets").await;
    assert_eq!(list, json!([]));
    let good = dir.join("good.csv");
    std::fs::write(
        &good,
        "timestamp,close\n2025-01-01T00:00:00Z,1\n2025-01-01T00:05:00Z,2\n",
    )
    .unwrap();
    let (code, b) = d.post("/data-sources/save", body(&good)).await;
    assert_eq!(code, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn with_every_folder_a_root_kernel_files_and_devices_are_still_refused() {
    let d = TestDesk::start_with_import_roots(&["/".into()]).await;
    let not_regular = "not a regular file";
    refused(
        &d,
        "/proc/self/environ".as_ref(),
        StatusCode::UNPROCESSABLE_ENTITY,
        not_regular,
        &["PATH="],
    )
    .await;
    refused(
        &d,
        "/dev/zero".as_ref(),
        StatusCode::UNPROCESSABLE_ENTITY,
        not_regular,
        &[],
    )
    .await;
    refused(
        &d,
        "/proc/self/status".as_ref(),
        StatusCode::UNPROCESSABLE_ENTITY,
        not_regular,
        &["VmRSS"],
    )
    .await;
    refused(
        &d,
        "/tmp".as_ref(),
        StatusCode::UNPROCESSABLE_ENTITY,
        not_regular,
        &[],
    )
    .await;
}
