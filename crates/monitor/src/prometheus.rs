//! `/metrics`: the last sample of every series in the Prometheus text format (0.0.4),
//! encoded by the Prometheus project's `prometheus-client` crate, each with the node's
//! label beside its own. Counters get the `_total` suffix the format asks for. Latency
//! histograms ([`crate::histogram`]) are rendered as Prometheus histograms, from the
//! counts of their owners at the last sampling round.

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::Kind;
use crate::histogram::{Buckets, Histogram, LATENCY_BOUNDS_SECONDS};
use crate::recorder::SeriesKey;

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A sample's labels, the node's first.
type Labels = Vec<(String, String)>;

/// One name's kind and labelled values.
type Family = (Kind, Vec<(Labels, f64)>);

/// One scrape's figures, grouped by name.
#[derive(Debug)]
struct Snapshot {
    families: BTreeMap<String, Family>,
    histograms: BTreeMap<&'static str, Vec<(Labels, Buckets)>>,
}

impl Snapshot {
    fn encode_histograms(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, histograms) in &self.histograms {
            let help = format!("encluster latency {name}");
            let mut family = encoder.encode_descriptor(name, &help, None, MetricType::Histogram)?;
            for (labels, buckets) in histograms {
                let bounds = LATENCY_BOUNDS_SECONDS
                    .iter()
                    .copied()
                    .chain([f64::INFINITY]);
                let counts: Vec<(f64, u64)> = bounds.zip(buckets.counts).collect();
                family
                    .encode_family(labels)?
                    .encode_histogram::<NoLabelSet>(
                        buckets.sum_seconds,
                        buckets.count(),
                        &counts,
                        None,
                    )?;
            }
        }
        Ok(())
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, (kind, samples)) in &self.families {
            let help = format!("encluster series {name}");
            match kind {
                Kind::Gauge => {
                    let mut family = encoder.encode_descriptor(
                        name,
                        &help,
                        None,
                        ConstGauge::new(0.0f64).metric_type(),
                    )?;
                    for (labels, value) in samples {
                        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
                    }
                }
                Kind::Counter => {
                    let mut family = encoder.encode_descriptor(
                        name,
                        &help,
                        None,
                        ConstCounter::new(0.0f64).metric_type(),
                    )?;
                    for (labels, value) in samples {
                        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
                    }
                }
            }
        }
        self.encode_histograms(&mut encoder)
    }
}

/// The text of a scrape: `latest` (from [`crate::Recorder::latest`]) and `histograms`
/// labelled with `node`.
pub fn render(latest: Vec<(SeriesKey, Kind, f64)>, histograms: &[Histogram], node: &str) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for (key, kind, value) in latest {
        let mut labels = vec![("node".to_owned(), node.to_owned())];
        labels.extend(key.labels);
        families
            .entry(key.name)
            .or_insert_with(|| (kind, Vec::new()))
            .1
            .push((labels, value));
    }
    let mut by_name: BTreeMap<&'static str, Vec<(Labels, Buckets)>> = BTreeMap::new();
    for histogram in histograms {
        let mut labels = vec![("node".to_owned(), node.to_owned())];
        labels.extend(histogram.key().labels);
        by_name
            .entry(histogram.name)
            .or_default()
            .push((labels, histogram.buckets.clone()));
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot {
        families,
        histograms: by_name,
    }));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}
