//! Threshold rules on a series, with hysteresis (issue 13, point 6c): a rule fires when its
//! condition has held for its whole `for` duration, and resolves only when the value has
//! been back past its `clear` level for as long, so a value wavering at the threshold
//! neither floods nor flaps. Pure: samples arrive with their time.
//!
//! Syntax: `NAME[{label=value,...}] OP LEVEL [for DURATION] [clear LEVEL]`, with OP one of
//! `>`, `>=`, `<`, `<=`, e.g. `host_data_disk_used_ratio > 0.9 for 1m clear 0.85`.

/// The comparison of a rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `>`
    Above,
    /// `>=`
    AtLeast,
    /// `<`
    Below,
    /// `<=`
    AtMost,
}

impl Op {
    fn holds(self, value: f64, level: f64) -> bool {
        match self {
            Op::Above => value > level,
            Op::AtLeast => value >= level,
            Op::Below => value < level,
            Op::AtMost => value <= level,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Op::Above => ">",
            Op::AtLeast => ">=",
            Op::Below => "<",
            Op::AtMost => "<=",
        }
    }
}

/// A parsed rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The series' name.
    pub series: String,
    /// Labels a series must carry (a subset of its labels).
    pub labels: Vec<(String, String)>,
    /// The comparison.
    pub op: Op,
    /// The level that fires it.
    pub level: f64,
    /// How long the condition must hold before it fires, and the clear condition before
    /// it resolves, in ms.
    pub for_ms: u64,
    /// The level the value must be back past to resolve (the threshold itself if unset).
    pub clear: f64,
}

impl Rule {
    /// Parses a rule; the error names the part that is wrong and the expected form.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let form = "expected `NAME[{label=value}] >|>=|<|<= LEVEL [for DURATION] [clear LEVEL]`, \
                    e.g. `host_data_disk_used_ratio > 0.9 for 1m`";
        let words: Vec<&str> = text.split_whitespace().collect();
        let [selector, op, level, rest @ ..] = words.as_slice() else {
            return Err(format!("rule {text:?}: {form}"));
        };
        let (series, labels) = selector_parts(selector).map_err(|e| format!("{e}; {form}"))?;
        let op = match *op {
            ">" => Op::Above,
            ">=" => Op::AtLeast,
            "<" => Op::Below,
            "<=" => Op::AtMost,
            other => {
                return Err(format!(
                    "rule {text:?}: unknown comparison {other:?}; {form}"
                ));
            }
        };
        let number = |word: &str| -> Result<f64, String> {
            word.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| format!("rule {text:?}: {word:?} is not a number; {form}"))
        };
        let level = number(level)?;
        let mut rule = Rule {
            series,
            labels,
            op,
            level,
            for_ms: 0,
            clear: level,
        };
        let mut rest = rest.iter();
        while let Some(word) = rest.next() {
            let value = rest
                .next()
                .ok_or_else(|| format!("rule {text:?}: {word:?} needs a value; {form}"))?;
            match *word {
                "for" => {
                    let duration = humantime::parse_duration(value)
                        .map_err(|e| format!("rule {text:?}: duration {value:?}: {e}"))?;
                    rule.for_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
                }
                "clear" => rule.clear = number(value)?,
                other => return Err(format!("rule {text:?}: unknown word {other:?}; {form}")),
            }
        }
        let clear_fires = rule.op.holds(rule.clear, rule.level) && rule.clear != rule.level;
        if clear_fires {
            return Err(format!(
                "rule {text:?}: the clear level {} would itself fire the rule; \
                 it must be on the other side of {}",
                rule.clear, rule.level
            ));
        }
        Ok(rule)
    }

    /// The canonical text of the rule.
    pub fn text(&self) -> String {
        let mut out = self.series.clone();
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!("{{{}}}", labels.join(",")));
        }
        out.push_str(&format!(" {} {}", self.op.word(), self.level));
        match self.for_ms {
            0 => {}
            ms if ms % 60_000 == 0 => out.push_str(&format!(" for {}m", ms / 60_000)),
            ms if ms % 1_000 == 0 => out.push_str(&format!(" for {}s", ms / 1_000)),
            ms => out.push_str(&format!(" for {ms}ms")),
        }
        if self.clear != self.level {
            out.push_str(&format!(" clear {}", self.clear));
        }
        out
    }

    /// Whether the series `name` with `labels` is one this rule watches.
    pub fn matches(&self, name: &str, labels: &[(String, String)]) -> bool {
        name == self.series && self.labels.iter().all(|wanted| labels.contains(wanted))
    }
}

fn selector_parts(selector: &str) -> Result<(String, Vec<(String, String)>), String> {
    let (name, labels) = match selector.split_once('{') {
        None => (selector, ""),
        Some((name, rest)) => {
            let inner = rest
                .strip_suffix('}')
                .ok_or_else(|| format!("{selector:?}: labels must end with `}}`"))?;
            (name, inner)
        }
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !name_ok {
        return Err(format!("{name:?} is not a series name"));
    }
    let mut pairs = Vec::new();
    for pair in labels.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("label {pair:?} must be key=value"))?;
        pairs.push((
            key.trim().to_owned(),
            value.trim().trim_matches('"').to_owned(),
        ));
    }
    Ok((name.to_owned(), pairs))
}

/// A change of a rule's state on one series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transition {
    /// The condition held for the whole `for` duration.
    Fired,
    /// The value was back past `clear` for the whole `for` duration.
    Resolved,
}

/// One rule's state on one series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hysteresis {
    firing: bool,
    /// Since when the condition that would change the state has held.
    pending_since_ms: Option<u64>,
}

impl Hysteresis {
    /// Whether the rule is firing on this series.
    pub fn firing(&self) -> bool {
        self.firing
    }

    /// Feed the value sampled at `at_ms`; a non-finite value is no evidence either way.
    pub fn observe(&mut self, rule: &Rule, at_ms: u64, value: f64) -> Option<Transition> {
        if !value.is_finite() {
            return None;
        }
        let towards_change = if self.firing {
            !rule.op.holds(value, rule.clear)
        } else {
            rule.op.holds(value, rule.level)
        };
        if !towards_change {
            self.pending_since_ms = None;
            return None;
        }
        let since = *self.pending_since_ms.get_or_insert(at_ms);
        if at_ms.saturating_sub(since) < rule.for_ms {
            return None;
        }
        self.pending_since_ms = None;
        self.firing = !self.firing;
        Some(if self.firing {
            Transition::Fired
        } else {
            Transition::Resolved
        })
    }
}

#[cfg(test)]
mod tests;
