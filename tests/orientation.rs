//! Dimensions as people see them: a phone photo stored sideways with an EXIF
//! orientation reports its displayed `width` × `height` in the upload answer,
//! the listing and the details, whatever the strip mode (orientation is kept
//! in every mode); rows stored before this rule are corrected at the next start.

use crate::support::*;
use pixbin::media::strip::StripMode;
use redb::ReadableTable;
use reqwest::StatusCode;
use serde_json::Value;

const ID_TO_IMAGE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("id_to_image");
const NAME_TO_META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("name_to_meta");

async fn details(app: &TestApp, id: &Value) -> Value {
    app.get_json(&format!("/api/images/{id}")).await
}

#[track_caller]
fn sides(v: &Value) -> (u64, u64) {
    (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
}

#[tokio::test]
async fn a_sideways_phone_photo_reports_its_displayed_sides() {
    for mode in [StripMode::Gps, StripMode::All, StripMode::None] {
        let mut app = spawn_app_with(|c| c.strip_metadata = mode).await;
        app.login_admin().await;
        // 640x427 stored, Orientation 6: displayed upright it is portrait.
        let turned = app
            .upload_ok(fixture("real/rocket-gps.jpg"), "portrait.jpg")
            .await;
        assert_eq!(sides(&turned), (427, 640), "{mode:?}");
        let plain = app.upload_ok(fixture("real/rocket.jpg"), "plain.jpg").await;
        assert_eq!(sides(&plain), (640, 427), "{mode:?}");
        assert_eq!(sides(&details(&app, &turned["id"]).await), (427, 640));
        let list: Value = app.get_json("/api/list").await;
        assert_eq!(sides(&list["images"][1]), (427, 640), "{list}");
    }
}

#[tokio::test]
async fn rows_stored_before_the_rule_are_corrected_at_start() {
    let app = spawn_app().await;
    let turned = app
        .upload_ok(fixture("real/rocket-gps.jpg"), "portrait.jpg")
        .await;
    let plain = app.upload_ok(fixture("real/rocket.jpg"), "plain.jpg").await;
    let dir = app.stop();

    // Make the database look like one written before: header sides stored,
    // no "done" mark.
    {
        let db = redb::Database::open(dir.path().join("pixbin.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut images = txn.open_table(ID_TO_IMAGE).unwrap();
            let id = turned["id"].as_u64().unwrap();
            let raw = images.get(id).unwrap().unwrap().value().to_vec();
            let mut rec = pixbin::store::codec::ImageRecord::decode(&raw).unwrap();
            (rec.width, rec.height) = (640, 427);
            images.insert(id, rec.encode().as_slice()).unwrap();
            let mut meta = txn.open_table(NAME_TO_META).unwrap();
            assert!(
                meta.remove(pixbin::store::orient::DIMS_ORIENTED)
                    .unwrap()
                    .is_some()
            );
        }
        txn.commit().unwrap();
    }

    let mut app = spawn_app_in(dir, |_| {}).await;
    app.login_admin().await;
    assert_eq!(sides(&details(&app, &turned["id"]).await), (427, 640));
    assert_eq!(sides(&details(&app, &plain["id"]).await), (640, 427));
    // Once done, never again: a second start changes nothing.
    let dir = app.stop();
    let mut app = spawn_app_in(dir, |_| {}).await;
    app.login_admin().await;
    let res = app.get(&format!("/api/images/{}", turned["id"])).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(sides(&res.json().await.unwrap()), (427, 640));
}
