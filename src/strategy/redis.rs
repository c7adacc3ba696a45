//! Redis strategies (in progress).

use crate::strategy::{
    Answer, AsyncRecorder, AsyncStrategy, Env, Layout, Outcome, ScoringWork, SetupError, Tracer,
};

/// Connection settings for Redis strategies.
#[derive(Clone, Debug, Default)]
pub struct RedisConfig {
    /// Server URL.
    pub url: String,
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
