//! The vty client against scripted daemons on Unix sockets.

use super::*;

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn blocks_route_to_their_daemon() {
    let batch = lines(
        "bgp route-map delay-timer 1
route-map ferrule-tag-1 permit 10
set tag 1
exit
bfd
profile fast
receive-interval 100
exit
peer 192.0.2.1
exit
exit
router bgp 65100
neighbor 192.0.2.1 bfd profile fast
address-family ipv4 unicast
network 203.0.113.0/32 route-map ferrule-tag-1
exit-address-family
exit
no route-map ferrule-tag-2
no bfd
ip prefix-list x seq 5 permit 203.0.113.0/24",
    );
    let got: Vec<(Daemon, bool)> = route_batch(&batch)
        .iter()
        .map(|r| (r.daemon, r.zebra_too))
        .collect();
    use Daemon::*;
    let want = vec![
        (Bgpd, false),
        (Bgpd, true),
        (Bgpd, true),
        (Bgpd, true),
        (Bfdd, false),
        (Bfdd, false),
        (Bfdd, false),
        (Bfdd, false),
        (Bfdd, false),
        (Bfdd, false),
        (Bfdd, false),
        (Bgpd, false),
        (Bgpd, false),
        (Bgpd, false),
        (Bgpd, false),
        (Bgpd, false),
        (Bgpd, false),
        (Bgpd, true),
        (Bfdd, false),
        (Bgpd, true),
    ];
    assert_eq!(got, want);
}

#[test]
fn a_block_left_open_keeps_its_route_until_exit() {
    // The diff may end a batch inside a block (`end` closes it); a `peer` line inside
    // `bfd` must not be taken for a top-level line.
    let batch = lines("bfd\npeer 192.0.2.1\nreceive-interval 100");
    assert!(route_batch(&batch).iter().all(|r| r.daemon == Daemon::Bfdd));
}

#[test]
fn exec_commands_route_by_subject() {
    assert_eq!(route_exec("show bfd peers json"), Daemon::Bfdd);
    assert_eq!(route_exec("show bgp vrf all summary json"), Daemon::Bgpd);
    assert_eq!(route_exec("clear bgp 192.0.2.1 soft out"), Daemon::Bgpd);
    assert_eq!(route_exec("show version"), Daemon::Bgpd);
}

/// A fake daemon on a socket pair: answers each NUL-terminated command from a script.
async fn fake_daemon(
    dir: &Path,
    name: &str,
    answer: fn(&str) -> (String, u8),
) -> tokio::task::JoinHandle<Vec<String>> {
    let listener = tokio::net::UnixListener::bind(dir.join(format!("{name}.vty"))).unwrap();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = conn.read(&mut chunk).await.unwrap();
            if n == 0 {
                return seen;
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(end) = buf.iter().position(|b| *b == 0) {
                let cmd = String::from_utf8(buf[..end].to_vec()).unwrap();
                buf.drain(..=end);
                let (out, code) = answer(&cmd);
                seen.push(cmd);
                let mut msg = out.into_bytes();
                msg.extend_from_slice(&[0, 0, 0, code]);
                conn.write_all(&msg).await.unwrap();
            }
        }
    })
}

