//! How much memory this process may still use, so a reader can refuse an input that would not
//! fit before it starts, instead of being killed (or swapping) an hour later.

/// Environment variable that sets a memory budget (e.g. `8G`, `500M`, bytes) below what the
/// machine has: on a shared box, the share a user means to take.
pub const BUDGET_VAR: &str = "BIOLENS_MAX_MEMORY";

/// Lets glibc's allocator keep freed blocks below 64 MB on its heap, and up to 128 MB of
/// free heap, instead of mapping and unmapping them from the kernel each time. The count
/// model allocates and frees a few MB-sized tensors per operation, thousands of times an
/// epoch: with glibc's defaults each one was fresh pages from the kernel (page faults and
/// zeroing were ~8 % of an epoch, and an epoch at 5,000 × 2,000 took 0.72 s instead of 0.59
/// s, docs/benchmarks.md). Leaves settings a user gave in `MALLOC_MMAP_THRESHOLD_` /
/// `MALLOC_TRIM_THRESHOLD_` alone. Call once, first thing in `main`.
pub fn keep_freed_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: mallopt only changes allocator parameters; glibc takes its own lock.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20) };
        }
        if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20) };
        }
    }
}

/// Bytes available: the kernel's `MemAvailable`, lowered by a cgroup v2 limit when one is set
/// (containers and CI runners see the host's memory in /proc/meminfo) and by
/// `BIOLENS_MAX_MEMORY`. None where none can be read (other systems): the caller then does
/// not check.
pub fn available_bytes() -> Option<u64> {
    let budget = std::env::var(BUDGET_VAR).ok().and_then(|v| parse_size(&v));
    let machine = machine_bytes();
    match (budget, machine) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// "8G", "500M", "64k" or a number of bytes.
fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let (num, mult) = match v.chars().last()?.to_ascii_uppercase() {
        'K' => (&v[..v.len() - 1], 1u64 << 10),
        'M' => (&v[..v.len() - 1], 1 << 20),
        'G' => (&v[..v.len() - 1], 1 << 30),
        'T' => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(|x| (x * mult as f64) as u64)
}

fn machine_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .map(|max| max.saturating_sub(read("/sys/fs/cgroup/memory.current").unwrap_or(0)));
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// "3.6 GB".
pub fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(super::parse_size("8G"), Some(8 << 30));
        assert_eq!(super::parse_size("500m"), Some(500 << 20));
        assert_eq!(super::parse_size("1234"), Some(1234));
        assert_eq!(super::parse_size("lots"), None);
    }
}
