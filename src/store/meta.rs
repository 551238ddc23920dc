//! redb table definitions and the schema version, declared once.
//!
//! Tables are named KEY_TO_VALUE. Values are postcard records from `codec`,
//! stored as raw bytes so a record's layout can change without a table rename.

use redb::TableDefinition;

/// Bumped whenever a table is added, removed or re-keyed; checked at open.
pub const SCHEMA_VERSION: u64 = 1;

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
/// Name -> number: schema version, running totals and id sequences.
pub const NAME_TO_META: TableDefinition<&str, u64> = TableDefinition::new("name_to_meta");

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
}
