//! redb table definitions and the schema version, declared once.
//!
//! Tables are named KEY_TO_VALUE. Values are postcard records from `codec`,
//! stored as raw bytes so a record's layout can change without a table rename.

use redb::TableDefinition;

/// Bumped whenever a table is added, removed or re-keyed; checked at open.
/// Version 2 gave accounts roles and every image and upload key an owner
/// (`store::owners::upgrade` brings a version-1 file up at open).
pub const SCHEMA_VERSION: u64 = 2;

/// The oldest schema version [`SCHEMA_VERSION`] upgrades in place.
pub const UPGRADES_FROM: u64 = 1;

/// Whether a file of schema `found` can be opened: `Ok(true)` when it needs
/// the upgrade to [`SCHEMA_VERSION`] first. A newer file (a downgrade) and one
/// older than [`UPGRADES_FROM`] are refused without a write.
pub fn schema_needs_upgrade(found: u64) -> Result<bool, super::StoreError> {
    use super::StoreError;
    match found {
        SCHEMA_VERSION => Ok(false),
        f if f > SCHEMA_VERSION => Err(StoreError::SchemaNewer {
            found,
            expected: SCHEMA_VERSION,
        }),
        f if f >= UPGRADES_FROM => Ok(true),
        _ => Err(StoreError::SchemaMismatch {
            found,
            expected: SCHEMA_VERSION,
        }),
    }
}

/// Image id -> `ImageRecord`.
pub const ID_TO_IMAGE: TableDefinition<u64, &[u8]> = TableDefinition::new("id_to_image");
/// Image uuid (as u128) -> image id.
pub const UUID_TO_ID: TableDefinition<u128, u64> = TableDefinition::new("uuid_to_id");
/// (uploaded-at ms, id) -> (): newest-first listing and date filters.
pub const UPLOADED_AT_TO_ID: TableDefinition<(i64, u64), ()> =
    TableDefinition::new("uploaded_at_to_id");
/// Blob hash -> `BlobRecord` (size, refcount, kind).
pub const HASH_TO_BLOB: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hash_to_blob");
/// User name -> `UserRecord`.
pub const NAME_TO_USER: TableDefinition<&str, &[u8]> = TableDefinition::new("name_to_user");
/// blake3(session token) -> `SessionRecord`.
pub const TOKEN_HASH_TO_SESSION: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("token_hash_to_session");
/// blake3(upload key) -> `KeyRecord`.
pub const KEY_HASH_TO_UPLOAD_KEY: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("key_hash_to_upload_key");
/// Image id -> total counted views.
pub const ID_TO_VIEWS: TableDefinition<u64, u64> = TableDefinition::new("id_to_views");
/// (expires-at ms, image id) -> (): what the sweeper deletes, oldest first. Also
/// holds images whose last allowed view was consumed (keyed by that moment).
pub const EXPIRES_AT_TO_ID: TableDefinition<(i64, u64), ()> =
    TableDefinition::new("expires_at_to_id");
/// Image id -> (views consumed against its `max_views`, when the last one was
/// consumed or 0). Committed before the bytes go out (in groups, see
/// `view_limits`), so a one-time link stays one-time across a crash.
pub const ID_TO_CONSUMED_VIEWS: TableDefinition<u64, (u64, i64)> =
    TableDefinition::new("id_to_consumed_views");
/// Image id -> link-preview fetches served from the image's preview budget
/// (see `view_limits`), so the budget survives a restart.
pub const ID_TO_PREVIEWS_SPENT: TableDefinition<u64, u64> =
    TableDefinition::new("id_to_previews_spent");
/// Album id (128 random bits as u128) -> `AlbumRecord`. A new table needs no
/// schema bump: it is created at open and an older file simply has none.
pub const ALBUM_TO_ALBUM: TableDefinition<u128, &[u8]> = TableDefinition::new("album_to_album");
/// (image id, album id) -> (): the albums an image is in, so deleting the
/// image removes it from each without scanning every album.
pub const IMAGE_ALBUM_TO_UNIT: TableDefinition<(u64, u128), ()> =
    TableDefinition::new("image_album_to_unit");
/// (owner, image id) -> (): each account's images, for its listing, usage,
/// statistics, and deletion or transfer with the account.
pub const OWNER_ID_TO_IMAGE: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("owner_id_to_image");
/// Owner -> (bytes, images) its images hold, each image counted in full
/// (shared bytes or not), checked against its quota.
pub const OWNER_TO_USAGE: TableDefinition<&str, (u64, u64)> =
    TableDefinition::new("owner_to_usage");
