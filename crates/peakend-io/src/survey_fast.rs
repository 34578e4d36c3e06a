//! The fast path for folding a large, clean survey file: the bytes are cut into chunks at
//! line ends, each chunk is parsed on its own thread straight into the caller's
//! statistics (no `Response`, no `StringRecord`, no allocation per row), and the parts
//! come back in file order for the caller to merge.
//!
//! It only accepts what it can prove the careful parser ([`survey_csv::for_each_row`])
//! reads the same way: unquoted cells, `\n` or `\r\n` line ends, no blank lines, every
//! row with exactly the header's cells, cells without surrounding whitespace and with
//! valid values, and respondents that are unique. At the first thing outside that
//! (a quote, a bad value, a possible duplicate, bytes that are not UTF-8, ...) it gives
//! up and returns `None`; the caller then runs the careful parser, which stays the one
//! source of row/column error reports. So a clean file is fast, and every other file
//! gets exactly the results and errors it got before.
//!
//! [`survey_csv::for_each_row`]: crate::survey_csv::for_each_row

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;
use foldhash::quality::FixedState;
use memchr::memchr;
use peakend_core::survey::{NeedsView, Rating, ResponseView, parse_date};
use peakend_core::{HallId, Journey};

use crate::survey_csv::{Col, Options, REQUIRED, classify};

/// Respondent hashes are spread over this many buckets (by their top bits) so that the
/// duplicate check after the merge sorts small, cache-sized pieces in parallel.
const BUCKET_BITS: u32 = 6;
const BUCKETS: usize = 1 << BUCKET_BITS;

