//! Resource specs the tests share.

use std::collections::BTreeMap;

use api::ResourceSpec;

/// A `process` resource running `sleep 1000`, monitored every second, stopped within 5 s.
pub fn sleeper(name: &str) -> ResourceSpec {
    ResourceSpec {
        name: name.into(),
        type_name: "process".into(),
        params: BTreeMap::from([
            ("command".into(), "sleep".into()),
            ("args".into(), "1000".into()),
        ]),
        monitor_interval: Some("1s".into()),
        stop_timeout: Some("5s".into()),
        ..Default::default()
    }
}
