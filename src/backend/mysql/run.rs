//! One strategy run on MariaDB/MySQL: its table (created at the start with
//! one row per room-round, dropped at the end, also after errors and on
//! Ctrl-C). A restart is not reported as data loss: InnoDB keeps what it
//! acknowledged, so the counter bounds judge such a run as usual.

use std::sync::Arc;
use std::time::Duration;

use super::client::{run_sql, take_server_error};
use super::Site;
use crate::backend::interrupt::{self, Cleanup, Registration};
use crate::backend::{ActiveRun, RunEnd};
use crate::strategy::{Layout, SetupError};

/// The hooks of one run.
pub(crate) struct MyRun {
    site: Site,
    _registration: Registration,
}

impl MyRun {
    pub(crate) fn begin(site: Site, layout: Layout) -> Result<MyRun, SetupError> {
        if site.faults.pause.is_some() {
            return Err(SetupError::Backend(
                "the pause fault (pause_at / pause_for) is Redis's CLIENT PAUSE; MariaDB/MySQL \
                 has no equivalent here: drop it for SQL strategies, or use --response-timeout \
                 and --retries"
                    .into(),
            ));
        }
        let _ = take_server_error();
        let registration = interrupt::register(Arc::new(OnInterrupt { site: site.clone() }));
        let mut statements = vec![format!(
            "CREATE TABLE {} (slot INT PRIMARY KEY, n INT NOT NULL DEFAULT 0) ENGINE=InnoDB",
            site.counts
        )];
        let slots = layout.slots();
        let mut start = 0;
        while start < slots {
            let end = (start + 1000).min(slots);
            let values: Vec<String> = (start..end).map(|s| format!("({s})")).collect();
            statements.push(format!(
                "INSERT INTO {} (slot) VALUES {}",
                site.counts,
                values.join(",")
            ));
            start = end;
        }
        let created = run_sql(
            &site,
            "creating the run's table",
            &statements,
            Duration::from_secs(60),
        );
        if let Err(e) = created {
            return Err(match drop_table(&site) {
                Ok(_) => e,
                Err(cleanup) => SetupError::Backend(format!(
                    "{e}; {cleanup}. This run's table may be left on the server: drop it with {}",
                    manual_cleanup(&site)
                )),
            });
        }
        Ok(MyRun {
            site,
            _registration: registration,
        })
    }
}

impl ActiveRun for MyRun {
    fn before_counts(&mut self) -> Result<(), SetupError> {
        Ok(()) // no fault of its own to end
    }

    fn end(self: Box<Self>) -> Result<RunEnd, SetupError> {
        drop_table(&self.site).map_err(|e| {
            SetupError::Backend(format!(
                "{e}. This run's table may be left on the server: drop it with {}",
                manual_cleanup(&self.site)
            ))
        })?;
        Ok(RunEnd {
            restarted: false,
            server_error: take_server_error(),
        })
    }
}

fn drop_table(site: &Site) -> Result<u64, SetupError> {
    run_sql(
        site,
        "dropping the run's table",
        &[format!("DROP TABLE IF EXISTS {}", site.counts)],
        Duration::from_secs(30),
    )?;
    Ok(1)
}

fn manual_cleanup(site: &Site) -> String {
    match site.cfg.opts() {
        Ok(o) => format!(
            "mysql -h {} -P {} -u {} {} -e 'DROP TABLE IF EXISTS {}' (add -p if the user has a \
             password)",
            o.ip_or_hostname(),
            o.tcp_port(),
            o.user().unwrap_or("root"),
            o.db_name().unwrap_or(""),
            site.counts
        ),
        Err(_) => format!(
            "DROP TABLE IF EXISTS {} (in the run's database)",
            site.counts
        ),
    }
}

/// What Ctrl-C does for a run still in progress.
struct OnInterrupt {
    site: Site,
}

impl Cleanup for OnInterrupt {
    fn describe(&self) -> String {
        format!("the MariaDB/MySQL table {}", self.site.counts)
    }

    fn clean_now(&self) -> Result<u64, SetupError> {
        drop_table(&self.site)
    }

    fn manual_cleanup(&self) -> String {
        manual_cleanup(&self.site)
    }
}
