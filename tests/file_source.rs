//! The file-mode source against a real directory and inotify: a file still being written
//! is never acted on half-way, and what the directory says arrives at once otherwise.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrule::Snapshot;
use tokio::sync::watch;

const POOL: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: p, namespace: metallb-system }
spec: { addresses: [203.0.113.0/24] }
";

fn service(name: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{ name: {name}, namespace: default }}\nspec:\n  type: LoadBalancer\n  ports: [{{ port: 80 }}]\n"
    )
}

fn services(rx: &watch::Receiver<Option<Arc<Snapshot>>>) -> Vec<String> {
    rx.borrow()
        .as_ref()
        .map(|s| {
            s.services
                .iter()
                .map(|s| s.metadata.name.clone().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

async fn until(
    rx: &watch::Receiver<Option<Arc<Snapshot>>>,
    what: &str,
    f: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = services(rx);
        if f(&got) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still {got:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_in_two_halves_is_read_only_once_closed() {
    let dir = std::env::temp_dir().join(format!("ferrule-file-source-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("01-pool.yaml"), POOL).unwrap();
    let two = format!("{}{}", service("a"), service("b"));
    std::fs::write(dir.join("10-services.yaml"), &two).unwrap();
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(ferrule::watch_dir(
        dir.clone(),
        "metallb-system".into(),
        "node1".into(),
        None,
        tx,
    ));
    until(&rx, "both Services", |s| s == ["a", "b"]).await;

    // In place, one open handle: the first half (which parses: Service a alone), 300 ms,
    // then the rest plus a third Service, then close.
    let first = service("a");
    let rest = format!("{}{}", service("b"), service("c"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir.join("10-services.yaml"))
        .unwrap();
    f.write_all(first.as_bytes()).unwrap();
    f.flush().unwrap();
    let until_second_half = Instant::now() + Duration::from_millis(300);
    let mut seen = Vec::new();
    while Instant::now() < until_second_half {
        let got = services(&rx);
        if !seen.contains(&got) {
            seen.push(got);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        seen,
        [vec!["a".to_string(), "b".to_string()]],
        "the half file was acted on"
    );
    f.write_all(rest.as_bytes()).unwrap();
    let closed = Instant::now();
    drop(f);
    until(&rx, "the whole file once closed", |s| s == ["a", "b", "c"]).await;
    eprintln!("file source: close -> snapshot in {:?}", closed.elapsed());

    // A file written aside and renamed into place is read at once.
    let tmp = dir.join(".20-d.yaml.tmp");
    std::fs::write(&tmp, service("d")).unwrap();
    let renamed = Instant::now();
    std::fs::rename(&tmp, dir.join("20-d.yaml")).unwrap();
    until(&rx, "the renamed file", |s| s.len() == 4).await;
    eprintln!("file source: rename -> snapshot in {:?}", renamed.elapsed());

    // Other files change while one is held open half-written: those changes apply, the
    // held file keeps its last content.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(dir.join("10-services.yaml"))
        .unwrap();
    f.write_all(first.as_bytes()).unwrap();
    std::fs::remove_file(dir.join("20-d.yaml")).unwrap();
    until(&rx, "d removed while 10-services.yaml is held", |s| {
        s == ["a", "b", "c"]
    })
    .await;
    drop(f);
    until(&rx, "the held file read once closed", |s| s == ["a"]).await;

    task.abort();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--source` given relative to the working directory (as a user types it): changes are
/// still seen (events name files by the absolute path, which never matched before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_source_directory_is_watched() {
    let rel = std::path::PathBuf::from(format!(
        "target/ferrule-relative-source-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&rel);
    std::fs::create_dir_all(&rel).unwrap();
    std::fs::write(rel.join("01-pool.yaml"), POOL).unwrap();
    std::fs::write(rel.join("10-a.yaml"), service("a")).unwrap();
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(ferrule::watch_dir(
        rel.clone(),
        "metallb-system".into(),
        "node1".into(),
        None,
        tx,
    ));
    until(&rx, "Service a", |s| s == ["a"]).await;
    let tmp = rel.join(".20-b.yaml.tmp");
    std::fs::write(&tmp, service("b")).unwrap();
    std::fs::rename(&tmp, rel.join("20-b.yaml")).unwrap();
    until(&rx, "Service b seen through the relative path", |s| {
        s == ["a", "b"]
    })
    .await;
    task.abort();
    std::fs::remove_dir_all(&rel).unwrap();
}
