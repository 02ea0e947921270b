//! Rows of the Recordings list that show no file name (the row key is the console's own id, or
//! there is none): which of them a known call claims, the way the download picks a call's row.

use chrono::{DateTime, Utc};

use crate::console::{CallQuery, ListedRecording};

/// How far around the rows' times the calls they may belong to are looked for: wider than any
/// sensible `time_tolerance`, which decides the match itself.
pub(super) const CALLS_AROUND: chrono::Duration = chrono::Duration::days(1);

/// A read's rows, by what can be told from them.
#[derive(Debug, Default)]
pub(super) struct Sorted {
    /// Rows with a file name: the database tells whether a call references it.
    pub named: Vec<ListedRecording>,
    /// Rows without one that show a caller, a callee and a readable time: matched to the
    /// known calls by those.
    pub unnamed: Vec<ListedRecording>,
    /// Rows with neither: nothing tells whose recording they are.
    pub untold: usize,
}

pub(super) fn sort(rows: Vec<ListedRecording>) -> Sorted {
    let mut sorted = Sorted::default();
    for row in rows {
        match (&row.file, tellable(&row)) {
            (Some(_), _) => sorted.named.push(row),
            (None, true) => sorted.unnamed.push(row),
            (None, false) => sorted.untold += 1,
        }
    }
    sorted
}

/// Whether a row without a file name shows enough to be matched to a call.
fn tellable(row: &ListedRecording) -> bool {
    row.shown_at.is_some() && !row.caller.trim().is_empty() && !row.callee.trim().is_empty()
}

/// The times the rows show, earliest and latest, widened by [`CALLS_AROUND`].
pub(super) fn span<'a>(
    times: impl Iterator<Item = Option<DateTime<Utc>>> + 'a,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (from, to) = times.flatten().fold(None, |span, at| match span {
        None => Some((at, at)),
        Some((from, to)) => Some((at.min(from), at.max(to))),
    })?;
    Some((from - CALLS_AROUND, to + CALLS_AROUND))
}

/// Which call each row is, as the download would pick it: the surest pairs first, each row to
/// at most one call, each call to as many rows as it has recording files (at least one). A
/// call that has its row leaves a second, farther row with the same parties unclaimed: that is
/// another recording.
pub(super) fn owners<R, M: Ord>(
    rows: &[R],
    calls: &[CallQuery],
    matches: impl Fn(&R, &CallQuery) -> Option<M>,
) -> Vec<Option<usize>> {
    let mut pairs: Vec<(M, usize, usize)> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        for (c, call) in calls.iter().enumerate() {
            if let Some(m) = matches(row, call) {
                pairs.push((m, r, c));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut room: Vec<usize> = calls.iter().map(|c| c.recordfiles.len().max(1)).collect();
    let mut owner = vec![None; rows.len()];
    for (_, r, c) in pairs {
        if owner[r].is_none() && room[c] > 0 {
            owner[r] = Some(c);
            room[c] -= 1;
        }
    }
    owner
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ids::UniqueId;

    fn row(file: Option<&str>, caller: &str, at: Option<i64>) -> ListedRecording {
        ListedRecording {
            file: file.map(str::to_string),
            caller: caller.into(),
            callee: "2000".into(),
            shown_at: at.map(|s| Utc.timestamp_opt(s, 0).unwrap()),
        }
    }

    fn call(id: i64, at: i64, files: usize) -> CallQuery {
        CallQuery {
            call_id: id,
            uniqueid: UniqueId::parse("1770395696.1").unwrap(),
            caller: "1000".into(),
            callee: "2000".into(),
            call_date_utc: Utc.timestamp_opt(at, 0).unwrap().naive_utc(),
            recordfiles: (0..files).map(|n| format!("f{n}.wav")).collect(),
        }
    }

    /// Same parties, within 600 s: the distance in seconds.
    fn near(row: &ListedRecording, call: &CallQuery) -> Option<i64> {
        let apart = (row.shown_at?.naive_utc() - call.call_date_utc)
            .num_seconds()
            .abs();
        (row.caller == call.caller && apart <= 600).then_some(apart)
    }

    #[test]
    fn rows_are_sorted_by_what_tells_them_apart() {
        let sorted = sort(vec![
            row(Some("a.wav"), "", None),
            row(None, "1000", Some(100)),
            row(None, "1000", None),
            row(None, " ", Some(100)),
        ]);
        assert_eq!(sorted.named.len(), 1);
        assert_eq!(sorted.unnamed.len(), 1);
        assert_eq!(sorted.untold, 2);
    }

    #[test]
    fn each_call_claims_its_nearest_row_and_leaves_the_next_one_unclaimed() {
        let rows = [
            row(None, "1000", Some(1_000)),
            row(None, "1000", Some(1_200)),
            row(None, "1001", Some(1_000)),
        ];
        // One call near both rows of 1000: the nearer is its, the other another recording.
        let owners = owners(&rows, &[call(7, 1_190, 1)], near);
        assert_eq!(owners, [None, Some(0), None]);
    }

    #[test]
    fn a_call_with_two_recording_files_claims_two_rows() {
        let rows = [
            row(None, "1000", Some(1_000)),
            row(None, "1000", Some(1_030)),
        ];
        assert_eq!(
            owners(&rows, &[call(7, 1_000, 2)], near),
            [Some(0), Some(0)]
        );
    }

    #[test]
    fn the_span_covers_every_shown_time_and_a_margin() {
        assert_eq!(span([None, None].into_iter()), None);
        let at = |s| Utc.timestamp_opt(s, 0).unwrap();
        let (from, to) = span([Some(at(500)), None, Some(at(100))].into_iter()).unwrap();
        assert_eq!((from, to), (at(100) - CALLS_AROUND, at(500) + CALLS_AROUND));
    }
}
