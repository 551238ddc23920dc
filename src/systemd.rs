//! systemd integration: the hardened unit `pixbin systemd-unit` prints, and the
//! `Type=notify` protocol (readiness, watchdog, stopping) via `sd-notify`.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call here does nothing. The
//! watchdog is fed only after a database read succeeds, so a process whose store
//! has stopped answering is restarted instead of merely looking alive.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

use crate::store::Store;

/// Tells systemd that start-up finished: the listener is bound and the database
/// open. Errors (a vanished socket) are logged, never fatal.
pub fn notify_ready(addr: std::net::SocketAddr) {
    let status = format!("serving on {addr}");
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&status)]) {
        tracing::warn!(error = %e, "could not notify systemd of readiness");
    }
}

/// Tells systemd that a graceful stop began.
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// Feeds the watchdog at half its period while the database answers, when
/// systemd asked for one (`WatchdogSec=`); returns at once otherwise.
pub async fn watchdog(store: Arc<Store>) {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (period / 2).max(Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = store.clone();
        let ping = move || {
            let res = s.ping();
            if let Err(e) = &res {
                s.recheck_after(e);
            }
            res
        };
        match tokio::task::spawn_blocking(ping).await {
            Ok(Ok(())) => {
                let _ = sd_notify::notify(&[NotifyState::Watchdog]);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "database did not answer; not feeding the watchdog")
            }
            Err(e) => tracing::warn!(error = %e, "watchdog ping failed; not feeding the watchdog"),
        }
    }
}

/// The unit file for `binary`. Hardening follows ECOSYSTEM §3.1; its
/// `systemd-analyze security --offline=true` exposure is stated in the README
/// and checked in CI.
pub fn unit(binary: &str) -> String {
    format!(
        "\
# pixbin: save as /etc/systemd/system/pixbin.service, then
#   systemctl daemon-reload && systemctl enable --now pixbin
# Settings: add Environment= lines with `systemctl edit pixbin`, or point
# PIXBIN_CONFIG at a TOML file in /etc/pixbin (ConfigurationDirectory).
[Unit]
Description=pixbin image host
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
ExecStart={binary} serve
Environment=PIXBIN_DATA_DIR=%S/pixbin
Environment=PIXBIN_LISTEN=127.0.0.1:8080
#Environment=PIXBIN_BASE_URL=https://img.example.com
#Environment=PIXBIN_CONFIG=/etc/pixbin/pixbin.toml
Restart=on-failure
RestartSec=2s
TimeoutStopSec=30s
WatchdogSec=30s
LimitNOFILE=65536

# A throwaway user owning only its state directory.
DynamicUser=yes
StateDirectory=pixbin
StateDirectoryMode=0700
ConfigurationDirectory=pixbin
UMask=0077

# Hardening: no privileges, a read-only view of the system, no devices, only
# the address families and system calls a network service needs.
CapabilityBoundingSet=
AmbientCapabilities=
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
PrivateIPC=yes
PrivateMounts=yes
DevicePolicy=closed
ProtectHostname=yes
ProtectClock=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @mount @swap @reboot @module @debug @cpu-emulation @obsolete @raw-io @clock
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
"
    )
}

/// The path to print in `ExecStart=`: this executable, or the usual place.
pub fn default_binary() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .and_then(|p| p.to_str().map(String::from))
        .filter(|p| !p.contains(char::is_whitespace))
        .unwrap_or_else(|| "/usr/local/bin/pixbin".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_names_the_binary_and_the_essentials() {
        let u = unit("/opt/pixbin");
        for line in [
            "ExecStart=/opt/pixbin serve",
            "Type=notify",
            "WatchdogSec=30s",
            "DynamicUser=yes",
            "StateDirectory=pixbin",
            "ProtectSystem=strict",
            "NoNewPrivileges=yes",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
            "SystemCallFilter=@system-service",
        ] {
            assert!(u.lines().any(|l| l == line), "missing {line}");
        }
    }
}
