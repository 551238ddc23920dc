//! Every record stored in redb, and its one encoding: postcard inside a versioned enum.
//!
//! postcard is not self-describing, so a field added to a record would silently
//! misread old rows. Each record is therefore wrapped in an enum whose variant
//! index is the first byte on disk; a new layout is a new variant, and old rows
//! still decode. Golden-byte tests below fail on any accidental format change.

use serde::{Deserialize, Serialize};

use crate::media::ImageType;
use crate::secret::TokenHash;
use crate::store::blobs::BlobHash;

/// An image's type on disk: its one-byte `ImageType::code`, so the bytes are
/// those of a plain `u8`. A code no type has is a decode error, never a guess.
mod kind_code {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::media::ImageType;

    pub fn serialize<S: Serializer>(kind: &ImageType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(kind.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ImageType, D::Error> {
        let code = u8::deserialize(d)?;
        ImageType::from_code(code).ok_or_else(|| D::Error::custom("unknown image type code"))
    }
}

/// Who uploaded an image: an upload key (by key id) or a logged-in user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Uploader {
    /// An upload key, by its numeric id.
    Key(u64),
    /// A user session, by user name.
    User(String),
    /// Brought in by `pixbin import` or another offline tool.
    Import,
}

/// One uploaded image (a row of `IMAGES`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Public identifier, the `{uuid}` in URLs.
    pub uuid: [u8; 16],
    /// The client's file name, sanitised (see `http::handlers::upload`); display only.
    pub filename: String,
    /// The image's type (stored as its `ImageType::code`).
    #[serde(with = "kind_code")]
    pub kind: ImageType,
    /// Bytes in the blob.
    pub size: u64,
    /// Pixels, from the header.
    pub width: u32,
    /// Pixels, from the header.
    pub height: u32,
    /// blake3 of the stored bytes; names the blob.
    pub hash: BlobHash,
    /// Unix milliseconds.
    pub uploaded_at: i64,
    /// Per-image random key for private links; `None` when public.
    pub private_key: Option<[u8; 16]>,
    /// blake3 of the ShareX-style deletion token.
    pub deletion_hash: TokenHash,
    /// Who uploaded it.
    pub uploader: Uploader,
    /// blake3 of the thumbnail blob, once one has been made.
    pub thumbnail: Option<BlobHash>,
    /// Unix milliseconds after which the image is gone; `None` keeps it.
    pub expires_at: Option<i64>,
    /// Counted views after which the image is gone; `None` for no limit.
    pub max_views: Option<u64>,
    /// What was removed from the file at upload (`metadataStripped`:
    /// `gps`, `serial`, …), for the image page's metadata panel. Empty for
    /// rows written before version 2.
    pub stripped: Vec<String>,
    /// The account the image belongs to (whoever uploaded it, directly or
    /// with one of their upload keys; another account after a transfer).
    /// Empty for an image of no account (an import with no account to give
    /// it to): only admins see those.
    pub owner: String,
}

/// An image row as version 2 wrote it (before images had an owner): a
/// version-1 row and the stripped list. postcard writes a tuple struct's
/// fields in order with nothing around them, so these are the bytes of the
/// flat layout version 2 had.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ImageRecordV2(ImageRecordV1, Vec<String>);

/// An image row as version 1 wrote it (before `stripped` was kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ImageRecordV1 {
    uuid: [u8; 16],
    filename: String,
    #[serde(with = "kind_code")]
    kind: ImageType,
    size: u64,
    width: u32,
    height: u32,
    hash: BlobHash,
    uploaded_at: i64,
    private_key: Option<[u8; 16]>,
    deletion_hash: TokenHash,
    uploader: Uploader,
    thumbnail: Option<BlobHash>,
    expires_at: Option<i64>,
    max_views: Option<u64>,
}

/// Reference count and facts of one content-addressed blob (a row of `BLOBS`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Bytes on disk.
    pub size: u64,
    /// Number of image rows pointing at this blob.
    pub refcount: u64,
    /// `media::ImageType` code.
    pub kind: u8,
}

/// What an account may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Sees and manages everything, and manages accounts.
    Admin,
    /// Sees and manages only its own images, keys, statistics and sessions.
    #[default]
    User,
}

