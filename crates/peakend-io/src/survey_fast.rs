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

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;
use foldhash::quality::FixedState;
use memchr::{memchr, memchr3};
use peakend_core::analysis::dense::{DenseGrouped, DenseLayout, DenseRow, Role};
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
    let each = &each;
    let parts = fold_dense(bytes, journey, opts, chunks, |layout| Viewed {
        state: init(),
        views: Views::new(layout),
        each,
    })?;
    Some(parts.into_iter().map(|v| v.state).collect())
}

/// What [`fold_dense`] adds each row to, as the reader holds it: its numbers in the slots
/// of a [`DenseLayout`]. A method rather than a closure, so that its body is inlined into
/// the reader's loop and compiled with it (for AVX2 too: see [`read_fastest`]).
pub trait DenseFold {
    fn push(&mut self, row: &DenseRow);
}

impl DenseFold for DenseGrouped {
    #[inline(always)]
    fn push(&mut self, row: &DenseRow) {
        DenseGrouped::push(self, row);
    }
}

/// [`fold`]'s state: the caller's, and the row seen as a [`ResponseView`].
struct Viewed<'f, S, F> {
    state: S,
    views: Views,
    each: &'f F,
}

impl<S, F: Fn(&mut S, &ResponseView)> DenseFold for Viewed<'_, S, F> {
    fn push(&mut self, row: &DenseRow) {
        let (state, each) = (&mut self.state, self.each);
        self.views.with(row, |view| each(state, view));
    }
}

