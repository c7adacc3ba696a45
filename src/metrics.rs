//! Latency recording: one HDR histogram per worker, merged after the run.
//!
//! Each worker owns its histogram, so the hot loop never touches shared
//! recording state (a shared histogram or a `Mutex<Vec<Duration>>` would
//! measure the harness's contention, not the strategy's). Histograms keep 3
//! significant figures (0.1 % resolution) and grow to the largest value seen.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::result::Percentiles;

/// A worker's latency recorder (nanoseconds).
#[derive(Clone, Debug)]
pub struct Recorder {
    hist: Histogram<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Recorder {
            // 3 significant figures is HdrHistogram's usual precision; the
            // auto-resizing histogram starts small and grows with the data.
            hist: Histogram::new(3).expect("3 significant figures is a valid precision"),
        }
    }

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        // `record`, not `saturating_record`: the latter clamps to the current
        // range instead of growing it, so an auto-resizing histogram would
        // silently file every slow call under its initial maximum.
        let _ = self.hist.record(ns.max(1));
    }

    /// Records every value of `values`, exactly as [`Recorder::record`]
    /// would one by one, through a [`Batch`].
    pub fn record_many(&mut self, values: impl Iterator<Item = u64>) {
        let mut batch = self.batch();
        values.for_each(|v| batch.record(v));
    }

    /// A batch of values to record: see [`Batch`].
    pub fn batch(&mut self) -> Batch<'_> {
        Batch {
            small: vec![0; Batch::SMALL],
            to: self,
        }
    }

    /// Adds another recorder's values.
    pub fn merge(&mut self, other: &Recorder) {
        // Auto-resizing histograms accept any values, so `add` cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// p50, p90, p99, p99.9 and max (zeros when empty).
    pub fn percentiles(&self) -> Percentiles {
        if self.hist.is_empty() {
            return Percentiles::default();
        }
        let q = |q: f64| self.hist.value_at_quantile(q);
        Percentiles {
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            max: self.hist.max(),
        }
    }

    /// A compact, lossless-at-histogram-precision form for sending between processes.
    pub fn to_buckets(&self) -> Buckets {
        Buckets(
            self.hist
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    /// Rebuilds a recorder from [`Recorder::to_buckets`].
    pub fn from_buckets(b: &Buckets) -> Recorder {
        let mut r = Recorder::new();
        for &(value, count) in &b.0 {
            let _ = r.hist.record_n(value.max(1), count);
        }
        r
    }
}

/// Values on their way into a [`Recorder`], exactly as if recorded one by
/// one. Values under 4,096 ns (in a burst, nearly all of them) are counted
/// in a plain array and each count is added to the histogram once, when the
/// batch is dropped: an increment per value instead of a histogram record,
/// which was most of the cost of filling a 200 M-answer run's histograms.
pub struct Batch<'a> {
    to: &'a mut Recorder,
    small: Vec<u64>,
}

impl Batch<'_> {
    const SMALL: usize = 4_096;

    /// Records one latency.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        match self.small.get_mut(ns as usize) {
            Some(n) => *n += 1,
            None => self.to.record(ns),
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        for (v, &n) in self.small.iter().enumerate() {
            if n > 0 {
                // As in `Recorder::record`: auto-resizing, and 0 is filed as 1.
                let _ = self.to.hist.record_n((v as u64).max(1), n);
            }
        }
    }
}

/// Histogram buckets as `(value, count)` pairs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Buckets(pub Vec<(u64, u64)>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_many_is_recording_one_by_one() {
        let values: Vec<u64> = (0..50_000u64)
            .map(|i| (i * 7919) % 5_000 + if i % 97 == 0 { 1_000_000 + i } else { 0 })
            .collect();
        let mut one = Recorder::new();
        values.iter().for_each(|&v| one.record(v));
        let mut many = Recorder::new();
        many.record_many(values.iter().copied());
        assert_eq!(one.to_buckets().0, many.to_buckets().0);
        assert_eq!(one.len(), many.len());
    }

    #[test]
    fn merge_and_round_trip_keep_percentiles() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        for v in 1..=1000 {
            a.record(v * 10);
            b.record(v * 1000);
        }
        a.merge(&b);
        assert_eq!(a.len(), 2000);
        let p = a.percentiles();
        assert!(p.p50 >= 9_900 && p.p50 <= 10_010, "{p:?}");
        assert!(p.max >= 999_000);
        let c = Recorder::from_buckets(&a.to_buckets());
        assert_eq!(c.percentiles(), p);
    }

    #[test]
    fn large_values_grow_the_range_instead_of_clamping() {
        let mut r = Recorder::new();
        r.record(3);
        r.record(5_000_000_000);
        assert!(
            r.percentiles().max >= 4_990_000_000,
            "{:?}",
            r.percentiles()
        );
    }
}
