//! `cdrapi` answers read into flat call records: `{"cdr_root":[…]}`, where a transferred or queued
//! call is a group of a `main_cdr` and `sub_cdr_N` children, and `recordfiles` names the call's
//! recordings as `2026-02/auto-…-1000-2815058290.wav@`.

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

/// The console's own time format for `start` (its local time, no zone).
const START_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// Which part of the console's record a [`Cdr`] was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CdrPart {
    /// A call with one record.
    Single,
    /// The `main_cdr` of a group (transfer, queue).
    Main,
    /// The `sub_cdr_N` of a group, with its N.
    Sub(u32),
}

/// One call record, flattened out of its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cdr {
    pub acct_id: String,
    pub uniqueid: String,
    pub src: String,
    pub dst: String,
    /// The `start` field as the console wrote it (console local time, no zone).
    pub start_text: String,
    /// `start_text` read, when it is in the console's usual format.
    pub start: Option<NaiveDateTime>,
    pub disposition: String,
    pub action_type: String,
    pub recordfiles: Vec<String>,
    pub part: CdrPart,
    /// The `AcctId` of the group's `main_cdr` (the record itself for a single record).
    pub group: String,
}

/// One page of `cdrapi`: the flattened records, and how many `cdr_root` entries it held (the
/// count that paging compares with `numRecords`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrPage {
    pub records: Vec<Cdr>,
    pub root_entries: usize,
}

/// Reads a `cdr_root` array; `None` when the answer has none (then it is a status or not the API).
pub fn read_page(answer: &Value) -> Option<CdrPage> {
    let root = answer.get("cdr_root")?.as_array()?;
    let records = root.iter().flat_map(flatten).collect();
    Some(CdrPage {
        records,
        root_entries: root.len(),
    })
}

/// A `cdr_root` entry as records: itself, or its `main_cdr` followed by its `sub_cdr_N` in order.
fn flatten(entry: &Value) -> Vec<Cdr> {
    let Some(fields) = entry.as_object() else {
        return Vec::new();
    };
    let Some(main) = fields.get("main_cdr").and_then(Value::as_object) else {
        return vec![record(fields, CdrPart::Single, None)];
    };
    let group = text(main, "AcctId");
    let mut subs: Vec<(u32, &Map<String, Value>)> = fields
        .iter()
        .filter_map(|(key, value)| {
            let n = key.strip_prefix("sub_cdr_")?.parse().ok()?;
            Some((n, value.as_object()?))
        })
        .collect();
    subs.sort_by_key(|(n, _)| *n);
    std::iter::once(record(main, CdrPart::Main, Some(&group)))
        .chain(
            subs.into_iter()
                .map(|(n, sub)| record(sub, CdrPart::Sub(n), Some(&group))),
        )
        .collect()
}

fn record(fields: &Map<String, Value>, part: CdrPart, group: Option<&str>) -> Cdr {
    let acct_id = text(fields, "AcctId");
    let start_text = text(fields, "start");
    Cdr {
        start: NaiveDateTime::parse_from_str(&start_text, START_FORMAT).ok(),
        group: group.map_or_else(|| acct_id.clone(), str::to_string),
        acct_id,
        uniqueid: text(fields, "uniqueid"),
        src: text(fields, "src"),
        dst: text(fields, "dst"),
        start_text,
        disposition: text(fields, "disposition"),
        action_type: text(fields, "action_type"),
        recordfiles: record_files(&text(fields, "recordfiles")),
        part,
    }
}

/// A field as text: the console writes numbers as strings, but a number is read as well.
fn text(fields: &Map<String, Value>, key: &str) -> String {
    match fields.get(key) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// The bare file names in a `recordfiles` value: `cdrapi` ends each name with `@`,
/// `getRecordInfosByCall` separates them with commas; both prefix the month folder.
pub fn record_files(raw: &str) -> Vec<String> {
    raw.split(['@', ','])
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|path| path.rsplit('/').next().unwrap_or(path).to_string())
        .collect()
}

/// A `startTime`/`endTime` value as the guide writes it: `YYYY-MM-DDTHH:MM:SS`, console local time.
pub fn filter_time(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn groups_are_flattened_main_first_then_subs_in_order() {
        let answer = json!({ "cdr_root": [
            { "AcctId": "1", "uniqueid": "1700000000.1", "src": "1000", "dst": "1001",
              "start": "2026-02-03 10:00:00", "recordfiles": "2026-02/auto-1-1000-1001.wav@" },
            { "main_cdr": { "AcctId": "2", "uniqueid": "1700000100.2", "recordfiles": "" },
              "sub_cdr_2": { "AcctId": 4, "uniqueid": "1700000100.4",
                             "recordfiles": "2026-02/q-b.wav@2026-02/q-c.wav@" },
              "sub_cdr_1": { "AcctId": "3", "uniqueid": "1700000100.3",
                             "recordfiles": "2026-02/q-a.wav@" } }
        ]});
        let page = read_page(&answer).unwrap();
        assert_eq!(page.root_entries, 2);
        let parts: Vec<_> = page
            .records
            .iter()
            .map(|r| (r.acct_id.as_str(), r.part.clone(), r.group.as_str()))
            .collect();
        assert_eq!(
            parts,
            [
                ("1", CdrPart::Single, "1"),
                ("2", CdrPart::Main, "2"),
                ("3", CdrPart::Sub(1), "2"),
                ("4", CdrPart::Sub(2), "2"),
            ]
        );
        assert_eq!(page.records[0].recordfiles, ["auto-1-1000-1001.wav"]);
        assert_eq!(page.records[3].recordfiles, ["q-b.wav", "q-c.wav"]);
        assert!(page.records[0].start.is_some());
        assert!(page.records[1].recordfiles.is_empty());
    }

    #[test]
    fn both_recordfiles_shapes_give_bare_names() {
        assert_eq!(
            record_files("2024-10/auto-1-1003-1005.wav,2024-10/auto-2-1003-1005.wav"),
            ["auto-1-1003-1005.wav", "auto-2-1003-1005.wav"]
        );
        assert_eq!(record_files(" @"), Vec::<String>::new());
        assert!(read_page(&json!({ "status": -6 })).is_none());
    }
}
