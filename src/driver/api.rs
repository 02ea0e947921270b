//! The HTTPS API road: a tenant's recordings through Grandstream's API ([`crate::ucm_api`]),
//! without a browser (docs/https-api.md, "The API road").
//!
//! A call is matched in `cdrapi` around its time: by `uniqueid` first, then by a recording file
//! it names; the files come from the matched record's `recordfiles`, else from
//! `getRecordInfosByCall` with its `AcctId`. The file is asked for in `monitor`, then in `queue`
//! (the guide names no CDR field that tells a queue call).
//!
//! Recordings without a call ([`crate::unmatched`]) are read the same way: `cdrapi` over the
//! read's window gives every recording file with its caller, callee and start, and a noted one
//! is fetched by its file name like a call's. A `.venc` file among them is reported, never
//! fetched (the API road does not fetch GDMS/NAS files).
//!
//! What the road does not decide itself it says through [`Road`]: a `.venc` file is left to the
//! browser for that call; a closed road (refused user, no permission, API not served, `recapi`
//! refusing every file) hands the tenant to the browser for the pass ([`super::roads`]).

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{Duration as Span, NaiveDateTime, Utc};
use tracing::{info, warn};

use crate::calls::Call;
use crate::console::{Downloaded, ListedRecording, NewestQuery, NewestRecordings, ScanEnd};
use crate::failure::{Failure, NextStep};
use crate::ids::TenantId;
use crate::tenants::{ApiAccess, Tenant};
use crate::ucm_api::client::MAX_PAGE_SIZE;
use crate::ucm_api::{
    ApiClient, ApiError, ApiErrorKind, ApiTarget, Cdr, CdrQuery, FileDir, Pacing,
};

/// How far around a call's time its CDR is looked for: the console's clock and the backend's
/// `call_date` may differ by the call's ring time and a little drift.
const MATCH_WINDOW: Span = Span::minutes(10);
/// `recapi` refusals (-16, "404") before any file came through in this pass, after which the
/// road counts as refusing every file and the browser takes the tenant.
const REFUSALS_BEFORE_CLOSED: u32 = 3;

/// Which road a failure of the API road sends the call or the tenant to.
pub use crate::ucm_api::Road;

/// A failure on the API road, with what it means for the call.
#[derive(Debug, thiserror::Error)]
pub enum ApiRoadError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// `cdrapi` listed calls around this one's time, read to the end, and none of them is it.
    #[error("tenant {tenant_name} (ID: {tenant_id}), HTTPS API: call {uniqueid} is not among the {listed} CDR(s) cdrapi lists from {from} to {to} (console time)")]
    NotInCdrs {
        tenant_id: TenantId,
        tenant_name: String,
        uniqueid: String,
        listed: usize,
        from: NaiveDateTime,
        to: NaiveDateTime,
    },
    /// `cdrapi` listed nothing at all around the call: no evidence (a malformed filter gets an
    /// empty list too).
    #[error("tenant {tenant_name} (ID: {tenant_id}), HTTPS API: cdrapi lists no CDR at all from {from} to {to} (console time) around call {uniqueid}; not taken as evidence, tried again next pass")]
    NothingListed {
        tenant_id: TenantId,
        tenant_name: String,
        uniqueid: String,
        from: NaiveDateTime,
        to: NaiveDateTime,
    },
    /// The CDR has no recording file, and `getRecordInfosByCall` names none either.
    #[error("tenant {tenant_name} (ID: {tenant_id}), HTTPS API: the console's CDR of call {uniqueid} names no recording file")]
    NoFile {
        tenant_id: TenantId,
        tenant_name: String,
        uniqueid: String,
    },
    /// `recapi` refused a file before any file came through in this pass: not evidence about
    /// the call yet, so the browser looks for it.
    #[error("{source}; no file came through the API yet in this pass, so the browser looks for this call")]
    Unproven { source: ApiError },
    /// `recapi` refused every file asked for in this pass.
    #[error(
        "{source}; recapi refused all {refusals} file(s) asked for in this pass and served none"
    )]
    RefusesEveryFile { source: ApiError, refusals: u32 },
    /// A recording without a call that is stored on GDMS or a NAS: reported, never fetched.
    #[error("tenant {tenant_name} (ID: {tenant_id}), HTTPS API: {file} is a .venc file (GDMS/NAS storage), which the API road reports but does not fetch")]
    VencNotFetched {
        tenant_id: TenantId,
        tenant_name: String,
        file: String,
    },
    /// A recording noticed without a file name (by a browser pass): `recapi` needs the name.
    #[error("tenant {tenant_name} (ID: {tenant_id}), HTTPS API: recording {key} was noticed without a file name, which recapi needs; a browser pass fetches it")]
    Unnamed {
        tenant_id: TenantId,
        tenant_name: String,
        key: String,
    },
    #[error("tenant {tenant_name} (ID: {tenant_id}): writing the recording {file} fetched over the HTTPS API to {path} failed: {error}")]
    Write {
        tenant_id: TenantId,
        tenant_name: String,
        file: String,
        path: PathBuf,
        error: std::io::Error,
    },
}

