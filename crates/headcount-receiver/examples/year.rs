//! Writes `export`'s CSV for a realistic year of a large fleet, for `import` and the benchmarks
//! (bench/year.sh): every daily period of the year and the months they fall in, and, when asked,
//! every countme week wholly inside the year (the dashboard's test).
//!
//! The fleet: MACHINES machines a day (with a weekly rhythm), 10 % at level full; Fedora CoreOS
//! 41 to 44 with 44 rolling out over the year, about 120 OS builds, 80 install images, a dozen
//! platforms, about 300 instance types (a long tail, most of it below the release threshold),
//! four architectures, and the cross-tabulation os.version_id × platform.id × arch; a week also
//! has the countme tuple os.id × os.version_id × os.variant_id × arch × age_bucket, as the
//! receiver counts it for every weekly report. The numbers are deterministic (no randomness): the
//! same arguments write the same file.
//!
//! Usage: `year [DAYS] [MACHINES] [LAST_DAY] [WINDOWS]` (defaults 365, 1000000, the day before
//! yesterday, `daily,monthly`; `daily,weekly,monthly` adds the weeks).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};

use chrono::{Datelike, Duration, NaiveDate, Utc};

/// (value, weight) with weights summing to about 1.
type Dist = Vec<(String, f64)>;

fn zipf(values: Vec<String>, s: f64) -> Dist {
    let total: f64 = (1..=values.len()).map(|r| 1.0 / (r as f64).powf(s)).sum();
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (v, 1.0 / ((i + 1) as f64).powf(s) / total))
        .collect()
}

fn fixed(pairs: &[(&str, f64)]) -> Dist {
    pairs.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect()
}

/// Splits `n` by `dist`, every count whole, the rounding remainder on the first value.
fn split(n: i64, dist: &Dist) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = dist
        .iter()
        .map(|(v, w)| (v.clone(), (n as f64 * w).floor() as i64))
        .collect();
    let rest = n - out.iter().map(|(_, c)| c).sum::<i64>();
    if let Some(first) = out.first_mut() {
        first.1 += rest;
    }
    out.retain(|(_, c)| *c > 0);
    out
}

fn instance_types() -> Vec<String> {
    let mut out = Vec::new();
    let sizes = [
        "large", "xlarge", "2xlarge", "medium", "4xlarge", "small", "8xlarge", "micro", "12xlarge",
        "16xlarge", "24xlarge", "nano",
    ];
    for family in [
        "m5", "c5", "t3", "m6i", "c6i", "r5", "t3a", "m6g", "c7g", "r6i", "m7i", "c6a", "m5a",
        "r7g", "i3", "g5", "p4d", "x2idn",
    ] {
        for size in sizes {
            out.push(format!("{family}.{size}"));
        }
    }
    for family in [
        "n2-standard",
        "e2-standard",
        "n2d-highmem",
        "c3-standard",
        "t2a-standard",
    ] {
        for cpus in [2, 4, 8, 16, 32, 64] {
            out.push(format!("{family}-{cpus}"));
        }
    }
    for family in ["Standard_D", "Standard_E", "Standard_F"] {
        for cpus in [2, 4, 8, 16, 32, 48, 64] {
            out.push(format!("{family}{cpus}s_v5"));
        }
    }
    out
}

struct Fleet {
    platforms: Dist,
    instance_types: Dist,
    arch: Dist,
    age: Dist,
    original: Dist,
}

impl Fleet {
    fn new() -> Fleet {
        Fleet {
            platforms: fixed(&[
                ("aws", 0.42),
                ("gcp", 0.14),
                ("azure", 0.12),
                ("metal", 0.1),
                ("qemu", 0.08),
                ("openstack", 0.05),
                ("vmware", 0.04),
                ("digitalocean", 0.015),
                ("hetzner", 0.01),
                ("ibmcloud", 0.008),
                ("exoscale", 0.004),
                ("aliyun", 0.003),
            ]),
            instance_types: zipf(instance_types(), 1.1),
            arch: fixed(&[
                ("x86_64", 0.85),
                ("aarch64", 0.14),
                ("s390x", 0.005),
                ("ppc64le", 0.005),
            ]),
            age: fixed(&[("1", 0.1), ("2", 0.2), ("3", 0.3), ("4", 0.4)]),
            original: zipf(
                (0..80)
                    .map(|i| format!("3{}.2023{:02}{:02}.3.0", 5 + i / 20, 1 + i % 12, 1 + i % 28))
                    .collect(),
                1.0,
            ),
        }
    }

