//! Runs the rules. Every run reads a window of *ingestion time* (see `vigil_store`'s
//! `received_catalog`), never of `TimeGenerated`, and only up to the store's horizon, below
//! which every row is visible:
//!
//! - a Scheduled rule's runs end every `queryFrequency` and read the rows received in the
//!   `queryPeriod` before; with period = frequency the windows tile ingestion time, so an
//!   event that arrives late (old `TimeGenerated`) is read by exactly one run: the one whose
//!   window holds its arrival. Runs missed while the server was down are run in order when it
//!   starts again. A rule's first run comes at its phase (an offset within its frequency
//!   decided by its id, so rules spread their runs) and reads the period before it.
//! - an NRT rule reads what was received since its watermark each time the store commits a
//!   batch (at most every `NRT_INTERVAL`).
//!
//! The new watermark is committed with the run's alerts (see `Detection::record_run`), so a
//! restart neither repeats nor skips a window.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use vigil_catalog::{Definitions, DefinitionsSource, WorkspaceCatalog};
use vigil_kql::{Catalog, Engine, RunOptions};
use vigil_shares::Shares;
use vigil_store::Store;

use crate::alert::{AlertDraft, build_alerts};
use crate::rule::{Rule, RuleKind};
use crate::state::{Detection, RuleRecord, RunReport};
use crate::time::now_nanos;

/// NRT rules run at most this often, however often batches are committed.
const NRT_INTERVAL: Duration = Duration::from_millis(500);
/// Scheduled rules are looked at this often.
const TICK: Duration = Duration::from_secs(1);
/// How long a due window waits for its tenant's share of rule runs before leaving it to a
/// later tick.
const PERMIT_WAIT: Duration = Duration::from_secs(60);

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

/// A rule by workspace and id.
type RuleKey = (String, String);

#[derive(Default)]
struct RuleCache {
    generation: Option<i64>,
    rules: BTreeMap<RuleKey, RuleRecord>,
}

pub struct Scheduler {
    detection: Arc<Detection>,
    store: Arc<Store>,
    /// What each workspace defines (standard and custom tables, functions, watchlists).
    definitions: Arc<dyn DefinitionsSource>,
    engine: Engine,
    /// Rules being run now: a rule never runs twice at once.
    running: Mutex<HashSet<RuleKey>>,
    /// The rules as of a generation of the detection database, with the state their last
    /// runs left.
    cache: Mutex<RuleCache>,
    /// Rule runs at once, shared between tenants so one tenant's rules cannot hold them all.
    permits: Shares,
    metrics: SchedulerMetrics,
}

impl Scheduler {
    /// `permits` say how many rule queries run at once, in all and for one tenant.
    pub fn new(
        detection: Arc<Detection>,
        store: Arc<Store>,
        definitions: Arc<dyn DefinitionsSource>,
        engine: Engine,
        permits: Shares,
        metrics: SchedulerMetrics,
    ) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            detection,
            store,
            definitions,
            engine,
            running: Mutex::new(HashSet::new()),
            cache: Mutex::new(RuleCache::default()),
            permits,
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
            if let Err(e) = self.reload().await {
                tracing::error!("cannot read the rules: {e}");
                continue;
            }
            let nrt_due = last_nrt.elapsed() >= NRT_INTERVAL;
            if nrt_due {
                last_nrt = Instant::now();
            }
            let horizon = self.store.received_horizon();
            let due: Vec<RuleKey> = {
                let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                cache
                    .rules
                    .iter()
                    .filter(|(_, r)| r.enabled && (nrt_due || r.rule.kind != RuleKind::Nrt))
                    .filter(|(_, r)| next_window(r, horizon).is_some())
                    .map(|(key, _)| key.clone())
                    .collect()
            };
            for key in due {
                if !self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone()) {
                    continue;
                }
                let scheduler = self.clone();
                tokio::spawn(async move {
                    scheduler.catch_up(&key).await;
                    scheduler.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                });
            }
        }
    }

    /// Reads the rules again when another writer (the CLI, the REST API) changed them.
    async fn reload(&self) -> Result<(), String> {
        let generation = self.detection.generation().await.map_err(|e| e.to_string())?;
        if self.cache.lock().unwrap_or_else(|p| p.into_inner()).generation == Some(generation) {
            return Ok(());
        }
        let rules = self.detection.rules(None).await.map_err(|e| e.to_string())?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.generation = Some(generation);
        cache.rules = rules.into_iter().map(|r| ((r.workspace.clone(), r.rule.id.clone()), r)).collect();
        Ok(())
    }

    /// Runs every window of the rule that is due, oldest first, from its state in the
    /// database (not the cache's, which a run that just finished may have moved on).
    async fn catch_up(&self, (workspace, id): &RuleKey) {
        let mut record = match self.detection.rule(workspace, id).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(rule = %id, "cannot read the rule: {e}");
                return;
            }
        };
        loop {
            let horizon = self.store.received_horizon();
            let Some((after, until)) = next_window(&record, horizon) else { break };
            let _permit = match self.permits.acquire(&record.tenant, PERMIT_WAIT).await {
                Ok(permit) => permit,
                // The tenant's other rules hold its share this long: the next tick tries again.
                Err(_) => break,
            };
            self.metrics.lag_seconds.observe((now_nanos() - until).max(0) as f64 / 1e9);
            if let Err(error) = self.run_window(&record, after, until).await {
                tracing::warn!(rule = %record.rule.name, workspace = %record.workspace, "rule run failed: {error}");
                break;
            }
            match self.detection.rule(workspace, id).await {
                Ok(Some(fresh)) => record = fresh,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(rule = %record.rule.name, "cannot re-read the rule: {e}");
                    break;
                }
            }
            if record.rule.kind == RuleKind::Nrt {
                break;
            }
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = cache.rules.get_mut(&(workspace.clone(), id.clone())) {
            *cached = record;
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
                self.detection.record_run(record, Some(until), rows, seconds, drafts).await.map_err(|e| e.to_string())
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
        let definitions = self.definitions.definitions(&record.workspace).await?;
        evaluate_window(&self.engine, &self.store, definitions, record, after, until).await
    }
}