impl ApiRoadError {
    /// Which road the call, or the tenant, takes after this failure.
    pub fn road(&self) -> Road {
        match self {
            Self::Api(error) => error.road(),
            Self::Unproven { .. } => Road::BrowserForCall,
            Self::RefusesEveryFile { .. } => Road::BrowserForTenant,
            Self::NotInCdrs { .. } | Self::NothingListed { .. } | Self::NoFile { .. } => Road::Open,
            // Left where it is: not fetched at all on an API pass.
            Self::VencNotFetched { .. } | Self::Unnamed { .. } => Road::Open,
            Self::Write { .. } => Road::Open,
        }
    }
}

impl Failure for ApiRoadError {
    fn next_step(&self) -> NextStep {
        match self {
            Self::Api(error) => error.next_step(),
            // Read to the end without the call: the same evidence as a Recordings list read to
            // the end without its row, final only after the not-listed grace.
            Self::NotInCdrs { .. } | Self::NoFile { .. } => NextStep::NotListed,
            Self::NothingListed { .. } | Self::Unproven { .. } => NextStep::RetryCallUncharged,
            // Nothing wrong with the recording: keeping moves on to the next one.
            Self::VencNotFetched { .. } | Self::Unnamed { .. } => NextStep::RetryCallUncharged,
            Self::RefusesEveryFile { .. } => NextStep::StopTenantUncharged,
            Self::Write { .. } => NextStep::StopTenant,
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Api(error) => error.retry_after(),
            _ => None,
        }
    }
}

/// One tenant's API session for one pass.
pub(crate) struct ApiRoad {
    client: ApiClient,
    tenant_id: TenantId,
    tenant_name: String,
    timezone: chrono_tz::Tz,
    /// `<work_dir>/tenant_<id>`: where fetched recordings go, as the browser's do.
    work_dir: PathBuf,
    /// A file came through `recapi` in this pass: its refusals are evidence from now on.
    served_any: bool,
    refusals: u32,
    /// The `.venc` files of a read of recordings without a call were said once this pass.
    venc_told: bool,
}

impl ApiRoad {
    pub(crate) fn new(
        tenant: &Tenant,
        access: &ApiAccess,
        accept_invalid_certs: bool,
        work_dir: PathBuf,
    ) -> Result<Self, ApiRoadError> {
        let target = ApiTarget::of(tenant, access, accept_invalid_certs);
        Ok(Self {
            client: ApiClient::new(target, Pacing::default())?,
            tenant_id: tenant.id,
            tenant_name: tenant.name.clone(),
            timezone: tenant.timezone,
            work_dir: work_dir.join(format!("tenant_{}", tenant.id)),
            served_any: false,
            refusals: 0,
            venc_told: false,
        })
    }

    pub(crate) async fn sign_in(&mut self) -> Result<(), ApiRoadError> {
        self.client.login().await?;
        std::fs::create_dir_all(&self.work_dir).map_err(|error| ApiRoadError::Write {
            tenant_id: self.tenant_id,
            tenant_name: self.tenant_name.clone(),
            file: String::new(),
            path: self.work_dir.clone(),
            error,
        })?;
        Ok(())
    }

    /// Finds `call`'s recording and fetches it into the work directory.
    pub(crate) async fn fetch(&mut self, call: &Call) -> Result<Downloaded, ApiRoadError> {
        let files = self.files_of(call).await?;
        let file = files.first().ok_or_else(|| ApiRoadError::NoFile {
            tenant_id: self.tenant_id,
            tenant_name: self.tenant_name.clone(),
            uniqueid: call.uniqueid.to_string(),
        })?;
        let fetched = self.fetch_file(file).await?;
        info!(
            file = %file,
            bytes = fetched.bytes,
            "Fetched the recording of call {} over the HTTPS API",
            call.uniqueid
        );
        Ok(fetched)
    }

