//! Tests of manifest files and `CURRENT` over [`MemFs`].

use std::path::Path;

use super::*;
use crate::fs::{CrashMode, MemFs};
use crate::types::{KeyspaceId, Level, SeqNo};
use crate::util::filename::CURRENT;
use crate::wal::format::HEADER_LEN;

const DIR: &str = "/db";

fn fs() -> MemFs {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new(DIR)).unwrap();
    fs
}

fn snapshot() -> VersionEdit {
    VersionEdit {
        format_version: Some(FORMAT_VERSION),
        next_file_number: Some(FileNumber(10)),
        last_seq: Some(SeqNo(0)),
        keyspaces_added: vec![(KeyspaceId(0), "default".into())],
        log_numbers: vec![(KeyspaceId(0), FileNumber(2))],
        ..VersionEdit::default()
    }
}

fn flush_edit(n: u64) -> VersionEdit {
    VersionEdit {
        next_file_number: Some(FileNumber(n + 1)),
        last_seq: Some(SeqNo(n * 100)),
        new_files: vec![(
            KeyspaceId(0),
            Level(0),
            FileMeta {
                number: FileNumber(n),
                size: 1000 + n,
                smallest: b"a\x01\0\0\0\0\0\0\0".to_vec(),
                largest: b"b\x01\0\0\0\0\0\0\0".to_vec(),
                smallest_seq: SeqNo(1),
                largest_seq: SeqNo(n * 100),
                num_entries: n,
            },
        )],
        deleted_files: vec![(KeyspaceId(0), Level(1), FileNumber(n - 1))],
        ..VersionEdit::default()
    }
}

fn dir() -> &'static Path {
    Path::new(DIR)
}

#[test]
fn create_append_read() {
    let fs = fs();
    let mut w = ManifestWriter::create(&fs, dir(), FileNumber(5), &snapshot()).unwrap();
    assert_eq!(w.number(), FileNumber(5));
    let after_snapshot = w.len();
    assert!(after_snapshot > 0 && !w.is_empty());
    for n in 11..14 {
        w.append(&flush_edit(n)).unwrap();
    }
    assert!(w.len() > after_snapshot);
    let edits = read_manifest(&fs, dir(), FileNumber(5)).unwrap();
    let mut want = vec![snapshot()];
    want.extend((11..14).map(flush_edit));
    assert_eq!(edits, want);
    assert!(fs.exists(&dir().join("MANIFEST-000005")));
}

#[test]
fn everything_returned_survives_a_crash() {
    let fs = fs();
    let mut w = ManifestWriter::create(&fs, dir(), FileNumber(3), &snapshot()).unwrap();
    w.append(&flush_edit(11)).unwrap();
    set_current(&fs, dir(), FileNumber(3)).unwrap();
    for mode in [
        CrashMode::DropUnsynced,
        CrashMode::KeepUnsyncedPrefix { seed: 7 },
    ] {
        let img = fs.crash_image(mode);
        assert_eq!(read_current(&img, dir()).unwrap(), Some(FileNumber(3)));
        let edits = read_manifest(&img, dir(), FileNumber(3)).unwrap();
        assert_eq!(edits, vec![snapshot(), flush_edit(11)]);
    }
}

#[test]
fn create_requires_a_format_version() {
    let fs = fs();
    let mut s = snapshot();
    s.format_version = None;
    assert!(matches!(
        ManifestWriter::create(&fs, dir(), FileNumber(1), &s),
        Err(Error::InvalidArgument(_))
    ));
    s.format_version = Some(FORMAT_VERSION + 1);
    assert!(ManifestWriter::create(&fs, dir(), FileNumber(1), &s).is_err());
}

#[test]
fn torn_tail_is_dropped_at_every_cut() {
    let fs = fs();
    let mut w = ManifestWriter::create(&fs, dir(), FileNumber(4), &snapshot()).unwrap();
    let first_len = w.len();
    w.append(&flush_edit(11)).unwrap();
    let second_len = w.len();
    w.append(&flush_edit(12)).unwrap();
    let full_len = w.len();
    drop(w);
    let path = dir().join("MANIFEST-000004");
    let pristine = fs.read_all(&path).unwrap();
    for cut in first_len..full_len {
        let mut f = fs.create(&path).unwrap();
        f.append(&pristine[..cut as usize]).unwrap();
        drop(f);
        let edits = read_manifest(&fs, dir(), FileNumber(4)).unwrap();
        let expected = if cut < second_len { 1 } else { 2 };
        assert_eq!(edits.len(), expected, "cut at {cut}");
    }
    // Cutting into the snapshot leaves no complete edit.
    fs.truncate(&path, first_len - 1).unwrap();
    assert!(read_manifest(&fs, dir(), FileNumber(4))
        .unwrap_err()
        .is_corruption());
}

