//! Start-up refusals: a database of an unknown schema version, of redb's old
//! file format (written by redb 2.6.3) or a corrupt file stops `pixbin serve`
//! with a clear message and leaves every byte and file as it was; a second
//! server on a data dir in use exits non-zero while the first keeps serving
//! (A40).

use pixbin::store::meta::{NAME_TO_META, keys};

use super::*;

/// `pixbin serve` on `dir`, expected to give up by itself before it listens.
fn serve_refused(dir: &Path) -> Output {
    let o = super::serve_refused(dir);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("listening"),
        "{}",
        text(&o)
    );
    o
}

#[test]
fn an_unknown_schema_version_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    assert!(pixbin(&["key", "list"], dir.path()).status.success());
    let db = pixbin::store::Store::db_path(dir.path());
    {
        let redb = redb::Database::open(&db).unwrap();
        let txn = redb.begin_write().unwrap();
        txn.open_table(NAME_TO_META)
            .unwrap()
            .insert(keys::SCHEMA_VERSION, 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let before = (file_hash(&db), tree(dir.path()));
    let o = serve_refused(dir.path());
    assert!(
        text(&o).contains("schema version 99") && text(&o).contains("refusing to touch it"),
        "{}",
        text(&o)
    );
    assert_eq!((file_hash(&db), tree(dir.path())), before);
    for cmd in [&["check"][..], &["gc"], &["key", "list"]] {
        let o = pixbin(cmd, dir.path());
        assert!(!o.status.success());
        assert!(text(&o).contains("schema version 99"), "{}", text(&o));
    }
    assert_eq!((file_hash(&db), tree(dir.path())), before);
}

#[test]
fn a_corrupt_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = pixbin::store::Store::db_path(dir.path());
    let junk: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&db, &junk).unwrap();
    let o = serve_refused(dir.path());
    assert!(text(&o).contains("opening data directory"), "{}", text(&o));
    assert_eq!(std::fs::read(&db).unwrap(), junk);
    assert_eq!(tree(dir.path()), ["pixbin.redb"], "nothing else created");
}

#[test]
fn a40_a_second_server_is_refused_and_the_first_keeps_serving() {
    let app = spawn_binary(&[]);
    let o = serve_refused(&app.dir);
    assert!(text(&o).contains("already open"), "{}", text(&o));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let res = fetch(format!("{}/readyz", app.base)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let img = upload_to(&app.base, &app.upload_key, bmp(4, 4, 4), "x.bmp").await;
        let res = fetch(img["url"].as_str().unwrap()).await;
        assert_eq!(res.status(), StatusCode::OK);
    });
}

/// Decodes `tests/fixtures/redb-2.6.3-v2.rle` (format in its header).
fn old_format_fixture() -> Vec<u8> {
    let out = rle_fixture("redb-2.6.3-v2.rle");
    assert!(out.starts_with(b"redb\x1a\x0a"));
    out
}

#[test]
fn an_old_redb_file_format_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = pixbin::store::Store::db_path(dir.path());
    let bytes = old_format_fixture();
    std::fs::write(&db, &bytes).unwrap();
    let o = serve_refused(dir.path());
    assert!(
        text(&o).contains("old redb file format (v2)"),
        "{}",
        text(&o)
    );
    assert!(
        std::fs::read(&db).unwrap() == bytes,
        "the file was modified"
    );
    assert_eq!(tree(dir.path()), ["pixbin.redb"], "nothing else created");
    let o = pixbin(&["check"], dir.path());
    assert!(text(&o).contains("old redb file format"), "{}", text(&o));
    assert!(std::fs::read(&db).unwrap() == bytes);
}