    /// For recordings without a call: every recording file `cdrapi` lists from the read's
    /// line (the last read's newest, else the window's start) on, newest first, within the
    /// read's page budget. `cdrapi` filters by time itself, so no list is paged through.
    pub(crate) async fn newest_recordings(
        &mut self,
        query: &NewestQuery,
    ) -> Result<NewestRecordings, ApiRoadError> {
        let line = query
            .newest
            .as_ref()
            .map_or(query.not_before, |(at, _)| (*at).max(query.not_before));
        let cdr_query = CdrQuery {
            start: Some(self.console_time(line.naive_utc())),
            page_size: MAX_PAGE_SIZE,
            ..CdrQuery::default()
        };
        let (mut cdrs, mut pages, mut end) = (Vec::new(), 0, ScanEnd::Budget);
        while pages < query.max_pages {
            let page = self
                .client
                .cdr_page(&cdr_query, pages as u32 * MAX_PAGE_SIZE)
                .await?;
            pages += 1;
            cdrs.extend(page.records);
            if page.root_entries < MAX_PAGE_SIZE as usize {
                end = ScanEnd::StopLine;
                break;
            }
        }
        let recordings = listed(&cdrs, self.timezone);
        self.tell_venc(&recordings);
        Ok(NewestRecordings {
            recordings,
            pages,
            end,
        })
    }

    /// Says once a pass why `.venc` files among recordings without a call are never kept.
    fn tell_venc(&mut self, rows: &[ListedRecording]) {
        let venc = rows
            .iter()
            .filter(|r| r.file.as_deref().is_some_and(is_venc))
            .count();
        if venc > 0 && !self.venc_told {
            self.venc_told = true;
            warn!(
                event = "UnmatchedVencReported",
                "Tenant {} (ID: {}): {venc} recording file(s) read over the HTTPS API are .venc \
                 (stored on GDMS or a NAS, encrypted, fetched with another request shape): those \
                 without a CDR row are reported but never fetched or kept by the API road",
                self.tenant_name,
                self.tenant_id
            );
        }
    }

    /// Fetches a recording without a call by its file name, as a call's (`monitor`, then
    /// `queue`); `name` is its key among the noted ones.
    pub(crate) async fn fetch_listed(
        &mut self,
        row: &ListedRecording,
        name: &str,
    ) -> Result<Downloaded, ApiRoadError> {
        let Some(file) = row.file.as_deref() else {
            return Err(ApiRoadError::Unnamed {
                tenant_id: self.tenant_id,
                tenant_name: self.tenant_name.clone(),
                key: name.to_string(),
            });
        };
        if is_venc(file) {
            return Err(ApiRoadError::VencNotFetched {
                tenant_id: self.tenant_id,
                tenant_name: self.tenant_name.clone(),
                file: file.to_string(),
            });
        }
        let fetched = self.fetch_file(file).await?;
        info!(file = %file, bytes = fetched.bytes, "Fetched a recording without a call over the HTTPS API");
        Ok(fetched)
    }

