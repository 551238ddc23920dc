//! The command line: `serve`, `user`, `key`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::auth::{password, upload_key};
use crate::clock;
use crate::config::{self, ServeArgs};
use crate::store::codec::UserRecord;
use crate::store::{Store, StoreError};

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
    },
    /// List upload keys (never the keys themselves)
    List,
    /// Revoke an upload key by id
    Revoke {
        /// The key's id from `pixbin key list`
        id: u64,
    },
}

/// Opens the store for a CLI command, explaining a running server clearly.
fn open_store(dir: &Path) -> anyhow::Result<Store> {
    match Store::open(dir) {
        Ok(s) => Ok(s),
        Err(StoreError::AlreadyOpen) => bail!(
            "the data directory {} is in use by a running pixbin server; stop it first (systemctl stop pixbin), or make the change in the admin UI",
            dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("opening data directory {}", dir.display())),
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((password::generate(), true));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    Ok((pw, false))
}

/// Runs a non-serve command.
pub fn run_admin_command(cli: &Cli) -> anyhow::Result<()> {
    let dir = config::resolve_data_dir(cli.data_dir.as_deref(), cli.config.as_deref())?;
    match &cli.command {
        Command::Serve(_) => unreachable!("serve is handled by main"),
        Command::User(UserCommand::Add {
            name,
            password_stdin,
        })
        | Command::User(UserCommand::Passwd {
            name,
            password_stdin,
        }) => {
            let adding = matches!(cli.command, Command::User(UserCommand::Add { .. }));
            if name.is_empty()
                || name.len() > 64
                || name.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                bail!("account names are 1-64 characters without spaces");
            }
            let store = open_store(&dir)?;
            let exists = store.user(name)?.is_some();
            if adding && exists {
                bail!("account {name:?} already exists (use `pixbin user passwd`)");
            }
            if !adding && !exists {
                bail!("no account named {name:?}");
            }
            let (pw, generated) = read_password(*password_stdin)?;
            store.put_user(
                name,
                &UserRecord {
                    password_hash: password::hash(&pw),
                    created_at: clock::now_ms(),
                },
            )?;
            eprintln!(
                "{} account {name:?}",
                if adding {
                    "created"
                } else {
                    "updated the password of"
                }
            );
            if generated {
                println!("{pw}");
            }
        }
        Command::Key(KeyCommand::Create { name }) => {
            let store = open_store(&dir)?;
            let key = upload_key::generate();
            let rec = store.create_key(
                &upload_key::hash(key.expose()),
                name,
                &upload_key::display_prefix(key.expose()),
                clock::now_ms(),
            )?;
            eprintln!(
                "created upload key {} ({}); it is shown only now:",
                rec.id, rec.name
            );
            println!("{}", key.expose());
        }
        Command::Key(KeyCommand::List) => {
            let store = open_store(&dir)?;
            println!(
                "{:>4}  {:<10}  {:<20}  {:<20}  name",
                "id", "prefix", "created", "last used"
            );
            for k in store.list_keys()? {
                println!(
                    "{:>4}  {:<10}  {:<20}  {:<20}  {}",
                    k.id,
                    k.prefix,
                    clock::rfc3339(k.created_at),
                    k.last_used_at
                        .map(clock::rfc3339)
                        .unwrap_or_else(|| "never".into()),
                    k.name
                );
            }
        }
        Command::Key(KeyCommand::Revoke { id }) => {
            let store = open_store(&dir)?;
            if !store.revoke_key(*id)? {
                bail!("no upload key with id {id}");
            }
            eprintln!("revoked upload key {id}");
        }
    }
    Ok(())
}