/// Folds the rows of `bytes` (a whole survey file) into one `S` per chunk, in file
/// order, or `None` if the file is not one the fast path can read exactly like the
/// careful parser. `chunks` is the number of pieces (and threads); the parts of an
/// empty chunk are just `init()`.
pub fn fold<S: Send>(
    bytes: &[u8],
    journey: &Journey,
    opts: &Options,
    chunks: usize,
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, &ResponseView) + Sync,
) -> Option<Vec<S>> {
    let header_end = memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
    let layout = Layout::new(&bytes[..header_end], journey, opts)?;
    let body = &bytes[header_end..];
    let bounds = split_at_lines(body, chunks.max(1));
    let failed = AtomicBool::new(false);
    let results: Vec<Option<(S, Vec<Vec<u64>>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let chunk = &body[w[0]..w[1]];
                let (layout, init, each, failed) = (&layout, &init, &each, &failed);
                scope.spawn(move || {
                    let mut state = init();
                    let mut reader = ChunkReader::new(layout);
                    let ok = reader.read(chunk, failed, |view| each(&mut state, view));
                    if !ok {
                        failed.store(true, Ordering::Relaxed);
                    }
                    ok.then_some((state, reader.hashes))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a fast-path reader panicked"))
            .collect()
    });
    let mut parts = Vec::with_capacity(results.len());
    let mut hashes = Vec::with_capacity(results.len());
    for r in results {
        let (state, h) = r?;
        parts.push(state);
        hashes.push(h);
    }
    (!any_duplicate(hashes, chunks.max(1))).then_some(parts)
}

/// Offsets `0 = b0 ≤ b1 ≤ … ≤ bn = len` of `n` pieces of `body`, each ending just
/// after a line end (or at the end of the body).
fn split_at_lines(body: &[u8], n: usize) -> Vec<usize> {
    let mut bounds = vec![0];
    for i in 1..n {
        let target = (body.len() * i / n).max(*bounds.last().expect("non-empty"));
        let cut = if target == 0 {
            0
        } else {
            memchr(b'\n', &body[target - 1..]).map_or(body.len(), |p| target + p)
        };
        bounds.push(cut);
    }
    bounds.push(body.len());
    bounds
}

/// Whether any two rows (in any chunks) hashed their respondent to the same value:
/// a duplicate, or a collision; either way the careful parser decides.
fn any_duplicate(chunks: Vec<Vec<Vec<u64>>>, threads: usize) -> bool {
    let mut per_bucket: Vec<Vec<Vec<u64>>> = (0..BUCKETS).map(|_| Vec::new()).collect();
    for chunk in chunks {
        for (b, hashes) in chunk.into_iter().enumerate() {
            per_bucket[b].push(hashes);
        }
    }
    let threads = threads.clamp(1, BUCKETS);
    let found = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let mut work: Vec<Vec<Vec<Vec<u64>>>> = (0..threads).map(|_| Vec::new()).collect();
        for (b, parts) in per_bucket.into_iter().enumerate() {
            work[b % threads].push(parts);
        }
        for buckets in work {
            let found = &found;
            scope.spawn(move || {
                for parts in buckets {
                    let mut all = parts.concat();
                    all.sort_unstable();
                    if all.windows(2).any(|w| w[0] == w[1]) {
                        found.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });
    found.into_inner()
}

/// What one cell of a row is read as.
#[derive(Clone, Copy)]
enum Cell {
    /// A number in `lo..=hi` (or empty), stored at `slot` of the row's numbers.
    Number { slot: usize, lo: f64, hi: f64 },
    /// Text kept as one of the fixed fields (respondent, hall, date, segment, purpose).
    Text(usize),
    /// A column skipped with `--ignore-unknown`; still checked for quotes.
    Skip,
}

/// Consecutive cells read by one loop: a run of numbers with the same range (the
/// ratings are one run of dozens of cells), or a single text cell.
enum Run {
    Numbers { slots: Vec<usize>, lo: f64, hi: f64 },
    Text(usize),
    Skip,
}

fn runs(cells: &[Cell]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for cell in cells {
        match (*cell, runs.last_mut()) {
            (
                Cell::Number { slot, lo, hi },
                Some(Run::Numbers {
                    slots,
                    lo: l,
                    hi: h,
                }),
            ) if lo == *l && hi == *h => {
                slots.push(slot);
            }
            (Cell::Number { slot, lo, hi }, _) => runs.push(Run::Numbers {
                slots: vec![slot],
                lo,
                hi,
            }),
            (Cell::Text(f), _) => runs.push(Run::Text(f)),
            (Cell::Skip, _) => runs.push(Run::Skip),
        }
    }
    runs
}

/// The header, classified once: what each cell of a row holds. Numbers go to one flat
/// array (importance and satisfaction per moment, then needs, then overall, nps and
/// tolerable wait, then the expectation items when the file has any) so that the loop
/// over a row's cells has two kinds of cell to tell apart, not one per column type.
struct Layout<'a> {
    runs: Vec<Run>,
    moments: usize,
    /// All needs of the journey; their slots start at `2 · moments`, in journey order.
    needs: usize,
    /// Whether any `exp.<moment>` column exists: without one, rows carry no
    /// expectation slots and the reader does no work for them.
    expectations: bool,
    /// Likewise for the competitor ratings (`comp.<moment>`), after the expectations.
    competitors: bool,
    halls: Option<&'a HashSet<String>>,
}

const OVERALL: usize = 0;
const NPS: usize = 1;
const WAIT: usize = 2;

impl Layout<'_> {
    fn numbers(&self) -> usize {
        self.competitor_slot(0) + if self.competitors { self.moments } else { 0 }
    }

    fn fixed_slot(&self, which: usize) -> usize {
        2 * self.moments + self.needs + which
    }

    /// The slot of moment `j`'s expectation item (only with `expectations`).
    fn expectation_slot(&self, j: usize) -> usize {
        2 * self.moments + self.needs + 3 + j
    }

    /// The slot of moment `j`'s competitor rating (only with `competitors`).
    fn competitor_slot(&self, j: usize) -> usize {
        self.expectation_slot(0) + if self.expectations { self.moments } else { 0 } + j
    }
}

impl<'a> Layout<'a> {
    fn new(line: &[u8], journey: &Journey, opts: &Options<'a>) -> Option<Layout<'a>> {
        let line = strip_line_end(line);
        let text = std::str::from_utf8(line).ok()?;
        // Quotes could hide commas or line ends, a BOM or padded names are spelt
        // differently by the two parsers: leave all of them to the careful one.
        if text.is_empty() || text.contains(['"', '\r', '\u{feff}']) {
            return None;
        }
        let mut cols = Vec::new();
        let mut seen = HashSet::new();
        for name in text.split(',') {
            if name.trim() != name || !seen.insert(name) {
                return None;
            }
            cols.push(classify(journey, name, opts.ignore_unknown).ok()?);
        }
        if !REQUIRED.iter().all(|r| seen.contains(r)) {
            return None;
        }
        let k = journey.moments().len();
        // Where each moment's needs start among all the journey's needs.
        let need_start: Vec<usize> = journey
            .moments()
            .iter()
            .scan(0, |start, m| {
                *start += m.core_needs.len();
                Some(*start - m.core_needs.len())
            })
            .collect();
        let mut cells = Vec::with_capacity(cols.len());
        let mut layout = Layout {
            runs: Vec::new(),
            moments: k,
            needs: journey.moments().iter().map(|m| m.core_needs.len()).sum(),
            expectations: cols.iter().any(|c| matches!(c, Col::Exp(_))),
            competitors: cols.iter().any(|c| matches!(c, Col::Comp(_))),
            halls: opts.halls,
        };
        for col in cols {
            let cell = match col {
                Col::Imp(j) => Cell::Number {
                    slot: 2 * j,
                    lo: 1.0,
                    hi: 10.0,
                },
                Col::Sat(j) => Cell::Number {
                    slot: 2 * j + 1,
                    lo: 1.0,
                    hi: 10.0,
                },
                Col::Exp(j) => Cell::Number {
                    slot: layout.expectation_slot(j),
                    lo: 1.0,
                    hi: 10.0,
                },
                Col::Comp(j) => Cell::Number {
                    slot: layout.competitor_slot(j),
                    lo: 1.0,
                    hi: 10.0,
                },
                Col::Need(m, n) => Cell::Number {
                    slot: 2 * k + need_start[m] + n,
                    lo: 1.0,
                    hi: 10.0,
                },
                // The careful parser's ranges: overall 1–10, nps 0–10, minutes ≥ 0.
                Col::Fixed(5) => Cell::Number {
                    slot: layout.fixed_slot(OVERALL),
                    lo: 1.0,
                    hi: 10.0,
                },
                Col::Fixed(6) => Cell::Number {
                    slot: layout.fixed_slot(NPS),
                    lo: 0.0,
                    hi: 10.0,
                },
                Col::Fixed(7) => Cell::Number {
                    slot: layout.fixed_slot(WAIT),
                    lo: 0.0,
                    hi: f64::MAX,
                },
                Col::Fixed(f) => Cell::Text(f),
                Col::Ignored => Cell::Skip,
            };
            cells.push(cell);
        }
        layout.runs = runs(&cells);
        Some(layout)
    }
}

/// A line without its `\n` or `\r\n`. A `\r` anywhere else ends a record for the CSV
/// reader, so cells refuse it.
fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One thread's reader: the per-row buffers it reuses and the respondent hashes.
struct ChunkReader<'l, 'a> {
    layout: &'l Layout<'a>,
    numbers: Vec<Option<f64>>,
    ratings: Vec<Rating>,
    hashes: Vec<Vec<u64>>,
    hasher: FixedState,
    /// The last hall and date that passed, since rows repeat them (empty: none yet; an
    /// empty cell never passes).
    last_hall: Vec<u8>,
    last_date: Vec<u8>,
}

impl<'l, 'a> ChunkReader<'l, 'a> {
    fn new(layout: &'l Layout<'a>) -> Self {
        ChunkReader {
            layout,
            numbers: vec![None; layout.numbers()],
            ratings: vec![Rating::default(); layout.moments],
            hashes: (0..BUCKETS).map(|_| Vec::new()).collect(),
            hasher: FixedState::with_seed(0x7065_616b_656e_6421),
            last_hall: Vec::new(),
            last_date: Vec::new(),
        }
    }

    /// Reads every line of `chunk`; false at the first row the fast path cannot take
    /// (or when another thread already gave up).
    fn read(
        &mut self,
        chunk: &[u8],
        failed: &AtomicBool,
        mut each: impl FnMut(&ResponseView),
    ) -> bool {
        let mut pos = 0;
        // The line, a comma after its last cell so that every cell ends with one, and
        // zeros so that reading a few bytes ahead never leaves the buffer.
        let mut buf = Vec::new();
        while pos < chunk.len() {
            let end = memchr(b'\n', &chunk[pos..]).map_or(chunk.len(), |i| pos + i);
            let line = strip_line_end(&chunk[pos..end]);
            pos = end + 1;
            buf.clear();
            buf.extend_from_slice(line);
            buf.extend_from_slice(&[b',', 0, 0, 0, 0, 0, 0, 0, 0]);
            if failed.load(Ordering::Relaxed) || self.row(&buf, line.len(), &mut each).is_none() {
                return false;
            }
        }
        true
    }

    /// One line of `len` bytes, at the start of `buf` (see [`read`](Self::read)).
    fn row(&mut self, buf: &[u8], len: usize, each: &mut impl FnMut(&ResponseView)) -> Option<()> {
        let layout = self.layout;
        let mut fixed: [&[u8]; crate::survey_csv::FIXED.len()] =
            [b""; crate::survey_csv::FIXED.len()];
        let mut pos = 0;
        for run in &layout.runs {
            if pos > len {
                return None; // fewer cells than columns
            }
            pos = match run {
                Run::Numbers { slots, lo, hi } => {
                    let (lo, hi) = (*lo, *hi);
                    let start = pos;
                    let mut bad = false;
                    for &slot in slots {
                        let (x, cell_len, ok) = short_number(buf, pos);
                        bad |= !ok | ((x < lo) | (x > hi)) & (cell_len > 0);
                        self.numbers[slot] = if cell_len > 0 { Some(x) } else { None };
                        // Kept inside the line and its comma so that the next read stays
                        // in the buffer even when the row is short; `bad` then says so.
                        pos = (pos + cell_len + 1).min(len + 1);
                    }
                    if bad {
                        // Something other than a short plain rating in this run: read it
                        // again cell by cell, the general way.
                        pos = start;
                        for &slot in slots {
                            if pos > len {
                                return None;
                            }
                            let (x, end) = number(&buf[..=len], pos, |x| x >= lo && x <= hi)?;
                            self.numbers[slot] = x;
                            pos = end + 1;
                        }
                    }
                    pos
                }
                Run::Text(f) => {
                    let end = text_cell(buf, pos)?;
                    fixed[*f] = &buf[pos..end];
                    end + 1
                }
                Run::Skip => text_cell(buf, pos)? + 1,
            };
        }
        if pos != len + 1 {
            return None; // more cells than columns
        }

        let respondent = clean_text(fixed[0])?;
        if respondent.is_empty() {
            return None;
        }
        let h = self.hasher.hash_one(respondent.as_bytes());
        self.hashes[(h >> (64 - BUCKET_BITS)) as usize].push(h);
        if fixed[1].is_empty() || fixed[1] != self.last_hall.as_slice() {
            let hall = std::str::from_utf8(fixed[1]).ok()?;
            if !HallId::is_valid(hall) || layout.halls.is_some_and(|known| !known.contains(hall)) {
                return None;
            }
            self.last_hall.clear();
            self.last_hall.extend_from_slice(fixed[1]);
        }
        if fixed[2].is_empty() || fixed[2] != self.last_date.as_slice() {
            if !date_ok(fixed[2]) {
                return None;
            }
            self.last_date.clear();
            self.last_date.extend_from_slice(fixed[2]);
        }
        let segment = clean_text(fixed[3])?;
        if segment.is_empty() {
            return None;
        }
        let purpose = clean_text(fixed[4])?;
        // Comments are not folded, but one the careful parser refuses (too long) must
        // make this path give up too, so the error is reported. Within 2,000 bytes it
        // is surely within 2,000 characters.
        let comment = fixed[10];
        if comment.len() > peakend_core::survey::COMMENT_MAX_CHARS
            && std::str::from_utf8(comment).ok()?.chars().count()
                > peakend_core::survey::COMMENT_MAX_CHARS
        {
            return None;
        }
        // A bad customer key is left to the strict reader, which names it.
        if !fixed[11].is_empty()
            && std::str::from_utf8(fixed[11]).map_or(true, |c| {
                peakend_core::customer::parse_customer_key(c).is_err()
            })
        {
            return None;
        }

        let k = layout.moments;
        for (r, pair) in self.ratings.iter_mut().zip(self.numbers.chunks_exact(2)) {
            r.importance = pair[0];
            r.satisfaction = pair[1];
        }
        if layout.expectations {
            let from = layout.expectation_slot(0);
            for (r, e) in self.ratings.iter_mut().zip(&self.numbers[from..from + k]) {
                r.expectation = *e;
            }
        }
        if layout.competitors {
            let from = layout.competitor_slot(0);
            for (r, c) in self.ratings.iter_mut().zip(&self.numbers[from..from + k]) {
                r.competitor = *c;
            }
        }
        let fixed_number = |which| self.numbers[layout.fixed_slot(which)];
        each(&ResponseView {
            // Checked above to be a hall id, hence ASCII.
            hall: std::str::from_utf8(fixed[1]).ok()?,
            segment,
            purpose: (!purpose.is_empty()).then_some(purpose),
            overall: fixed_number(OVERALL),
            nps: fixed_number(NPS),
            tolerable_wait_min: fixed_number(WAIT),
            ratings: &self.ratings,
            needs: NeedsView::Dense(&self.numbers[2 * k..2 * k + layout.needs]),
            short_form: false,
        });
        Some(())
    }
}

/// The end (the comma) of a text cell starting at `pos`; `None` if it holds a quote
/// or a `\r`.
#[inline]
fn text_cell(buf: &[u8], pos: usize) -> Option<usize> {
    let end = pos + memchr(b',', &buf[pos..])?;
    buf[pos..end]
        .iter()
        .all(|&b| b != b'"' && b != b'\r')
        .then_some(end)
}

/// UTF-8 without whitespace at either end, so that trimming (as the careful parser
/// does) cannot change it.
fn clean_text(cell: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(cell).ok()?;
    (s.trim().len() == s.len()).then_some(s)
}

/// `YYYY-MM-DD` checked here; other spellings the careful parser accepts (2024/3/5)
/// go through its own date parser, as long as nothing around them needs trimming.
fn date_ok(cell: &[u8]) -> bool {
    if let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *cell {
        let digits = [y0, y1, y2, y3, m0, m1, d0, d1];
        if digits.iter().all(u8::is_ascii_digit) {
            let n = |ds: &[u8]| ds.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
            return NaiveDate::from_ymd_opt(
                n(&digits[..4]) as i32,
                n(&digits[4..6]),
                n(&digits[6..]),
            )
            .is_some_and(|d| peakend_core::time::check_date(d).is_ok());
        }
    }
    clean_text(cell).is_some_and(|s| !s.is_empty() && parse_date(s).is_ok())
}

/// The value of a short cell by its length (1: `d`, 2: `dd`, 3: `d.d`) and its digits
/// (`10 · d0 + d1`, or `d0` alone): `str::parse`'s value, since each is an integer or
/// the quotient of two exact integers, rounded once.
const SHORT: [[f64; 100]; 4] = {
    let mut t = [[0.0; 100]; 4];
    let mut i = 0;
    while i < 100 {
        t[1][i] = i as f64;
        t[2][i] = i as f64;
        t[3][i] = i as f64 / 10.0;
        i += 1;
    }
    t
};

/// For each cell length, the bytes (of the first four) that must be digits.
const DIGITS: [u32; 5] = [0, 0xff, 0xffff, 0xff_00ff, 0];

/// The cell at `pos` when it is empty, `d`, `dd` or `d.d` (almost every rating), read
/// without branching on its length, which is too irregular to predict: the four bytes
/// at `pos` are decoded every way at once and the length picks the answer. Returns the
/// value (0 when empty), the cell's length and whether it was one of those forms; the
/// others are left to [`number`]. `buf` must hold four bytes from `pos`.
#[inline(always)]
fn short_number(buf: &[u8], pos: usize) -> (f64, usize, bool) {
    let b: [u8; 4] = buf[pos..pos + 4].try_into().expect("four bytes");
    let w = u32::from_le_bytes(b);
    // Per byte, exactly (no carries cross bytes): the high bit of each comma, and
    // nonzero for each byte that is not a digit (high nibble 3, low nibble ≤ 9).
    let t = w ^ 0x2c2c_2c2c;
    let commas = !(((t & 0x7f7f_7f7f) + 0x7f7f_7f7f) | t | 0x7f7f_7f7f);
    let not_digit =
        ((w & 0xf0f0_f0f0) ^ 0x3030_3030) | (((w & 0x0f0f_0f0f) + 0x0606_0606) & 0xf0f0_f0f0);
    let len = (commas.trailing_zeros() / 8) as usize;
    let ok = ((not_digit & DIGITS[len]) == 0) & (len < 4) & ((len != 3) | (b[1] == b'.'));
    let d = [
        b[0].wrapping_sub(b'0'),
        b[1].wrapping_sub(b'0'),
        b[2].wrapping_sub(b'0'),
    ];
    let second = if len == 2 { d[1] } else { d[2] };
    let idx = if len == 1 {
        usize::from(d[0])
    } else {
        10 * usize::from(d[0]) + usize::from(second)
    };
    (SHORT[len & 3][idx.min(99)], len, ok)
}

const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Parses the number cell starting at `pos` and returns it (`None` when empty) with the
/// position where the cell ends (a comma or the end of the line); `None` overall when
/// the value is not a number accepted by `ok`.
///
/// Plain decimals (`7`, `8.5`, `10`) are parsed here: with at most 15 digits the
/// integer of all digits is exact in f64, and dividing it by an exact power of ten
/// rounds once, to the same nearest double that `str::parse` gives. Any other spelling
/// goes to `str::parse` itself, untrimmed, so whitespace is never silently accepted.
#[inline(always)]
fn number(line: &[u8], pos: usize, ok: impl Fn(f64) -> bool) -> Option<(Option<f64>, usize)> {
    // Most cells are empty or one digit: settle those before the general loop.
    match (line.get(pos), line.get(pos + 1)) {
        (None | Some(b','), _) => return Some((None, pos)),
        (Some(&d @ b'0'..=b'9'), None | Some(b',')) => {
            let x = f64::from(d - b'0');
            return ok(x).then_some((Some(x), pos + 1));
        }
        _ => {}
    }
    let mut mantissa: u64 = 0;
    let (mut i, int_digits) = digit_run(line, pos, &mut mantissa);
    let mut digits = int_digits;
    let mut scale = 0;
    if line.get(i) == Some(&b'.') && int_digits > 0 {
        let (end, fraction) = digit_run(line, i + 1, &mut mantissa);
        (i, digits, scale) = (end, digits + fraction, fraction);
    }
    let at_end = matches!(line.get(i), None | Some(b','));
    if at_end && i == pos {
        return Some((None, i));
    }
    if at_end && digits <= 15 && (scale > 0 || line.get(i - 1) != Some(&b'.')) {
        let x = mantissa as f64 / POW10[scale];
        return ok(x).then_some((Some(x), i));
    }
    let end = memchr(b',', &line[pos..]).map_or(line.len(), |e| pos + e);
    let x: f64 = std::str::from_utf8(&line[pos..end]).ok()?.parse().ok()?;
    ok(x).then_some((Some(x), end))
}

/// Appends the decimal digits from `i` on to `mantissa`; returns where they stop and
/// how many there were. Wrapping: past 15 digits the value is thrown away for
/// `str::parse`'s.
#[inline(always)]
fn digit_run(line: &[u8], mut i: usize, mantissa: &mut u64) -> (usize, usize) {
    let start = i;
    while let Some(&b) = line.get(i) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    (i, i - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(x: f64) -> bool {
        (1.0..=10.0).contains(&x)
    }

    fn recommend(x: f64) -> bool {
        (0.0..=10.0).contains(&x)
    }

    fn minutes(x: f64) -> bool {
        x.is_finite() && x >= 0.0
    }

    #[test]
    fn plain_decimals_parse_as_str_parse_does() {
        for s in [
            "7",
            "10",
            "8.5",
            "007",
            "1.25",
            "9.99",
            "0.1",
            "3.3333333",
            "7.",
            "123456789012345",
            "1e1",
            "1234567890123456",
            "0.30000000000000004",
        ] {
            let (x, end) = number(s.as_bytes(), 0, |_| true).unwrap();
            assert_eq!(x, Some(s.parse::<f64>().unwrap()), "{s}");
            assert_eq!(end, s.len());
        }
        assert_eq!(number(b"", 0, rating), Some((None, 0)));
        assert_eq!(number(b",8", 0, rating), Some((None, 0)));
        assert_eq!(number(b"9,8", 0, rating), Some((Some(9.0), 1)));
        assert_eq!(number(b"11", 0, rating), None);
        assert_eq!(number(b"0", 0, rating), None);
        assert_eq!(number(b"0", 0, recommend), Some((Some(0.0), 1)));
        for bad in [" 7", "7 ", ".", "x", "7\r", "\"7\"", "nan", "-1", "1e400"] {
            assert_eq!(number(bad.as_bytes(), 0, rating), None, "{bad:?}");
        }
        assert_eq!(number(b"inf", 0, minutes), None);
    }

    #[test]
    fn short_cells_read_as_the_general_reader_reads_them() {
        let alphabet = b"0123456789.,x -";
        let mut cells = vec![Vec::new()];
        for len in 1..=4 {
            let mut next = Vec::new();
            for c in cells.iter().filter(|c| c.len() == len - 1) {
                for &b in alphabet {
                    next.push([c.as_slice(), &[b]].concat());
                }
            }
            cells.extend(next);
        }
        for cell in cells {
            let buf = [cell.as_slice(), b",\0\0\0\0"].concat();
            let (x, len, ok) = short_number(&buf, 0);
            if ok {
                let general = number(&buf, 0, |_| true);
                assert_eq!(general, Some(((len > 0).then_some(x), len)), "{cell:?}");
            }
        }
    }

    #[test]
    fn dates_follow_the_careful_parser() {
        for good in ["2024-03-05", "2024-02-29", "2024/3/5", "2024.12.31"] {
            assert!(date_ok(good.as_bytes()), "{good}");
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "9999-12-31",
            "0000-01-01",
            "1999-12-31",
            "",
            " 2024-03-05",
            "2024-03-05\r",
            "yesterday",
        ] {
            assert!(!date_ok(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn chunks_end_at_line_ends() {
        let body = b"a\nbb\nccc\n";
        for n in 1..12 {
            let b = split_at_lines(body, n);
            assert_eq!((b[0], *b.last().unwrap(), b.len()), (0, body.len(), n + 1));
            assert!(b.windows(2).all(|w| w[0] <= w[1]));
            assert!(
                b[1..b.len() - 1]
                    .iter()
                    .all(|&i| i == 0 || body[i - 1] == b'\n' || i == body.len())
            );
        }
        assert_eq!(split_at_lines(b"", 3), [0, 0, 0, 0]);
    }

    use peakend_core::analysis::{GroupBy, GroupedStats};
    use peakend_core::peak::PeakRule;

    fn journey() -> Journey {
        peakend_core::builtin::journeys().unwrap().remove(0)
    }

    fn opts() -> Options<'static> {
        Options {
            ignore_unknown: false,
            halls: None,
        }
    }

    fn synthetic(rows: usize, seed: u64) -> Vec<u8> {
        let j = journey();
        let halls: Vec<HallId> = ["gd-01", "gd-02", "sz-01"]
            .iter()
            .map(|h| HallId::parse(*h).unwrap())
            .collect();
        let mut buf = Vec::new();
        crate::survey_csv::write(
            &j,
            peakend_core::synth::responses(&j, &halls, rows, seed),
            &mut buf,
        )
        .unwrap();
        buf
    }

    /// The same file with the gap model's expectation columns.
    fn synthetic_with_expectations(rows: usize, seed: u64) -> Vec<u8> {
        let j = journey();
        let halls: Vec<HallId> = ["gd-01", "sz-01"]
            .iter()
            .map(|h| HallId::parse(*h).unwrap())
            .collect();
        let on = peakend_core::synth::SynthOptions {
            expectations: true,
            ..Default::default()
        };
        let mut buf = Vec::new();
        crate::survey_csv::write_with(
            &j,
            peakend_core::synth::responses_with(&j, &halls, rows, seed, on),
            &mut buf,
            crate::survey_csv::WriteOptions {
                expectations: true,
                ..Default::default()
            },
        )
        .unwrap();
        buf
    }

    fn careful(text: &[u8], by: Option<GroupBy>) -> Result<GroupedStats, Vec<String>> {
        let j = journey();
        let mut g = GroupedStats::new(&j, by, None);
        let text = std::str::from_utf8(text).unwrap();
        let errors = crate::survey_csv::for_each_row(text, &j, &opts(), |r| g.push(&r));
        if errors.is_empty() {
            Ok(g)
        } else {
            Err(errors.iter().map(ToString::to_string).collect())
        }
    }

    fn fast(bytes: &[u8], chunks: usize, by: Option<GroupBy>) -> Option<GroupedStats> {
        let j = journey();
        let parts = fold(
            bytes,
            &j,
            &opts(),
            chunks,
            || GroupedStats::new(&j, by, None),
            |g, r| g.push_view(r),
        )?;
        assert_eq!(parts.len(), chunks);
        let mut parts = parts.into_iter();
        let mut all = parts.next().unwrap();
        parts.for_each(|p| all.merge(&p));
        Some(all)
    }

    fn analysis(g: &GroupedStats) -> serde_json::Value {
        serde_json::to_value(g.analyze(&journey(), None, PeakRule::default()).unwrap()).unwrap()
    }

    #[test]
    fn the_fast_path_gives_the_careful_paths_statistics() {
        let bytes = synthetic(3000, 11);
        for by in [None, Some(GroupBy::Purpose), Some(GroupBy::Hall)] {
            let expected = careful(&bytes, by).unwrap();
            // One chunk adds in the careful path's order: bit for bit the same.
            let one = fast(&bytes, 1, by).unwrap();
            assert_eq!(one.all, expected.all);
            assert_eq!(analysis(&one), analysis(&expected));
            // More chunks (down to empty ones) only regroup the sums. Ratings are whole
            // numbers, so every sum is exact except the mean-satisfaction co-moments.
            for chunks in [2, 3, 8, 3001, 5000] {
                let got = fast(&bytes, chunks, by).unwrap();
                let strip = |g: &GroupedStats| {
                    let mut s = g.all.clone();
                    s.segments
                        .values_mut()
                        .for_each(|x| x.average = Default::default());
                    s
                };
                assert_eq!(strip(&got), strip(&expected), "{chunks} chunks");
                assert_eq!(got.all.respondents(), 3000);
                peakend_testkit::assert_json_near(
                    &analysis(&got),
                    &analysis(&expected),
                    "analysis",
                );
            }
        }
    }

    #[test]
    fn both_parsers_read_expectation_items_alike() {
        let bytes = synthetic_with_expectations(1500, 21);
        let expected = careful(&bytes, None).unwrap();
        assert!(
            expected
                .all
                .segments
                .values()
                .all(|s| s.expectations.is_some()),
            "every segment had some"
        );
        let one = fast(&bytes, 1, None).unwrap();
        assert_eq!(one.all, expected.all);
        for chunks in [2, 5] {
            let got = fast(&bytes, chunks, None).unwrap();
            for (seg, s) in &expected.all.segments {
                // Whole-number ratings: the expectation sums are exact in any order.
                assert_eq!(got.all.segments[seg].expectations, s.expectations, "{seg}");
            }
            peakend_testkit::assert_json_near(&analysis(&got), &analysis(&expected), "analysis");
        }
        assert!(analysis(&one)["gaps"]["moments"].as_array().unwrap().len() > 10);
        // A bad expectation cell is left to the careful parser, which names it.
        let text = "respondent,hall,date,segment,sat.queue,exp.queue\n\
                    r1,h1,2024-01-01,gold,7,8\n\
                    r2,h1,2024-01-02,gold,6,0\n";
        assert!(fast(text.as_bytes(), 1, None).is_none());
        assert_eq!(
            careful(text.as_bytes(), None).unwrap_err(),
            ["row 3, column exp.queue: 0 is outside 1–10"]
        );
        let good = text.replace(",0\n", ",9.5\n");
        let got = fast(good.as_bytes(), 2, None).unwrap();
        assert_eq!(got.all, careful(good.as_bytes(), None).unwrap().all);
    }

    #[test]
    fn both_parsers_read_competitor_ratings_alike() {
        let j = journey();
        let halls: Vec<HallId> = ["gd-01", "sz-01"]
            .iter()
            .map(|h| HallId::parse(*h).unwrap())
            .collect();
        let on = peakend_core::synth::SynthOptions {
            expectations: true,
            competitors: true,
        };
        let mut bytes = Vec::new();
        crate::survey_csv::write_with(
            &j,
            peakend_core::synth::responses_with(&j, &halls, 1200, 5, on),
            &mut bytes,
            crate::survey_csv::WriteOptions {
                expectations: true,
                competitors: true,
            },
        )
        .unwrap();
        let expected = careful(&bytes, None).unwrap();
        assert!(
            expected
                .all
                .segments
                .values()
                .any(|s| s.competitors.is_some() && s.expectations.is_some())
        );
        for chunks in [1, 3] {
            let got = fast(&bytes, chunks, None).unwrap();
            for (seg, s) in &expected.all.segments {
                assert_eq!(got.all.segments[seg].competitors, s.competitors, "{seg}");
                assert_eq!(got.all.segments[seg].expectations, s.expectations, "{seg}");
            }
        }
        // A bad competitor cell: named by the careful parser, the fast one steps aside.
        let text = "respondent,hall,date,segment,sat.queue,comp.queue\n\
                    r1,h1,2024-01-01,gold,7,8\n\
                    r2,h1,2024-01-02,gold,6,11\n";
        assert!(fast(text.as_bytes(), 1, None).is_none());
        assert_eq!(
            careful(text.as_bytes(), None).unwrap_err(),
            ["row 3, column comp.queue: 11 is outside 1–10"]
        );
    }

    #[test]
    fn crlf_other_date_spellings_and_decimals_stay_on_the_fast_path() {
        let text = "respondent,hall,date,segment,purpose,overall,nps,imp.result,sat.result,need.queue.wait_foresight,tolerable_wait_min\r\n\
                    r1,h1,2024/3/1,全球通,缴费,9,10,10,8.5,9,15\r\n\
                    r2,h1,2024.3.2,全球通,,7,0,9.25,7,,20.5\r\n\
                    r3,h2,2024-03-03,动感地带,缴费,,,,,,\r\n\
                    r4,h2,2024-03-04,动感地带,咨询,1e1,9,1,10,010,0";
        let expected = careful(text.as_bytes(), None).unwrap();
        for chunks in [1, 2, 4] {
            let got = fast(text.as_bytes(), chunks, None).expect("a clean file");
            assert_eq!(got.all, expected.all);
        }
    }

    #[test]
    fn anything_irregular_is_left_to_the_careful_parser() {
        let good = "respondent,hall,date,segment,overall,sat.queue\nr1,h1,2024-01-01,gold,8,7\nr2,h1,2024-01-02,gold,9,6\n";
        assert!(fast(good.as_bytes(), 2, None).is_some());
        let bad = [
            ("a rating out of range", "r2,h1,2024-01-02,gold,9,11"),
            ("a number with a space", "r2,h1,2024-01-02,gold,9, 6"),
            ("a quoted cell", "r2,h1,2024-01-02,\"gold\",9,6"),
            ("a cell too few", "r2,h1,2024-01-02,gold,9"),
            ("a cell too many", "r2,h1,2024-01-02,gold,9,6,"),
            ("a padded segment", "r2,h1,2024-01-02,gold ,9,6"),
            ("an empty segment", "r2,h1,2024-01-02,,9,6"),
            ("a bad date", "r2,h1,2024-02-30,gold,9,6"),
            ("a bad hall", "r2,h 1,2024-01-02,gold,9,6"),
            ("an empty respondent", ",h1,2024-01-02,gold,9,6"),
            ("a lone carriage return", "r2,h1,2024-01-02,gold\r,9,6"),
            ("a blank line", "\nr2,h1,2024-01-02,gold,9,6"),
            ("a duplicate", "r1,h1,2024-01-02,gold,9,6"),
        ];
        for (what, row) in bad {
            let text = good.replacen("r2,h1,2024-01-02,gold,9,6", row, 1);
            for chunks in [1, 2] {
                assert!(fast(text.as_bytes(), chunks, None).is_none(), "{what}");
            }
        }
        let headers = [
            "\u{feff}respondent,hall,date,segment,overall,sat.queue",
            "respondent,hall,date,segment,overall,sat.queue,colour",
            "respondent,hall,date,segment,overall, sat.queue",
            "respondent,hall,date,overall,sat.queue,segment2",
        ];
        for header in headers {
            let text = good.replacen("respondent,hall,date,segment,overall,sat.queue", header, 1);
            assert!(fast(text.as_bytes(), 1, None).is_none(), "{header}");
        }
        // A comment the careful parser refuses (over 2,000 characters) is left to it.
        let with_comment = "respondent,hall,date,segment,overall,sat.queue,comment\nr1,h1,2024-01-01,gold,8,7,好\n";
        assert!(fast(with_comment.as_bytes(), 1, None).is_some());
        let long = with_comment.replace(",好", &format!(",{}", "好".repeat(2001)));
        assert!(
            fast(long.as_bytes(), 1, None).is_none(),
            "an over-long comment"
        );
        let chinese = good.replace("gold", "全球通");
        let gbk = encoding_rs::GBK.encode(&chinese).0;
        assert!(fast(&gbk, 1, None).is_none(), "not UTF-8");
    }

    #[test]
    fn duplicates_in_different_chunks_are_caught_and_reported_carefully() {
        let mut bytes = synthetic(2000, 5);
        let first = bytes.split(|&b| b == b'\n').nth(1).unwrap();
        let respondent =
            String::from_utf8(first.split(|&b| b == b',').next().unwrap().to_vec()).unwrap();
        let copy = first.to_vec();
        bytes.extend_from_slice(&copy);
        bytes.push(b'\n');
        for chunks in [1, 2, 4] {
            assert!(fast(&bytes, chunks, None).is_none());
        }
        let errors = careful(&bytes, None).unwrap_err();
        assert_eq!(
            errors,
            [format!(
                "row 2002, column respondent: duplicate respondent `{respondent}` (also row 2)"
            )]
        );
    }
}
