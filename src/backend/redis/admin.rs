//! Administrative commands: checking the server, loading scripts, reading
//! final counts, asking the server who it is, and deleting the run's keys.
//!
//! Deleting is `SCAN MATCH prefix*` + `UNLINK`, never anything else: no
//! `FLUSHALL`, no `FLUSHDB`, no key outside the run's prefix.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisResult, Value};

use super::errors::explain;
use super::link::{open_node_with, open_with, Connection};
use super::{RedisConfig, Site};
use crate::strategy::SetupError;

/// A connection for reading counts and deleting keys after the run. Its
/// response timeout covers an injected pause still in effect.
pub(crate) async fn admin(site: &Site) -> Result<Connection, SetupError> {
    open_with(site, admin_timeout(site))
        .await
        .map_err(|e| explain(site, "connecting", &e))
}

fn admin_timeout(site: &Site) -> Duration {
    let pause = site.faults.pause.map_or(Duration::ZERO, |p| p.duration);
    site.faults.response_timeout.max(Duration::from_secs(5)) + pause
}

/// Checks that the server is what the configuration says: a cluster node
/// with `--redis-cluster`, a plain server without. Without this check a
/// cluster node answers most keys with `MOVED`, and the cluster client
/// fails against a plain server with a message about `CLUSTER SLOTS`.
pub(crate) async fn check_mode(site: &Site) -> Result<(), SetupError> {
    let mut c = open_node_with(site, admin_timeout(site))
        .await
        .map_err(|e| explain(site, "connecting", &e))?;
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut c)
        .await
        .map_err(|e| explain(site, "INFO cluster", &e))?;
    let enabled = info.lines().any(|l| l.trim() == "cluster_enabled:1");
    let url = site.cfg.redacted_url();
    match (site.cfg.is_cluster(), enabled) {
        (false, true) => Err(SetupError::Backend(format!(
            "the Redis server at {url} is a Redis Cluster node (cluster_enabled:1), which \
             answers keys of other nodes' slots with MOVED: add --redis-cluster (in a scenario: \
             [redis] cluster = true) to run through the cluster client"
        ))),
        (true, false) => Err(SetupError::Backend(format!(
            "--redis-cluster was given, but the Redis server at {url} is not a cluster node \
             (cluster support disabled): drop --redis-cluster (and [redis] cluster = true) to \
             use it as a single server, or give the URL of a node of your cluster"
        ))),
        _ => Ok(()),
    }
}

/// Sends every command and returns their replies in order: one pipeline
/// on a single server; on a cluster, each command on its own (a pipeline
/// must stay within one slot), up to 256 in flight.
pub(crate) async fn each(conn: &Connection, cmds: Vec<redis::Cmd>) -> RedisResult<Vec<Value>> {
    match conn {
        Connection::Node(c) => {
            let mut p = redis::pipe();
            for cmd in cmds {
                p.add_command(cmd);
            }
            p.query_async(&mut c.clone()).await
        }
        Connection::Cluster(_) => {
            let mut out = Vec::with_capacity(cmds.len());
            let mut cmds = cmds.into_iter().peekable();
            while cmds.peek().is_some() {
                let mut set = tokio::task::JoinSet::new();
                for (i, cmd) in cmds.by_ref().take(256).enumerate() {
                    let mut c = conn.clone();
                    set.spawn(async move { (i, cmd.query_async::<Value>(&mut c).await) });
                }
                let mut batch: Vec<(usize, RedisResult<Value>)> =
                    set.join_all().await.into_iter().collect();
                batch.sort_by_key(|(i, _)| *i);
                for (_, r) in batch {
                    out.push(r?);
                }
            }
            Ok(out)
        }
    }
}

/// Checks that the server answers `PING` with `PONG`.
pub(crate) async fn ping(
    site: &Site,
    conn: &mut impl redis::aio::ConnectionLike,
) -> Result<(), SetupError> {
    let pong: String = redis::cmd("PING")
        .query_async(conn)
        .await
        .map_err(|e| explain(site, "PING", &e))?;
    if pong != "PONG" {
        return Err(SetupError::Backend(format!(
            "Redis at {} answered PING with something other than PONG: is it a Redis server?",
            site.cfg.redacted_url()
        )));
    }
    Ok(())
}

/// Loads a Lua script once (`SCRIPT LOAD`), so that every call is an
/// `EVALSHA` of 40 bytes instead of the script's text.
pub(crate) async fn load_script(
    site: &Site,
    conn: &mut Connection,
    script: &redis::Script,
    strategy: &str,
) -> Result<(), SetupError> {
    script.load_async(conn).await.map_err(|e| {
        let msg = e.to_string();
        // The server echoes the start of the script; the command name is enough.
        let msg = msg.split(", with args").next().unwrap_or(&msg).to_string();
        if msg.contains("unknown command") || e.code() == Some("NOPERM") || msg.contains("NOPERM")
        {
            SetupError::Backend(site.cfg.scrub(&format!(
                "Redis: loading the Lua script of `{strategy}` failed: the server at {} does not \
                 allow Lua scripting (SCRIPT LOAD / EVALSHA are disabled, renamed or denied by ACL: \
                 {msg}). Enable scripting for this user (ACL SETUSER <user> +@scripting), or use \
                 redis-incrby or redis-watch, which need no scripts",
                site.cfg.redacted_url()
            )))
        } else {
            explain(site, &format!("loading the Lua script of `{strategy}`"), &e)
        }
    })?;
    Ok(())
}

