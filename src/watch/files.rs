//! Which files a watch follows, and when a file counts as written: it has kept its size and
//! modification time for `settle` (a file renamed into place is stable at once; one still
//! being written is not), and an `.npy` holds the bytes its header promises. Each complete
//! version — a path with a size and time not taken before — lands once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// What the user named: a file, a folder (the inputs biolens reads in it), or a pattern whose
/// file name holds `*` or `?` (`runs/exp3/emb_epoch_*.npy`).
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    File(PathBuf),
    Folder(PathBuf),
    Pattern { folder: PathBuf, name: String },
}

impl Target {
    pub fn parse(arg: &Path) -> Target {
        let name = arg
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains(['*', '?']) {
            let folder = arg
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            Target::Pattern { folder, name }
        } else if arg.is_dir() {
            Target::Folder(arg.to_path_buf())
        } else {
            Target::File(arg.to_path_buf())
        }
    }

    /// The folder whose events concern this target.
    pub fn folder(&self) -> PathBuf {
        match self {
            Target::File(p) => p
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            Target::Folder(f) | Target::Pattern { folder: f, .. } => f.clone(),
        }
    }

    /// The files that match now.
    fn files(&self) -> Vec<PathBuf> {
        match self {
            Target::File(p) => vec![p.clone()]
                .into_iter()
                .filter(|p| p.is_file())
                .collect(),
            Target::Folder(f) => list(f, is_followed_input),
            Target::Pattern { folder, name } => list(folder, |n| glob_match(name, n)),
        }
    }
}

fn list(folder: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(folder) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            !is_scratch(&n) && keep(&n)
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// Names writers use while a file is not done (hidden, `.tmp`, `.part`, `~`): never read.
fn is_scratch(name: &str) -> bool {
    let l = name.to_lowercase();
    l.starts_with('.')
        || l.ends_with(".tmp")
        || l.ends_with(".part")
        || l.ends_with(".partial")
        || l.ends_with('~')
}

/// The embedding and data files a folder is followed for.
fn is_followed_input(name: &str) -> bool {
    let l = name.to_lowercase();
    [
        ".npy", ".parquet", ".arrow", ".feather", ".ipc", ".csv", ".tsv", ".csv.gz", ".h5ad",
    ]
    .iter()
    .any(|e| l.ends_with(e))
}

/// Shell-style matching of one file name: `*` any run of characters, `?` one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// A file version: its path, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub path: PathBuf,
    pub size: u64,
    pub modified: SystemTime,
}

/// A file seen but not yet counted as written, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub path: PathBuf,
    pub why: String,
}

/// Follows the targets; `poll` says which versions have landed since.
#[derive(Debug)]
pub struct Tracker {
    targets: Vec<Target>,
    settle: Duration,
    /// Per path: the stamp last seen and since when it has not changed.
    seen: HashMap<PathBuf, (Stamp, Instant)>,
    taken: HashSet<Stamp>,
}

