//! Fixture files: bytes as hex, 16 to a line, after `#` comment lines, under `ROOT`; and
//! the one check every pinned record goes through.

use std::fmt::Debug;
use std::io;
use std::path::Path;

/// Where the fixtures live, one folder per kind of record and format byte.
pub(super) const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/formats");

const RULE: &str = "see ARCHITECTURE.md, \"Persisted formats\"";

/// Whether a fixture pins what encluster writes today or a layout it only reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// Today's encoding must equal the fixture, byte for byte.
    Current,
    /// An older layout: the fixture must still decode; nothing writes it any more.
    Old,
}

/// What `UPDATE_FIXTURES` asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Update {
    /// Unset: compare only.
    No,
    /// `1`: write missing fixtures.
    Missing,
    /// `overwrite`: also rewrite fixtures that differ (never for a released format).
    Overwrite,
}

fn update() -> Update {
    match std::env::var("UPDATE_FIXTURES").as_deref() {
        Ok("overwrite") => Update::Overwrite,
        Ok("1") => Update::Missing,
        _ => Update::No,
    }
}

/// Check one pinned record: the fixture at `path` (under `ROOT`) must decode to `expected`,
/// and for the current layout equal `encoded`. `what` names the record for the message.
pub(super) fn check<T: PartialEq + Debug>(
    layout: Layout,
    what: &str,
    path: &str,
    encoded: &[u8],
    decode: impl Fn(&[u8]) -> io::Result<T>,
    expected: &T,
) -> Result<(), String> {
    let file = Path::new(ROOT).join(path);
    let committed = match read_hex(&file) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            if update() == Update::No {
                return Err(format!(
                    "{what} has no fixture {path}: write it with `UPDATE_FIXTURES=1 cargo \
                     test -p cmdb formats` and commit it"
                ));
            }
            write_hex(&file, what, encoded).map_err(|e| format!("writing {path}: {e}"))?;
            encoded.to_vec()
        }
        Err(error) => return Err(format!("reading fixture {path}: {error}")),
    };
    if layout == Layout::Current && committed != encoded {
        if update() != Update::Overwrite {
            let detail = "today's encoding differs from the fixture";
            return Err(failure(layout, what, path, detail));
        }
        write_hex(&file, what, encoded).map_err(|e| format!("writing {path}: {e}"))?;
        return check(layout, what, path, encoded, decode, expected);
    }
    match decode(&committed) {
        Ok(value) if value == *expected => Ok(()),
        Ok(value) => {
            let detail = format!("it decodes to\n{value:?}\ninstead of the sample\n{expected:?}");
            Err(failure(layout, what, path, &detail))
        }
        Err(error) => {
            let detail = format!("it no longer decodes: {error}");
            Err(failure(layout, what, path, &detail))
        }
    }
}

/// The message of a failed check: the fix first, then what was found.
fn failure(layout: Layout, what: &str, path: &str, detail: &str) -> String {
    let fix = match layout {
        Layout::Current => format!(
            "The persisted layout of {what} changed: give it a new format byte and keep the \
             old one readable (a decoder branch for the old byte, this fixture unchanged, a \
             new fixture for the new byte written with UPDATE_FIXTURES=1); {RULE}. \
             (UPDATE_FIXTURES=overwrite replaces a fixture that was never released.)"
        ),
        Layout::Old => format!(
            "{what} is no longer read as before: the decoder branch of its format byte must \
             read it into today's types; never edit its fixture; {RULE}."
        ),
    };
    format!("{fix}\nFixture {path}: {detail}.")
}

/// The bytes of a fixture file.
fn read_hex(file: &Path) -> io::Result<Vec<u8>> {
    let text = std::fs::read_to_string(file)?;
    let mut bytes = Vec::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        for pair in line.split_whitespace() {
            let byte = u8::from_str_radix(pair, 16).map_err(|error| {
                let message = format!("{}: {pair:?} is not a hex byte: {error}", file.display());
                io::Error::new(io::ErrorKind::InvalidData, message)
            })?;
            bytes.push(byte);
        }
    }
    Ok(bytes)
}

fn write_hex(file: &Path, what: &str, bytes: &[u8]) -> io::Result<()> {
    let mut text = format!("# {what}.\n# Never edit this file; {RULE}.\n");
    for line in bytes.chunks(16) {
        let pairs: Vec<String> = line.iter().map(|byte| format!("{byte:02x}")).collect();
        text.push_str(&pairs.join(" "));
        text.push('\n');
    }
    if let Some(folder) = file.parent() {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::write(file, text)
}

/// Every committed fixture as (folder, name without `.hex`, bytes).
pub(super) fn all() -> io::Result<Vec<(String, String, Vec<u8>)>> {
    let mut fixtures = Vec::new();
    for folder in std::fs::read_dir(ROOT)? {
        let folder = folder?.path();
        let folder_name = folder.file_name().map(|n| n.to_string_lossy().into_owned());
        for file in std::fs::read_dir(&folder)? {
            let file = file?.path();
            let Some(name) = file.file_stem().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let bytes = read_hex(&file)?;
            fixtures.push((folder_name.clone().unwrap_or_default(), name, bytes));
        }
    }
    fixtures.sort();
    Ok(fixtures)
}