    /// `file` through `recapi`, written into the work directory.
    async fn fetch_file(&mut self, file: &str) -> Result<Downloaded, ApiRoadError> {
        let bytes = self.recording(file).await?;
        let path = self.work_dir.join(file);
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|error| ApiRoadError::Write {
                tenant_id: self.tenant_id,
                tenant_name: self.tenant_name.clone(),
                file: file.to_string(),
                path: path.clone(),
                error,
            })?;
        Ok(Downloaded {
            path,
            file_name: file.to_string(),
            bytes: bytes.len() as u64,
        })
    }

    /// The bare names of `call`'s recordings, from its CDR on the console.
    async fn files_of(&mut self, call: &Call) -> Result<Vec<String>, ApiRoadError> {
        let at = self.console_time(call.call_date);
        let (from, to) = (at - MATCH_WINDOW, at + MATCH_WINDOW);
        let query = CdrQuery {
            start: Some(from),
            end: Some(to),
            ..CdrQuery::default()
        };
        let cdrs = self.client.cdrs(&query).await?;
        if cdrs.is_empty() {
            return Err(ApiRoadError::NothingListed {
                tenant_id: self.tenant_id,
                tenant_name: self.tenant_name.clone(),
                uniqueid: call.uniqueid.to_string(),
                from,
                to,
            });
        }
        let Some(cdr) = matching(&cdrs, call) else {
            return Err(ApiRoadError::NotInCdrs {
                tenant_id: self.tenant_id,
                tenant_name: self.tenant_name.clone(),
                uniqueid: call.uniqueid.to_string(),
                listed: cdrs.len(),
                from,
                to,
            });
        };
        if !cdr.recordfiles.is_empty() {
            return Ok(cdr.recordfiles.clone());
        }
        Ok(self.client.record_files(&cdr.acct_id).await?)
    }

    /// `file` from `monitor`, else from `queue`; a refusal before any file came through in this
    /// pass is not evidence yet.
    async fn recording(&mut self, file: &str) -> Result<bytes::Bytes, ApiRoadError> {
        let mut answer = self.client.recording(FileDir::Monitor, file).await;
        if answer.as_ref().is_err_and(is_missing) {
            answer = self.client.recording(FileDir::Queue, file).await;
        }
        match answer {
            Ok(bytes) => {
                self.served_any = true;
                Ok(bytes)
            }
            Err(source) if is_missing(&source) && !self.served_any => {
                self.refusals += 1;
                if self.refusals >= REFUSALS_BEFORE_CLOSED {
                    Err(ApiRoadError::RefusesEveryFile {
                        source,
                        refusals: self.refusals,
                    })
                } else {
                    Err(ApiRoadError::Unproven { source })
                }
            }
            Err(source) => Err(source.into()),
        }
    }

    /// The console's local time of a UTC `call_date` (its CDRs carry no zone).
    fn console_time(&self, utc: NaiveDateTime) -> NaiveDateTime {
        utc.and_utc().with_timezone(&self.timezone).naive_local()
    }

    /// Logs out (best effort).
    pub(crate) async fn close(mut self) {
        if let Err(error) = self.client.logout().await {
            info!(%error, "The HTTPS API logout failed; the console ends the session itself");
        }
    }
}

/// Whether `recapi` said the file is not there.
fn is_missing(error: &ApiError) -> bool {
    matches!(
        error.kind,
        ApiErrorKind::NoSuchItem | ApiErrorKind::FileNotFound
    )
}

/// Each recording file the CDRs name, once, as a listed row: its bare name, the CDR's caller,
/// callee and start (console time in `zone`); newest first, as the keeper reads a list.
fn listed(cdrs: &[Cdr], zone: chrono_tz::Tz) -> Vec<ListedRecording> {
    let mut seen = HashSet::new();
    let mut rows: Vec<ListedRecording> = cdrs
        .iter()
        .flat_map(|cdr| cdr.recordfiles.iter().map(move |file| (cdr, file)))
        .filter(|(_, file)| seen.insert(file.as_str()))
        .map(|(cdr, file)| ListedRecording {
            file: Some(file.clone()),
            caller: cdr.src.clone(),
            callee: cdr.dst.clone(),
            // `None` in a DST gap: the keeper treats it as a row without a readable time.
            shown_at: cdr.start.and_then(|at| {
                let local = at.and_local_timezone(zone).earliest()?;
                Some(local.with_timezone(&Utc))
            }),
        })
        .collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.shown_at));
    rows
}

/// Whether `file` is stored on GDMS or a NAS (`.venc`): the one file `recapi` is not asked for.
fn is_venc(file: &str) -> bool {
    crate::ucm_api::recording::check_fetchable(file).is_err()
}

/// `call`'s CDR among `cdrs`: the one with its `uniqueid`, else one naming a file of the call.
/// Among a group's records, the first that names a file wins for a shared `uniqueid`.
fn matching<'a>(cdrs: &'a [Cdr], call: &Call) -> Option<&'a Cdr> {
    let by_id: Vec<&Cdr> = cdrs
        .iter()
        .filter(|c| c.uniqueid == call.uniqueid.as_str())
        .collect();
    if let Some(cdr) = by_id
        .iter()
        .find(|c| !c.recordfiles.is_empty())
        .or(by_id.first())
    {
        return Some(cdr);
    }
    let wanted: Vec<&str> = call.recordfiles.iter().map(|f| bare_name(f)).collect();
    cdrs.iter()
        .find(|c| c.recordfiles.iter().any(|f| wanted.contains(&f.as_str())))
}

