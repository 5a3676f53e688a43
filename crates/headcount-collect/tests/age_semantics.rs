//! The age bucket against ports of the upstream arithmetic, at every bucket boundary, by weekday.
//!
//! The oracles below are this project's own code, written from reading the upstream sources
//! (cited in docs/usage/countme.md):
//! - dnf5 `libdnf5/repo/repo_downloader.cpp`, `RepoDownloader::add_countme_flag` (dnf5 5.2.6.0
//!   on, commit d8d677c27 "Fix countme bucket calculation"), which is a backport of libdnf PR 1662
//!   (dnf4, Fedora 41 on): the epoch is the install week (machine-id's mtime), else the cookie's;
//! - libdnf `libdnf/repo/Repo.cpp`, `Repo::Impl::addCountmeFlag` before that PR (Fedora 40 and
//!   older): the epoch is the first counted window of each repository's cookie;
//! - coreos/rpm-ostree `rust/src/countme/cookie.rs`, `Cookie::get_window_counter`: the epoch is
//!   rpm-ostree's first successful count, and the counter starts at 1 instead of 0.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use headcount_collect::age_bucket;

const OFFSET: i64 = 345_600;
const WINDOW: i64 = 604_800;
const DAY: i64 = 86_400;
const BUCKETS: [i64; 3] = [2, 5, 25];

/// DNF's cookie file: `epoch` (first observed window, or the aligned install time) and `win`
/// (the last counted window). The budget of requests is left out: it only decides which request
/// of a week carries the flag, not the bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DnfCookie {
    epoch: i64,
    win: i64,
}

/// dnf5 (and dnf4 from Fedora 41): one counting event at `now`, with the system epoch
/// (`sysepoch`, 0 when unknown) and the cookie on disk. `None` when the week was counted already.
/// Returns the bucket sent and the cookie written back. C's `/` and `%` truncate toward zero, as
/// Rust's do on `i64`.
fn dnf_count(sysepoch: i64, cookie: Option<DnfCookie>, now: i64) -> Option<(u8, DnfCookie)> {
    let (mut epoch, last) = cookie.map_or((0, OFFSET), |c| (c.epoch, c.win));
    let delta = now - last;
    if delta < WINDOW {
        return None;
    }
    let win = now - delta % WINDOW;
    if sysepoch != 0 {
        epoch = sysepoch - (sysepoch - OFFSET) % WINDOW;
    }
    if epoch == 0 {
        epoch = win;
    }
    let step = (win - epoch) / WINDOW;
    let bucket = BUCKETS
        .iter()
        .position(|&b| step < b)
        .unwrap_or(BUCKETS.len())
        + 1;
    Some((bucket as u8, DnfCookie { epoch, win }))
}

/// libdnf before Fedora 41: the same event without the system epoch.
fn libdnf_f40_count(cookie: Option<DnfCookie>, now: i64) -> Option<(u8, DnfCookie)> {
    dnf_count(0, cookie, now)
}

/// rpm-ostree's cookie: `epoch` (its first successful count) and `window` (the time of the last).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OstreeCookie {
    epoch: i64,
    window: i64,
}

