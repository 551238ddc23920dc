//! Who may see or change an album, and which of its images a stranger sees:
//! one small function per question, so the users model (roles, owners of keys)
//! plugs in here and nowhere else.
//!
//! An album belongs to an account. A user sees, changes and uploads into
//! only their own albums and may put only their own images in them; an admin
//! may do all of it to anyone's; an upload key acts as its owner account.
//! Whatever a caller may not see answers like a missing album or image, so
//! another account's objects cannot be probed. Disabled accounts never get
//! this far: their sessions and keys are refused by `http::guard`.

use crate::store::StoredImage;
use crate::store::codec::{AlbumRecord, Role, Visibility};

/// Whoever is asking, as far as albums care: always an account (an upload
/// key is its owner's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The account.
    pub account: String,
    /// May act on anyone's albums and images.
    pub admin: bool,
}

impl Actor {
    /// The account `name`, with its role.
    pub fn new(name: &str, role: Role) -> Actor {
        Actor {
            account: name.to_string(),
            admin: role == Role::Admin,
        }
    }

    fn owns(&self, owner: &str) -> bool {
        self.account == owner
    }
}

/// Whether the album is past its expiry: gone for everyone.
pub fn is_gone(album: &AlbumRecord, now: i64) -> bool {
    album.expires_at.is_some_and(|t| t <= now)
}

/// May `actor` (or a stranger, `None`) open the album's page and zip?
pub fn can_view(actor: Option<&Actor>, album: &AlbumRecord, now: i64) -> bool {
    if is_gone(album, now) {
        return false;
    }
    match album.visibility {
        Visibility::Public | Visibility::Unlisted => true,
        Visibility::Private => actor.is_some_and(|a| can_edit(a, album)),
    }
}

/// May `actor` see the album in its list and change or delete it?
pub fn can_edit(actor: &Actor, album: &AlbumRecord) -> bool {
    actor.admin || actor.owns(&album.owner)
}

/// May `actor` put this image into one of its albums (or download it in a
/// zip of its selection)?
pub fn can_use_image(actor: &Actor, img: &StoredImage) -> bool {
    actor.admin || actor.owns(&img.record.owner)
}

/// Whether a stranger looking at a shared album sees this image (its tile,
/// its zip member, its preview): never a private image (its key is its own
/// secret, not the album's), never an expired one, and never a view-limited
/// one, whose views are spent by opening its own link, not by browsing a
/// gallery or unpacking a zip.
pub fn shown_to_strangers(img: &StoredImage, now: i64) -> bool {
    img.record.private_key.is_none() && !img.is_gone(now) && img.record.max_views.is_none()
}

/// Whether the album is listed on the public index (`/a/`).
pub fn is_listed(album: &AlbumRecord, now: i64) -> bool {
    album.visibility == Visibility::Public && !is_gone(album, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::Uploader;

    fn album(owner: &str, visibility: Visibility) -> AlbumRecord {
        AlbumRecord {
            owner: owner.into(),
            title: String::new(),
            description: String::new(),
            visibility,
            created_at: 0,
            updated_at: 0,
            expires_at: None,
            cover: None,
            images: Vec::new(),
        }
    }

    fn member(name: &str) -> Actor {
        Actor::new(name, Role::User)
    }

    #[test]
    fn owners_and_admins_edit_others_do_not() {
        let a = album("ann", Visibility::Private);
        assert!(can_edit(&member("ann"), &a));
        assert!(!can_edit(&member("bob"), &a));
        assert!(can_edit(&Actor::new("bob", Role::Admin), &a), "an admin");
    }

    #[test]
    fn visibility_and_expiry_decide_who_views() {
        let private = album("ann", Visibility::Private);
        assert!(!can_view(None, &private, 0));
        assert!(!can_view(Some(&member("bob")), &private, 0));
        assert!(can_view(Some(&member("ann")), &private, 0));
        for v in [Visibility::Unlisted, Visibility::Public] {
            assert!(can_view(None, &album("ann", v), 0));
        }
        let mut expiring = album("ann", Visibility::Public);
        expiring.expires_at = Some(100);
        assert!(can_view(None, &expiring, 99));
        assert!(!can_view(None, &expiring, 100));
        assert!(!can_view(Some(&member("ann")), &expiring, 100));
        assert!(is_listed(&album("ann", Visibility::Public), 0));
        assert!(!is_listed(&album("ann", Visibility::Unlisted), 0));
        assert!(!is_listed(&expiring, 100));
    }

    #[test]
    fn strangers_see_only_public_unlimited_live_images() {
        let img = |private: bool, expires: Option<i64>, max_views: Option<u64>| StoredImage {
            id: 1,
            record: crate::store::codec::ImageRecord {
                private_key: private.then_some([1; 16]),
                expires_at: expires,
                max_views,
                owner: "ann".into(),
                // Whoever uploaded it, the owner decides.
                uploader: Uploader::User("bob".into()),
                ..crate::store::codec::test_record(b"x")
            },
            views: 0,
            consumed: 0,
        };
        assert!(shown_to_strangers(&img(false, None, None), 5));
        assert!(!shown_to_strangers(&img(true, None, None), 5));
        assert!(!shown_to_strangers(&img(false, Some(5), None), 5));
        assert!(shown_to_strangers(&img(false, Some(6), None), 5));
        assert!(!shown_to_strangers(&img(false, None, Some(10)), 5));
        assert!(can_use_image(&member("ann"), &img(false, None, None)));
        assert!(!can_use_image(&member("bob"), &img(false, None, None)));
        assert!(can_use_image(
            &Actor::new("bob", Role::Admin),
            &img(false, None, None)
        ));
    }
}