/// Runs a rule over the rows its workspace received in `(after, until]`: the number of result
/// rows and the alerts they raise.
pub async fn evaluate_window(
    engine: &Engine,
    store: &Arc<Store>,
    definitions: Arc<Definitions>,
    record: &RuleRecord,
    after: i64,
    until: i64,
) -> Result<(usize, Vec<AlertDraft>), String> {
    let received = store.received_catalog(&record.workspace, after, until);
    let catalog: Arc<dyn Catalog> = Arc::new(WorkspaceCatalog::new(received, definitions));
    test_rule(engine, &record.rule, catalog, until).await
}

/// Runs a scheduled rule once, now, as Sentinel's `triggerRuleRun` does: over the rows received
/// in the `queryPeriod` before `execution_time` (at most the store's horizon, below which every
/// row is visible), raising its alerts and incidents, without moving its schedule.
pub async fn run_on_demand(
    engine: &Engine,
    store: &Arc<Store>,
    detection: &Detection,
    definitions: Arc<Definitions>,
    record: &RuleRecord,
    execution_time: i64,
) -> Result<RunReport, String> {
    if record.rule.kind == RuleKind::Nrt {
        return Err(format!("'{}' is a near-real-time rule: it runs on every batch, not on demand", record.rule.name));
    }
    let until = execution_time.min(store.received_horizon());
    let started = Instant::now();
    let (rows, drafts) =
        evaluate_window(engine, store, definitions, record, until - record.rule.query_period, until).await?;
    let seconds = started.elapsed().as_secs_f64();
    detection.record_run(record, None, rows, seconds, drafts).await.map_err(|e| e.to_string())
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
                None => first_window_end(record, frequency),
            };
            (end <= horizon).then(|| (end - record.rule.query_period, end))
        }
    }
}

/// The end of a scheduled rule's first window: the first moment after its creation at its
/// phase, an offset within its frequency that its id decides. A thousand rules imported at
/// once then run spread over their frequency, not all together, as Sentinel spreads them.
fn first_window_end(record: &RuleRecord, frequency: i64) -> i64 {
    // FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
    let hash = format!("{}/{}", record.workspace, record.rule.id)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    let phase = (hash % frequency as u64) as i64;
    let created = record.created_at;
    let candidate = created - created.rem_euclid(frequency) + phase;
    if candidate < created { candidate + frequency } else { candidate }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::parse_rule;

    const MINUTE: i64 = 60_000_000_000;

    fn record(id: &str, created_at: i64) -> RuleRecord {
        let text = format!("id: {id}\nname: n\nseverity: Low\nquery: T\nqueryFrequency: PT5M\nqueryPeriod: PT5M\n");
        RuleRecord {
            tenant: "t".into(),
            workspace: "w".into(),
            rule: parse_rule("test", &text).expect("valid"),
            source: text,
            enabled: true,
            created_at,
            watermark: None,
            suppressed_until: None,
            last_run: None,
            last_run_seconds: None,
            last_result_count: None,
            last_alert_count: None,
            last_error: None,
            runs: 0,
            failures: 0,
        }
    }

    #[test]
    fn rules_imported_together_spread_their_runs_over_the_frequency() {
        let created = 1_700_000_000_000_000_000;
        let mut per_minute = [0usize; 5];
        for i in 0..1000 {
            let record = record(&format!("rule-{i}"), created);
            let (after, end) = next_window(&record, i64::MAX).expect("due eventually");
            assert!((created..created + 5 * MINUTE).contains(&end), "the first run comes within one frequency");
            assert_eq!(end - after, 5 * MINUTE, "and reads the period before it");
            assert_eq!(next_window(&record, end - 1), None);
            per_minute[((end - created) / MINUTE) as usize] += 1;
        }
        assert!(per_minute.iter().all(|n| (150..=250).contains(n)), "{per_minute:?}");
        let again = record("rule-7", created);
        assert_eq!(next_window(&again, i64::MAX), next_window(&record("rule-7", created), i64::MAX), "stable");
    }
}
