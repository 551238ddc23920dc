//! Country of a viewer's address from an optional offline MaxMind-format
//! database (GeoLite2/GeoIP2 Country or City, `--geoip-db`).
//!
//! Lookups happen on the analytics writer's blocking flush, never on the serving
//! path, and never over the network. The file is read into memory once at
//! start-up rather than memory-mapped: a mapped file that the operator's update
//! job truncates or rewrites in place would crash the server (SIGBUS), and a
//! country database is small enough to hold. Restart to load a newer file.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// An opened country database.
pub struct GeoDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb")
            .field("type", &self.reader.metadata().database_type)
            .finish()
    }
}

/// Only the fields we read, borrowed from the database buffer (no allocation).
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Iso<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<Iso<'a>>,
}

#[derive(Deserialize)]
struct Iso<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// An ISO 3166-1 alpha-2 code as two uppercase ASCII letters, or nothing.
fn code(s: &str) -> Option<[u8; 2]> {
    let b: [u8; 2] = s.as_bytes().try_into().ok()?;
    b.iter()
        .all(u8::is_ascii_alphabetic)
        .then(|| b.map(|c| c.to_ascii_uppercase()))
}

impl GeoDb {
    /// Reads and checks a database file.
    pub fn open(path: &Path) -> anyhow::Result<GeoDb> {
        let reader = maxminddb::Reader::open_readfile(path)
            .with_context(|| format!("reading GeoIP database {}", path.display()))?;
        Ok(GeoDb { reader })
    }

    /// The country of an address: where MaxMind places it, else where its
    /// network is registered; `None` when the database has no answer.
    pub fn country(&self, ip: IpAddr) -> Option<[u8; 2]> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let found = self.reader.lookup(ip).ok()?;
        let rec: Record<'_> = found.decode().ok()??;
        rec.country
            .and_then(|c| c.iso_code)
            .or(rec.registered_country.and_then(|c| c.iso_code))
            .and_then(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/geoip")
            .join(name)
    }

    #[test]
    fn test_databases_answer_known_addresses() {
        for db in ["GeoLite2-Country-Test.mmdb", "GeoLite2-City-Test.mmdb"] {
            let g = GeoDb::open(&fixture(db)).unwrap();
            let c = |s: &str| g.country(s.parse().unwrap());
            assert_eq!(c("81.2.69.142"), Some(*b"GB"), "{db}");
            assert_eq!(c("89.160.20.115"), Some(*b"SE"), "{db}");
            assert_eq!(c("216.160.83.58"), Some(*b"US"), "{db}");
            assert_eq!(c("::ffff:81.2.69.142"), Some(*b"GB"), "{db}");
            assert_eq!(c("127.0.0.1"), None, "{db}");
            assert_eq!(c("10.1.2.3"), None, "{db}");
        }
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mmdb");
        std::fs::write(&p, b"not a database").unwrap();
        assert!(GeoDb::open(&p).is_err());
        assert!(GeoDb::open(&dir.path().join("missing.mmdb")).is_err());
        assert_eq!(code("gb"), Some(*b"GB"));
        assert_eq!(code("G1"), None);
        assert_eq!(code("GBR"), None);
    }
}
