//! The image page's metadata panel: `GET /api/images/{id}` says what the
//! stored file carries now (read from its bytes: EXIF with its orientation and
//! what it still names, XMP, ICC, text…) and what was removed at upload, for
//! each strip mode; the listing does not pay for it.

use crate::support::*;
use pixbin::media::strip::StripMode;
use serde_json::Value;

async fn details(app: &TestApp, id: &Value) -> Value {
    app.get_json(&format!("/api/images/{id}")).await
}

fn exif_detail(d: &Value) -> String {
    d["metadata"]["present"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "exif")
        .map(|f| f["detail"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_panel_shows_what_the_file_holds_and_what_went_at_upload() {
    for (mode, gone, gps_left) in [
        (StripMode::Gps, vec!["gps"], false),
        (StripMode::All, vec!["exif", "gps"], false),
        (StripMode::None, vec![], true),
    ] {
        let mut app = spawn_app_with(|c| c.strip_metadata = mode).await;
        app.login_admin().await;
        let up = app
            .upload_ok(fixture("real/rocket-gps.jpg"), "gps.jpg")
            .await;
        let d = details(&app, &up["id"]).await;
        let stripped: Vec<&str> = d["metadata"]["stripped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for g in &gone {
            assert!(stripped.contains(g), "{mode:?}: {d}");
        }
        assert_eq!(
            stripped,
            up["metadataStripped"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect::<Vec<_>>(),
            "the panel repeats what the upload said"
        );
        let exif = exif_detail(&d);
        assert!(exif.contains("orientation"), "{mode:?}: {exif}");
        assert_eq!(exif.contains("gps"), gps_left, "{mode:?}: {exif}");
        let list: Value = app.get_json("/api/list").await;
        assert!(list["images"][0].get("metadata").is_none());
    }
    // A screenshot without metadata: nothing present, nothing stripped.
    let mut app = spawn_app().await;
    app.login_admin().await;
    let up = app
        .upload_ok(fixture("real/no_time_for_that_tiny.gif"), "t.gif")
        .await;
    let d = details(&app, &up["id"]).await;
    assert_eq!(
        d["metadata"],
        serde_json::json!({"present": [], "stripped": []})
    );
}
