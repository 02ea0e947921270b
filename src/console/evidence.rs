//! When the worker may say a recording is not on the console: a pure judgement over the pages
//! it read while looking for one call.
//!
//! "Not on the console" ends a call for good, so it needs positive evidence: settled, non-empty
//! pages read in order from page 1 that either pass the call's time (in a newest-first list) or
//! reach a confirmed end (the paging control gone or disabled after a page that rendered). A
//! first page showing the file's `empty` marker is such an end too: the list holds nothing.
//! Anything less (a page that never settled, a read that timed out, rows that never came, a page
//! that came up empty after paging) is doubt, and doubt is never a verdict.

use std::fmt;

use chrono::NaiveDateTime;

/// What one look at one page of the list found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageRead {
    /// Rows present, read once the list had gone quiet (`settled.rs`); the call times they show
    /// (`None` where a time could not be read).
    Settled(Vec<Option<NaiveDateTime>>),
    /// No rows, and the file's `empty` marker shown once the list had gone quiet.
    Empty,
    /// No rows and no `empty` marker for the whole element timeout: an empty list, or a `row`
    /// locator that no longer matches. The two look alike, so this proves nothing.
    NoRows,
    /// Rows kept changing, or stayed the previous page's, until the wait ran out.
    Unsettled,
    /// Nothing readable came within the wait.
    TimedOut,
}

/// What the paging control said after the page was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// A further page was asked for.
    Next,
    /// The control was gone or disabled (or the file says the list has one page): the end.
    End,
    /// The search stopped on this page (the call was found, or the read was not trusted).
    Stopped,
}

/// One page as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageSeen {
    /// 1 for the first page; with "load more", the number of loads so far.
    pub page: usize,
    pub read: PageRead,
    pub then: Then,
}

/// The call being looked for, as far as the judgement needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sought {
    /// The call's start in the console's time zone.
    pub start: NaiveDateTime,
    /// How far a row's time may be from the call's and still be it.
    pub tolerance: chrono::Duration,
    /// Whether the list is known to be newest first (then a row older than the call, beyond
    /// the tolerance, means the call would have been shown already).
    pub newest_first: bool,
}

/// Why the pages read do not prove the call absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Doubt {
    NothingRead,
    /// The pages were not read in order from page 1.
    NotFromPageOne {
        first: usize,
    },
    Gap {
        after: usize,
    },
    Unsettled {
        page: usize,
    },
    TimedOut {
        page: usize,
    },
    EmptyAfterPaging {
        page: usize,
    },
    NoRows {
        page: usize,
    },
    /// The last page read neither passed the call's time nor was the end of the list.
    NoEnd {
        page: usize,
    },
}

impl fmt::Display for Doubt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Doubt::NothingRead => write!(f, "no page of the list was read"),
            Doubt::NotFromPageOne { first } => {
                write!(f, "the search began at page {first}, not page 1")
            }
            Doubt::Gap { after } => write!(f, "the pages read skip one after page {after}"),
            Doubt::Unsettled { page } => write!(
                f,
                "page {page} kept changing (or still showed the previous page) until the wait ran out"
            ),
            Doubt::TimedOut { page } => write!(f, "page {page} showed nothing readable in time"),
            Doubt::EmptyAfterPaging { page } => write!(
                f,
                "page {page} came up empty after paging (a list that clears itself while it loads)"
            ),
            Doubt::NoRows { page } => write!(
                f,
                "page {page} showed no rows and no `empty` marker for the whole element timeout"
            ),
            Doubt::NoEnd { page } => write!(
                f,
                "the search stopped at page {page} before the call's time or the end of the list"
            ),
        }
    }
}

