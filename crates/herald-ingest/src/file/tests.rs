use super::*;
use std::io::Write;

fn event_line(n: u32) -> String {
    format!(
        r#"{{"_id": {{"_data": "{n:04}"}}, "operationType": "insert", "ns": {{"db": "d", "coll": "c"}}, "documentKey": {{"_id": {n}}}, "fullDocument": {{"_id": {n}, "at": {{"$date": "2024-05-01T10:00:00Z"}}}}}}"#
    )
}

fn file_with(lines: &[String]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(f, "{line}").unwrap();
    }
    f
}

fn drain(source: &mut FileSource) -> Result<Vec<SourcedEvent>, SourceError> {
    let mut all = Vec::new();
    while let Some(batch) = futures_lite_block_on(source.next_batch())? {
        all.extend(batch.events);
    }
    Ok(all)
}

/// A tiny executor: FileSource's futures never pend.
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("FileSource does not pend"),
    }
}

#[test]
fn reads_every_event_with_its_position() {
    let lines: Vec<String> = (1..=1000).map(event_line).collect();
    let f = file_with(&lines);
    let mut source = FileSource::open_with(
        f.path(),
        FileSourceOptions {
            batch_size: 64,
            ..Default::default()
        },
    )
    .unwrap();
    let events = drain(&mut source).unwrap();
    assert_eq!(events.len(), 1000);
    assert_eq!(
        events[999].position,
        Position::File {
            offset: f.as_file().metadata().unwrap().len(),
            line: 1000
        }
    );
    assert_eq!(events[0].event.token().to_string(), r#"{"_data":"0001"}"#);
}

#[test]
fn resumes_after_a_position() {
    let lines: Vec<String> = (1..=10).map(event_line).collect();
    let f = file_with(&lines);
    let mut source = FileSource::open(f.path()).unwrap();
    let events = drain(&mut source).unwrap();
    let mut again = FileSource::open(f.path()).unwrap();
    again.resume_from("", &events[3].position).unwrap();
    let rest = drain(&mut again).unwrap();
    assert_eq!(rest.len(), 6);
    assert_eq!(rest[0].event.token(), events[4].event.token());
    assert_eq!(rest[0].position, events[4].position);
}

#[test]
fn refuses_a_position_that_does_not_fit() {
    let f = file_with(&[event_line(1), event_line(2)]);
    let mut source = FileSource::open(f.path()).unwrap();
    let err = source
        .resume_from("", &Position::File { offset: 5, line: 1 })
        .unwrap_err();
    assert!(err.to_string().contains("line boundary"), "{err}");
    let err = source
        .resume_from(
            "",
            &Position::File {
                offset: 1 << 40,
                line: 9,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("--from-start"), "{err}");
}

#[test]
fn a_bad_line_stops_with_line_and_column() {
    let f = file_with(&[
        event_line(1),
        String::new(),
        r#"{"_id": 1, "operationType": }"#.into(),
        event_line(3),
    ]);
    let mut source = FileSource::open(f.path()).unwrap();
    let err = drain(&mut source).unwrap_err();
    let SourceError::BadLine(bad) = err else {
        panic!("{err}")
    };
    assert_eq!((bad.line, bad.column), (3, 29));
    assert!(
        bad.to_string()
            .starts_with(&format!("{}:3:29: ", f.path().display())),
        "{bad}"
    );
}

#[test]
fn events_before_a_bad_line_are_delivered_first() {
    let f = file_with(&[event_line(1), event_line(2), "{oops".into(), event_line(3)]);
    let mut source = FileSource::open(f.path()).unwrap();
    let batch = futures_lite_block_on(source.next_batch()).unwrap().unwrap();
    assert_eq!(batch.events.len(), 2);
    // The batch ends before the bad line, so a checkpoint there re-reads it.
    assert_eq!(batch.end, Some(batch.events[1].position.clone()));
    let err = futures_lite_block_on(source.next_batch()).unwrap_err();
    assert!(
        matches!(err, SourceError::BadLine(ref bad) if bad.line == 3),
        "{err}"
    );
}

#[test]
fn skipping_counts_bad_lines_and_keeps_the_rest() {
    let f = file_with(&[
        event_line(1),
        "not json".into(),
        r#"{"operationType": "insert"}"#.into(),
        r#"{"_id": {"$oid": "xyz"}, "operationType": "insert"}"#.into(),
        event_line(2),
    ]);
    let options = FileSourceOptions {
        skip_bad_lines: true,
        ..Default::default()
    };
    let mut source = FileSource::open_with(f.path(), options).unwrap();
    let mut events = 0;
    let mut skipped = Vec::new();
    while let Some(batch) = futures_lite_block_on(source.next_batch()).unwrap() {
        events += batch.events.len();
        skipped.extend(batch.skipped);
    }
    assert_eq!(events, 2);
    assert_eq!(source.skipped_lines(), 3);
    assert_eq!(
        skipped.iter().map(|b| b.line).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert!(skipped[1].message.contains("_id"), "{}", skipped[1].message);
}

#[test]
fn a_missing_file_is_an_io_error() {
    let err = FileSource::open("/definitely/not/here.jsonl").unwrap_err();
    assert!(matches!(err, SourceError::Io { .. }));
    assert!(err.to_string().contains("/definitely/not/here.jsonl"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Garbage never panics the reader, never hides a good event and is counted exactly.
        #[test]
        fn garbage_lines_are_counted_and_good_events_kept(
            layout in prop::collection::vec(prop_oneof![
                Just(None),
                // No upper-case letters, so a garbage line can never spell `operationType`.
                "[{}\\[\\]\":a-z0-9 ,$.]{1,40}".prop_filter("not blank", |s| !s.trim().is_empty()).prop_map(Some),
            ], 0..40)
        ) {
            let mut lines = Vec::new();
            let mut good = 0u32;
            for slot in &layout {
                match slot {
                    None => { good += 1; lines.push(event_line(good)); }
                    Some(garbage) => lines.push(garbage.clone()),
                }
            }
            let f = file_with(&lines);
            let options = FileSourceOptions { skip_bad_lines: true, batch_size: 7 };
            let mut source = FileSource::open_with(f.path(), options).unwrap();
            let events = drain(&mut source).unwrap();
            prop_assert_eq!(events.len() as u32, good);
            prop_assert_eq!(source.skipped_lines() as usize, layout.len() - good as usize);
            for (i, e) in events.iter().enumerate() {
                prop_assert_eq!(e.event.token().to_string(), format!(r#"{{"_data":"{:04}"}}"#, i + 1));
            }
        }
    }
}

#[test]
fn the_longest_line_may_end_in_crlf_and_one_byte_more_is_too_long() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let longest = "x".repeat(MAX_LINE_BYTES);
    write!(f, "{longest}\r\n{longest}x\n{}\n", event_line(1)).unwrap();
    let options = FileSourceOptions {
        skip_bad_lines: true,
        ..Default::default()
    };
    let mut source = FileSource::open_with(f.path(), options).unwrap();
    let mut events = Vec::new();
    let mut skipped = Vec::new();
    while let Some(batch) = futures_lite_block_on(source.next_batch()).unwrap() {
        events.extend(batch.events);
        skipped.extend(batch.skipped);
    }
    assert_eq!(skipped.len(), 2);
    // The first is read (and is not JSON); the second is too long.
    assert_eq!(skipped[0].line, 1);
    assert!(
        !skipped[0].message.contains("longer than"),
        "{}",
        skipped[0].message
    );
    assert_eq!(skipped[1].line, 2);
    assert!(
        skipped[1].message.contains("longer than 48 MiB"),
        "{}",
        skipped[1].message
    );
    assert_eq!(events.len(), 1);
    let Position::File { line, offset } = events[0].position else {
        panic!()
    };
    assert_eq!(line, 3);
    assert_eq!(offset, std::fs::metadata(f.path()).unwrap().len());
}