/// `2026-02/auto-….wav` → `auto-….wav`.
fn bare_name(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UniqueId;
    use crate::ucm_api::CdrPart;

    fn cdr(acct_id: &str, uniqueid: &str, files: &[&str]) -> Cdr {
        Cdr {
            acct_id: acct_id.into(),
            uniqueid: uniqueid.into(),
            src: "1000".into(),
            dst: "1001".into(),
            start_text: String::new(),
            start: None,
            disposition: "ANSWERED".into(),
            action_type: "DIAL".into(),
            recordfiles: files.iter().map(|f| f.to_string()).collect(),
            part: CdrPart::Single,
            group: acct_id.into(),
        }
    }

    fn call(uniqueid: &str, files: &[&str]) -> Call {
        Call {
            id: 1,
            tenant_id: TenantId(1),
            uniqueid: UniqueId::parse(uniqueid).unwrap(),
            src: "1000".into(),
            dst: "1001".into(),
            call_date: NaiveDateTime::default(),
            recordfiles: files.iter().map(|f| f.to_string()).collect(),
            duration: None,
            attempts: 0,
            not_listed_since: None,
        }
    }

    #[test]
    fn a_call_is_matched_by_uniqueid_first_then_by_its_files() {
        let cdrs = [
            cdr("1", "1770000000.1", &["auto-1-1000-1001.wav"]),
            cdr("2", "1770000000.2", &[]),
            cdr("3", "1770000000.2", &["auto-2-1000-1001.wav"]),
            cdr("4", "1770000000.9", &["auto-9-1000-1001.wav"]),
        ];
        let by_id = matching(&cdrs, &call("1770000000.2", &[])).unwrap();
        assert_eq!(
            by_id.acct_id, "3",
            "of a shared uniqueid, the record with a file"
        );
        let no_file = [cdr("2", "1770000000.2", &[])];
        assert_eq!(
            matching(&no_file, &call("1770000000.2", &[]))
                .unwrap()
                .acct_id,
            "2",
            "no file: getRecordInfosByCall asks by its AcctId"
        );
        let by_file = call("1770000099.5", &["2026-02/auto-9-1000-1001.wav"]);
        assert_eq!(matching(&cdrs, &by_file).unwrap().acct_id, "4");
        assert!(matching(&cdrs, &call("1770000099.5", &["2026-02/other.wav"])).is_none());
    }

    #[test]
    fn only_refusals_before_any_file_send_the_call_to_the_browser() {
        let api_error = |kind| ApiError {
            tenant_id: TenantId(1),
            tenant_name: "t".into(),
            console: "pbx:8089".into(),
            action: "recapi monitor/x.wav".into(),
            kind,
        };
        let unproven = ApiRoadError::Unproven {
            source: api_error(ApiErrorKind::NoSuchItem),
        };
        assert_eq!(unproven.road(), Road::BrowserForCall);
        assert_eq!(unproven.next_step(), NextStep::RetryCallUncharged);
        let every = ApiRoadError::RefusesEveryFile {
            source: api_error(ApiErrorKind::NoSuchItem),
            refusals: 3,
        };
        assert_eq!(every.road(), Road::BrowserForTenant);
        let proven = ApiRoadError::from(api_error(ApiErrorKind::NoSuchItem));
        assert_eq!(
            (proven.road(), proven.next_step()),
            (Road::Open, NextStep::NotListed)
        );
    }

    #[test]
    fn recordings_without_a_call_are_each_file_once_newest_first_in_utc() {
        let at = |text| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok();
        let mut older = cdr("1", "1770000000.1", &["a.wav", "shared.wav"]);
        older.start = at("2026-02-06 10:00:00");
        let mut newer = cdr("2", "1770000000.2", &["shared.wav", "b.venc"]);
        newer.start = at("2026-02-06 11:00:00");
        let none = cdr("3", "1770000000.3", &[]);
        let rows = listed(&[older, newer, none], chrono_tz::Europe::Berlin);
        let files: Vec<&str> = rows.iter().filter_map(|r| r.file.as_deref()).collect();
        assert_eq!(files, ["b.venc", "a.wav", "shared.wav"]);
        let ten_utc = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 2, 6, 9, 0, 0).unwrap();
        assert_eq!(
            rows[1].shown_at,
            Some(ten_utc),
            "Berlin is UTC+1 in February"
        );
        assert!(is_venc(files[0]) && !is_venc(files[1]));
    }
}
