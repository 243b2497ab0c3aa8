//! The targets: each parser of hostile input, wrapped to take any bytes.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// One fuzz target.
pub struct Target {
    /// Its name, also its corpus folder.
    pub name: &'static str,
    /// What it parses and who sends it.
    pub what: &'static str,
    /// Runs one input; panics on a defect.
    pub run: fn(&[u8]),
    /// Tokens worth inserting.
    pub dictionary: &'static [&'static [u8]],
}

const HTTP: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"Host: a\r\n",
    b"host:",
    b"Content-Length: ",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Connection: ",
    b"Connection: host, x-forwarded-for\r\n",
    b"Upgrade: websocket\r\n",
    b"Expect: 100-continue\r\n",
    b"Keep-Alive",
    b"close",
    b"chunked",
    b" HTTP/1.1",
    b" HTTP/1.0",
    b"CONNECT ",
    b"http://a/",
    b"X-Forwarded-For: 1.2.3.4\r\n",
    b";ext=1",
];

const XML: &[&[u8]] = &[
    b"<parameter name=\"x\" unique=\"1\" required=\"1\">",
    b"</parameter>",
    b"<content type=\"string\" default=\"\"/>",
    b"<content type=\"select\"><option value=\"a\"/></content>",
    b"<action name=\"start\" timeout=\"20s\"/>",
    b"<![CDATA[",
    b"]]>",
    b"<!--",
    b"-->",
    b"&amp;",
    b"&#x41;",
    b"&#99999999;",
    b"<?xml version=\"1.0\"?>",
    b"<!DOCTYPE x>",
    b"/>",
];

const TOML: &[&[u8]] = &[
    b"\n[api]\n",
    b"\n[raft]\n",
    b"\n[lb]\n",
    b" = \"",
    b" = 0\n",
    b" = 18446744073709551615\n",
    b" = \"0s\"\n",
    b" = \"1000000000000h\"\n",
    b"[[",
    b"]]",
    b"'''",
    b"\"\"\"",
];

const JSON: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"name\":",
    b"\"type\":",
    b"\"op\":",
    b"\"id\":",
    b"null",
    b"18446744073709551616",
    b"-1",
    b"1e999",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b",",
];

const FENCE: &[&[u8]] = &[
    b"\0",
    b"\n",
    b"\r\n",
    b"Status: ON\n",
    b"Status: OFF\n",
    b"vm1,\n",
    b"ERROR:",
    b"Failed: ",
    b"\xff\xfe",
];

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "lb_request",
        what: "the proxy's request-head parser and what it forwards (clients)",
        run: lb::fuzzing::request,
        dictionary: HTTP,
    },
    Target {
        name: "lb_response",
        what: "the proxy's response-head reader and body framing (real servers)",
        run: lb::fuzzing::response,
        dictionary: HTTP,
    },
    Target {
        name: "lb_chunk_size",
        what: "the chunk-size line of a chunked body (real servers)",
        run: lb::fuzzing::chunk_size,
        dictionary: HTTP,
    },
    Target {
        name: "ocf_meta_data",
        what: "OCF meta-data XML (agent scripts on the node)",
        run: ocf_meta_data,
        dictionary: XML,
    },
    Target {
        name: "fence_meta_data",
        what: "a fence agent's meta-data XML (fence-agents on the node)",
        run: fence_meta_data,
        dictionary: XML,
    },
    Target {
        name: "config_toml",
        what: "the agent's config file (the operator)",
        run: config_toml,
        dictionary: TOML,
    },
    Target {
        name: "api_json",
        what: "API JSON bodies (every client of the API)",
        run: api_json,
        dictionary: JSON,
    },
    Target {
        name: "app_protocol",
        what: "the application protocol's lines (application instances)",
        run: app_protocol,
        dictionary: JSON,
    },
    Target {
        name: "cmdb_command",
        what: "a persisted or replicated cmdb command (disk, peers)",
        run: cmdb::fuzzing::command,
        dictionary: &[],
    },
    Target {
        name: "cmdb_entry",
        what: "a Raft log entry as stored (disk)",
        run: cmdb::fuzzing::entry,
        dictionary: &[],
    },
    Target {
        name: "cmdb_snapshot",
        what: "a snapshot file and its cluster database (disk, peers)",
        run: cmdb::fuzzing::snapshot,
        dictionary: &[],
    },
    Target {
        name: "fence_output",
        what: "what a fence agent prints for `status`, `list` and the rest (fence-agents)",
        run: fence_output,
        dictionary: FENCE,
    },
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

fn ocf_meta_data(data: &[u8]) {
    if let Some(document) = text(data) {
        resource_agents::fuzzing::ocf_meta_data(document);
    }
}

fn fence_meta_data(data: &[u8]) {
    if let Some(document) = text(data) {
        let _ = resource_agents::fence::fence_type_info_from_meta_data("fence_fuzz", document);
    }
}

fn config_toml(data: &[u8]) {
    if let Some(document) = text(data)
        && let Ok(config) = toml::from_str::<agent::AgentConfig>(document)
    {
        let _ = config.validate();
    }
}

/// Parses `data` as `T`; what parses must write out and parse back to the same value.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let written = serde_json::to_vec(&value).expect("a parsed body writes out");
        let again: T = serde_json::from_slice(&written).expect("a written body parses");
        assert_eq!(again, value, "a body changed on its way out and back");
    }
}

fn api_json(data: &[u8]) {
    round_trip::<api::ClusterSpec>(data);
    round_trip::<api::ResourceSpec>(data);
    round_trip::<api::ConstraintSpec>(data);
    round_trip::<api::JoinRequest>(data);
    round_trip::<api::LoginRequest>(data);
    round_trip::<api::TypeSpec>(data);
    round_trip::<api::AlertSpec>(data);
    round_trip::<api::FenceDeviceSpec>(data);
    round_trip::<api::MoveRequest>(data);
}

fn app_protocol(data: &[u8]) {
    let mut reader = app_sdk::framing::LineReader::new(4096);
    for piece in data.chunks(7) {
        reader.push(piece);
        while let Ok(Some(line)) = reader.next_line() {
            let _ = app_sdk::protocol::parse_request(&line);
            if let Some(encoded) = text(&line) {
                let _ = app_sdk::base64::decode(encoded);
            }
        }
    }
}

/// What a fence agent prints, as the agent keeps it and puts it in fencing events: the
/// first byte picks how the call ended, the rest is standard output and, after the first
/// NUL, standard error, both decoded lossily as the agent reads them. Today the agent
/// concludes from the exit code only (`status` exits 0 for on and 2 for off) and never runs
/// `list`; a parser of their output belongs here when one is written.
fn fence_output(data: &[u8]) {
    use resource_agents::fence::{FenceAnswer, FenceEnd, levels};
    let Some((&end, output)) = data.split_first() else {
        return;
    };
    let (stdout, stderr) = match output.iter().position(|byte| *byte == 0) {
        Some(nul) => (&output[..nul], &output[nul + 1..]),
        None => (output, &[][..]),
    };
    let end = match end {
        253 => FenceEnd::Killed("signal 9 (SIGKILL)".into()),
        254 => FenceEnd::TimedOut,
        255 => FenceEnd::NotStarted("cannot run /usr/sbin/fence_fuzz".into()),
        code => FenceEnd::Exited(i32::from(code)),
    };
    let answer = FenceAnswer {
        end,
        stdout: String::from_utf8_lossy(stdout).into_owned(),
        stderr: String::from_utf8_lossy(stderr).into_owned(),
    };
    let described = levels::describe(&answer);
    assert!(!described.contains('\n'), "a described answer is one line");
}