/// rpm-ostree's countme run at `now`: `None` when the week was counted already.
fn rpm_ostree_count(cookie: Option<OstreeCookie>, now: i64) -> Option<(u8, OstreeCookie)> {
    let c = cookie.unwrap_or(OstreeCookie {
        epoch: now,
        window: OFFSET,
    });
    let epoch = c.epoch.min(now);
    let current = (now - OFFSET) / WINDOW;
    if current <= (c.window - OFFSET) / WINDOW {
        return None;
    }
    let counter = (current - (epoch - OFFSET) / WINDOW + 1).max(1);
    let bucket = match counter {
        1 => 1,
        2..=4 => 2,
        5..=24 => 3,
        _ => 4,
    };
    Some((bucket, OstreeCookie { epoch, window: now }))
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

fn headcount(install: i64, now: i64) -> u8 {
    age_bucket(install, t(now)).get()
}

/// Monday 2026-01-05 00:00 UTC: a countme week starts here.
const MONDAY: i64 = 1_767_571_200;
/// Week steps on both sides of every bucket boundary, and far beyond the last.
const STEPS: [i64; 11] = [0, 1, 2, 3, 4, 5, 6, 23, 24, 25, 104];
/// The first and the last second of a day, and noon.
const TIMES_OF_DAY: [i64; 3] = [0, 12 * 3600, DAY - 1];

/// The bucket of a system `step` whole countme weeks old, as dnf.conf(5) defines the buckets.
fn bucket_of_step(step: i64) -> u8 {
    match step {
        0..=1 => 1,
        2..=4 => 2,
        5..=24 => 3,
        _ => 4,
    }
}

/// Every (install instant, count instant, weeks between their countme weeks): each install
/// weekday and time of day, each count weekday and time of day, each step of [`STEPS`].
fn grid() -> impl Iterator<Item = (i64, i64, i64)> {
    (0..7).flat_map(|install_day| {
        TIMES_OF_DAY.into_iter().flat_map(move |install_tod| {
            let install = MONDAY + install_day * DAY + install_tod;
            STEPS.into_iter().flat_map(move |step| {
                (0..7).flat_map(move |count_day| {
                    TIMES_OF_DAY.into_iter().map(move |count_tod| {
                        let now = MONDAY + step * WINDOW + count_day * DAY + count_tod;
                        (install, now, step)
                    })
                })
            })
        })
    })
}

#[test]
fn monday_starts_the_grid() {
    assert_eq!((MONDAY - OFFSET) % WINDOW, 0);
    assert_eq!(t(MONDAY).to_rfc3339(), "2026-01-05T00:00:00+00:00");
}

/// headcount's bucket is dnf5's (and dnf4's from Fedora 41) for every install weekday and time,
/// every count weekday and time, on both sides of every boundary; a stale cookie changes nothing
/// once the install time is known.
#[test]
fn equals_dnf_from_fedora_41_at_every_boundary_by_weekday() {
    let mut checked = 0;
    for (install, now, step) in grid() {
        let expected = bucket_of_step(step);
        let (dnf, _) = dnf_count(install, None, now).unwrap();
        let stale = DnfCookie {
            epoch: install - 30 * WINDOW,
            win: now - (now - OFFSET).rem_euclid(WINDOW) - 3 * WINDOW,
        };
        let (dnf_stale, _) = dnf_count(install, Some(stale), now).unwrap();
        assert_eq!(dnf, expected, "dnf: installed {install}, counted {now}");
        assert_eq!(dnf_stale, expected, "dnf with an old cookie");
        assert_eq!(
            headcount(install, now),
            expected,
            "{} at {}",
            t(install),
            t(now)
        );
        checked += 1;
    }
    assert_eq!(checked, 7 * 3 * STEPS.len() * 7 * 3);
}

/// The last second of a week and the first of the next are a week apart, whatever the time of
/// day: the buckets change on Monday 00:00 UTC, never at the install's weekday or hour.
#[test]
fn buckets_change_on_monday_midnight_only() {
    for install_day in 0..7 {
        let install = MONDAY + install_day * DAY + 17 * 3600;
        for boundary in [2, 5, 25] {
            let monday = MONDAY + boundary * WINDOW;
            let before = headcount(install, monday - 1);
            let after = headcount(install, monday);
            assert_eq!(
                (before, after),
                (bucket_of_step(boundary - 1), bucket_of_step(boundary))
            );
            assert_eq!(dnf_count(install, None, monday - 1).unwrap().0, before);
            assert_eq!(dnf_count(install, None, monday).unwrap().0, after);
        }
    }
}

/// rpm-ostree counts from its first successful count and starts its counter at 1: for a machine
/// it first counted in its install week, it says one bucket more than DNF and headcount at steps
/// 1, 4 and 24, and the same everywhere else.
#[test]
fn rpm_ostree_is_one_higher_at_steps_1_4_and_24() {
    for (install, now, step) in grid() {
        let (first, cookie) = rpm_ostree_count(None, install).unwrap();
        assert_eq!(first, 1);
        let (ostree, _) = match rpm_ostree_count(Some(cookie), now) {
            Some(x) => x,
            // Same week as its first count: nothing is sent again.
            None => {
                assert_eq!(step, 0);
                continue;
            }
        };
        let ours = headcount(install, now);
        if matches!(step, 1 | 4 | 24) {
            assert_eq!(ostree, ours + 1, "step {step}");
        } else {
            assert_eq!(ostree, ours, "step {step}");
        }
    }
}

/// A machine counted weekly for 30 weeks: DNF (Fedora 41 on), rpm-ostree and headcount side by
/// side, week by week.
#[test]
fn thirty_weeks_side_by_side() {
    // Installed Thursday 15:00; every product counts on Friday of each week.
    let install = MONDAY + 3 * DAY + 15 * 3600;
    let mut dnf: Option<DnfCookie> = None;
    let mut ostree: Option<OstreeCookie> = None;
    let mut rows = Vec::new();
    for week in 0..30 {
        let now = MONDAY + week * WINDOW + 4 * DAY;
        let (d, c) = dnf_count(install, dnf, now).unwrap();
        dnf = Some(c);
        let (o, c) = rpm_ostree_count(ostree, now).unwrap();
        ostree = Some(c);
        rows.push((week, d, o, headcount(install, now)));
    }
    for (week, d, o, h) in rows {
        assert_eq!(h, d, "week {week}");
        assert_eq!(h, bucket_of_step(week));
        let ostree_expected = match week + 1 {
            1 => 1,
            2..=4 => 2,
            5..=24 => 3,
            _ => 4,
        };
        assert_eq!(o, ostree_expected, "week {week}");
    }
}

/// Without a readable install time DNF counts from its first count (stored in its cookie):
/// 1 for two weeks, then 2, 3, 4 as for a new install. headcount keeps no per-machine date, so it
/// says 4 throughout. Fedora 40's libdnf always counted that way (from each repository's first
/// count), so there it equals headcount only for a repository first counted in the install week.
#[test]
fn an_unknown_install_time_is_4_where_dnf_counts_from_its_first_count() {
    let first = MONDAY + 2 * DAY;
    let mut cookie = None;
    for week in 0..30 {
        let now = first + week * WINDOW;
        let (d, c) = dnf_count(0, cookie, now).unwrap();
        cookie = Some(c);
        assert_eq!(d, bucket_of_step(week), "week {week}");
        assert_eq!(headcount(0, now), 4);
    }
    // Fedora 40: the repository first counted in the install week agrees with headcount, one
    // first counted three weeks later is three weeks younger.
    let install = MONDAY + 5 * DAY;
    let (_, in_install_week) = libdnf_f40_count(None, install + DAY).unwrap();
    let (_, late) = libdnf_f40_count(None, install + 3 * WINDOW).unwrap();
    for step in STEPS.into_iter().filter(|s| *s >= 4) {
        let now = MONDAY + step * WINDOW + DAY;
        assert_eq!(
            libdnf_f40_count(Some(in_install_week), now).unwrap().0,
            headcount(install, now)
        );
        assert_eq!(
            libdnf_f40_count(Some(late), now).unwrap().0,
            bucket_of_step(step - 3)
        );
    }
}

/// An install time after the clock (a clock set back) is bucket 1 for DNF and headcount alike.
#[test]
fn an_install_time_in_the_future_is_1() {
    for weeks_ahead in [0, 1, 2, 30] {
        let now = MONDAY + 2 * DAY;
        let install = now + weeks_ahead * WINDOW + 3600;
        assert_eq!(dnf_count(install, None, now).unwrap().0, 1);
        assert_eq!(headcount(install, now), 1);
    }
}

/// The week steps are mirrors-countme's week numbers subtracted: `(t - 345600) div 604800`.
#[test]
fn steps_are_differences_of_countme_week_numbers() {
    let weeknum = |t: i64| (t - OFFSET).div_euclid(WINDOW);
    for (install, now, step) in grid() {
        assert_eq!(weeknum(now) - weeknum(install), step);
    }
}