impl Role {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// A login account (a row of `USERS`, keyed by user name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// What the account may do.
    pub role: Role,
    /// A disabled account's sessions and upload keys are refused.
    pub disabled: bool,
    /// Most bytes its images may hold (each image counted in full, shared
    /// bytes or not); `None` is unlimited.
    pub quota_bytes: Option<u64>,
    /// Most images it may hold; `None` is unlimited.
    pub quota_images: Option<u64>,
    /// Unix milliseconds of its last request seen with a session (recorded
    /// at most every few minutes, like the session's own).
    pub last_seen_at: Option<i64>,
}

impl UserRecord {
    /// A new account with a password hash, a role and quotas.
    pub fn new(
        password_hash: String,
        role: Role,
        quota: (Option<u64>, Option<u64>),
        now: i64,
    ) -> Self {
        UserRecord {
            password_hash,
            created_at: now,
            role,
            disabled: false,
            quota_bytes: quota.0,
            quota_images: quota.1,
            last_seen_at: None,
        }
    }
}

/// An account as version 1 wrote it (the single-admin days: every account
/// was an admin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct UserRecordV1 {
    password_hash: String,
    created_at: i64,
}

/// A live login session (a row of `SESSIONS`, keyed by blake3 of the token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The account.
    pub username: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds after which the session is dead.
    pub expires_at: i64,
    /// Unix milliseconds of the last request seen (updated at most every few
    /// minutes, see `auth::session::TOUCH_EVERY_MS`).
    pub last_seen_at: i64,
    /// The client address at login (IPv4 as mapped IPv6), for the account
    /// page's session list.
    pub ip: Option<[u8; 16]>,
    /// The browser's User-Agent at login, cut to 200 characters; shown to
    /// the account's owner only, never used to decide anything.
    pub user_agent: Option<String>,
}

/// A session row as version 1 wrote it (before activity was recorded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SessionRecordV1 {
    username: String,
    created_at: i64,
    expires_at: i64,
}

/// An upload key (a row of `UPLOAD_KEYS`, keyed by blake3 of the key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Stable numeric id used by the API and CLI.
    pub id: u64,
    /// Human label.
    pub name: String,
    /// The first characters of the key, to recognise it in a list.
    pub prefix: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last accepted upload, if any.
    pub last_used_at: Option<i64>,
    /// Upload policy attached to this key.
    pub policy: KeyPolicy,
    /// The account whose uploads this key makes.
    pub owner: String,
}

/// An upload key as version 1 wrote it (before keys had an owner).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct KeyRecordV1 {
    id: u64,
    name: String,
    prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
    policy: KeyPolicy,
}

/// What a single-use link grants (a row of `TOKEN_HASH_TO_INVITE`, keyed by
/// blake3 of the token in the link).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grant {
    /// Creating an account with this role.
    Invite {
        /// The new account's role.
        role: Role,
    },
    /// Setting this account's password.
    PasswordReset {
        /// The account.
        username: String,
    },
}

/// An invite link or a password-reset link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRecord {
    /// Stable numeric id for listing and revoking.
    pub id: u64,
    /// What it grants.
    pub grant: Grant,
    /// The admin who made it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds after which it is refused.
    pub expires_at: i64,
    /// How many times it may be used in all.
    pub max_uses: u32,
    /// How many times it was used.
    pub uses: u32,
}

/// What an upload key's uploads default to and may ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPolicy {
    /// Expiry applied when an upload names none (seconds); overrides the server default.
    pub default_expiry_secs: Option<u64>,
    /// Longest expiry an upload may ask for (seconds); the server maximum still applies.
    pub max_expiry_secs: Option<u64>,
    /// Privacy when the upload does not say; overrides the server default.
    pub private_by_default: Option<bool>,
    /// When set, uploads are always private and `private=false` is refused.
    pub force_private: bool,
}

