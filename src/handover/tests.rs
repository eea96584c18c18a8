use std::path::Path;

use super::*;

#[test]
fn a_header_reads_back_as_written_and_a_stranger_line_is_refused() {
    let header = Header {
        config_digest: "ab12".into(),
        length: 4096,
        source: "pipe:second desk".into(),
    };
    assert_eq!(Header::parse(&header.line()), Ok(header));
    for line in [
        "GUICHET-HANDOVER/2 ab12 10 pipe\n",
        "HELO there\n",
        "GUICHET-HANDOVER/1 ab12 ten pipe\n",
        "GUICHET-HANDOVER/1 ab12 10\n",
        "GUICHET-HANDOVER/1 ab12 10 \n",
        "GUICHET-HANDOVER/1 ab12 10 pi\rpe\n",
    ] {
        assert!(Header::parse(line).is_err(), "{line:?}");
    }
}

#[test]
fn an_answer_stays_on_one_line_and_reads_back() {
    for answer in [
        Answer::Stored(r#"{"outcome":"created","ticket":7}"#.into()),
        Answer::Direct("another config".into()),
        Answer::TempFail("disk full".into()),
    ] {
        assert_eq!(Answer::parse(&answer.line()), Ok(answer));
    }
    let line = Answer::TempFail("two\nlines\r".into()).line();
    assert_eq!(line, "tempfail two lines \n");
    assert!(Answer::parse("maybe so\n").is_err());
}

fn config(dir: &Path, extra: &str) -> Arc<Config> {
    let text = format!(
        "[general]\nstate_dir = {:?}\nsupport_address = \"support@example.test\"\n\
         max_message_bytes = 100000\n{extra}",
        dir.join("state")
    );
    Arc::new(Config::parse(Path::new("t.toml"), &text, &|_| None).unwrap())
}

fn mail(n: usize) -> Vec<u8> {
    format!(
        "From: Ada <ada{n}@example.org>\r\nTo: support@example.test\r\nSubject: printer {n}\r\n\
         Message-ID: <m{n}@example.org>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\nIt jams.\r\n"
    )
    .into_bytes()
}

struct Daemon {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    wake: Arc<Notify>,
}

async fn start(config: &Arc<Config>) -> Daemon {
    crate::adapters::state_dir::prepare(&config.state_dir).unwrap();
    let (_reloads, configs) = watch::channel(config.clone());
    let (stop, stopping) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let task = tokio::spawn(serve(configs, stopping, wake.clone()));
    let socket = socket_path(&config.state_dir);
    for _ in 0..500 {
        if socket.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Daemon { stop, task, wake }
}

/// `guichet ingest`'s side, on a blocking thread as in its own process.
fn offer(config: &Arc<Config>, raw: Vec<u8>) -> impl std::future::Future<Output = Answer> {
    let config = config.clone();
    async move {
        tokio::task::spawn_blocking(move || hand_over(&config.head(), PIPE_SOURCE, &raw))
            .await
            .unwrap()
    }
}

fn tickets(config: &Config) -> Vec<(i64, String)> {
    let db = rusqlite::Connection::open(config.database_path()).unwrap();
    let mut rows = db
        .prepare("SELECT number, subject FROM tickets ORDER BY number")
        .unwrap();
    rows.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handed_mail_is_committed_before_the_answer_and_a_second_offer_is_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let daemon = start(&config).await;

    let answer = offer(&config, mail(1)).await;
    let Answer::Stored(outcome) = answer else {
        panic!("{answer:?}")
    };
    assert!(outcome.contains(r#""outcome":"created""#), "{outcome}");
    // Answered only once committed: another connection sees the ticket and its acknowledgement.
    assert_eq!(tickets(&config), vec![(1, "printer 1".to_string())]);
    let db = rusqlite::Connection::open(config.database_path()).unwrap();
    let (acks, source): (i64, String) = db
        .query_row(
            "SELECT (SELECT count(*) FROM outbox), (SELECT source FROM messages)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((acks, source.as_str()), (1, "pipe"));
    tokio::time::timeout(Duration::from_secs(5), daemon.wake.notified())
        .await
        .expect("the outbox is woken for the acknowledgement");

    let again = offer(&config, mail(1)).await;
    assert!(
        matches!(&again, Answer::Stored(o) if o.contains("duplicate")),
        "{again:?}"
    );
    assert_eq!(tickets(&config).len(), 1);

    daemon.stop.send(true).unwrap();
    daemon.task.await.unwrap().unwrap();
    assert!(!socket_path(&config.state_dir).exists());
    // With the daemon gone the process is told to store the mail itself.
    assert!(matches!(offer(&config, mail(2)).await, Answer::Direct(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_that_come_together_are_all_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let daemon = start(&config).await;
    // More than are read at once (`CONNECTIONS`): the rest wait in the backlog, none is lost.
    let offers: Vec<_> = (1..=CONNECTIONS + 8)
        .map(|n| tokio::spawn(offer(&config, mail(n))))
        .collect();
    for offered in offers {
        let answer = offered.await.unwrap();
        assert!(
            matches!(&answer, Answer::Stored(o) if o.contains("created")),
            "{answer:?}"
        );
    }
    let mut subjects: Vec<String> = tickets(&config).into_iter().map(|(_, s)| s).collect();
    subjects.sort();
    let mut expected: Vec<String> = (1..=CONNECTIONS + 8)
        .map(|n| format!("printer {n}"))
        .collect();
    expected.sort();
    assert_eq!(subjects, expected);
    daemon.stop.send(true).unwrap();
    daemon.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_leaves_to_the_process_what_it_should_not_decide() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let daemon = start(&config).await;

    // The process read a config file the daemon has not loaded: its own rules apply.
    let edited = self::config(dir.path(), "# edited since the daemon started\n");
    let answer = offer(&edited, mail(1)).await;
    assert!(
        matches!(&answer, Answer::Direct(r) if r.contains("config")),
        "{answer:?}"
    );
    // Larger than the daemon takes: the process quarantines or stores it under its own limits.
    // Larger than the socket's buffers too, so the daemon's refusal cuts the sending short and
    // the process reads why.
    let mut big = mail(2);
    big.extend(std::iter::repeat_n(b'x', 4 << 20));
    let answer = offer(&config, big).await;
    assert!(
        matches!(&answer, Answer::Direct(r) if r.contains("max_message_bytes")),
        "{answer:?}"
    );
    // Something that is not a hand-over.
    let socket = socket_path(&config.state_dir);
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
        stream.write_all(b"HELO there\n").unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stream)
            .read_line(&mut line)
            .unwrap();
        Answer::parse(&line).unwrap()
    })
    .await
    .unwrap();
    assert!(matches!(answer, Answer::Direct(_)), "{answer:?}");
    assert!(tickets(&config).is_empty());

    daemon.stop.send(true).unwrap();
    daemon.task.await.unwrap().unwrap();
}

#[test]
fn without_a_listening_daemon_the_process_stores_the_mail_itself() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    crate::adapters::state_dir::prepare(&config.state_dir).unwrap();
    assert!(matches!(
        hand_over(&config.head(), PIPE_SOURCE, &mail(1)),
        Answer::Direct(_)
    ));
    // A socket a killed daemon left behind: nobody answers the connection.
    let socket = socket_path(&config.state_dir);
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    assert!(matches!(
        hand_over(&config.head(), PIPE_SOURCE, &mail(1)),
        Answer::Direct(_)
    ));
}
