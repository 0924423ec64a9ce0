//! Runs the rules. Every run reads a window of *ingestion time* (see `vigil_store`'s
//! `received_catalog`), never of `TimeGenerated`, and only up to the store's horizon, below
//! which every row is visible:
//!
//! - a Scheduled rule's runs end every `queryFrequency` and read the rows received in the
//!   `queryPeriod` before; with period = frequency the windows tile ingestion time, so an
//!   event that arrives late (old `TimeGenerated`) is read by exactly one run: the one whose
//!   window holds its arrival. Runs missed while the server was down are run in order when it
//!   starts again, and a rule's first run reads the period before it.
//! - an NRT rule reads what was received since its watermark each time the store commits a
//!   batch (at most every `NRT_INTERVAL`).
//!
//! The new watermark is committed with the run's alerts (see `Detection::record_run`), so a
//! restart neither repeats nor skips a window.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::{Semaphore, watch};
use vigil_kql::{Catalog, Engine, RunOptions};
use vigil_store::Store;

use crate::alert::{AlertDraft, build_alerts};
use crate::rule::{Rule, RuleKind};
use crate::state::{Detection, RuleRecord, RunReport};
use crate::time::now_nanos;

/// NRT rules run at most this often, however often batches are committed.
const NRT_INTERVAL: Duration = Duration::from_millis(500);
/// Scheduled rules are looked at this often.
const TICK: Duration = Duration::from_secs(1);

/// What the scheduler measures, for `/metrics` and the benchmark. Cheap to clone: the
/// handles share their values.
#[derive(Clone)]
pub struct SchedulerMetrics {
    pub runs: Counter,
    pub failures: Counter,
    pub alerts: Counter,
    /// How late a run started after the end of its window.
    pub lag_seconds: Histogram,
    /// How long a run took, query and commit.
    pub run_seconds: Histogram,
}

impl Default for SchedulerMetrics {
    fn default() -> SchedulerMetrics {
        SchedulerMetrics {
            runs: Counter::default(),
            failures: Counter::default(),
            alerts: Counter::default(),
            lag_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 16)),
            run_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 18)),
        }
    }
}

impl SchedulerMetrics {
    /// Registers the metrics unprefixed: pass a prefixed sub-registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("rule_runs", "Analytics rule runs", self.runs.clone());
        registry.register("rule_run_failures", "Analytics rule runs that failed", self.failures.clone());
        registry.register("alerts", "Alerts raised (not counting suppressed ones)", self.alerts.clone());
        registry.register(
            "rule_lag_seconds",
            "How late rule runs start after the end of their ingestion-time window",
            self.lag_seconds.clone(),
        );
        registry.register("rule_run_seconds", "Time a rule run takes, query and commit", self.run_seconds.clone());
    }
}

pub struct Scheduler {
    detection: Arc<Detection>,
    store: Arc<Store>,
    engine: Engine,
    /// Rules being run now, by (workspace, id): a rule never runs twice at once.
    running: Mutex<HashSet<(String, String)>>,
    permits: Arc<Semaphore>,
    metrics: SchedulerMetrics,
}

