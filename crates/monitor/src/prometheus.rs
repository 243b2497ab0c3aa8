//! `/metrics`: the last sample of every series in the Prometheus text format (0.0.4),
//! encoded by the Prometheus project's `prometheus-client` crate, each with the node's
//! label beside its own. Counters get the `_total` suffix the format asks for.

use std::collections::BTreeMap;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::Kind;
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
        Ok(())
    }
}

/// The text of a scrape: `latest` (from [`crate::Recorder::latest`]) labelled with `node`.
pub fn render(latest: Vec<(SeriesKey, Kind, f64)>, node: &str) -> String {
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
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot { families }));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}