impl Tracker {
    pub fn new(targets: Vec<Target>, settle: Duration) -> Self {
        Self {
            targets,
            settle,
            seen: HashMap::new(),
            taken: HashSet::new(),
        }
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The versions complete at `now` and not taken before, oldest first (by modification
    /// time, then name), and the files still being waited for.
    pub fn poll(&mut self, now: Instant) -> (Vec<Stamp>, Vec<Waiting>) {
        let mut landed = Vec::new();
        let mut waiting = Vec::new();
        let mut present = HashSet::new();
        for path in self.targets.iter().flat_map(Target::files) {
            present.insert(path.clone());
            let Ok(md) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = Stamp {
                path: path.clone(),
                size: md.len(),
                modified: md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            };
            if self.taken.contains(&stamp) {
                continue;
            }
            let since = match self.seen.get(&path) {
                Some((s, t)) if *s == stamp => *t,
                _ => {
                    self.seen.insert(path.clone(), (stamp.clone(), now));
                    now
                }
            };
            if now.duration_since(since) < self.settle {
                waiting.push(Waiting {
                    path,
                    why: "being written (size or time still changing)".into(),
                });
                continue;
            }
            if let Some(why) = incomplete(&stamp) {
                waiting.push(Waiting { path, why });
                continue;
            }
            self.taken.insert(stamp.clone());
            landed.push(stamp);
        }
        self.seen.retain(|p, _| present.contains(p));
        landed.sort_by(|a, b| a.modified.cmp(&b.modified).then(a.path.cmp(&b.path)));
        (landed, waiting)
    }
}

/// Why a stable file is still not whole, when its format says: an `.npy` shorter than its
/// header's shape, an `.h5ad`/`.parquet` without its closing bytes.
fn incomplete(s: &Stamp) -> Option<String> {
    let name = s.path.to_string_lossy().to_lowercase();
    if name.ends_with(".npy") {
        match npy_length(&s.path) {
            Ok(want) => (s.size < want)
                .then(|| format!("{} of the {want} bytes its header promises", s.size)),
            Err(why) => why,
        }
    } else if name.ends_with(".parquet") {
        // A Parquet file ends with its footer and the magic "PAR1".
        let tail = read_tail(&s.path, 4)?;
        (tail != b"PAR1").then(|| "no Parquet footer yet".to_string())
    } else {
        None
    }
}

fn read_tail(path: &Path, n: u64) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len < n {
        return Some(vec![]);
    }
    f.seek(SeekFrom::Start(len - n)).ok()?;
    let mut b = vec![0u8; n as usize];
    f.read_exact(&mut b).ok()?;
    Some(b)
}

/// The whole length an `.npy` file's header promises (header plus rows × columns × width).
/// Err(Some(why)) while the header itself is not all there (an empty file, or one cut
/// inside its header: still being written); Err(None) when it is not an `.npy` header at
/// all (the reader then names what is wrong).
fn npy_length(path: &Path) -> Result<u64, Option<String>> {
    use std::io::Read;
    let short = || Some("its header is not written yet".to_string());
    let bytes = std::fs::File::open(path)
        .and_then(|f| {
            let mut b = Vec::new();
            f.take(1 << 20).read_to_end(&mut b)?;
            Ok(b)
        })
        .map_err(|_| None)?;
    const MAGIC: &[u8] = b"\x93NUMPY";
    if bytes.len() < 12 {
        // A prefix of the magic (or nothing yet) is a file still being written.
        return if MAGIC.starts_with(&bytes[..bytes.len().min(6)]) {
            Err(short())
        } else {
            Err(None)
        };
    }
    if &bytes[..6] != MAGIC {
        return Err(None);
    }
    let (start, hlen) = match bytes[6] {
        1 => (10usize, u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        _ => (
            12usize,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
    };
    let Some(h) = bytes.get(start..start + hlen) else {
        return Err(short());
    };
    npy_header_length(h, (start + hlen) as u64).ok_or(None)
}

/// Header plus data length from an `.npy` header's text.
fn npy_header_length(h: &[u8], header_end: u64) -> Option<u64> {
    let header = String::from_utf8_lossy(h).into_owned();
    let width: u64 = {
        let d = header.find("'descr'")?;
        let rest = &header[d + 7..];
        let q = rest.find('\'')?;
        let end = rest[q + 1..].find('\'')?;
        rest[q + 1..q + 1 + end]
            .trim_start_matches(['<', '>', '|', '='])
            .get(1..)?
            .parse()
            .ok()?
    };
    let shape = {
        let s = header.find("'shape'")?;
        let rest = &header[s..];
        let a = rest.find('(')?;
        let b = rest.find(')')?;
        rest[a + 1..b]
            .split(',')
            .filter(|x| !x.trim().is_empty())
            .map(|x| x.trim().parse::<u64>().ok())
            .collect::<Option<Vec<u64>>>()?
    };
    Some(header_end + shape.iter().product::<u64>() * width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_stars_and_marks() {
        assert!(glob_match("emb_epoch_*.npy", "emb_epoch_12.npy"));
        assert!(glob_match("emb_*_?.npy", "emb_x_1.npy"));
        assert!(!glob_match("emb_epoch_*.npy", "emb_epoch_12.npy.tmp"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", "anything"));
    }

    #[test]
    fn a_file_lands_once_when_stable_and_an_npy_only_when_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("emb_1.npy");
        // 4 × 2 float32: a header, then 32 bytes of data; first written without the data.
        let m = crate::core::matrix::Matrix::from_vec(4, 2, vec![0.5; 8]);
        crate::io::npy::write_npy_f32(&p, &m).unwrap();
        let whole = std::fs::read(&p).unwrap();
        let bytes = whole[..whole.len() - 32].to_vec();
        let mut t = Tracker::new(
            vec![Target::parse(&d.path().join("emb_*.npy"))],
            Duration::from_millis(0),
        );
        let t0 = Instant::now();
        // Created, nothing written yet: still being written, however long it stays so.
        std::fs::write(&p, b"").unwrap();
        let (landed, waiting) = t.poll(t0);
        assert!(landed.is_empty(), "an empty .npy is not read");
        assert!(waiting[0].why.contains("header"), "{waiting:?}");
        std::fs::write(&p, &bytes).unwrap();
        let (landed, waiting) = t.poll(t0);
        assert!(landed.is_empty(), "a half-written .npy is never read");
        assert!(
            waiting[0].why.contains("bytes its header promises"),
            "{waiting:?}"
        );
        std::fs::write(&p, &whole).unwrap();
        let (landed, _) = t.poll(t0 + Duration::from_millis(1));
        assert_eq!(landed.len(), 1);
        let (landed, waiting) = t.poll(t0 + Duration::from_millis(2));
        assert!(landed.is_empty() && waiting.is_empty(), "taken once");
    }

    #[test]
    fn a_file_still_changing_waits_for_the_settle_time() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.csv");
        std::fs::write(&p, "a\n1\n").unwrap();
        let mut t = Tracker::new(vec![Target::parse(d.path())], Duration::from_secs(5));
        let t0 = Instant::now();
        assert!(t.poll(t0).0.is_empty());
        assert_eq!(t.poll(t0 + Duration::from_secs(1)).1.len(), 1);
        assert_eq!(t.poll(t0 + Duration::from_secs(6)).0.len(), 1);
        // Scratch names are never followed.
        std::fs::write(d.path().join("n.csv.tmp"), "a\n").unwrap();
        assert!(t.poll(t0 + Duration::from_secs(20)).0.is_empty());
    }
}
