//! FASTA and FASTQ (plain or gzip) through needletail: records checked against the IUPAC
//! alphabet, cut into windows, with the record id, description, position, GC, soft-masked
//! share and (FASTQ) mean quality kept as metadata. The letters are kept as read (soft-masking
//! is information); analyses upper-case them where they need to.

use crate::core::DataError;
use crate::core::meta::MetaColumn;
use crate::core::meta::MetaValues;
use std::path::Path;

/// How records become items.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowParams {
    /// Window length in bases; 0 = automatic: records up to `2 × AUTO_WINDOW` stay whole,
    /// longer ones are cut into `AUTO_WINDOW`-base windows.
    pub window: usize,
    /// Step between window starts; 0 = the window length (no overlap).
    pub stride: usize,
}

pub const AUTO_WINDOW: usize = 1000;

/// The sequences of a DNA dataset, one per item, aligned with the dataset's ids.
#[derive(Debug, Clone, Default)]
pub struct Sequences {
    pub seqs: Vec<Vec<u8>>,
    /// Known motifs to compare discovered ones with (`--motifs FILE`): file name and motifs.
    pub motif_db: Option<(
        String,
        std::sync::Arc<Vec<crate::modality::dna::motif_db::Motif>>,
    )>,
    /// Background sequences for motif discovery (`--background FILE`).
    pub motif_background: Option<crate::modality::dna::motifs::UserBackground>,
}

impl Sequences {
    /// The `--motifs` database's name and motifs (none without one), for matching.
    pub fn motif_database(
        &self,
    ) -> (
        Option<String>,
        std::sync::Arc<Vec<crate::modality::dna::motif_db::Motif>>,
    ) {
        match &self.motif_db {
            Some((n, d)) => (Some(n.clone()), d.clone()),
            None => (None, std::sync::Arc::new(Vec::new())),
        }
    }
}

/// What the reader produced.
#[derive(Debug)]
pub struct SeqRead {
    pub ids: Vec<String>,
    pub meta: Vec<MetaColumn>,
    pub sequences: Sequences,
    pub notes: Vec<String>,
}

pub fn is_sequence_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".fa", ".fasta", ".fna", ".fas", ".ffn", ".fq", ".fastq"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// IUPAC nucleotide codes (either case); `U` is read as `T` by the analyses.
pub fn is_iupac(b: u8) -> bool {
    matches!(
        b.to_ascii_uppercase(),
        b'A' | b'C'
            | b'G'
            | b'T'
            | b'U'
            | b'N'
            | b'R'
            | b'Y'
            | b'S'
            | b'W'
            | b'K'
            | b'M'
            | b'B'
            | b'D'
            | b'H'
            | b'V'
    )
}

/// FASTQ quality encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualityEncoding {
    Phred33,
    Phred64,
    Solexa64,
}

impl QualityEncoding {
    /// Detected from the lowest quality byte seen: below ';' (59) only Phred+33 is possible;
    /// 59–63 only Solexa+64 (scores down to −5); from '@' (64) up the file is Phred+64 or
    /// Phred+33 with unusually high qualities, and Phred+64 is assumed (the note says so).
    pub fn detect(lowest: u8) -> (Self, bool) {
        match lowest {
            0..=58 => (QualityEncoding::Phred33, true),
            59..=63 => (QualityEncoding::Solexa64, true),
            _ => (QualityEncoding::Phred64, false),
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            QualityEncoding::Phred33 => "Phred+33 (Sanger/Illumina 1.8+)",
            QualityEncoding::Phred64 => "Phred+64 (Illumina 1.3–1.7)",
            QualityEncoding::Solexa64 => "Solexa+64 (Illumina 1.0)",
        }
    }
    /// The Phred score of one quality byte.
    pub fn phred(&self, b: u8) -> f64 {
        match self {
            QualityEncoding::Phred33 => b as f64 - 33.0,
            QualityEncoding::Phred64 => b as f64 - 64.0,
            QualityEncoding::Solexa64 => {
                let s = b as f64 - 64.0;
                10.0 * (10f64.powf(s / 10.0) + 1.0).log10()
            }
        }
    }
}

#[derive(Debug)]
struct Record {
    id: String,
    description: String,
    seq: Vec<u8>,
    qual: Option<Vec<u8>>,
}