#[tokio::test]
async fn a_refused_line_is_named_and_config_mode_is_left() {
    let dir = std::env::temp_dir().join(format!("ferrule-vty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bgpd = fake_daemon(&dir, "bgpd", |cmd| {
        if cmd.contains("bogus") {
            (
                "% [BGP] Unknown command: neighbor 192.0.2.1 bogus\n".into(),
                2,
            )
        } else if cmd == "show running-config" {
            ("router bgp 65100\n".into(), 0)
        } else {
            (String::new(), 0)
        }
    })
    .await;
    let sockets = VtySockets::new(&dir, Duration::from_secs(5));
    let err = sockets
        .apply_batch(
            &lines(
                "router bgp 65100\nneighbor 192.0.2.1 password s3cret\nneighbor 192.0.2.1 bogus",
            ),
            &[],
            true,
        )
        .await
        .unwrap_err();
    match &err {
        CliError::Rejected {
            line,
            command,
            node,
            message,
        } => {
            assert_eq!(*line, 3);
            assert_eq!(command, "neighbor 192.0.2.1 bogus");
            assert_eq!(node, "bgpd");
            assert!(message.contains("Unknown command"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The same connection serves the next command.
    let out = sockets.exec(&["show bgp summary json"]).await.unwrap();
    assert_eq!(out, vec![String::new()]);
    drop(sockets);
    let seen = bgpd.await.unwrap();
    assert_eq!(
        seen,
        vec![
            "enable",
            "configure terminal",
            START,
            "router bgp 65100",
            "neighbor 192.0.2.1 password s3cret",
            "neighbor 192.0.2.1 bogus",
            END,
            "end",
            "show bgp summary json",
        ]
    );
    assert!(!format!("{err}").contains("s3cret"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_restarted_daemon_is_reconnected_and_counted() {
    let dir = std::env::temp_dir().join(format!("ferrule-vty-re-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = tokio::net::UnixListener::bind(dir.join("bgpd.vty")).unwrap();
    // Each connection answers `enable` and one command, then the "daemon" goes away.
    let daemon = tokio::spawn(async move {
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut answered = 0;
            let mut chunk = [0u8; 1024];
            while answered < 2 {
                let n = conn.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    buf.drain(..=end);
                    conn.write_all(b"FRRouting 8.4.4\n\0\0\0\0").await.unwrap();
                    answered += 1;
                }
            }
        }
    });
    let sockets = VtySockets::new(&dir, Duration::from_secs(5));
    assert_eq!(sockets.exec(&["show version"]).await.unwrap().len(), 1);
    assert_eq!(sockets.reconnects(), 0);
    // The daemon closed the connection: the next show re-opens it, once.
    let out = sockets.exec(&["show version"]).await.unwrap();
    assert!(out[0].starts_with("FRRouting"));
    assert_eq!(sockets.reconnects(), 1);
    daemon.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// How a scripted daemon answers one command.
enum Answer {
    Now(String),
    /// After a delay (the connection is served in order, so it delays what follows).
    Late(Duration, String),
    /// This many bytes of output, then the trailer.
    Bytes(usize),
    /// Never: the connection stays open and silent, as a SIGSTOPped daemon's.
    Never,
}

/// A daemon serving any number of connections, each in order, from `answer`; counts
/// the connections it accepted.
fn scripted_daemon(
    dir: &Path,
    name: &str,
    answer: fn(&str) -> Answer,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    let listener = tokio::net::UnixListener::bind(dir.join(format!("{name}.vty"))).unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = conn.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.iter().position(|b| *b == 0) {
                        let cmd = String::from_utf8(buf[..end].to_vec()).unwrap();
                        buf.drain(..=end);
                        let out = match answer(&cmd) {
                            Answer::Now(t) => t.into_bytes(),
                            Answer::Late(d, t) => {
                                tokio::time::sleep(d).await;
                                t.into_bytes()
                            }
                            Answer::Bytes(n) => vec![b'x'; n],
                            Answer::Never => std::future::pending().await,
                        };
                        let mut msg = out;
                        msg.extend_from_slice(&[0, 0, 0, 0]);
                        // The client may have given up on this connection.
                        if conn.write_all(&msg).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    accepted
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrule-vty-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_reply_over_the_cap_is_an_error_and_the_connection_is_replaced() {
    let dir = temp_dir("cap");
    let accepted = scripted_daemon(&dir, "bgpd", |cmd| match cmd {
        "show big" => Answer::Bytes(4097),
        "show fits" => Answer::Bytes(4096),
        _ => Answer::Now(format!("answer to {cmd}")),
    });
    let sockets = VtySockets::new(&dir, Duration::from_secs(5)).with_max_reply(4096);
    // Exactly the cap is taken.
    let fits = sockets.exec(&["show fits"]).await.unwrap();
    assert_eq!(fits[0].len(), 4096);
    let err = sockets.exec(&["show big"]).await.unwrap_err();
    eprintln!("over the cap: {err}");
    match &err {
        CliError::TooLarge {
            daemon,
            command,
            limit,
        } => {
            assert_eq!(daemon, "bgpd");
            assert_eq!(command, "show big");
            assert_eq!(*limit, 4096);
        }
        other => panic!("{other:?}"),
    }
    // The half-read connection was dropped: the next command gets its own answer on a
    // new one.
    let out = sockets.exec(&["show version"]).await.unwrap();
    assert_eq!(out, vec!["answer to show version".to_string()]);
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(sockets.reconnects(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_daemon_that_never_answers_times_out_at_the_configured_timeout() {
    let dir = temp_dir("hang");
    scripted_daemon(&dir, "bgpd", |cmd| match cmd {
        "show hang" => Answer::Never,
        _ => Answer::Now(String::new()),
    });
    let timeout = Duration::from_millis(300);
    let sockets = VtySockets::new(&dir, timeout);
    assert_eq!(sockets.timeout(), timeout);
    let t = std::time::Instant::now();
    let err = sockets.exec(&["show hang"]).await.unwrap_err();
    let took = t.elapsed();
    eprintln!("silent daemon: {err} after {took:?} (timeout {timeout:?})");
    match &err {
        CliError::Timeout { what, after } => {
            assert_eq!(*after, timeout);
            assert!(
                what.contains("bgpd") && what.contains("show hang"),
                "{what}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(took >= timeout, "{took:?}");
    // Not retried on a new connection (that would double the wait).
    assert!(took < timeout * 2, "{took:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn after_a_timeout_the_next_command_gets_its_own_reply() {
    let dir = temp_dir("late");
    let accepted = scripted_daemon(&dir, "bgpd", |cmd| match cmd {
        "show slow" => Answer::Late(Duration::from_millis(400), "late answer".into()),
        _ => Answer::Now(format!("answer to {cmd}")),
    });
    let sockets = VtySockets::new(&dir, Duration::from_millis(150));
    let err = sockets.exec(&["show slow"]).await.unwrap_err();
    assert!(matches!(err, CliError::Timeout { .. }), "{err:?}");
    // Wait past the late answer: on a kept connection it would now be waiting unread.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for c in ["show version", "show bgp summary json"] {
        let out = sockets.exec(&[c]).await.unwrap();
        eprintln!("after the timeout, `{c}` got {out:?}");
        assert_eq!(out, vec![format!("answer to {c}")]);
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_cancelled_command_does_not_desync_the_connection() {
    let dir = temp_dir("cancel");
    scripted_daemon(&dir, "bgpd", |cmd| match cmd {
        "show slow" => Answer::Late(Duration::from_millis(300), "late answer".into()),
        _ => Answer::Now(format!("answer to {cmd}")),
    });
    let sockets = VtySockets::new(&dir, Duration::from_secs(5));
    assert_eq!(sockets.exec(&["show version"]).await.unwrap().len(), 1);
    // The caller gives up (as the speaker does at shutdown): the future is dropped.
    let gave_up =
        tokio::time::timeout(Duration::from_millis(50), sockets.exec(&["show slow"])).await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let out = sockets.exec(&["show version"]).await.unwrap();
    assert_eq!(out, vec!["answer to show version".to_string()]);
    let _ = std::fs::remove_dir_all(&dir);
}