#[test]
fn damage_in_the_middle_is_an_error() {
    let fs = fs();
    let mut w = ManifestWriter::create(&fs, dir(), FileNumber(6), &snapshot()).unwrap();
    let second = w.len();
    w.append(&flush_edit(11)).unwrap();
    w.append(&flush_edit(12)).unwrap();
    drop(w);
    let path = dir().join("MANIFEST-000006");
    fs.corrupt_byte(&path, second + HEADER_LEN as u64 + 2, 0x10)
        .unwrap();
    match read_manifest(&fs, dir(), FileNumber(6)).unwrap_err() {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file, path);
            assert_eq!(offset, second);
        }
        e => panic!("unexpected {e}"),
    }
}

#[test]
fn format_version_checks() {
    let fs = fs();
    // A manifest whose first edit lacks the version: write it with the raw log writer.
    let write_raw = |number: u64, edits: &[VersionEdit]| {
        let file = fs
            .create(&manifest_path(dir(), FileNumber(number)))
            .unwrap();
        let mut log = LogWriter::new(file);
        for e in edits {
            log.add_record(&e.encode_to_vec()).unwrap();
        }
        log.sync().unwrap();
    };
    write_raw(1, &[flush_edit(11)]);
    match read_manifest(&fs, dir(), FileNumber(1)).unwrap_err() {
        Error::Corruption { offset, .. } => assert_eq!(offset, 0),
        e => panic!("unexpected {e}"),
    }
    let newer = VersionEdit {
        format_version: Some(FORMAT_VERSION + 1),
        ..VersionEdit::default()
    };
    write_raw(2, &[newer]);
    assert!(matches!(
        read_manifest(&fs, dir(), FileNumber(2)),
        Err(Error::UnsupportedVersion { found, supported, .. })
            if found == FORMAT_VERSION + 1 && supported == FORMAT_VERSION
    ));
    write_raw(3, &[]);
    assert!(read_manifest(&fs, dir(), FileNumber(3))
        .unwrap_err()
        .is_corruption());
    // A record that is not an edit at all.
    let file = fs.create(&manifest_path(dir(), FileNumber(4))).unwrap();
    let mut log = LogWriter::new(file);
    log.add_record(&[0x63, 0x01]).unwrap();
    assert!(read_manifest(&fs, dir(), FileNumber(4))
        .unwrap_err()
        .is_corruption());
    // A missing manifest is an I/O error, not corruption.
    assert!(matches!(
        read_manifest(&fs, dir(), FileNumber(99)),
        Err(Error::Io { .. })
    ));
}

#[test]
fn current_round_trip() {
    let fs = fs();
    assert_eq!(read_current(&fs, dir()).unwrap(), None);
    set_current(&fs, dir(), FileNumber(7)).unwrap();
    assert_eq!(
        fs.read_all(&dir().join(CURRENT)).unwrap().as_ref(),
        b"MANIFEST-000007\n"
    );
    assert_eq!(read_current(&fs, dir()).unwrap(), Some(FileNumber(7)));
    set_current(&fs, dir(), FileNumber(12_345_678)).unwrap();
    assert_eq!(
        read_current(&fs, dir()).unwrap(),
        Some(FileNumber(12_345_678))
    );
    assert!(!fs.exists(&dir().join("CURRENT.tmp")));
    // The switch is durable.
    let img = fs.crash_image(CrashMode::DropUnsynced);
    assert_eq!(
        read_current(&img, dir()).unwrap(),
        Some(FileNumber(12_345_678))
    );
}

#[test]
fn malformed_current_is_corruption() {
    let fs = fs();
    let path = dir().join(CURRENT);
    for content in [
        &b""[..],
        b"\n",
        b"MANIFEST-000007",
        b"MANIFEST-\n",
        b"MANIFEST-00x007\n",
        b"MANIFEST-000007\n\n",
        b"MANIFEST-000007\r\n",
        b"000007.log\n",
        b"\xff\xfe\n",
        b"MANIFEST-99999999999999999999999\n",
    ] {
        let mut f = fs.create(&path).unwrap();
        f.append(content).unwrap();
        drop(f);
        match read_current(&fs, dir()) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, path, "{content:?}"),
            other => panic!("{content:?}: unexpected {other:?}"),
        }
    }
}