/// Reads a FASTA or FASTQ file and cuts it into windows.
pub fn read_sequences(path: &Path, w: &WindowParams) -> Result<SeqRead, DataError> {
    let records = read_records(path)?;
    if records.is_empty() {
        return Err(DataError::file(
            path,
            "no sequence records (expected FASTA '>' or FASTQ '@' records)",
        ));
    }
    let mut notes = Vec::new();
    let encoding = if records.iter().any(|r| r.qual.is_some()) {
        let lowest = records
            .iter()
            .filter_map(|r| r.qual.as_ref())
            .flat_map(|q| q.iter().copied())
            .min()
            .unwrap_or(b'I');
        let (enc, sure) = QualityEncoding::detect(lowest);
        notes.push(format!(
            "{}: qualities read as {} ({} from the lowest quality character '{}')",
            path.display(),
            enc.name(),
            if sure { "detected" } else { "assumed" },
            lowest as char
        ));
        Some(enc)
    } else {
        None
    };

    let longest = records.iter().map(|r| r.seq.len()).max().unwrap_or(0);
    let (window, stride, explicit) = if w.window > 0 {
        (
            w.window,
            if w.stride > 0 { w.stride } else { w.window },
            true,
        )
    } else {
        (
            AUTO_WINDOW,
            if w.stride > 0 { w.stride } else { AUTO_WINDOW },
            false,
        )
    };
    if explicit && window > longest {
        return Err(DataError::file(
            path,
            format!(
                "--window {window} is longer than every record (the longest has {longest} bases)"
            ),
        ));
    }

    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    let (mut rec_col, mut desc_col) = (Vec::new(), Vec::new());
    let (mut start_col, mut end_col, mut gc_col, mut mask_col, mut n_col, mut q_col) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut dropped_short, mut dropped_empty) = (0usize, 0usize);
    for r in &records {
        let len = r.seq.len();
        if len == 0 {
            dropped_empty += 1;
            continue;
        }
        let cut = explicit || len > 2 * AUTO_WINDOW;
        let spans: Vec<(usize, usize)> = if !cut {
            vec![(0, len)]
        } else if len < window {
            dropped_short += 1;
            vec![]
        } else {
            let mut v: Vec<(usize, usize)> = (0..)
                .map(|i| i * stride)
                .take_while(|s| s + window <= len)
                .map(|s| (s, s + window))
                .collect();
            // The tail a stride leaves uncovered gets a window aligned to the record's end.
            if v.last().is_some_and(|&(_, e)| e < len) {
                v.push((len - window, len));
            }
            v
        };
        let whole = spans.len() == 1 && spans[0] == (0, len);
        for (s, e) in spans {
            let part = &r.seq[s..e];
            ids.push(if whole {
                r.id.clone()
            } else {
                format!("{}:{}-{}", r.id, s + 1, e)
            });
            rec_col.push(r.id.clone());
            desc_col.push(r.description.clone());
            start_col.push((s + 1) as f64);
            end_col.push(e as f64);
            let (mut gc, mut acgt, mut masked, mut n) = (0usize, 0usize, 0usize, 0usize);
            for &b in part {
                if b.is_ascii_lowercase() {
                    masked += 1;
                }
                match b.to_ascii_uppercase() {
                    b'G' | b'C' => {
                        gc += 1;
                        acgt += 1
                    }
                    b'A' | b'T' | b'U' => acgt += 1,
                    b'N' => n += 1,
                    _ => {}
                }
            }
            gc_col.push(if acgt > 0 {
                gc as f64 / acgt as f64
            } else {
                f64::NAN
            });
            mask_col.push(masked as f64 / part.len() as f64);
            n_col.push(n as f64 / part.len() as f64);
            if let (Some(q), Some(enc)) = (&r.qual, encoding) {
                let q = &q[s..e];
                q_col.push(q.iter().map(|&b| enc.phred(b)).sum::<f64>() / q.len() as f64);
            }
            seqs.push(part.to_vec());
        }
    }
    if dropped_empty > 0 {
        notes.push(format!(
            "{}: skipped {dropped_empty} record(s) with no bases",
            path.display()
        ));
    }
    if dropped_short > 0 {
        notes.push(format!(
            "{}: skipped {dropped_short} record(s) shorter than the {window}-base window",
            path.display()
        ));
    }
    if ids.is_empty() {
        return Err(DataError::file(path, "no record has any bases"));
    }
    let text = |name: &str, v: Vec<String>| MetaColumn {
        name: name.into(),
        values: MetaValues::Text(v),
    };
    let num = |name: &str, v: Vec<f64>| MetaColumn {
        name: name.into(),
        values: MetaValues::Number(v),
    };
    let mut meta = vec![
        text("record", rec_col),
        text("description", desc_col),
        num("start", start_col),
        num("end", end_col),
        num("gc", gc_col),
        num("soft_masked", mask_col),
        num("n_fraction", n_col),
    ];
    if !q_col.is_empty() {
        meta.push(num("mean_quality", q_col));
    }
    Ok(SeqRead {
        ids,
        meta,
        sequences: Sequences {
            seqs,
            motif_db: None,
            motif_background: None,
        },
        notes,
    })
}

