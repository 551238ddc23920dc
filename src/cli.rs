//! The command line: `serve`, `user`, `key`, `thumbnails`, and the operations
//! commands (`check`, `gc`, `backup`, `repair`, `restore`, `import`, `adopt`,
//! `systemd-unit`). This module only parses; every body is in `ops::commands`
//! or `ops::accounts` (`serve` in `app`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{self, ServeArgs};

/// Whether log lines may carry ANSI colours: only on a terminal, and never
/// when `NO_COLOR` is set to anything but the empty string (no-color.org).
/// A journal, a file or a pipe gets plain text.
pub fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Parses the command line like `Cli::parse`, and notes which `serve`
/// settings came from the environment rather than a flag (the settings page
/// shows where each value came from).
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let from_env = |m: &clap::ArgMatches, id: &str| {
        matches!(m.value_source(id), Some(ValueSource::EnvVariable))
    };
    let data_dir_env = from_env(&matches, "data_dir");
    if let (Command::Serve(args), Some(m)) = (&mut cli.command, matches.subcommand_matches("serve"))
    {
        for id in m.ids() {
            if from_env(m, id.as_str()) {
                args.from_env.insert(id.as_str().to_string());
            }
        }
        if data_dir_env || from_env(m, "data_dir") {
            args.from_env.insert("data_dir".into());
        }
    }
    cli
}

/// pixbin: a self-hosted image host in one binary.
#[derive(Debug, Parser)]
#[command(name = "pixbin", version, about)]
pub struct Cli {
    /// Data directory (database, blobs, temp files) [default: ./data]
    #[arg(long, global = true, env = "PIXBIN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Optional TOML configuration file
    #[arg(long, global = true, env = "PIXBIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where blobs live (`--storage`, `--s3-*`)
    #[command(flatten)]
    pub storage: crate::store::blobs::storage::StorageArgs,
    /// Log format
    #[arg(long, global = true, env = "PIXBIN_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
// `serve` carries many optional settings; the enum is built once per process.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server
    Serve(ServeArgs),
    /// Manage accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Manage upload keys
    #[command(subcommand)]
    Key(KeyCommand),
    /// Make the missing thumbnails (the server also makes them on first request)
    Thumbnails,
    /// Verify every blob, row, refcount and total; exit non-zero on any problem
    Check {
        /// Fix what is safe (totals, refcounts, indexes, orphan blobs, temp files); never deletes an image
        #[arg(long)]
        repair: bool,
        /// Compare blob sizes only, without re-hashing their bytes
        #[arg(long)]
        quick: bool,
    },
    /// Quarantine orphan blobs, unlink those past the retention, remove stale temp files (a running server does this itself)
    Gc {
        /// Spare orphan blobs modified within this long, e.g. 1h [default: the configured gc grace, 1h]
        #[arg(long, env = "PIXBIN_GC_GRACE")]
        grace: Option<String>,
        /// Unlink quarantined blobs this long after their quarantine [default: the configured gc retention, 7d]
        #[arg(long, env = "PIXBIN_GC_RETENTION")]
        retention: Option<String>,
        /// Quarantine even when more than 10% of all blobs (and more than 10) have no row
        #[arg(long)]
        force: bool,
    },
    /// Turn orphan blobs back into images (new ids, original bytes); binds the blobs to this database
    Adopt {
        /// Also adopt the blobs in quarantine (trash/)
        #[arg(long)]
        trash: bool,
        /// Make the adopted images private
        #[arg(long)]
        private: bool,
    },
    /// Write a verified backup archive; works while the server runs
    Backup {
        /// The archive to write (must not exist yet)
        #[arg(long)]
        out: PathBuf,
    },
    /// Put back damaged or missing blobs from a backup, verified; works while the server runs
    Repair {
        /// The archive made by `pixbin backup`
        #[arg(long)]
        from: PathBuf,
    },
    /// Unpack a backup into an empty --data-dir, verifying every hash
    Restore {
        /// The archive made by `pixbin backup`
        file: PathBuf,
    },
    /// Import a folder of images (recursively; file times become upload times)
    Import {
        /// The folder
        dir: PathBuf,
        /// Make the imported images private
        #[arg(long)]
        private: bool,
        /// The limits and settings uploads get
        #[command(flatten)]
        settings: ServeArgs,
    },
    /// Print a hardened systemd unit for this binary
    SystemdUnit {
        /// Path for ExecStart= [default: this executable]
        #[arg(long)]
        binary: Option<String>,
    },
}