impl Scheduler {
    /// `concurrency` rule queries run at once.
    pub fn new(
        detection: Arc<Detection>,
        store: Arc<Store>,
        engine: Engine,
        concurrency: usize,
        metrics: SchedulerMetrics,
    ) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            detection,
            store,
            engine,
            running: Mutex::new(HashSet::new()),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            metrics,
        })
    }

    /// Runs rules until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut commits = self.store.subscribe_commits();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_nrt = Instant::now() - NRT_INTERVAL;
        loop {
            let committed = tokio::select! {
                _ = shutdown.changed() => return,
                _ = tick.tick() => false,
                changed = commits.changed() => changed.is_ok(),
            };
            if *shutdown.borrow() {
                return;
            }
            if committed {
                let wait = NRT_INTERVAL.saturating_sub(last_nrt.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let rules = match self.detection.rules(None).await {
                Ok(rules) => rules,
                Err(e) => {
                    tracing::error!("cannot read the rules: {e}");
                    continue;
                }
            };
            let nrt_due = last_nrt.elapsed() >= NRT_INTERVAL;
            if nrt_due {
                last_nrt = Instant::now();
            }
            let horizon = self.store.received_horizon();
            for record in rules.into_iter().filter(|r| r.enabled) {
                if record.rule.kind == RuleKind::Nrt && !nrt_due || next_window(&record, horizon).is_none() {
                    continue;
                }
                let key = (record.workspace.clone(), record.rule.id.clone());
                if !self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone()) {
                    continue;
                }
                let scheduler = self.clone();
                tokio::spawn(async move {
                    scheduler.catch_up(record).await;
                    scheduler.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                });
            }
        }
    }

    /// Runs every window of the rule that is due, oldest first.
    async fn catch_up(&self, mut record: RuleRecord) {
        loop {
            let horizon = self.store.received_horizon();
            let Some((after, until)) = next_window(&record, horizon) else { return };
            let _permit = match self.permits.acquire().await {
                Ok(permit) => permit,
                Err(_) => return,
            };
            self.metrics.lag_seconds.observe((now_nanos() - until).max(0) as f64 / 1e9);
            match self.run_window(&record, after, until).await {
                Ok(_) => {
                    // The run moved the watermark in the database; follow it here.
                    record.watermark = Some(until);
                    match self.detection.rule(&record.workspace, &record.rule.id).await {
                        Ok(Some(fresh)) => record = fresh,
                        Ok(None) => return,
                        Err(e) => {
                            tracing::error!(rule = %record.rule.name, "cannot re-read the rule: {e}");
                            return;
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(rule = %record.rule.name, workspace = %record.workspace, "rule run failed: {error}");
                    return;
                }
            }
            if record.rule.kind == RuleKind::Nrt {
                return;
            }
        }
    }

    /// Runs the rule over the rows received in `(after, until]` and records the outcome.
    pub async fn run_window(&self, record: &RuleRecord, after: i64, until: i64) -> Result<RunReport, String> {
        let started = Instant::now();
        let suppressed = record.suppressed_until.is_some_and(|end| end > until);
        let outcome = if suppressed { Ok((0, Vec::new())) } else { self.evaluate(record, after, until).await };
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.runs.inc();
        let recorded = match outcome {
            Ok((rows, drafts)) => {
                self.detection.record_run(record, until, rows, seconds, drafts).await.map_err(|e| e.to_string())
            }
            Err(error) => Err(error),
        };
        self.metrics.run_seconds.observe(started.elapsed().as_secs_f64());
        match recorded {
            Ok(report) => {
                self.metrics.alerts.inc_by(report.alerts as u64);
                if report.alerts > 0 {
                    tracing::info!(rule = %record.rule.name, alerts = report.alerts, incidents = report.incidents_created, "rule raised alerts");
                }
                Ok(report)
            }
            Err(error) => {
                self.metrics.failures.inc();
                if let Err(e) = self.detection.record_failure(record, seconds, &error).await {
                    tracing::error!("cannot record a failed run: {e}");
                }
                Err(error)
            }
        }
    }

    async fn evaluate(&self, record: &RuleRecord, after: i64, until: i64) -> Result<(usize, Vec<AlertDraft>), String> {
        let catalog = self.store.received_catalog(&record.workspace, after, until);
        test_rule(&self.engine, &record.rule, catalog, until).await
    }
}

/// Runs a rule's query over `catalog` as of `now` and builds the alerts its results raise:
/// the number of result rows and the alerts.
pub async fn test_rule(
    engine: &Engine,
    rule: &Rule,
    catalog: Arc<dyn Catalog>,
    now: i64,
) -> Result<(usize, Vec<AlertDraft>), String> {
    let options = RunOptions { now: Some(now), principal: Some(format!("rule:{}", rule.id)), ..RunOptions::default() };
    let result = engine.run(&rule.query, catalog, options).await.map_err(|e| e.render(&rule.query))?;
    let Some(table) = result.tables.first() else {
        return Ok((0, Vec::new()));
    };
    let rows = table.rows();
    let drafts = build_alerts(rule, &table.columns, &rows);
    Ok((rows.len(), drafts))
}

/// The next window of ingestion time the rule should read, if one is complete below `horizon`.
pub fn next_window(record: &RuleRecord, horizon: i64) -> Option<(i64, i64)> {
    match record.rule.kind {
        RuleKind::Nrt => {
            let after = record.watermark.unwrap_or(record.created_at);
            (horizon > after).then_some((after, horizon))
        }
        RuleKind::Scheduled => {
            let frequency = record.rule.query_frequency.max(1);
            let end = match record.watermark {
                Some(previous) => previous.saturating_add(frequency),
                // The first run as soon as the rule exists, over the period before.
                None => record.created_at,
            };
            (end <= horizon).then(|| (end - record.rule.query_period, end))
        }
    }
}