/// One entry of the capped recent-views log (a row of `SEQ_TO_RECENT_VIEW`).
/// Holds nothing that identifies a person unless the operator opted in to
/// storing viewer addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentViewRecord {
    /// The image.
    pub image_id: u64,
    /// Unix milliseconds.
    pub at: i64,
    /// ISO 3166 alpha-2 code, `None` when unknown.
    pub country: Option<[u8; 2]>,
    /// Referrer host only (never the URL); empty when there was none.
    pub referrer: String,
    /// `analytics::AgentClass` code.
    pub agent: u8,
    /// The viewer's address (IPv4 as mapped IPv6), only with `PIXBIN_STORE_VIEWER_IP=true`.
    pub ip: Option<[u8; 16]>,
}

/// Who may open an album's gallery page and zip (see `crate::albums`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Visibility {
    /// Its owner (and admins) only, with a session.
    Private,
    /// Anyone with the link; the id is 128 random bits and is listed nowhere public.
    Unlisted,
    /// Anyone; listed on the public album index.
    Public,
}

/// A named, ordered set of images (a row of `ALBUM_TO_ALBUM`). Holding an
/// image here never keeps it alive: deleting the image removes it from every
/// album (`store::albums::forget_image`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumRecord {
    /// The account that created it.
    pub owner: String,
    /// Shown as the page title and in link previews.
    pub title: String,
    /// Shown under the title and as the preview's description.
    pub description: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last change.
    pub updated_at: i64,
    /// Unix milliseconds after which the album is gone (its images stay).
    pub expires_at: Option<i64>,
    /// The image shown in previews and lists; `None` uses the first shown one.
    pub cover: Option<u64>,
    /// Image ids in display order, each at most once.
    pub images: Vec<u64>,
}

/// A minimal valid image row naming the blob of `bytes`, for store tests.
#[cfg(test)]
pub(crate) fn test_record(bytes: &[u8]) -> ImageRecord {
    ImageRecord {
        uuid: *uuid::Uuid::new_v4().as_bytes(),
        filename: "x.png".into(),
        kind: ImageType::Png,
        size: bytes.len() as u64,
        width: 1,
        height: 1,
        hash: BlobHash::of(bytes),
        uploaded_at: 1,
        private_key: None,
        deletion_hash: TokenHash::from_bytes([0; 32]),
        uploader: Uploader::Import,
        thumbnail: None,
        expires_at: None,
        max_views: None,
        stripped: Vec::new(),
        owner: String::new(),
    }
}

/// Error decoding a stored record: the bytes are not any known version.
#[derive(Debug, thiserror::Error)]
#[error("undecodable {0} record")]
pub struct DecodeError(pub &'static str);

macro_rules! versioned {
    ($envelope:ident, $record:ident, $what:literal) => {
        #[derive(Serialize, Deserialize)]
        enum $envelope {
            V1($record),
        }

        impl $record {
            /// Encodes as the current version.
            pub fn encode(&self) -> Vec<u8> {
                // Serialising plain owned data into a Vec cannot fail.
                postcard::to_stdvec(&$envelope::V1(self.clone())).expect("postcard encode")
            }
            /// Decodes any known version.
            pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                match postcard::from_bytes::<$envelope>(bytes) {
                    Ok($envelope::V1(r)) => Ok(r),
                    Err(_) => Err(DecodeError($what)),
                }
            }
        }
    };
}

/// [`versioned!`] for a record with older layouts: the envelope lists them
/// first, in order (their variant index is on disk), then the current one;
/// each older layout is read through its conversion into the current record.
macro_rules! upgradable {
    ($envelope:ident, $record:ident, $what:literal, current $cur:ident,
     $($old:ident($old_ty:ty) => $upgrade:expr,)+) => {
        #[derive(Serialize, Deserialize)]
        enum $envelope {
            $($old($old_ty),)+
            $cur($record),
        }

        impl $record {
            /// Encodes as the current version.
            pub fn encode(&self) -> Vec<u8> {
                postcard::to_stdvec(&$envelope::$cur(self.clone())).expect("postcard encode")
            }
            /// Decodes any known version, an older one through its upgrade.
            pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                match postcard::from_bytes::<$envelope>(bytes) {
                    Ok($envelope::$cur(r)) => Ok(r),
                    $(Ok($envelope::$old(r)) => Ok($upgrade(r)),)+
                    Err(_) => Err(DecodeError($what)),
                }
            }
        }
    };
}