/// The longest record read, as bytes of text (sequence, line breaks, header): longer than any
/// assembled chromosome (wheat 3B, ~0.83 Gbp). A record beyond it is an error, so a small
/// compressed file cannot grow into an unbounded buffer.
pub const MAX_RECORD_BYTES: u64 = 1 << 30;

/// Passes text through, failing once one record (from a line starting with '>' or '@') grows
/// beyond `limit` bytes.
struct RecordLimit<R> {
    inner: R,
    limit: u64,
    run: u64,
    at_line_start: bool,
}

impl<R: std::io::Read> std::io::Read for RecordLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if self.at_line_start && (b == b'>' || b == b'@') {
                self.run = 0;
            }
            self.at_line_start = b == b'\n';
            self.run += 1;
        }
        if self.run > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "a record longer than {} MiB of text; records are read whole, so this \
                     limit bounds memory",
                    self.limit >> 20
                ),
            ));
        }
        Ok(n)
    }
}

fn read_records(path: &Path) -> Result<Vec<Record>, DataError> {
    read_records_limited(path, MAX_RECORD_BYTES)
}

fn read_records_limited(path: &Path, limit: u64) -> Result<Vec<Record>, DataError> {
    use needletail::errors::ParseErrorKind;
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut file = std::io::BufReader::new(file);
    let gzip = std::io::BufRead::fill_buf(&mut file)
        .map_err(|e| DataError::io(path, e))?
        .starts_with(&[0x1f, 0x8b]);
    let text: Box<dyn std::io::Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let limited = RecordLimit {
        inner: text,
        limit,
        run: 0,
        at_line_start: true,
    };
    let mut reader = match needletail::parse_fastx_reader(limited) {
        Ok(r) => r,
        Err(e) if e.kind == ParseErrorKind::EmptyFile => {
            return Err(DataError::file(
                path,
                "the file is empty (expected FASTA '>' or FASTQ '@' records)",
            ));
        }
        Err(e) if e.kind == ParseErrorKind::Io => {
            return Err(DataError::file(path, format!("cannot read: {}", e.msg)));
        }
        Err(e) => return Err(parse_error(path, e)),
    };
    let mut out = Vec::new();
    while let Some(rec) = reader.next() {
        let rec = rec.map_err(|e| parse_error(path, e))?;
        let header = String::from_utf8_lossy(rec.id()).to_string();
        let (id, description) = match header.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((a, b)) => (a.to_string(), b.trim().to_string()),
            None => (header.clone(), String::new()),
        };
        if id.is_empty() {
            return Err(DataError::line(
                path,
                rec.start_line_number() as usize,
                format!("record {}: empty id after '>' or '@'", out.len() + 1),
            ));
        }
        // Find a bad letter in the raw lines so the error can name its line.
        let raw = rec.raw_seq();
        if let Some(pos) = raw
            .iter()
            .position(|&b| b != b'\n' && b != b'\r' && !is_iupac(b))
        {
            let line = rec.start_line_number() as usize
                + 1
                + raw[..pos].iter().filter(|&&b| b == b'\n').count();
            let col = pos
                - raw[..pos]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
            return Err(DataError::line(
                path,
                line,
                format!(
                    "record '{id}': '{}' at column {} is not an IUPAC nucleotide code (expected A C G T/U N or R Y S W K M B D H V)",
                    (raw[pos] as char).escape_default(),
                    col + 1
                ),
            ));
        }
        let qual = rec.qual().map(|q| q.to_vec());
        if let Some(q) = &qual
            && let Some(p) = q.iter().position(|&b| !(33..=126).contains(&b))
        {
            return Err(DataError::line(
                path,
                rec.start_line_number() as usize + 3,
                format!(
                    "record '{id}': quality byte {} at position {} is outside the printable range '!'..'~'",
                    q[p],
                    p + 1
                ),
            ));
        }
        out.push(Record {
            id,
            description,
            seq: rec.seq().to_vec(),
            qual,
        });
    }
    Ok(out)
}

