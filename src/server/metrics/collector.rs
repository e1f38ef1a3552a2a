//! Every second: read the machine, publish the sample to every tab, and keep it. Samples are
//! written in batches; once a minute, raw samples past the window become one-minute roll-ups and
//! roll-ups past retention (`--keep-metrics-days`, or the Settings page) are dropped.

use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::domain::live::ServerEvent;
use crate::server::live::Hub;
use crate::server::metrics::history::{MetricsHistory, Reading};
use crate::server::metrics::system::SystemProbe;
use crate::server::now_ms;

#[derive(Debug, Clone, Copy)]
pub struct HistoryConfig {
    pub interval: Duration,
    /// Raw samples are kept this long, then rolled up.
    pub raw_window: Duration,
    /// Samples gathered before one write.
    pub batch: usize,
    pub downsample_every: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            interval: Duration::from_secs(1),
            raw_window: Duration::from_secs(3600),
            batch: 10,
            downsample_every: Duration::from_secs(60),
        }
    }
}

pub fn spawn(
    hub: Hub,
    history: MetricsHistory,
    data_dir: PathBuf,
    config: HistoryConfig,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let probe = tokio::task::spawn_blocking(move || SystemProbe::new(&data_dir)).await;
        let Ok(Some(mut probe)) = probe else { return };
        let mut tick = tokio::time::interval(config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut batch: Vec<Reading> = Vec::new();
        let mut samples_in_batch = 0;
        let mut last_downsample = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            let read = tokio::task::spawn_blocking(move || {
                let sample = probe.sample();
                (probe, sample)
            })
            .await;
            let Ok((returned, sample)) = read else { return };
            probe = returned;
            if let Some(sample) = sample {
                batch.extend(
                    sample
                        .series()
                        .into_iter()
                        .map(|(key, value)| (key, sample.at, value)),
                );
                samples_in_batch += 1;
                hub.publish(ServerEvent::Metrics(sample));
            }
            if samples_in_batch >= config.batch {
                let rows = std::mem::take(&mut batch);
                samples_in_batch = 0;
                if let Err(error) = history.record(rows).await {
                    tracing::warn!(%error, "could not store metrics samples");
                }
            }
            if last_downsample.elapsed() >= config.downsample_every {
                last_downsample = tokio::time::Instant::now();
                let now = now_ms();
                let raw_cutoff = now - config.raw_window.as_millis() as i64;
                // Read each time: the Settings page may have changed it.
                let days = i64::from(history.retention_days());
                let rollup_cutoff = now - days * 24 * 3600 * 1000;
                if let Err(error) = history.downsample(raw_cutoff, rollup_cutoff).await {
                    tracing::warn!(%error, "could not downsample metrics history");
                }
            }
        }
    })
}