/// A failed clean-up, with the exact command that deletes what is left.
pub(crate) fn left_behind(site: &Site, e: SetupError) -> SetupError {
    SetupError::Backend(format!(
        "{e}. This run's keys may be left on the server: delete them with {}",
        manual_cleanup(site)
    ))
}

/// The shell command that deletes the run's keys.
pub(crate) fn manual_cleanup(site: &Site) -> String {
    let url = site.cfg.redacted_url();
    if site.cfg.is_cluster() {
        // SCAN sees one node, and one UNLINK of keys in several slots is
        // refused: every primary, one key at a time.
        return format!(
            "on every primary (redis-cli -u '{url}' cluster nodes lists them): redis-cli -h HOST \
             -p PORT --scan --pattern '{}*' | xargs -r -n 1 redis-cli -h HOST -p PORT unlink \
             (add -a PASSWORD if the cluster needs one)",
            site.prefix
        );
    }
    format!(
        "redis-cli -u '{url}' --scan --pattern '{}*' | xargs -r redis-cli -u '{url}' unlink \
         (add the password to the URL if the server needs one)",
        site.prefix
    )
}

/// Deletes every key under the run's prefix, adding how many it deleted to
/// `deleted` as it goes (so a deletion cut short still counts what it did).
/// On a cluster it does so on every primary: `SCAN` sees one node's keys.
pub(crate) async fn delete_prefix(
    conn: &mut Connection,
    site: &Site,
    deleted: &mut u64,
) -> Result<(), SetupError> {
    match conn {
        Connection::Node(c) => delete_on_node(c, site, deleted, false).await,
        Connection::Cluster(c) => {
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(c)
                .await
                .map_err(|e| {
                    explain(site, "listing the cluster's primaries (CLUSTER NODES)", &e)
                })?;
            for (host, port) in primaries(&nodes) {
                let info = site
                    .cfg
                    .node_at(&host, port)
                    .map_err(|e| SetupError::Backend(e.to_string()))?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(site.faults.connect_timeout))
                    .set_response_timeout(Some(admin_timeout(site)));
                let mut node = async {
                    redis::Client::open(info)?
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                }
                .await
                .map_err(|e| {
                    explain(
                        site,
                        &format!("connecting to the primary {host}:{port}"),
                        &e,
                    )
                })?;
                delete_on_node(&mut node, site, deleted, true).await?;
            }
            Ok(())
        }
    }
}

/// The primaries (`host`, `port`) in a `CLUSTER NODES` reply.
pub(crate) fn primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = f.get(2)?;
            if !flags.split(',').any(|x| x == "master") || flags.contains("fail") {
                return None;
            }
            // ip:port@cport[,hostname]
            let addr = f.get(1)?.split('@').next()?;
            let (host, port) = addr.rsplit_once(':')?;
            Some((host.to_string(), port.parse().ok()?))
        })
        .collect()
}

/// `SCAN` + `UNLINK` on one server; `one_by_one` on a cluster node, where
/// one `UNLINK` of keys in different slots would be refused (`CROSSSLOT`).
async fn delete_on_node(
    conn: &mut MultiplexedConnection,
    site: &Site,
    deleted: &mut u64,
    one_by_one: bool,
) -> Result<(), SetupError> {
    let pattern = format!("{}*", site.prefix);
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .map_err(|e| explain(site, "deleting the run's keys (SCAN)", &e))?;
        if !keys.is_empty() {
            let n: u64 = if one_by_one {
                let mut p = redis::pipe();
                for k in &keys {
                    p.cmd("UNLINK").arg(k);
                }
                let each: Vec<u64> = p
                    .query_async(conn)
                    .await
                    .map_err(|e| explain(site, "deleting the run's keys (UNLINK)", &e))?;
                each.iter().sum()
            } else {
                redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(conn)
                    .await
                    .map_err(|e| explain(site, "deleting the run's keys (UNLINK)", &e))?
            };
            *deleted += n;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(());
        }
    }
}

/// Reads one integer per key with `MGET`, in chunks (missing keys are 0;
/// the cluster client splits an `MGET` by slot).
pub(crate) async fn mget_counts(
    conn: &mut Connection,
    site: &Site,
    keys: impl Iterator<Item = String>,
) -> Result<Vec<u32>, SetupError> {
    let keys: Vec<String> = keys.collect();
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(1000) {
        let vals: Vec<Option<u64>> = redis::cmd("MGET")
            .arg(chunk)
            .query_async(conn)
            .await
            .map_err(|e| explain(site, "reading the final counts", &e))?;
        out.extend(
            vals.into_iter()
                .map(|v| v.unwrap_or(0).min(u32::MAX as u64) as u32),
        );
    }
    Ok(out)
}

/// Fields of `INFO server`, when the server answers within a second.
pub(crate) fn info_server(cfg: &RedisConfig) -> Option<Vec<(String, String)>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let client = cfg.client().ok()?;
        let short = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        let mut c = client
            .get_multiplexed_async_connection_with_config(&short)
            .await
            .ok()?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut c)
            .await
            .ok()?;
        Some(
            info.lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect(),
        )
    })
}

/// One field of `INFO server`.
pub(crate) fn info_field(cfg: &RedisConfig, field: &str) -> Option<String> {
    info_server(cfg)?
        .into_iter()
        .find_map(|(k, v)| (k == field).then_some(v))
}
