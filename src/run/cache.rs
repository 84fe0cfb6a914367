//! `prodigy cache stats|gc|clean`: the build cache of the repository under
//! `.prodigy/cache/` (see `crate::cache`). `stats` only reads; `gc` and `clean` take the
//! cache lock, waiting for a running build, so they never delete what it writes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::print_stdout;
use crate::cache::{CacheLock, CacheStats, CacheStore, GcReport};
use crate::cli::CacheCommand;
use crate::error::{Error, ExitCode};
use crate::report::cache as render;

/// Runs one `cache` subcommand.
pub fn run(command: CacheCommand) -> Result<ExitCode, Error> {
    match command {
        CacheCommand::Stats { json, path } => stats(&open(path), json),
        CacheCommand::Gc {
            max_size,
            max_age,
            path,
        } => {
            let max_size = max_size.as_deref().map(size_arg).transpose()?;
            let max_age = max_age.as_deref().map(age_arg).transpose()?;
            gc(&open(path), max_size, max_age)
        }
        CacheCommand::Clean { path } => clean(&open(path)),
    }
}

/// The cache of `--path`, else of the main work tree of the current git repository (so
/// every linked worktree shares one cache, as it shares one DLQ).
fn open(path: Option<PathBuf>) -> CacheStore {
    let root = path.unwrap_or_else(|| {
        crate::config::state_root(&std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
    });
    CacheStore::open(&root)
}

/// Drops the refs that keep commits of entries no longer in the cache; a failure is a
/// warning (the refs only keep commits alive).
fn prune_refs(store: &CacheStore, keep: &dyn Fn(&str) -> bool) {
    let root = store
        .dir()
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    if let Err(e) = crate::exec::repo_change::prune_refs(root, keep) {
        crate::report::eprint(&format!("warning: refs/prodigy/cache: {e}\n"));
    }
}

/// `cache stats [--json]`: reads only, takes no lock and creates nothing.
fn stats(store: &CacheStore, json: bool) -> Result<ExitCode, Error> {
    let stats = store.stats()?;
    let last = store.load_last_run()?;
    print_warnings(store);
    if json {
        print_stdout(&(render::stats_json(&stats, last.as_ref()).to_string() + "\n"))
    } else {
        print_stdout(&render::stats_text(&stats, last.as_ref()))
    }
}

/// `cache gc [--max-size SIZE] [--max-age AGE]`: never drops what the index references.
fn gc(
    store: &CacheStore,
    max_size: Option<u64>,
    max_age: Option<Duration>,
) -> Result<ExitCode, Error> {
    if !store.dir().is_dir() {
        return print_stdout(&render::gc_text(&GcReport::default()));
    }
    let lock = lock(store)?;
    let index = store.load_index()?;
    let report = store.gc(&lock, max_size, max_age, &index.referenced_keys())?;
    let kept = |name: &str| {
        crate::cache::parse_hex(name)
            .is_some_and(|key| store.get_entry(&key).ok().flatten().is_some())
    };
    prune_refs(store, &kept);
    drop(lock);
    print_warnings(store);
    print_stdout(&render::gc_text(&report))
}

/// `cache clean`: every entry, blob, the index and the last run's record.
fn clean(store: &CacheStore) -> Result<ExitCode, Error> {
    if !store.dir().is_dir() {
        return print_stdout(&render::clean_text(&CacheStats::default()));
    }
    let lock = lock(store)?;
    let removed = store.clean(&lock)?;
    prune_refs(store, &|_| false);
    drop(lock);
    print_warnings(store);
    print_stdout(&render::clean_text(&removed))
}

/// Takes the cache lock; when a build holds it, says so on stderr and waits.
fn lock(store: &CacheStore) -> Result<CacheLock, Error> {
    let mut announce = |pid| crate::report::eprint(&render::waiting_text(pid));
    Ok(store.lock_announced(true, &mut announce)?)
}

/// Prints what the store noticed while reading (corrupt files, a foreign index).
fn print_warnings(store: &CacheStore) {
    for warning in store.take_warnings() {
        crate::report::eprint(&format!("warning: {warning}\n"));
    }
}

/// `--max-size`, or a usage error naming the accepted forms.
fn size_arg(text: &str) -> Result<u64, Error> {
    parse_size(text).ok_or_else(|| Error::Usage {
        message: format!(
            "invalid --max-size `{text}`: expected a number of bytes, optionally with K, M, G \
             or T (powers of 1024) and an optional B or iB, like `500M`, `1.5G`, `2048K` \
             or `1000000`"
        ),
    })
}

/// `--max-age`, or a usage error naming the accepted forms.
fn age_arg(text: &str) -> Result<Duration, Error> {
    parse_age(text).ok_or_else(|| Error::Usage {
        message: format!(
            "invalid --max-age `{text}`: expected a whole number with s, m, h, d or w \
             (seconds, minutes, hours, days, weeks), like `30d`, `12h`, `90m` or `2w`"
        ),
    })
}

/// `500`, `2048K`, `500M`, `1.5G`, `1TiB`, `10mb`: K, M, G and T are powers of 1024.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier = 1024_u64.checked_pow(unit_power(unit.trim_start())?)?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let whole = match whole {
        "" => 0,
        digits => digits.parse::<u64>().ok()?.checked_mul(multiplier)?,
    };
    let fraction = match fraction {
        "" => 0,
        digits => (format!("0.{digits}").parse::<f64>().ok()? * multiplier as f64) as u64,
    };
    whole.checked_add(fraction)
}