    /// Version shares on day `day` of `days`: 44 rolls out from a third of the year on.
    fn versions(day: i64, days: i64) -> Dist {
        let t = day as f64 / days as f64;
        let v44 = ((t - 0.33) / 0.67).clamp(0.0, 1.0) * 0.6;
        let v42 = 0.08 * (1.0 - t);
        let v41 = 0.01;
        fixed(&[
            ("43", 1.0 - v44 - v42 - v41),
            ("44", v44),
            ("42", v42),
            ("41", v41),
        ])
    }

    /// Every counter of one period with `n` machines, `day` placing it in the year; a week's
    /// (`countme`) also has the countme tuple.
    fn period(
        &self,
        n: i64,
        day: i64,
        days: i64,
        countme: bool,
    ) -> BTreeMap<(String, String), i64> {
        let mut c: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut add = |field: &str, value: &str, count: i64| {
            if count > 0 {
                *c.entry((field.to_owned(), value.to_owned())).or_insert(0) += count;
            }
        };
        let full = n / 10;
        add("level", "minimal", n - full);
        add("level", "full", full);
        add("os.id", "fedora", n);
        add("os.variant_id", "coreos", n);
        let versions = Self::versions(day, days);
        for (version, count) in split(n, &versions) {
            add("os.version_id", &version, count);
            let builds = zipf(
                (0..30)
                    .map(|i| {
                        format!(
                            "{version}.2026{:02}{:02}.3.{}",
                            1 + i % 12,
                            1 + i % 28,
                            i / 12
                        )
                    })
                    .collect(),
                1.2,
            );
            for (build, c) in split(count, &builds) {
                add("os.build", &build, c);
            }
        }
        for (v, count) in split(n, &self.original) {
            add("original_os.build", &v, count);
        }
        for (v, count) in split(n, &self.platforms) {
            add("platform.id", &v, count);
        }
        for (v, count) in split(n, &self.instance_types) {
            add("platform.instance_type", &v, count);
        }
        for (v, count) in split(n, &self.arch) {
            add("arch", &v, count);
        }
        for (v, count) in split(n, &self.age) {
            add("age_bucket", &v, count);
        }
        // The cross-tabulation, as if the three were independent.
        for (version, wv) in &versions {
            for (platform, wp) in &self.platforms {
                for (arch, wa) in &self.arch {
                    let count = (n as f64 * wv * wp * wa).round() as i64;
                    let value = format!(r#"["{version}","{platform}","{arch}"]"#);
                    add("os.version_id|platform.id|arch", &value, count);
                }
            }
        }
        if countme {
            for (version, wv) in &versions {
                for (arch, wa) in &self.arch {
                    for (age, wg) in &self.age {
                        let count = (n as f64 * wv * wa * wg).round() as i64;
                        let value = format!(r#"["fedora","{version}","coreos","{arch}","{age}"]"#);
                        add(
                            "os.id|os.version_id|os.variant_id|arch|age_bucket",
                            &value,
                            count,
                        );
                    }
                }
            }
        }
        // Level full: hardware, network, containers, packages.
        let buckets = fixed(&[("1", 0.5), ("0", 0.3), ("2-4", 0.15), ("5-8", 0.05)]);
        let booleans = fixed(&[("true", 0.7), ("false", 0.3)]);
        for field in [
            "hardware.disks.nvme",
            "hardware.disks.ssd",
            "hardware.disks.hdd",
            "hardware.disks.virtual",
            "network.interfaces.ethernet",
            "network.interfaces.bridge",
            "network.interfaces.bond",
            "network.interfaces.vlan",
            "network.interfaces.wifi",
            "network.interfaces.wireguard",
            "network.interfaces.tun",
            "network.interfaces.vxlan",
            "network.interfaces.team",
            "network.interfaces.other",
            "containers.podman.running",
            "containers.docker.running",
            "containers.crio.running",
            "containers.containerd.running",
            "containers.nspawn.running",
            "packages.layered",
        ] {
            for (v, count) in split(full, &buckets) {
                add(field, &v, count);
            }
        }
        for field in [
            "hardware.secure_boot",
            "network.ipv4",
            "network.ipv6",
            "network.default_route",
            "containers.podman.installed",
            "containers.podman.active",
            "containers.docker.installed",
            "containers.docker.active",
            "containers.crio.installed",
            "containers.crio.active",
            "containers.containerd.installed",
            "containers.containerd.active",
            "containers.nspawn.installed",
            "containers.nspawn.active",
        ] {
            for (v, count) in split(full, &booleans) {
                add(field, &v, count);
            }
        }
        for (field, dist) in [
            (
                "hardware.cpu_vendor",
                fixed(&[
                    ("intel", 0.55),
                    ("amd", 0.3),
                    ("ampere", 0.1),
                    ("arm", 0.05),
                ]),
            ),
            (
                "hardware.cpus",
                fixed(&[
                    ("2", 0.3),
                    ("3-4", 0.3),
                    ("5-8", 0.2),
                    ("9-16", 0.15),
                    ("17-32", 0.05),
                ]),
            ),
            (
                "hardware.memory_gib",
                fixed(&[
                    ("4-8", 0.3),
                    ("8-16", 0.35),
                    ("16-32", 0.2),
                    ("32-64", 0.15),
                ]),
            ),
            ("hardware.firmware", fixed(&[("uefi", 0.8), ("bios", 0.2)])),
            (
                "hardware.disks.total_gib",
                fixed(&[
                    ("64-128", 0.4),
                    ("128-256", 0.3),
                    ("256-512", 0.2),
                    ("512-1024", 0.1),
                ]),
            ),
            (
                "hardware.system_vendor",
                fixed(&[
                    ("Dell", 0.3),
                    ("HPE", 0.25),
                    ("Lenovo", 0.2),
                    ("Supermicro", 0.15),
                    ("other", 0.1),
                ]),
            ),
        ] {
            for (v, count) in split(full, &dist) {
                add(field, &v, count);
            }
        }
        c
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let days: i64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(365);
    let machines: i64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let last: NaiveDate = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| Utc::now().date_naive() - Duration::days(2));
    let windows = args.get(3).map_or("daily,monthly", String::as_str);
    let weekly = windows.split(',').any(|w| w == "weekly");
    let first = last - Duration::days(days - 1);
    let fleet = Fleet::new();
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "window,period,field,value,count")?;
    let mut months: BTreeMap<String, i64> = BTreeMap::new();
    for day in 0..days {
        let date = first + Duration::days(day);
        // A weekly rhythm: fewer short-lived machines at the weekend.
        let n = machines - machines / 50 * i64::from(date.weekday().num_days_from_monday() >= 5);
        let period = date.format("%Y-%m-%d").to_string();
        for ((field, value), count) in fleet.period(n, day, days, false) {
            writeln!(out, "daily,{period},{field},{},{count}", csv_field(&value))?;
        }
        *months
            .entry(date.format("%Y-%m").to_string())
            .or_insert(day) = day;
    }
    // A month counts each machine once: more machines than a day (short-lived ones come and go).
    for (month, day) in months {
        for ((field, value), count) in fleet.period(machines * 11 / 10, day, days, false) {
            writeln!(out, "monthly,{month},{field},{},{count}", csv_field(&value))?;
        }
    }
    // A week: more machines than a day, fewer than a month. Only weeks from a Monday to a Sunday
    // of the year, so each is as whole as its days.
    let mut monday = match first.weekday().num_days_from_monday() {
        0 => first,
        past => first + Duration::days(7 - i64::from(past)),
    };
    while weekly && monday + Duration::days(6) <= last {
        let week = monday.iso_week();
        let period = format!("{:04}-W{:02}", week.year(), week.week());
        let thursday = (monday + Duration::days(3) - first).num_days();
        for ((field, value), count) in fleet.period(machines * 21 / 20, thursday, days, true) {
            writeln!(out, "weekly,{period},{field},{},{count}", csv_field(&value))?;
        }
        monday += Duration::days(7);
    }
    out.flush()
}
