//! Redis strategies: the story's fix, its racy cousins, and the idempotent ones.
//!
//! | strategy | per answer | decision | under client retries |
//! |---|---|---|---|
//! | `redis-get-set` | `GET`, score, `SET v+1` | `v+1 == players` | racy anyway |
//! | `redis-incr-get` | `INCRBY`, then `GET` | `GET >= players` | racy anyway |
//! | `redis-incrby` | `INCRBY` | its reply `== players` | over-counts |
//! | `redis-lua` | one script: bitmap + `INCR` + end marker | marker holds this player | exact |
//! | `redis-watch` | `WATCH`/`GET`, `MULTI`/`SET`/`EXEC` | committed `v+1 == players` | over-counts |
//! | `redis-sadd` | one script: `SADD` + `SCARD` + end marker | marker holds this player | exact |
//!
//! Rules for every Redis run, and where they are kept:
//!
//! * **Keys** live under `quizrace:{run-id}:` ([`RedisConfig::prefix`]). Every
//!   strategy run gets a fresh run id ([`RunScope`]), shared with its child
//!   processes; teardown deletes the prefix with `SCAN`/`UNLINK`, also after
//!   errors, and [`interrupt_cleanup`] does it on Ctrl-C. Nothing ever
//!   calls `FLUSHALL`/`FLUSHDB`.
//! * **Secrets**: the URL's password lives in one private field; messages use
//!   [`RedisConfig::redacted_url`] and [`RedisConfig::scrub`].
//! * **Timeouts**: every connection has a connect and a response timeout
//!   ([`Faults`]); a dead server becomes failed or unknown outcomes.
//! * **Outcomes**: an answer is `Failed` only when it certainly did not
//!   apply (connection refused, command rejected), `Unknown` when it may
//!   have (a timeout after sending, a connection lost in flight), and `Ok`
//!   when acknowledged, even if an earlier, timed-out attempt also landed.
//!   The checker's counter bounds `[ok, ok + unknown]` rely on this.

mod config;
pub(crate) mod conn;
mod faults;
mod strategies;

pub use config::{
    env_from_url, faults_json, with_faults, Faults, Pause, PauseMode, RedisConfig,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT, DEFAULT_URL,
};
pub use conn::{
    interrupt_cleanup, interrupted, mark_interrupted, server_run_id, server_version,
    take_server_error, Cleaned, RunScope,
};
pub use faults::PauseInjector;
pub use strategies::{
    GetSet, GetSetHandle, IncrGet, IncrGetHandle, Incrby, IncrbyHandle, Lua, LuaHandle, Sadd,
    SaddHandle, Watch, WatchHandle,
};
pub(crate) use strategies::{
    GET_SET_EXPLAIN, INCRBY_EXPLAIN, INCR_GET_EXPLAIN, LUA_EXPLAIN, SADD_EXPLAIN, WATCH_EXPLAIN,
};