/// `pixbin user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account (password from stdin with --password-stdin, else generated and printed)
    Add {
        /// Account name
        name: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// admin or user (default: admin for the first account, user after)
        #[arg(long, value_parser = parse_role)]
        role: Option<crate::store::codec::Role>,
    },
    /// Set an account's password (ends its sessions)
    Passwd {
        /// Account name
        name: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `pixbin key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an upload key; the key alone is printed on the last line
    Create {
        /// A label, e.g. "laptop ShareX"
        #[arg(long, default_value = "cli")]
        name: String,
        /// Expiry of this key's uploads when they name none, e.g. 7d
        #[arg(long)]
        default_expiry: Option<String>,
        /// Longest expiry this key's uploads may ask for, e.g. 30d
        #[arg(long)]
        max_expiry: Option<String>,
        /// This key's uploads are private unless they say otherwise
        #[arg(long)]
        private_by_default: bool,
        /// This key's uploads are always private
        #[arg(long)]
        force_private: bool,
        /// The account whose uploads it makes (default: the oldest admin)
        #[arg(long)]
        user: Option<String>,
    },
    /// List upload keys (never the keys themselves)
    List,
    /// Revoke an upload key by id
    Revoke {
        /// The key's id from `pixbin key list`
        id: u64,
    },
}

/// Runs a non-serve command: each is one call into `ops` (`serve` is
/// `app::serve`, called by `main` inside its runtime).
pub fn run_admin_command(cli: &Cli) -> anyhow::Result<()> {
    use crate::ops::{accounts, commands};
    let dir = config::resolve_data_dir(cli.data_dir.as_deref(), cli.config.as_deref())?;
    let config_file = cli.config.as_deref();
    let storage = config::resolve_storage(&cli.storage, config_file)?;
    if matches!(storage, crate::store::blobs::storage::Storage::S3(_))
        && matches!(
            cli.command,
            Command::Adopt { .. }
                | Command::Backup { .. }
                | Command::Restore { .. }
                | Command::Repair { .. }
        )
    {
        // These read or write blob files directly; on a bucket they would
        // see none and act on that. Refused until they go through the seam.
        anyhow::bail!(
            "this command does not work with S3 storage yet (see README, \"Storage on S3\")"
        );
    }
    let storage = &storage;
    match &cli.command {
        Command::Serve(_) => unreachable!("serve is handled by main"),
        Command::Check { repair, quick } => {
            commands::check(&dir, storage, config_file, *repair, *quick)
        }
        Command::Gc {
            grace,
            retention,
            force,
        } => commands::gc(
            &dir,
            storage,
            config_file,
            grace.as_deref(),
            retention.as_deref(),
            *force,
        ),
        Command::Adopt { trash, private } => commands::adopt(&dir, config_file, *trash, *private),
        Command::Backup { out } => commands::backup(&dir, out),
        Command::Restore { file } => commands::restore(&dir, file),
        Command::Repair { from } => commands::repair(&dir, from),
        Command::Import {
            dir: folder,
            private,
            settings,
        } => commands::import(&dir, storage, config_file, settings, folder, *private),
        Command::SystemdUnit { binary } => commands::systemd_unit(binary.as_deref()),
        Command::Thumbnails => commands::thumbnails(&dir, storage),
        Command::User(UserCommand::Add {
            name,
            password_stdin,
            role,
        }) => accounts::put_user(&dir, storage, name, *password_stdin, Some(*role)),
        Command::User(UserCommand::Passwd {
            name,
            password_stdin,
        }) => accounts::put_user(&dir, storage, name, *password_stdin, None),
        Command::Key(KeyCommand::Create {
            name,
            default_expiry,
            max_expiry,
            private_by_default,
            force_private,
            user,
        }) => accounts::create_key(
            &dir,
            storage,
            &accounts::KeyOptions {
                name,
                default_expiry: default_expiry.as_deref(),
                max_expiry: max_expiry.as_deref(),
                private_by_default: *private_by_default,
                force_private: *force_private,
                owner: user.as_deref(),
            },
        ),
        Command::Key(KeyCommand::List) => accounts::list_keys(&dir, storage),
        Command::Key(KeyCommand::Revoke { id }) => accounts::revoke_key(&dir, storage, *id),
    }
}

/// `--role`: `admin` or `user`.
fn parse_role(s: &str) -> Result<crate::store::codec::Role, String> {
    crate::store::codec::Role::parse(s).ok_or_else(|| "expected admin or user".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some(OsStr::new(""))));
        assert!(!log_colours(true, Some(OsStr::new("1"))));
        assert!(!log_colours(false, None));
        assert!(!log_colours(false, Some(OsStr::new(""))));
    }
}