/// The power of 1024 of a size unit: `` or `b` 0, `k`/`kb`/`kib` 1, ... `t` 4.
fn unit_power(unit: &str) -> Option<u32> {
    let mut chars = unit.chars();
    let power = match chars.next() {
        None => return Some(0),
        Some('b') if chars.as_str().is_empty() => return Some(0),
        Some('k') => 1,
        Some('m') => 2,
        Some('g') => 3,
        Some('t') => 4,
        Some(_) => return None,
    };
    matches!(chars.as_str(), "" | "b" | "ib").then_some(power)
}

/// `45s`, `90m`, `12h`, `30d`, `2w`.
fn parse_age(text: &str) -> Option<Duration> {
    let text = text.trim().to_ascii_lowercase();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let seconds: u64 = match unit.trim_start() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 24 * 3600,
        "w" => 7 * 24 * 3600,
        _ => return None,
    };
    let n: u64 = number.parse().ok()?;
    n.checked_mul(seconds).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_units_fractions_and_byte_suffixes() {
        let cases = [
            ("500", 500),
            ("500b", 500),
            ("2048K", 2048 << 10),
            ("500M", 500 << 20),
            ("500MB", 500 << 20),
            ("500mib", 500 << 20),
            ("1G", 1 << 30),
            ("1.5G", 3 << 29),
            ("1.5 GiB", 3 << 29),
            (".5k", 512),
            ("2t", 2 << 40),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for bad in [
            "",
            "12Q",
            "1.2.3G",
            "G",
            "500ib",
            "5kbb",
            "-1",
            "1e3",
            "99999999999T",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_need_a_unit() {
        let cases = [
            ("45s", 45),
            ("90m", 90 * 60),
            ("12h", 12 * 3600),
            ("30d", 30 * 86400),
            ("2W", 14 * 86400),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_age(text),
                Some(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for bad in ["", "30", "d", "1.5d", "3y", "-1d", "10dd"] {
            assert_eq!(parse_age(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_limits_are_usage_errors_naming_the_accepted_forms() {
        let err = size_arg("12Q").unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Invalid);
        assert!(err.to_string().contains("`12Q`") && err.to_string().contains("`1.5G`"));
        let err = age_arg("3y").unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Invalid);
        assert!(err.to_string().contains("`30d`"), "{err}");
    }
}