/// `Ok(())` when `pages` prove the call is not listed; else the first reason they do not.
pub(crate) fn not_on_console(pages: &[PageSeen], sought: &Sought) -> Result<(), Doubt> {
    let first = pages.first().ok_or(Doubt::NothingRead)?;
    if first.page != 1 {
        return Err(Doubt::NotFromPageOne { first: first.page });
    }
    for (index, seen) in pages.iter().enumerate() {
        if seen.page != index + 1 {
            return Err(Doubt::Gap { after: index });
        }
        match &seen.read {
            PageRead::Settled(times) if !times.is_empty() => {}
            // A settled read with no rows is no read at all.
            PageRead::Settled(_) => return Err(Doubt::TimedOut { page: seen.page }),
            PageRead::Empty if seen.page == 1 && pages.len() == 1 => {}
            PageRead::Empty => return Err(Doubt::EmptyAfterPaging { page: seen.page }),
            PageRead::NoRows => return Err(Doubt::NoRows { page: seen.page }),
            PageRead::Unsettled => return Err(Doubt::Unsettled { page: seen.page }),
            PageRead::TimedOut => return Err(Doubt::TimedOut { page: seen.page }),
        }
        let last = index + 1 == pages.len();
        if !last && seen.then != Then::Next {
            // A page after the end, or after a stop: not one search in order.
            return Err(Doubt::Gap { after: seen.page });
        }
    }
    let last = pages.last().expect("checked non-empty");
    let passed = sought.newest_first
        && pages.iter().any(|seen| match &seen.read {
            PageRead::Settled(times) => times
                .iter()
                .flatten()
                .any(|t| *t < sought.start - sought.tolerance),
            _ => false,
        });
    let ended = last.then == Then::End || last.read == PageRead::Empty;
    match passed || ended {
        true => Ok(()),
        false => Err(Doubt::NoEnd { page: last.page }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(minute: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 2, 6)
            .unwrap()
            .and_hms_opt(12, minute, 0)
            .unwrap()
    }

    fn sought() -> Sought {
        Sought {
            start: t(30),
            tolerance: chrono::Duration::minutes(2),
            newest_first: true,
        }
    }

    fn settled(page: usize, minutes: &[u32], then: Then) -> PageSeen {
        PageSeen {
            page,
            read: PageRead::Settled(minutes.iter().map(|m| Some(t(*m))).collect()),
            then,
        }
    }

    #[test]
    fn settled_pages_from_page_one_that_pass_the_time_prove_absence() {
        let pages = [
            settled(1, &[59, 50, 40], Then::Next),
            settled(2, &[35, 20], Then::Stopped),
        ];
        assert_eq!(not_on_console(&pages, &sought()), Ok(()));
    }

    #[test]
    fn a_confirmed_end_proves_absence_in_any_order() {
        let unordered = Sought {
            newest_first: false,
            ..sought()
        };
        let pages = [
            settled(1, &[59, 10], Then::Next),
            settled(2, &[45], Then::End),
        ];
        assert_eq!(not_on_console(&pages, &unordered), Ok(()));
        let empty = [PageSeen {
            page: 1,
            read: PageRead::Empty,
            then: Then::End,
        }];
        assert_eq!(not_on_console(&empty, &unordered), Ok(()));
        // Without the `empty` marker, no rows may be a `row` locator that no longer matches.
        let rowless = [PageSeen {
            page: 1,
            read: PageRead::NoRows,
            then: Then::End,
        }];
        assert_eq!(
            not_on_console(&rowless, &unordered),
            Err(Doubt::NoRows { page: 1 })
        );
    }

    #[test]
    fn the_issue_13_placeholder_page_is_doubt_not_the_end() {
        // Page 2 cleared itself to a placeholder while it loaded: read as empty.
        let pages = [
            settled(1, &[59, 50, 40], Then::Next),
            PageSeen {
                page: 2,
                read: PageRead::Empty,
                then: Then::End,
            },
        ];
        assert_eq!(
            not_on_console(&pages, &sought()),
            Err(Doubt::EmptyAfterPaging { page: 2 })
        );
    }

    #[test]
    fn a_search_not_begun_at_page_one_or_stopped_early_proves_nothing() {
        let later = [settled(2, &[10], Then::End)];
        assert_eq!(
            not_on_console(&later, &sought()),
            Err(Doubt::NotFromPageOne { first: 2 })
        );
        let stopped = [settled(1, &[59, 50], Then::Stopped)];
        assert_eq!(
            not_on_console(&stopped, &sought()),
            Err(Doubt::NoEnd { page: 1 })
        );
        // Within the tolerance is not past the call.
        let near = [settled(1, &[59, 29], Then::Stopped)];
        assert!(not_on_console(&near, &sought()).is_err());
        assert_eq!(not_on_console(&[], &sought()), Err(Doubt::NothingRead));
    }

    fn read() -> impl Strategy<Value = PageRead> {
        prop_oneof![
            prop::collection::vec(prop::option::of(0u32..60), 0..6)
                .prop_map(|m| PageRead::Settled(m.into_iter().map(|m| m.map(t)).collect())),
            Just(PageRead::Empty),
            Just(PageRead::NoRows),
            Just(PageRead::Unsettled),
            Just(PageRead::TimedOut),
        ]
    }

    fn then() -> impl Strategy<Value = Then> {
        prop_oneof![Just(Then::Next), Just(Then::End), Just(Then::Stopped)]
    }

    /// Sequences of reads, mostly in page order from 1 (the shape a real search has), sometimes
    /// with any page numbers at all.
    fn pages() -> impl Strategy<Value = Vec<PageSeen>> {
        let ordered = prop::collection::vec((read(), then()), 0..8).prop_map(|reads| {
            reads
                .into_iter()
                .enumerate()
                .map(|(i, (read, then))| PageSeen {
                    page: i + 1,
                    read,
                    then,
                })
                .collect::<Vec<_>>()
        });
        let any = prop::collection::vec((1usize..6, read(), then()), 0..8).prop_map(|reads| {
            reads
                .into_iter()
                .map(|(page, read, then)| PageSeen { page, read, then })
                .collect()
        });
        prop_oneof![3 => ordered, 1 => any]
    }

    fn sought_any() -> impl Strategy<Value = Sought> {
        (0u32..60, 0i64..5, any::<bool>()).prop_map(|(minute, tolerance, newest_first)| Sought {
            start: t(minute),
            tolerance: chrono::Duration::minutes(tolerance),
            newest_first,
        })
    }

    fn is_doubtful(seen: &PageSeen) -> bool {
        match seen.read {
            PageRead::Unsettled | PageRead::TimedOut | PageRead::NoRows => true,
            PageRead::Empty => seen.page > 1,
            PageRead::Settled(_) => false,
        }
    }

    proptest! {
        #[test]
        fn no_unsettled_timed_out_rowless_or_empty_after_paging_read_yields_a_verdict(
            pages in pages(),
            sought in sought_any(),
        ) {
            if pages.iter().any(is_doubtful) {
                prop_assert!(not_on_console(&pages, &sought).is_err(), "{pages:?}");
            }
        }

        #[test]
        fn a_verdict_rests_on_pages_one_to_n_in_order_each_settled_or_a_lone_empty_first(
            pages in pages(),
            sought in sought_any(),
        ) {
            if not_on_console(&pages, &sought).is_ok() {
                prop_assert!(!pages.is_empty());
                for (i, seen) in pages.iter().enumerate() {
                    prop_assert_eq!(seen.page, i + 1);
                    let lone_empty = pages.len() == 1 && seen.read == PageRead::Empty;
                    let rows = matches!(&seen.read, PageRead::Settled(times) if !times.is_empty());
                    prop_assert!(rows || lone_empty, "{:?}", pages);
                }
            }
        }

        #[test]
        fn without_newest_first_only_a_confirmed_end_is_a_verdict(
            pages in pages(),
            sought in sought_any(),
        ) {
            let unordered = Sought { newest_first: false, ..sought };
            if not_on_console(&pages, &unordered).is_ok() {
                let last = pages.last().unwrap();
                prop_assert!(last.then == Then::End || last.read == PageRead::Empty);
            }
        }
    }
}