fn parse_error(path: &Path, e: needletail::errors::ParseError) -> DataError {
    use needletail::errors::ParseErrorKind as K;
    // needletail leaves some messages empty (a truncated FASTQ): say what is wrong anyway.
    let msg = if e.msg.trim().is_empty() {
        match e.kind {
            K::UnexpectedEnd => {
                "the file ends inside this record (a FASTQ record has a header, \
                                 a sequence, a '+' line and a quality line)"
            }
            K::InvalidSeparator => "expected a '+' separator line after the sequence",
            K::UnequalLengths => "the sequence and quality lines differ in length",
            K::InvalidStart => "expected '>' (FASTA) or '@' (FASTQ) at the start of a record",
            K::UnknownFormat => "neither FASTA ('>') nor FASTQ ('@')",
            K::EmptyFile => "empty file",
            K::Io => "could not be read",
        }
        .to_string()
    } else {
        e.msg.clone()
    };
    let what = match &e.position.id {
        Some(id) => format!("record '{id}': {msg}"),
        None => msg,
    };
    if e.position.line > 0 {
        DataError::line(path, e.position.line as usize, what)
    } else {
        DataError::file(path, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_fastq_record_is_named_with_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.fq", "@r1\nACGT\n+\nIIII\n@r2\nACG\n");
        let Err(e) = read_sequences(&p, &WindowParams::default()) else {
            panic!("a truncated FASTQ was read")
        };
        let e = e.to_string();
        assert!(
            e.contains("record 'r2': the file ends inside this record"),
            "{e}"
        );
    }

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_compressed_giant_record_is_refused_not_buffered() {
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        // 3 MiB of one record, gzipped to a few KiB; the limit here is 1 MiB.
        let p = d.path().join("bomb.fa.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&p).unwrap(),
            flate2::Compression::best(),
        );
        gz.write_all(b">giant\n").unwrap();
        let line = [b'A'; 1 << 16];
        for _ in 0..48 {
            gz.write_all(&line).unwrap();
        }
        gz.finish().unwrap();
        let e = read_records_limited(&p, 1 << 20).unwrap_err().to_string();
        assert!(
            e.contains("bomb.fa.gz") && e.contains("longer than 1 MiB"),
            "{e}"
        );
        // Many small records add up past the limit without tripping it.
        let many: String = (0..2000)
            .map(|i| format!(">r{i}\n{}\n", "ACGT".repeat(200)))
            .collect();
        let p = write(d.path(), "many.fa", &many);
        assert_eq!(read_records_limited(&p, 1 << 20).unwrap().len(), 2000);
    }

    #[test]
    fn windows_metadata_and_masking() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "a.fa",
            ">r1 first one\nACGTacgtNN\nGGCC\n>r2\nAAAA\n",
        );
        let r = read_sequences(
            &p,
            &WindowParams {
                window: 6,
                stride: 4,
            },
        )
        .unwrap();
        // r1 has 14 bases: windows 1-6, 5-10, 9-14; r2 (4 bases) is shorter than the window.
        assert_eq!(r.ids, vec!["r1:1-6", "r1:5-10", "r1:9-14"]);
        assert_eq!(r.sequences.seqs[1], b"acgtNN".to_vec());
        let masked = r.meta.iter().find(|c| c.name == "soft_masked").unwrap();
        assert_eq!(masked.display(1), "0.6667");
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("shorter than the 6-base window"))
        );
        let desc = r.meta.iter().find(|c| c.name == "description").unwrap();
        assert_eq!(desc.display(0), "first one");
        let whole = read_sequences(&p, &WindowParams::default()).unwrap();
        assert_eq!(whole.ids, vec!["r1", "r2"]);
    }

    #[test]
    fn bad_input_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "bad.fa", ">ok\nACGT\n>bad\nACGT\nACXT\n");
        let e = read_sequences(&p, &WindowParams::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.fa:5:") && e.contains("'bad'") && e.contains("'X' at column 3"));
        let p = write(d.path(), "empty.fa", "");
        let e = read_sequences(&p, &WindowParams::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
        let p = write(d.path(), "short.fa", ">a\nACGT\n");
        let e = read_sequences(
            &p,
            &WindowParams {
                window: 10,
                stride: 0,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("longer than every record"), "{e}");
        let p = write(d.path(), "trunc.fq", "@a\nACGT\n+\nIIII\n@b\nACGT\n+\nII\n");
        let e = read_sequences(&p, &WindowParams::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("trunc.fq") && e.contains("'b'"), "{e}");
    }

    #[test]
    fn quality_encodings_are_detected() {
        assert_eq!(QualityEncoding::detect(b'#').0, QualityEncoding::Phred33);
        assert_eq!(QualityEncoding::detect(b';').0, QualityEncoding::Solexa64);
        assert!(!QualityEncoding::detect(b'B').1);
        // Solexa −5 is Phred 1.19; Solexa 10 is Phred 10.41.
        assert!((QualityEncoding::Solexa64.phred(59) - 1.193).abs() < 1e-3);
        assert!((QualityEncoding::Solexa64.phred(74) - 10.414).abs() < 1e-3);
    }
}