/// [`fold`] with each row as the reader holds it (see [`DenseFold`]), into states made
/// by `init` from the file's layout: what [`DenseGrouped`] adds fastest.
pub fn fold_dense<S: DenseFold + Send>(
    bytes: &[u8],
    journey: &Journey,
    opts: &Options,
    chunks: usize,
    init: impl Fn(DenseLayout) -> S + Sync,
) -> Option<Vec<S>> {
    let header_end = memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
    let layout = Layout::new(&bytes[..header_end], journey, opts)?;
    let body = &bytes[header_end..];
    let bounds = split_at_lines(body, chunks.max(1));
    let failed = AtomicBool::new(false);
    let results: Vec<Option<(S, Hashes)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let chunk = &body[w[0]..w[1]];
                let (layout, init, failed) = (&layout, &init, &failed);
                scope.spawn(move || {
                    let mut state = init(layout.dense.clone());
                    let mut reader = ChunkReader::new(layout);
                    let ok = read_fastest(&mut reader, chunk, failed, &mut state);
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

/// A dense row seen as a [`ResponseView`], through buffers reused from row to row.
struct Views {
    layout: DenseLayout,
    ratings: Vec<Rating>,
    needs: Vec<Option<f64>>,
}

impl Views {
    fn new(layout: DenseLayout) -> Views {
        Views {
            ratings: vec![Rating::default(); layout.moments],
            needs: vec![None; layout.needs],
            layout,
        }
    }

    fn with(&mut self, row: &DenseRow, f: impl FnOnce(&ResponseView)) {
        let l = &self.layout;
        let at = |s: usize| (row.m[s] != 0.0).then_some(row.x[s]);
        for (j, r) in self.ratings.iter_mut().enumerate() {
            r.importance = at(l.imp(j));
            r.satisfaction = at(l.sat(j));
            r.expectation = if l.expectations {
                at(l.expectation(j))
            } else {
                None
            };
            r.competitor = if l.competitors {
                at(l.competitor(j))
            } else {
                None
            };
        }
        for (i, n) in self.needs.iter_mut().enumerate() {
            *n = at(l.need(i));
        }
        f(&ResponseView {
            hall: row.hall,
            segment: row.segment,
            purpose: row.purpose,
            overall: at(l.overall()),
            nps: at(l.nps()),
            tolerable_wait_min: at(l.wait()),
            ratings: &self.ratings,
            needs: NeedsView::Dense(&self.needs),
            short_form: false,
        });
    }
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
fn any_duplicate(chunks: Vec<Hashes>, threads: usize) -> bool {
    // The few that found their bucket's room full, by bucket (once: normally none).
    let mut spilt: Vec<Vec<u64>> = (0..BUCKETS).map(|_| Vec::new()).collect();
    for h in chunks.iter().flat_map(|c| &c.spill) {
        spilt[Hashes::bucket_of(*h)].push(*h);
    }
    let threads = threads.clamp(1, BUCKETS);
    let found = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (found, chunks, spilt) = (&found, &chunks, &spilt);
            scope.spawn(move || {
                // One buffer for this thread's buckets, reused from one to the next.
                let mut all = Vec::new();
                for b in (t..BUCKETS).step_by(threads) {
                    all.clear();
                    chunks
                        .iter()
                        .for_each(|c| all.extend_from_slice(c.bucket(b)));
                    all.extend_from_slice(&spilt[b]);
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

/// One chunk's respondent hashes by bucket (their top bits), in one allocation of a
/// region of `room` per bucket, so that only pages written are ever touched: 64
/// separate vectors each took pages of their own, which the kernel zeroed whether
/// filled or not. A bucket whose region is full goes on in `spill`.
struct Hashes {
    room: usize,
    lens: [usize; BUCKETS],
    data: Vec<u64>,
    spill: Vec<u64>,
}

impl Hashes {
    fn new(room: usize) -> Hashes {
        Hashes {
            room,
            lens: [0; BUCKETS],
            // Zeroed by allocation, not by writing: the pages stay untouched until used.
            data: vec![0; room * BUCKETS],
            spill: Vec::new(),
        }
    }

    fn bucket_of(h: u64) -> usize {
        (h >> (64 - BUCKET_BITS)) as usize
    }

    #[inline(always)]
    fn push(&mut self, h: u64) {
        let b = Hashes::bucket_of(h);
        let len = self.lens[b];
        if len < self.room {
            self.data[b * self.room + len] = h;
            self.lens[b] = len + 1;
        } else {
            self.spill.push(h);
        }
    }

    /// Bucket `b`'s hashes, but for any spilt.
    fn bucket(&self, b: usize) -> &[u64] {
        &self.data[b * self.room..][..self.lens[b]]
    }
}

/// What one cell of a row is read as.
#[derive(Clone, Copy)]
enum Cell {
    /// A number in `lo..=hi` (or empty), the next slot of the row's numbers.
    Number { role: Role, lo: f64, hi: f64 },
    /// Text kept as one of the fixed fields (respondent, hall, date, segment, purpose).
    Text(usize),
    /// A column skipped with `--ignore-unknown` (its line is still checked for quotes).
    Skip,
}

/// Consecutive cells read by one loop: a run of numbers with the same range (the
/// ratings are one run of dozens of cells) filling slots `first..first + count`, or a
/// single text cell.
enum Run {
    Numbers {
        first: usize,
        count: usize,
        lo: f64,
        hi: f64,
    },
    Text(usize),
    Skip,
}

/// The runs of `cells`; number cells take slots 0, 1, 2, … in order.
fn runs(cells: &[Cell]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut slot = 0;
    for cell in cells {
        match (*cell, runs.last_mut()) {
            (
                Cell::Number { lo, hi, .. },
                Some(Run::Numbers {
                    count,
                    lo: l,
                    hi: h,
                    ..
                }),
            ) if lo == *l && hi == *h => {
                *count += 1;
                slot += 1;
            }
            (Cell::Number { lo, hi, .. }, _) => {
                runs.push(Run::Numbers {
                    first: slot,
                    count: 1,
                    lo,
                    hi,
                });
                slot += 1;
            }
            (Cell::Text(f), _) => runs.push(Run::Text(f)),
            (Cell::Skip, _) => runs.push(Run::Skip),
        }
    }
    runs
}

/// The header, classified once: what each cell of a row holds. Numbers go to one flat
/// array, one slot per number column in the file's order (see [`DenseLayout`]), so
/// that the loop over a row's cells fills it front to back and has two kinds of cell
/// to tell apart, not one per column type.
struct Layout<'a> {
    runs: Vec<Run>,
    dense: DenseLayout,
    /// Each slot's range (the last, always empty, slot's is every number).
    lo: Vec<f64>,
    hi: Vec<f64>,
    halls: Option<&'a HashSet<String>>,
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
        // Where each moment's needs start among all the journey's needs.
        let need_start: Vec<usize> = journey
            .moments()
            .iter()
            .scan(0, |start, m| {
                *start += m.core_needs.len();
                Some(*start - m.core_needs.len())
            })
            .collect();
        // The careful parser's ranges: ratings 1–10, nps 0–10, minutes ≥ 0.
        let rating = |role| Cell::Number {
            role,
            lo: 1.0,
            hi: 10.0,
        };
        let cells: Vec<Cell> = cols
            .into_iter()
            .map(|col| match col {
                Col::Imp(j) => rating(Role::Importance(j)),
                Col::Sat(j) => rating(Role::Satisfaction(j)),
                Col::Exp(j) => rating(Role::Expectation(j)),
                Col::Comp(j) => rating(Role::Competitor(j)),
                Col::Need(m, n) => rating(Role::Need(need_start[m] + n)),
                Col::Fixed(5) => rating(Role::Overall),
                Col::Fixed(6) => Cell::Number {
                    role: Role::Recommend,
                    lo: 0.0,
                    hi: 10.0,
                },
                Col::Fixed(7) => Cell::Number {
                    role: Role::Wait,
                    lo: 0.0,
                    hi: f64::MAX,
                },
                Col::Fixed(f) => Cell::Text(f),
                Col::Ignored => Cell::Skip,
            })
            .collect();
        let numbers: Vec<(Role, f64, f64)> = cells
            .iter()
            .filter_map(|c| match *c {
                Cell::Number { role, lo, hi } => Some((role, lo, hi)),
                _ => None,
            })
            .collect();
        let roles: Vec<Role> = numbers.iter().map(|n| n.0).collect();
        let needs = journey.moments().iter().map(|m| m.core_needs.len()).sum();
        let dense = DenseLayout::new(journey.moments().len(), needs, &roles);
        let range = |f: fn(&(Role, f64, f64)) -> f64, empty| {
            numbers.iter().map(f).chain([empty]).collect::<Vec<f64>>()
        };
        Some(Layout {
            runs: runs(&cells),
            lo: range(|n| n.1, f64::MIN),
            hi: range(|n| n.2, f64::MAX),
            dense,
            halls: opts.halls,
        })
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
    /// The row's numbers in the layout's slots (0 when empty) and whether present.
    x: Vec<f64>,
    m: Vec<f64>,
    hashes: Hashes,
    hasher: FixedState,
    /// The halls, dates, segments and purposes that passed their checks: a file has a
    /// few thousand of each at most, repeated over millions of rows in any order.
    halls: Checked,
    dates: Checked,
    segments: Checked,
    purposes: Checked,
}

/// Text cells that passed a check, by their bytes: a value repeated on many rows is
/// checked (as UTF-8, then by its column's rule) once, and found again by one hash
/// lookup. Holds at most [`Checked::MAX`] values of [`Checked::MAX_BYTES`] in all, so a
/// file of all-different values costs a bounded amount of memory (the rest are checked
/// every time).
struct Checked {
    index: HashMap<Box<[u8]>, u32, FixedState>,
    texts: Vec<Box<str>>,
    bytes: usize,
}

impl Checked {
    const MAX: usize = 1 << 16;
    const MAX_BYTES: usize = 4 << 20;

    fn new() -> Checked {
        Checked {
            index: HashMap::with_hasher(FixedState::with_seed(0x6368_6563_6b65_6421)),
            texts: Vec::new(),
            bytes: 0,
        }
    }

    /// `cell` as text if it is UTF-8 that passes `check`.
    #[inline(always)]
    fn get<'a>(&'a mut self, cell: &'a [u8], check: impl FnOnce(&str) -> bool) -> Option<&'a str> {
        if let Some(&i) = self.index.get(cell) {
            return Some(&self.texts[i as usize]);
        }
        let text = std::str::from_utf8(cell).ok()?;
        if !check(text) {
            return None;
        }
        if self.texts.len() < Checked::MAX && self.bytes + cell.len() <= Checked::MAX_BYTES {
            self.bytes += cell.len();
            self.index.insert(cell.into(), self.texts.len() as u32);
            self.texts.push(text.into());
        }
        Some(text)
    }
}

impl<'l, 'a> ChunkReader<'l, 'a> {
    fn new(layout: &'l Layout<'a>) -> Self {
        ChunkReader {
            layout,
            x: vec![0.0; layout.dense.len()],
            m: vec![0.0; layout.dense.len()],
            hashes: Hashes::new(0),
            hasher: FixedState::with_seed(0x7065_616b_656e_6421),
            halls: Checked::new(),
            dates: Checked::new(),
            segments: Checked::new(),
            purposes: Checked::new(),
        }
    }

    /// Reads every line of `chunk`; false at the first row the fast path cannot take
    /// (or when another thread already gave up). Inlined into [`read_fastest`]'s
    /// versions, with the caller's fold.
    #[inline(always)]
    fn read(&mut self, chunk: &[u8], failed: &AtomicBool, fold: &mut impl DenseFold) -> bool {
        // Room for the chunk's respondent hashes at once, guessed from its first line:
        // growing by doubling copied them and made the kernel zero twice the pages.
        // (A row takes at least 16 bytes: a short first line cannot ask for more.)
        let first = memchr(b'\n', chunk).map_or(chunk.len(), |i| i + 1);
        let rows = chunk.len() / first.max(16);
        let room = rows / BUCKETS + rows / BUCKETS / 8 + 16;
        self.hashes = Hashes::new(room);
        let mut pos = 0;
        // The line, a comma after its last cell so that every cell ends with one, and
        // zeros (at least 8, up to a whole block) so that reading a few bytes ahead
        // never leaves the buffer.
        let mut buf: Box<[u8; LINE]> = vec![0; LINE].into_boxed_slice().try_into().expect("LINE");
        let mut commas = Vec::new();
        while pos < chunk.len() {
            let end = memchr(b'\n', &chunk[pos..]).map_or(chunk.len(), |i| pos + i);
            let line = strip_line_end(&chunk[pos..end]);
            pos = end + 1;
            // A quote could hide commas or line ends, and a `\r` ends a record for the
            // CSV reader; U+0000 is refused by row and column: a line with any of them,
            // in any cell, is the careful parser's.
            if memchr3(b'"', b'\r', 0, line).is_some() {
                return false;
            }
            let padded = (line.len() + 9).next_multiple_of(BLOCK);
            if padded > LINE {
                return false;
            }
            buf[..line.len()].copy_from_slice(line);
            buf[line.len()] = b',';
            buf[line.len() + 1..padded].fill(0);
            comma_bits(&buf[..padded], &mut commas);
            if failed.load(Ordering::Relaxed)
                || self
                    .row(&buf, line.len(), Commas::new(&commas), fold)
                    .is_none()
            {
                return false;
            }
        }
        true
    }

    /// One line of `len` bytes, at the start of `buf` (see [`read`](Self::read)).
    /// `commas` are the line's, with the comma after it (see [`comma_bits`]).
    #[inline(always)]
    fn row(
        &mut self,
        buf: &[u8; LINE],
        len: usize,
        mut commas: Commas,
        fold: &mut impl DenseFold,
    ) -> Option<()> {
        let layout = self.layout;
        let mut fixed: [&[u8]; crate::survey_csv::FIXED.len()] =
            [b""; crate::survey_csv::FIXED.len()];
        let mut pos = 0;
        for run in &layout.runs {
            if pos > len {
                return None; // fewer cells than columns
            }
            pos = match run {
                Run::Numbers {
                    first,
                    count,
                    lo,
                    hi,
                } => {
                    let (lo, hi) = (*lo, *hi);
                    let start = pos;
                    let xs = &mut self.x[*first..][..*count];
                    let ms = &mut self.m[*first..][..*count];
                    // A run that starts two bytes into the line (all but a file's first
                    // columns) reads each cell from the two bytes before its comma; one
                    // at the start, from its first four.
                    let bad;
                    (pos, bad) = if start >= 2 {
                        let (end, bad) =
                            number_cells((xs, ms), &mut commas, pos, len, |_, end, _| {
                                let cell = tail_cell(buf, end);
                                (cell, cell[0])
                            });
                        // The table reads a cell by its last two bytes: one of three or
                        // more (`100`, `7.5`) is found here, for the whole run at once.
                        (end, bad || commas.any_long(start, end - 1))
                    } else {
                        number_cells((xs, ms), &mut commas, pos, len, |pos, _, cell_len| {
                            let (value, ok) = short_cell(buf, pos, cell_len);
                            let given = f64::from(u8::from(cell_len > 0));
                            ([value, given], f64::from(u8::from(ok)) - 1.0)
                        })
                    };
                    // (Ranges are checked for the whole row at once, below.)
                    if bad {
                        // Something other than a short plain rating in this run: read it
                        // again cell by cell, the general way (no other runs follow: the
                        // row is either read this way or left to the careful parser).
                        pos = start;
                        for slot in *first..*first + *count {
                            if pos > len {
                                return None;
                            }
                            let (x, end) = number(&buf[..=len], pos, |x| x >= lo && x <= hi)?;
                            self.x[slot] = x.unwrap_or(0.0);
                            self.m[slot] = f64::from(u8::from(x.is_some()));
                            pos = end + 1;
                        }
                        commas.skip_to(pos);
                    }
                    pos
                }
                Run::Text(f) => {
                    let end = commas.next()?;
                    fixed[*f] = &buf[pos..end];
                    end + 1
                }
                Run::Skip => commas.next()? + 1,
            };
        }
        if pos != len + 1 {
            return None; // more cells than columns
        }
        // Every number given within its column's range (what the general reader checks
        // cell by cell), over the row at once: no branch per cell.
        let out_of_range = self
            .x
            .iter()
            .zip(&self.m)
            .zip(layout.lo.iter().zip(&layout.hi))
            .fold(false, |bad, ((&x, &m), (&lo, &hi))| {
                bad | ((m != 0.0) & !((x >= lo) & (x <= hi)))
            });
        if out_of_range {
            return None;
        }

        let respondent = fixed[0];
        // Every respondent differs, so none is kept as checked: a plain ASCII one (the
        // usual) is checked by its bytes, anything else as text.
        // (`char::is_whitespace`, as trimming has it: also `\x0b`, unlike ASCII's.)
        let plain = respondent.is_ascii()
            && !char::from(*respondent.first()?).is_whitespace()
            && !char::from(*respondent.last()?).is_whitespace();
        if !plain && clean_text(respondent).is_none_or(str::is_empty) {
            return None;
        }
        let h = self.hasher.hash_one(respondent);
        self.hashes.push(h);
        let hall = self.halls.get(fixed[1], |hall| {
            HallId::is_valid(hall) && layout.halls.is_none_or(|known| known.contains(hall))
        })?;
        self.dates.get(fixed[2], |_| date_ok(fixed[2]))?;
        let segment = self
            .segments
            .get(fixed[3], |s| !s.is_empty() && untrimmed(s))?;
        let purpose = self.purposes.get(fixed[4], untrimmed)?;
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

        fold.push(&DenseRow {
            hall,
            segment,
            purpose: (!purpose.is_empty()).then_some(purpose),
            x: &self.x,
            m: &self.m,
        });
        Some(())
    }
}

/// Reads a run of number cells from `pos` into `xs` and `ms` (value and given), each
/// by `cell(pos, end, len)` from where it starts and ends, which also says whether it
/// could (a negative number if not); returns where the run ends and whether any cell
/// was not one `cell` reads (the run is then read the general way). Inlined, so
/// compiled once for each way of reading a cell.
#[inline(always)]
fn number_cells(
    (xs, ms): (&mut [f64], &mut [f64]),
    commas: &mut Commas,
    mut pos: usize,
    len: usize,
    cell: impl Fn(usize, usize, usize) -> ([f64; 2], f64),
) -> (usize, bool) {
    // The least of the answers, in one instruction a cell (`minsd`) rather than a
    // compare and an `or`.
    let mut worst = 0.0;
    for (x, m) in xs.iter_mut().zip(ms.iter_mut()) {
        // Past the line's last comma a cell ends at `len + 1`: the row is short, and
        // the caller's checks say so; the bytes read stay in the buffer.
        let end = commas.next().unwrap_or(len + 1);
        let ([value, given], could) = cell(pos, end, end.saturating_sub(pos));
        worst = if could < worst { could } else { worst };
        *x = value;
        *m = given;
        pos = end + 1;
    }
    (pos, worst < 0.0)
}

/// [`ChunkReader::read`] compiled for the CPU it runs on: with AVX2 (almost every x86-64
/// server since 2013) the fold's column sums, inlined from `each`, add four numbers at a
/// time instead of two. The same additions in the same order per column, so the same
/// results.
fn read_fastest(
    reader: &mut ChunkReader,
    chunk: &[u8],
    failed: &AtomicBool,
    fold: &mut impl DenseFold,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the only requirement of a `target_feature` function, that the CPU has
        // the feature, was just checked.
        #[allow(unsafe_code)]
        return unsafe { read_avx2(reader, chunk, failed, fold) };
    }
    reader.read(chunk, failed, fold)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn read_avx2(
    reader: &mut ChunkReader,
    chunk: &[u8],
    failed: &AtomicBool,
    fold: &mut impl DenseFold,
) -> bool {
    reader.read(chunk, failed, fold)
}

/// UTF-8 without whitespace at either end, so that trimming (as the careful parser
/// does) cannot change it.
fn clean_text(cell: &[u8]) -> Option<&str> {
    std::str::from_utf8(cell).ok().filter(|s| untrimmed(s))
}

/// Whether trimming (as the careful parser does) leaves `s` as it is: no whitespace at
/// either end.
fn untrimmed(s: &str) -> bool {
    !s.starts_with(char::is_whitespace) && !s.ends_with(char::is_whitespace)
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

/// Lines are scanned for commas this many bytes at a time.
const BLOCK: usize = 64;

/// The longest line the fast path reads (with its padding), a power of two; a longer
/// one (a comment of several thousand characters) is left to the careful parser.
const LINE: usize = 1 << 15;

/// One bit per byte of `buf` (a whole number of blocks), set at each comma, eight bytes
/// at a time without a branch: a row's cells are then found without a loop over its
/// bytes. (Inlined, so compiled for AVX2 with the reader.)
#[inline(always)]
fn comma_bits(buf: &[u8], out: &mut Vec<u64>) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    out.clear();
    for block in buf.chunks_exact(BLOCK) {
        let mut bits = 0u64;
        for (k, word) in block.chunks_exact(8).enumerate() {
            let t =
                u64::from_le_bytes(word.try_into().expect("eight bytes")) ^ 0x2c2c_2c2c_2c2c_2c2c;
            // The high bit of each byte that was a comma (exactly: no carry crosses a
            // byte), then those eight bits gathered into the top byte by one multiply.
            let commas = !(((t & LOW7) + LOW7) | t | LOW7);
            bits |= ((commas >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
        }
        out.push(bits);
    }
}

/// The commas of a line, in order, from [`comma_bits`].
struct Commas<'a> {
    blocks: &'a [u64],
    /// The block being read, and its commas not yet returned.
    at: usize,
    bits: u64,
}

impl<'a> Commas<'a> {
    fn new(blocks: &'a [u64]) -> Commas<'a> {
        Commas {
            blocks,
            at: 0,
            bits: blocks.first().copied().unwrap_or(0),
        }
    }

    /// The position of the next comma.
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.at += 1;
            self.bits = *self.blocks.get(self.at)?;
        }
        let i = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.at * BLOCK + i)
    }

    /// Whether a cell between `from` and `to` (a comma) is three bytes or longer: three
    /// bytes in a row, none of them a comma, a block of 64 bytes at a time.
    fn any_long(&self, from: usize, to: usize) -> bool {
        let Some(last) = to.checked_sub(3).filter(|&last| last >= from) else {
            return false; // the last byte such a run of three could start at
        };
        let bits = |b: usize| self.blocks.get(b).copied().unwrap_or(0);
        (from / BLOCK..=last / BLOCK).any(|b| {
            let (here, next) = (!bits(b), !bits(b + 1));
            let three = here & ((here >> 1) | (next << 63)) & ((here >> 2) | (next << 62));
            let low = u64::MAX << from.saturating_sub(b * BLOCK).min(63);
            let high = u64::MAX >> (BLOCK - 1 - (last - b * BLOCK).min(BLOCK - 1));
            three & low & high != 0
        })
    }

    /// Forgets the commas before `pos`.
    fn skip_to(&mut self, pos: usize) {
        self.at = pos / BLOCK;
        let bits = self.blocks.get(self.at).copied().unwrap_or(0);
        self.bits = bits & (u64::MAX << (pos % BLOCK));
    }
}

/// The cell of `len` bytes at `pos` when it is empty, `d`, `dd` or `d.d` (almost every
/// rating), read without branching on its length, which is too irregular to predict:
/// the four bytes at `pos` are decoded every way at once and the length picks the
/// answer. Returns the value (0 when empty) and whether it was one of those forms; the
/// others are left to [`number`]. `buf` must hold four bytes from `pos`.
#[inline(always)]
fn short_cell(buf: &[u8], pos: usize, len: usize) -> (f64, bool) {
    let b: [u8; 4] = buf[pos..pos + 4].try_into().expect("four bytes");
    let w = u32::from_le_bytes(b);
    let not_digit =
        ((w & 0xf0f0_f0f0) ^ 0x3030_3030) | (((w & 0x0f0f_0f0f) + 0x0606_0606) & 0xf0f0_f0f0);
    let ok = ((not_digit & DIGITS[len.min(4)]) == 0) & (len < 4) & ((len != 3) | (b[1] == b'.'));
    // In arithmetic rather than `if`s, which the compiler would make branches: the
    // index is d0 (`d`), 10·d0 + d1 (`dd`) or 10·d0 + d2 (`d.d`), and garbage below
    // 256 for anything else, which `ok` refuses.
    let d = |i: usize| u32::from(b[i].wrapping_sub(b'0')) & 15;
    let two = u32::from(len == 2);
    let second = d(1) * two + d(2) * (1 - two);
    let idx = d(0) + u32::from(len >= 2) * (9 * d(0) + second);
    (SHORT[len & 3][idx as usize & 255], ok)
}

/// The cell whose comma is at `end`, when it is empty, `d` or `dd` (almost every
/// rating), from the two bytes before the comma through one table lookup: fewer
/// instructions a cell than [`short_cell`], which the hot loop is made of, and no branch
/// on whether it is empty (a fifth of the cells, at random). Needs `end >= 2` and a comma
/// just before the cell (so a one-byte cell is `,d`). Returns the value (0 when empty)
/// and whether it was given (1 or 0); a value of −1 when the two bytes are not the end
/// of such a cell. A cell of three bytes or more may end like one (`100`): the caller
/// finds those by their length ([`Commas::any_long`]). The others (`d.d`, longer
/// numbers, anything else) are left to [`number`].
#[inline(always)]
fn tail_cell(buf: &[u8; LINE], end: usize) -> [f64; 2] {
    // Masked into the buffer (a no-op for `end` in it), so no bounds check is needed.
    let at = |i: usize| buf[i & (LINE - 1)];
    let key = u16::from_le_bytes([at(end.wrapping_sub(2)), at(end.wrapping_sub(1))]);
    PAIRS[usize::from(key)]
}

/// [`tail_cell`]'s table, by the two bytes before a comma (the first in the low byte), of
/// (value, given): (0, 0) after a comma (an empty cell), (`d`, 1) after a comma and a
/// digit, (`10·d0 + d1`, 1) after two digits, and a value of −1 (not a short cell) after
/// anything else.
static PAIRS: [[f64; 2]; 1 << 16] = {
    let mut t = [[-1.0, 0.0]; 1 << 16];
    let mut key = 0;
    while key < 1 << 16 {
        let (b0, b1) = ((key & 0xff) as u8, (key >> 8) as u8);
        if b1 == b',' {
            t[key] = [0.0, 0.0];
        } else if b1.is_ascii_digit() {
            if b0 == b',' {
                t[key] = [(b1 - b'0') as f64, 1.0];
            } else if b0.is_ascii_digit() {
                t[key] = [((b0 - b'0') * 10 + (b1 - b'0')) as f64, 1.0];
            }
        }
        key += 1;
    }
    t
};

/// The value of a short cell by its length (1: `d`, 2: `dd`, 3: `d.d`) and its digits
/// (`10 · d0 + d1`, or `d0` alone): `str::parse`'s value, since each is an integer or
/// the quotient of two exact integers, rounded once.
const SHORT: [[f64; 256]; 4] = {
    let mut t = [[0.0; 256]; 4];
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
            let len = buf.iter().position(|&b| b == b',').unwrap();
            let (x, ok) = short_cell(&buf, 0, len);
            if ok {
                let general = number(&buf, 0, |_| true);
                assert_eq!(general, Some(((len > 0).then_some(x), len)), "{cell:?}");
            }
            // After a comma (and whatever came before it), from the bytes before its end.
            for before in [&b"x,"[..], b"7,", b",,"] {
                let buf = [before, buf.as_slice()].concat();
                let mut line = Box::new([0; LINE]);
                line[..buf.len()].copy_from_slice(&buf);
                let [t, given] = tail_cell(&line, 2 + len);
                // (The reader finds longer cells by their length.)
                let tail_ok = len <= 2 && t >= 0.0;
                if tail_ok {
                    let general = number(&buf, 2, |_| true);
                    assert_eq!(general, Some(((len > 0).then_some(t), 2 + len)), "{cell:?}");
                    assert!(ok && t == x, "{cell:?}: read by one reader, not the other");
                    assert_eq!(given, f64::from(u8::from(len > 0)), "{cell:?}");
                }
                let short_form = len <= 2 && ok;
                assert_eq!(tail_ok, short_form, "{cell:?}: every empty, d and dd cell");
            }
        }
    }

    #[test]
    fn values_past_the_checked_cap_are_checked_every_time() {
        let mut c = Checked::new();
        let hall = |s: &str| s.starts_with('h');
        for i in 0..Checked::MAX + 10 {
            let v = format!("h{i}");
            assert_eq!(c.get(v.as_bytes(), hall), Some(v.as_str()));
        }
        assert_eq!(c.texts.len(), Checked::MAX);
        // Past the cap: still checked, and refused each time.
        assert_eq!(c.get(b"x1", hall), None);
        assert_eq!(c.get(b"x1", hall), None);
        assert_eq!(c.get(&[0xff], |_| true), None, "not UTF-8");
        // A value kept is not checked again.
        assert_eq!(c.get(b"h3", |_| false), Some("h3"));
        assert_eq!(c.get(b"h70000", |_| false), None);
        // Nor more bytes than the cap.
        let mut long = Checked::new();
        let cell = "p".repeat(1 << 20);
        for _ in 0..2 {
            (0..6).for_each(|i| {
                assert!(
                    long.get(format!("{i}{cell}").as_bytes(), |_| true)
                        .is_some()
                )
            });
        }
        assert_eq!(long.texts.len(), 3);
    }

    #[test]
    fn hashes_past_their_buckets_room_are_still_compared() {
        // Rooms of one: all but the first hash of each bucket spill over, and a repeat
        // is found whether either copy spilt, in one chunk or across two.
        let spread = |i: u64| (i % 64) << 58 | i;
        let fresh = |from: u64, to: u64| {
            let mut h = Hashes::new(1);
            (from..to).for_each(|i| h.push(spread(i)));
            h
        };
        assert_eq!(fresh(0, 500).spill.len(), 500 - 64);
        assert!(!any_duplicate(vec![fresh(0, 500), fresh(500, 1000)], 2));
        for repeat in [3, 70, 499] {
            let mut again = fresh(500, 1000);
            again.push(spread(repeat));
            assert!(any_duplicate(vec![fresh(0, 500), again], 2), "{repeat}");
            let mut one = fresh(0, 500);
            one.push(spread(repeat));
            assert!(any_duplicate(vec![one], 1), "{repeat}");
        }
    }

    #[test]
    fn long_cells_are_found_by_their_length() {
        // Every line of up to 150 bytes of commas and digits, at random, and every range
        // ending at a comma: three bytes in a row without a comma, as a loop finds them.
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        let mut blocks = Vec::new();
        for _ in 0..2000 {
            let len = next() % 150;
            let comma_share = 1 + next() % 4;
            let mut buf: Vec<u8> = (0..len)
                .map(|_| {
                    if next() % comma_share == 0 {
                        b','
                    } else {
                        b'7'
                    }
                })
                .collect();
            buf.push(b',');
            buf.resize((buf.len() + 8).next_multiple_of(BLOCK), 0);
            comma_bits(&buf, &mut blocks);
            let commas = Commas::new(&blocks);
            for to in (0..=len).filter(|&i| buf[i] == b',') {
                for from in 0..=to {
                    let expected = buf[from..to].windows(3).any(|w| !w.contains(&b','));
                    assert_eq!(
                        commas.any_long(from, to),
                        expected,
                        "{from}..{to} of {}",
                        String::from_utf8_lossy(&buf[..=len])
                    );
                }
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
            ..Default::default()
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

    /// The fold `analyze` runs: dense rows into [`DenseGrouped`], parts merged.
    fn fast_dense(bytes: &[u8], chunks: usize, by: Option<GroupBy>) -> Option<GroupedStats> {
        let j = journey();
        let parts = fold_dense(bytes, &j, &opts(), chunks, |l| {
            DenseGrouped::new(GroupedStats::new(&j, by, None), l)
        })?;
        assert_eq!(parts.len(), chunks);
        let mut parts = parts.into_iter();
        let mut all = parts.next().unwrap();
        parts.for_each(|p| all.merge(&p));
        Some(all.into_grouped())
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
            // The dense fold: the same statistics, to rounding (bit for bit but for the
            // pair sums it derives), groups included.
            for chunks in [1, 2, 7] {
                let got = fast_dense(&bytes, chunks, by).unwrap();
                assert_eq!(got.all.respondents(), 3000);
                let json = |g: &GroupedStats| serde_json::to_value(&g.all.segments).unwrap();
                peakend_testkit::assert_json_near(&json(&got), &json(&expected), "stats");
                peakend_testkit::assert_json_near(
                    &analysis(&got),
                    &analysis(&expected),
                    "dense analysis",
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
        let dense = fast_dense(&bytes, 3, None).unwrap();
        for (seg, s) in &expected.all.segments {
            assert_eq!(
                dense.all.segments[seg].expectations, s.expectations,
                "{seg}"
            );
        }
        peakend_testkit::assert_json_near(&analysis(&dense), &analysis(&expected), "dense");
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
            let dense = fast_dense(&bytes, chunks, None).unwrap();
            for (seg, s) in &expected.all.segments {
                assert_eq!(dense.all.segments[seg].competitors, s.competitors, "{seg}");
            }
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
            let dense = fast_dense(text.as_bytes(), chunks, None).expect("a clean file");
            let json = |g: &GroupedStats| serde_json::to_value(&g.all.segments).unwrap();
            peakend_testkit::assert_json_near(&json(&dense), &json(&expected), "dense");
        }
    }

    #[test]
    fn the_reader_for_this_cpu_folds_as_the_plain_one() {
        // On a CPU with AVX2 `read_fastest` runs another compilation of the same reader:
        // the same rows (decimals and a first-column rating included) give the same
        // statistics, bit for bit.
        let j = journey();
        let mut files = vec![synthetic(3000, 11), synthetic_with_expectations(500, 12)];
        files.push(
            b"sat.queue,respondent,hall,date,segment,overall,nps,tolerable_wait_min\n\
              7,r1,h1,2024-03-01,g,9,10,15\n\
              ,r2,h1,2024-03-01,g,8.5,0,120\n\
              10,r3,h2,2024-03-02,h,,9,7.5\n"
                .to_vec(),
        );
        for bytes in files {
            let header_end = memchr(b'\n', &bytes).unwrap() + 1;
            let layout = Layout::new(&bytes[..header_end], &j, &opts()).unwrap();
            let body = &bytes[header_end..];
            let fold = |fastest: bool| {
                let mut state = DenseGrouped::new(
                    GroupedStats::new(&j, Some(GroupBy::Hall), None),
                    layout.dense.clone(),
                );
                let mut reader = ChunkReader::new(&layout);
                let failed = AtomicBool::new(false);
                let ok = if fastest {
                    read_fastest(&mut reader, body, &failed, &mut state)
                } else {
                    reader.read(body, &failed, &mut state)
                };
                assert!(ok, "a clean file");
                let g = state.into_grouped();
                (analysis(&g), serde_json::to_value(&g.all.segments).unwrap())
            };
            assert_eq!(fold(true), fold(false));
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
            ("a padded respondent", "r2 ,h1,2024-01-02,gold,9,6"),
            (
                "a respondent after a vertical tab",
                "\u{b}r2,h1,2024-01-02,gold,9,6",
            ),
            (
                "a respondent in wide spaces",
                "\u{3000}r2\u{3000},h1,2024-01-02,gold,9,6",
            ),
            ("an empty segment", "r2,h1,2024-01-02,,9,6"),
            ("a bad date", "r2,h1,2024-02-30,gold,9,6"),
            ("a bad hall", "r2,h 1,2024-01-02,gold,9,6"),
            ("an empty respondent", ",h1,2024-01-02,gold,9,6"),
            ("a lone carriage return", "r2,h1,2024-01-02,gold\r,9,6"),
            ("a blank line", "\nr2,h1,2024-01-02,gold,9,6"),
            ("a duplicate", "r1,h1,2024-01-02,gold,9,6"),
            ("U+0000 in a segment", "r2,h1,2024-01-02,go\0ld,9,6"),
        ];
        for (what, row) in bad {
            let text = good.replacen("r2,h1,2024-01-02,gold,9,6", row, 1);
            for chunks in [1, 2] {
                assert!(fast(text.as_bytes(), chunks, None).is_none(), "{what}");
                assert!(
                    fast_dense(text.as_bytes(), chunks, None).is_none(),
                    "{what}"
                );
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
        // A line longer than the fast path's buffer (a segment of 40,000 bytes, which
        // the careful parser takes) is left to it too.
        let wide = good.replace("gold", &"g".repeat(40_000));
        assert!(
            fast(wide.as_bytes(), 1, None).is_none(),
            "a line over 32 KiB"
        );
        assert!(careful(wide.as_bytes(), None).is_ok());
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
