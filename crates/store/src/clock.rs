//! Ingestion time: when a row was received, the `_TimeReceived` column of every table.
//!
//! The WAL writer stamps each group commit with a time that is strictly later than every
//! earlier stamp (the wall clock, or one nanosecond past the last stamp if the clock did not
//! move or went back). Because groups are committed and applied to the memtables one at a
//! time, in stamp order, there is a *horizon*: every row stamped at or before it is already
//! visible to queries, and every row not yet visible will be stamped after it. Detection rules
//! read windows of ingestion time that end at or before the horizon, so a late event (old
//! `TimeGenerated`, new ingestion time) is read by exactly one window.

use std::sync::Mutex;

use tokio::sync::watch;

/// The column holding each row's ingestion time (as in Log Analytics' standard columns).
pub const RECEIVED_COLUMN: &str = "_TimeReceived";

pub(crate) struct ReceivedClock {
    state: Mutex<ClockState>,
    /// The stamp of the newest group whose rows are visible.
    committed: watch::Sender<i64>,
}

struct ClockState {
    /// The latest stamp handed out, or horizon reported: later stamps are greater.
    last: i64,
    /// The stamp of the group being written, whose rows are not visible yet.
    in_flight: Option<i64>,
}

impl ReceivedClock {
    /// A clock whose stamps follow `last` (the newest stamp in the WAL being replayed).
    pub fn new(last: i64) -> ReceivedClock {
        ReceivedClock { state: Mutex::new(ClockState { last, in_flight: None }), committed: watch::Sender::new(last) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stamp of the group about to be written.
    pub fn stamp(&self) -> i64 {
        let mut state = self.lock();
        let stamp = now_nanos().max(state.last + 1);
        state.last = stamp;
        state.in_flight = Some(stamp);
        stamp
    }

    /// The group stamped `stamp` is in the memtables.
    pub fn committed(&self, stamp: i64) {
        self.lock().in_flight = None;
        self.committed.send_replace(stamp);
    }

    /// The group being written failed: none of its rows will ever be visible.
    pub fn abandoned(&self) {
        self.lock().in_flight = None;
    }

    /// Every row with an ingestion time at or before this is visible, and every row that is
    /// not will get a later one.
    pub fn horizon(&self) -> i64 {
        let mut state = self.lock();
        match state.in_flight {
            Some(stamp) => stamp - 1,
            None => {
                // Later stamps must pass what is reported here even if the wall clock goes back.
                state.last = state.last.max(now_nanos());
                state.last
            }
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.committed.subscribe()
    }
}

pub(crate) fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_increase_and_the_horizon_stops_before_a_group_in_flight() {
        let far_future = now_nanos() + 3_600_000_000_000;
        let clock = ReceivedClock::new(far_future);
        let first = clock.stamp();
        assert_eq!(first, far_future + 1, "a clock behind the last stamp still moves forward");
        assert_eq!(clock.horizon(), first - 1, "the group in flight is not visible yet");
        clock.committed(first);
        assert_eq!(clock.horizon(), first);
        let second = clock.stamp();
        assert!(second > first);
        clock.abandoned();
        assert!(clock.horizon() >= second);
        assert!(clock.stamp() > clock.horizon() - 1);
    }

    #[test]
    fn the_horizon_follows_the_wall_clock_when_idle_and_later_stamps_pass_it() {
        let clock = ReceivedClock::new(0);
        let before = now_nanos();
        let horizon = clock.horizon();
        assert!(horizon >= before);
        assert!(clock.stamp() > horizon);
    }
}