impl ImageRecordV1 {
    /// The current layout of a row of an older one.
    fn upgrade(self, stripped: Vec<String>) -> ImageRecord {
        let r = self;
        ImageRecord {
            uuid: r.uuid,
            filename: r.filename,
            kind: r.kind,
            size: r.size,
            width: r.width,
            height: r.height,
            hash: r.hash,
            uploaded_at: r.uploaded_at,
            private_key: r.private_key,
            deletion_hash: r.deletion_hash,
            uploader: r.uploader,
            thumbnail: r.thumbnail,
            expires_at: r.expires_at,
            max_views: r.max_views,
            stripped,
            owner: String::new(),
        }
    }
}

// A version-1 image row has nothing recorded as stripped; rows before
// version 3 have no owner (the schema upgrade, `store::owners::upgrade`,
// gives every one an owner at open).
upgradable!(ImageEnvelope, ImageRecord, "image", current V3,
    V1(ImageRecordV1) => |r: ImageRecordV1| r.upgrade(Vec::new()),
    V2(ImageRecordV2) => |ImageRecordV2(r, stripped)| r.upgrade(stripped),
);
versioned!(BlobEnvelope, BlobRecord, "blob");
versioned!(InviteEnvelope, InviteRecord, "invite");
// A version-1 account is an admin (every account was, before roles),
// enabled, without quotas.
upgradable!(UserEnvelope, UserRecord, "user", current V2,
    V1(UserRecordV1) => |r: UserRecordV1| {
        UserRecord::new(r.password_hash, Role::Admin, (None, None), r.created_at)
    },);
// A version-1 key has no owner until the schema upgrade gives it one.
upgradable!(KeyEnvelope, KeyRecord, "upload key", current V2,
    V1(KeyRecordV1) => |r: KeyRecordV1| KeyRecord {
        id: r.id,
        name: r.name,
        prefix: r.prefix,
        created_at: r.created_at,
        last_used_at: r.last_used_at,
        policy: r.policy,
        owner: String::new(),
    },);
// A version-1 session reads as last seen at its creation, with no address
// or browser recorded.
upgradable!(SessionEnvelope, SessionRecord, "session", current V2,
    V1(SessionRecordV1) => |r: SessionRecordV1| SessionRecord {
        username: r.username,
        created_at: r.created_at,
        expires_at: r.expires_at,
        last_seen_at: r.created_at,
        ip: None,
        user_agent: None,
    },);