/// blake3(link token) -> `InviteRecord`: invites and password-reset links.
pub const TOKEN_HASH_TO_INVITE: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new("token_hash_to_invite");
/// Name -> number: schema version, running totals and id sequences.
pub const NAME_TO_META: TableDefinition<&str, u64> = TableDefinition::new("name_to_meta");

// ---- view statistics (written in batches by the analytics writer) ----------
// Per-day rows are pruned after the retention period, the recent log is capped,
// and referrer hosts (client-chosen strings) are capped in number, so these
// tables cannot grow without bound.

/// (day number, metric) -> count; metrics in `store::stats::metric`.
pub const DAY_METRIC_TO_COUNT: TableDefinition<(i64, u8), u64> =
    TableDefinition::new("day_metric_to_count");
/// (image id, day number, metric) -> count.
pub const IMAGE_DAY_METRIC_TO_COUNT: TableDefinition<(u64, i64, u8), u64> =
    TableDefinition::new("image_day_metric_to_count");
/// Country code (or `unknown`) -> views, all time.
pub const COUNTRY_TO_VIEWS: TableDefinition<&str, u64> = TableDefinition::new("country_to_views");
/// (image id, country code) -> views.
pub const IMAGE_COUNTRY_TO_VIEWS: TableDefinition<(u64, &str), u64> =
    TableDefinition::new("image_country_to_views");
/// Referrer host (empty for none) -> views, all time.
pub const REFERRER_TO_VIEWS: TableDefinition<&str, u64> = TableDefinition::new("referrer_to_views");
/// (image id, referrer host) -> views.
pub const IMAGE_REFERRER_TO_VIEWS: TableDefinition<(u64, &str), u64> =
    TableDefinition::new("image_referrer_to_views");
/// (owner, day number, metric) -> count: an account's own per-day counts,
/// kept when its images are deleted; pruned with the other per-day rows.
pub const OWNER_DAY_METRIC_TO_COUNT: TableDefinition<(&str, i64, u8), u64> =
    TableDefinition::new("owner_day_metric_to_count");
/// (owner, metric) -> count, all time: an account's dashboard totals.
pub const OWNER_METRIC_TO_COUNT: TableDefinition<(&str, u8), u64> =
    TableDefinition::new("owner_metric_to_count");
/// Sequence number -> `RecentViewRecord`, oldest first; capped in length.
pub const SEQ_TO_RECENT_VIEW: TableDefinition<u64, &[u8]> =
    TableDefinition::new("seq_to_recent_view");

/// Keys of `NAME_TO_META`.
pub mod keys {
    /// The schema version the file was written with.
    pub const SCHEMA_VERSION: &str = "schema_version";
    /// Sum of the sizes of all blobs with a row (deduplicated bytes).
    pub const BYTES_STORED: &str = "bytes_stored";
    /// Number of image rows.
    pub const IMAGES: &str = "images";
    /// Number of private image rows.
    pub const PRIVATE_IMAGES: &str = "private_images";
    /// Next image id to hand out.
    pub const NEXT_IMAGE_ID: &str = "next_image_id";
    /// Next upload key id to hand out.
    pub const NEXT_KEY_ID: &str = "next_key_id";
    /// Next invite (or reset link) id to hand out.
    pub const NEXT_INVITE_ID: &str = "next_invite_id";
    /// Counted views, all time.
    pub const VIEWS: &str = "views";
    /// Unique visitors per day, summed over all days.
    pub const UNIQUE_VISITORS: &str = "unique_visitors";
    /// Fetches by bots, all time (not views).
    pub const BOT_HITS: &str = "bot_hits";
    /// Fetches by link-preview unfurlers, all time (not views).
    pub const UNFURLER_HITS: &str = "unfurler_hits";
    /// Next recent-views sequence number.
    pub const NEXT_RECENT_SEQ: &str = "next_recent_seq";
    /// The last day number on which old statistics were pruned.
    pub const STATS_PRUNED_DAY: &str = "stats_pruned_day";
    /// 1 once the per-owner statistics were filled from the per-image rows
    /// of a database made before they existed (`store::owner_stats::fill`).
    pub const OWNER_STATS_FILLED: &str = "owner_stats_filled";
    /// The data directory's identity, also in its marker file (`store::identity`).
    pub const IDENTITY: &str = "identity";
}
