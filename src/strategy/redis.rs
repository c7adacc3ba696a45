//! Redis strategies (in progress).

use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Env, Layout, Outcome, ScoringWork, SetupError, Tracer,
};

/// Connection settings for Redis strategies.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RedisConfig {
    /// Server URL.
    pub url: String,
}

impl RedisConfig {
    /// Whether client retries are on, so a retried command may apply twice.
    pub fn retries_may_double_count(&self) -> bool {
        false
    }
}

pub(crate) const GET_SET_EXPLAIN: &str = "";
pub(crate) const INCR_GET_EXPLAIN: &str = "";
pub(crate) const INCRBY_EXPLAIN: &str = "";
pub(crate) const LUA_EXPLAIN: &str = "";
pub(crate) const WATCH_EXPLAIN: &str = "";
pub(crate) const SADD_EXPLAIN: &str = "";

macro_rules! pending {
    ($($t:ident),*) => {$(
        /// Redis strategy.
        #[derive(Debug)]
        pub struct $t;
        impl AsyncStrategy for $t {
            type Handle = $t;
            async fn setup(_: Layout, _: &Env, _: Option<Tracer>) -> Result<Self, SetupError> {
                Err(SetupError::NoRedis("redis"))
            }
            async fn handle(&self) -> Result<$t, SetupError> { Ok($t) }
            async fn counts(&self) -> Result<Vec<u32>, SetupError> { Ok(vec![]) }
        }
        impl AsyncRecorder for $t {
            async fn record(&mut self, _: Answer, _: &ScoringWork) -> Outcome { Outcome::Failed }
        }
    )*};
}
pending!(GetSet, IncrGet, Incrby, Lua, Watch, Sadd);

/// Builds the run's environment from a URL (flag or `QUIZRACE_REDIS_URL`).
pub fn env_from_url(url: Option<&str>) -> Result<Env, String> {
    Ok(Env {
        redis: Some(RedisConfig {
            url: url.unwrap_or("redis://127.0.0.1:6379").to_string(),
        }),
    })
}

/// Fault settings for the results file.
pub fn faults_json(_env: &Env) -> Option<serde_json::Value> {
    None
}

/// The server's version, when Redis is configured and reachable.
pub fn server_version(_env: &Env) -> Option<String> {
    None
}