versioned!(RecentViewEnvelope, RecentViewRecord, "recent view");
versioned!(AlbumEnvelope, AlbumRecord, "album");

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_image() -> ImageRecord {
        ImageRecord {
            uuid: [7; 16],
            filename: "a.png".into(),
            kind: ImageType::Png,
            size: 300,
            width: 2,
            height: 3,
            hash: BlobHash::from_bytes([9; 32]),
            uploaded_at: 1_700_000_000_000,
            private_key: Some([1; 16]),
            deletion_hash: TokenHash::from_bytes([2; 32]),
            uploader: Uploader::Key(5),
            thumbnail: None,
            expires_at: Some(1),
            max_views: None,
            stripped: vec!["gps".into()],
            owner: "al".into(),
        }
    }

    /// `BlobHash` is a newtype; postcard must still write the bare 32 bytes
    /// (no length, no wrapper), or rows written before the type existed would
    /// misread.
    #[test]
    fn blob_hash_encodes_as_the_plain_array() {
        let raw: [u8; 32] = std::array::from_fn(|i| i as u8);
        let typed = (BlobHash::from_bytes(raw), Some(BlobHash::from_bytes(raw)));
        let plain = (raw, Some(raw));
        assert_eq!(
            postcard::to_allocvec(&typed).unwrap(),
            postcard::to_allocvec(&plain).unwrap()
        );
        // And inside a record: a thumbnail turns the golden row's `None` byte
        // into `Some` followed by the plain digest.
        let without = sample_image().encode();
        let with = ImageRecord {
            thumbnail: Some(BlobHash::from_bytes(raw)),
            ..sample_image()
        }
        .encode();
        let at = without.len() - 12; // before expires_at, max_views, stripped, owner
        assert_eq!(without[at], 0);
        let mut expected = without[..at].to_vec();
        expected.push(1);
        expected.extend(raw);
        expected.extend(&without[at + 1..]);
        assert_eq!(with, expected);
    }

    #[test]
    fn image_record_golden_bytes() {
        let bytes = sample_image().encode();
        let mut expected = vec![2u8]; // V3
        expected.extend([7; 16]);
        expected.extend([5, b'a', b'.', b'p', b'n', b'g']);
        expected.push(1); // kind
        expected.extend([0xac, 0x02]); // 300 varint
        expected.extend([2, 3]);
        expected.extend([9; 32]);
        expected.extend([0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62]); // zigzag varint of 1.7e12
        expected.push(1); // Some
        expected.extend([1; 16]);
        expected.extend([2; 32]);
        expected.extend([0, 5]); // Uploader::Key(5)
        expected.extend([0, 1, 2, 0]); // no thumbnail, expires_at Some(1) (zigzag 2), no max_views
        expected.extend([1, 3, b'g', b'p', b's']); // stripped: ["gps"]
        expected.extend([2, b'a', b'l']); // owner
        assert_eq!(bytes, expected);
        assert_eq!(ImageRecord::decode(&bytes).unwrap(), sample_image());
        // A version-2 row (everything before `owner`) reads without an owner.
        let mut v2 = expected[..expected.len() - 3].to_vec();
        v2[0] = 1;
        assert_eq!(
            ImageRecord::decode(&v2).unwrap(),
            ImageRecord {
                owner: String::new(),
                ..sample_image()
            }
        );
        // A version-1 row (everything before `stripped`) still reads.
        let mut v1 = expected[..expected.len() - 8].to_vec();
        v1[0] = 0;
        let old = ImageRecord::decode(&v1).unwrap();
        assert_eq!(
            old,
            ImageRecord {
                stripped: Vec::new(),
                owner: String::new(),
                ..sample_image()
            }
        );
        // A kind byte that names no type is a corrupt row in either version,
        // not an image to be served under a guessed type.
        const KIND: usize = 1 + 16 + 6;
        for code in [0u8, 7, 0x7f] {
            for row in [&expected, &v2, &v1] {
                let mut bad = row.clone();
                bad[KIND] = code;
                assert!(ImageRecord::decode(&bad).is_err(), "kind {code}");
            }
        }
    }

    #[test]
    fn blob_and_key_golden_bytes() {
        let b = BlobRecord {
            size: 1,
            refcount: 2,
            kind: 3,
        };
        assert_eq!(b.encode(), vec![0, 1, 2, 3]);
        let k = KeyRecord {
            id: 1,
            name: "k".into(),
            prefix: "p".into(),
            created_at: 1,
            last_used_at: None,
            policy: KeyPolicy {
                default_expiry_secs: Some(3),
                ..Default::default()
            },
            owner: "o".into(),
        };
        let v1 = vec![0, 1, 1, b'k', 1, b'p', 2, 0, 1, 3, 0, 0, 0];
        let mut v2 = v1.clone();
        v2[0] = 1;
        v2.extend([1, b'o']);
        assert_eq!(k.encode(), v2);
        // A key from before owners reads with none (the upgrade assigns one).
        let old = KeyRecord::decode(&v1).unwrap();
        assert_eq!(
            old,
            KeyRecord {
                owner: String::new(),
                ..k
            }
        );
    }

    #[test]
    fn user_and_invite_golden_bytes() {
        // A version-1 account is an admin: every account was one before roles.
        let v1 = vec![0, 1, b'h', 4];
        let old = UserRecord::decode(&v1).unwrap();
        assert_eq!(
            (old.role, old.disabled, old.created_at),
            (Role::Admin, false, 2)
        );
        assert_eq!((old.quota_bytes, old.quota_images), (None, None));
        let u = UserRecord {
            password_hash: "h".into(),
            created_at: 2,
            role: Role::User,
            disabled: true,
            quota_bytes: Some(5),
            quota_images: None,
            last_seen_at: Some(1),
        };
        assert_eq!(u.encode(), vec![1, 1, b'h', 4, 1, 1, 1, 5, 0, 1, 2]);
        assert_eq!(UserRecord::decode(&u.encode()).unwrap(), u);
        let i = InviteRecord {
            id: 3,
            grant: Grant::PasswordReset {
                username: "b".into(),
            },
            created_by: "a".into(),
            created_at: 1,
            expires_at: 2,
            max_uses: 1,
            uses: 0,
        };
        assert_eq!(i.encode(), vec![0, 3, 1, 1, b'b', 1, b'a', 2, 4, 1, 0]);
        assert_eq!(InviteRecord::decode(&i.encode()).unwrap(), i);
    }

    #[test]
    fn recent_view_golden_bytes() {
        let r = RecentViewRecord {
            image_id: 3,
            at: 1,
            country: Some(*b"GB"),
            referrer: "a.io".into(),
            agent: 1,
            ip: None,
        };
        assert_eq!(
            r.encode(),
            vec![0, 3, 2, 1, b'G', b'B', 4, b'a', b'.', b'i', b'o', 1, 0]
        );
        assert_eq!(RecentViewRecord::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn session_golden_bytes_and_version_1_rows_still_read() {
        let v1 = postcard::to_stdvec(&SessionEnvelope::V1(SessionRecordV1 {
            username: "a".into(),
            created_at: 1,
            expires_at: 2,
        }))
        .unwrap();
        assert_eq!(v1, vec![0, 1, b'a', 2, 4]);
        let old = SessionRecord::decode(&v1).unwrap();
        assert_eq!((old.last_seen_at, old.ip, old.user_agent), (1, None, None));
        let s = SessionRecord {
            username: "a".into(),
            created_at: 1,
            expires_at: 2,
            last_seen_at: 3,
            ip: None,
            user_agent: Some("x".into()),
        };
        assert_eq!(s.encode(), vec![1, 1, b'a', 2, 4, 6, 0, 1, 1, b'x']);
        assert_eq!(SessionRecord::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn album_golden_bytes() {
        let a = AlbumRecord {
            owner: "a".into(),
            title: "t".into(),
            description: String::new(),
            visibility: Visibility::Unlisted,
            created_at: 1,
            updated_at: 2,
            expires_at: None,
            cover: Some(7),
            images: vec![7, 300],
        };
        assert_eq!(
            a.encode(),
            vec![0, 1, b'a', 1, b't', 0, 1, 2, 4, 0, 1, 7, 2, 7, 0xac, 0x02]
        );
        assert_eq!(AlbumRecord::decode(&a.encode()).unwrap(), a);
        // A visibility no version has is a corrupt row, not a guess.
        let mut bad = a.encode();
        bad[6] = 3;
        assert!(AlbumRecord::decode(&bad).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(ImageRecord::decode(&[]).is_err());
        assert!(ImageRecord::decode(&[1, 2, 3]).is_err());
        assert!(BlobRecord::decode(&[9]).is_err());
    }

    proptest! {
        #[test]
        fn image_records_round_trip(
            uuid in any::<[u8; 16]>(), name in ".{0,40}", kind in proptest::sample::select(ImageType::ALL.to_vec()), size in any::<u64>(),
            w in any::<u32>(), h in any::<u32>(), at in any::<i64>(), key in any::<Option<[u8; 16]>>(),
            user in proptest::option::of("[a-z]{1,10}"), key_id in any::<u64>(),
        ) {
            let r = ImageRecord {
                uuid, filename: name, kind, size, width: w, height: h, hash: BlobHash::from_bytes([3; 32]),
                uploaded_at: at, private_key: key, deletion_hash: TokenHash::from_bytes([4; 32]),
                uploader: match user { Some(u) => Uploader::User(u), None => Uploader::Key(key_id) },
                thumbnail: key.map(|_| BlobHash::from_bytes([5; 32])), expires_at: Some(at), max_views: Some(size),
                stripped: vec!["gps".into()], owner: "o".into(),
            };
            prop_assert_eq!(ImageRecord::decode(&r.encode()).unwrap(), r);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ImageRecord::decode(&bytes);
            let _ = SessionRecord::decode(&bytes);
            let _ = KeyRecord::decode(&bytes);
        }
    }
}
