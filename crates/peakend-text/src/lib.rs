//! Comments read in Chinese (issue 22): a comment is segmented with jieba (the Rust
//! port, its dictionary embedded) plus the journey's own vocabulary, cut into clauses,
//! each clause put on the moments its words name and given a sentiment from
//! peakend's own small lexicon ([`lexicon`]), with negation (不/没/未…) and degree
//! words. Pure: no I/O. Build one [`Analyser`] per journey and reuse it: building
//! loads the dictionary, reading a comment does not allocate much.

pub mod lexicon;
pub mod synonyms;

use std::collections::HashMap;

use jieba_rs::Jieba;
use peakend_core::Journey;
use serde::Serialize;

/// The sentiment of a comment or of one of its moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

impl Sentiment {
    /// A score at or beyond ±[`Sentiment::THRESHOLD`] is positive or negative.
    pub const THRESHOLD: f32 = 0.35;

    pub fn of_score(score: f32) -> Sentiment {
        if score >= Self::THRESHOLD {
            Sentiment::Positive
        } else if score <= -Self::THRESHOLD {
            Sentiment::Negative
        } else {
            Sentiment::Neutral
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Negative => "negative",
            Sentiment::Neutral => "neutral",
            Sentiment::Positive => "positive",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Sentiment::Negative => "负面",
            Sentiment::Neutral => "中性",
            Sentiment::Positive => "正面",
        }
    }

    pub fn parse(s: &str) -> Option<Sentiment> {
        match s {
            "negative" => Some(Sentiment::Negative),
            "neutral" => Some(Sentiment::Neutral),
            "positive" => Some(Sentiment::Positive),
            _ => None,
        }
    }
}

/// One moment a comment touches, with the sentiment of the clauses about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MomentMention {
    /// Index of the moment in the journey.
    pub moment: usize,
    /// Sum of the keyword weights that put the comment on it.
    pub weight: f32,
    pub score: f32,
    pub sentiment: Sentiment,
}

/// What a comment says: the moments it touches (in journey order), its overall
/// sentiment and the content words of each moment's clauses (for top phrases).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    pub moments: Vec<MomentMention>,
    pub score: f32,
    pub sentiment: Sentiment,
    /// (moment index, phrase): the words of a clause worth counting, by moment.
    pub phrases: Vec<(usize, String)>,
}

impl Reading {
    /// The first negative moment (journey order): what a case about the comment is about.
    pub fn first_negative(&self) -> Option<usize> {
        self.moments
            .iter()
            .find(|m| m.sentiment == Sentiment::Negative)
            .map(|m| m.moment)
    }
}

/// The weight a clause needs on a moment for it to count, and how close to the
/// clause's best moment another must come to count too (a clause can name two).
const MIN_WEIGHT: f32 = 1.0;
const RUNNER_UP: f32 = 0.75;
/// Below [`MIN_WEIGHT`], words that still place a clause with a sentiment.
const WEAK_WEIGHT: f32 = 0.6;

/// A unit of a clause, after [`Analyser::units`].
#[derive(Debug, Clone, Copy)]
enum Unit<'a> {
    Role(Role),
    Word(&'a str),
    Duration(&'a str),
}

/// Negators and degree words that jieba may glue to the word after them, longest first.
const PREFIXES: &[&str] = &[
    "没有", "非常", "特别", "不太", "不是", "不", "没", "未", "无", "很", "太", "挺", "超", "真",
    "更", "最",
];

/// A word without the particles after it (坏了 → 坏, 好的 → 好).
fn trim_particles(w: &str) -> &str {
    w.trim_end_matches(['了', '的', '啊', '呀', '吧'])
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Negator,
    Nobody,
    Intensifier(f32),
    Contrast(f32),
}

/// A segmenter with a journey's vocabulary and the tables to read comments with.
pub struct Analyser {
    jieba: Jieba,
    /// word → (moment, weight) for every moment the word names.
    keywords: HashMap<String, Vec<(usize, f32)>>,
    sentiment: HashMap<&'static str, f32>,
    roles: HashMap<&'static str, Role>,
    moments: usize,
}

/// Clause ends: punctuation of both widths and spaces.
fn is_break(c: char) -> bool {
    matches!(
        c,
        '，' | ','
            | '。'
            | '.'
            | '！'
            | '!'
            | '？'
            | '?'
            | '；'
            | ';'
            | '、'
            | '：'
            | ':'
            | '\n'
            | '\r'
            | '\t'
            | ' '
            | '　'
            | '…'
            | '~'
            | '～'
    )
}

/// Words too common to be a phrase worth listing.
const STOP: &[&str] = &[
    "的",
    "了",
    "是",
    "我",
    "也",
    "都",
    "就",
    "还",
    "在",
    "和",
    "很",
    "太",
    "又",
    "要",
    "有",
    "这",
    "那",
    "个",
    "们",
    "他们",
    "我们",
    "你们",
    "一个",
    "一下",
    "什么",
    "时候",
    "的时候",
    "没有",
    "没",
    "不",
    "给",
    "让",
    "把",
    "被",
    "跟",
    "对",
    "说",
    "到",
    "去",
    "来",
    "着",
    "过",
    "吧",
    "呢",
    "啊",
    "吗",
    "呀",
    "才",
    "再",
    "又",
    "还是",
    "一直",
    "这个",
    "今天",
];

impl Analyser {
    /// A segmenter for `journey`: jieba's dictionary, the built-in synonyms of the
    /// journey's moments (by key), the journey's own words (moment names, needs and
    /// standard keys, in Chinese and English) and the sentiment lexicon.
    pub fn new(journey: &Journey) -> Analyser {
        let mut jieba = Jieba::new();
        let mut keywords: HashMap<String, Vec<(usize, f32)>> = HashMap::new();
        let mut add = |jieba: &mut Jieba, word: &str, moment: usize, weight: f32| {
            let word = word.trim();
            if word.is_empty() {
                return;
            }
            let word = word.to_lowercase();
            if !jieba.has_word(&word) {
                jieba.add_word(&word, None, None);
            }
            let entry = keywords.entry(word).or_default();
            match entry.iter_mut().find(|(m, _)| *m == moment) {
                Some(e) => e.1 = e.1.max(weight),
                None => entry.push((moment, weight)),
            }
        };
        for (i, m) in journey.moments().iter().enumerate() {
            // The journey's own words: its names for the moment and its needs are
            // what a customer might write; long sentences (standards' texts) are not.
            for word in [m.name.zh.as_str(), m.name.en.as_str()] {
                add(&mut jieba, word, i, 1.0);
            }
            for need in &m.core_needs {
                if need.text.zh.chars().count() <= 6 {
                    add(&mut jieba, &need.text.zh, i, 0.8);
                }
                add(&mut jieba, &need.key.as_str().replace('_', " "), i, 0.8);
            }
            for s in &m.standards {
                add(&mut jieba, &s.key.as_str().replace('_', " "), i, 0.5);
            }
            if let Some((_, words)) = synonyms::BUILT_IN
                .iter()
                .find(|(key, _)| *key == m.key.as_str())
            {
                for (word, weight) in *words {
                    add(&mut jieba, word, i, *weight);
                }
            }
        }
        let sentiment: HashMap<&'static str, f32> = lexicon::WORDS.iter().copied().collect();
        let mut roles = HashMap::new();
        for w in lexicon::NEGATORS {
            roles.insert(*w, Role::Negator);
        }
        for w in lexicon::NOBODY {
            roles.insert(*w, Role::Nobody);
        }
        for (w, x) in lexicon::INTENSIFIERS {
            roles.insert(*w, Role::Intensifier(*x));
        }
        for (w, x) in lexicon::CONTRASTS {
            roles.insert(*w, Role::Contrast(*x));
        }
        // Lexicon and role words are segmented whole (不耐烦 is one word, not 不 + 耐烦).
        for w in sentiment.keys().chain(roles.keys()) {
            if w.chars().count() > 1 && !jieba.has_word(w) {
                jieba.add_word(w, None, None);
            }
        }
        Analyser {
            jieba,
            keywords,
            sentiment,
            roles,
            moments: journey.moments().len(),
        }
    }

    /// The words of `text` as the segmenter cuts them (the journey's words whole).
    pub fn segment<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.jieba
            .cut(text, false)
            .into_iter()
            .map(|t| t.word)
            .collect()
    }

    /// The units of a clause: jieba's words, with a negator or degree word the
    /// dictionary glued to a known word split off again (很脏 → 很 + 脏, 不好找 →
    /// 不 + 好找), 没 + 人… read as "nobody", and a trailing 了/的 dropped from an
    /// unknown word when that makes it known.
    fn units<'a>(&self, words: &[&'a str], out: &mut Vec<Unit<'a>>) {
        out.clear();
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            i += 1;
            if let Some(&role) = self.roles.get(w) {
                let next = words.get(i).copied().unwrap_or("");
                if matches!(w, "没" | "没有") && next.starts_with('人') {
                    out.push(Unit::Role(Role::Nobody));
                    let rest = &next['人'.len_utf8()..];
                    if !rest.is_empty() {
                        out.push(self.word(rest));
                    }
                    i += 1;
                } else {
                    out.push(Unit::Role(role));
                }
                continue;
            }
            if self.known(w) {
                out.push(self.word(w));
                continue;
            }
            let split = PREFIXES.iter().find_map(|p| {
                let rest = trim_particles(w.strip_prefix(p)?);
                (!rest.is_empty() && self.known(rest)).then_some((*p, rest))
            });
            if let Some((prefix, rest)) = split {
                if let Some(&role) = self.roles.get(prefix) {
                    out.push(Unit::Role(role));
                }
                out.push(self.word(rest));
                continue;
            }
            let trimmed = trim_particles(w);
            out.push(self.word(if self.known(trimmed) { trimmed } else { w }));
        }
    }

    fn known(&self, w: &str) -> bool {
        self.sentiment.contains_key(w)
            || self.keywords.contains_key(w)
            || self.roles.contains_key(w)
    }

    fn word<'a>(&self, w: &'a str) -> Unit<'a> {
        if lexicon::DURATION_UNITS.iter().any(|u| w.contains(u)) {
            Unit::Duration(w)
        } else {
            Unit::Word(w)
        }
    }

    /// Reads one comment.
    pub fn read(&self, comment: &str) -> Reading {
        let mut weights = vec![0.0f32; self.moments];
        let mut scores = vec![0.0f32; self.moments];
        let mut touched = vec![false; self.moments];
        let mut phrases = Vec::new();
        let mut total = 0.0f32;
        let mut previous_moments: Vec<usize> = Vec::new();
        let mut clause_weights = vec![0.0f32; self.moments];
        let mut units = Vec::new();
        let mut words: Vec<&str> = Vec::new();
        for piece in comment.split(is_break).filter(|p| !p.is_empty()) {
            words.clear();
            words.extend(self.jieba.cut(piece, false).into_iter().map(|t| t.word));
            // A contrast word inside a piece starts a new clause there.
            let mut start = 0;
            let mut emphasis = 1.0;
            for i in 0..=words.len() {
                let contrast = match words.get(i).and_then(|w| self.roles.get(w)) {
                    Some(Role::Contrast(x)) if i > start => Some(*x),
                    _ => None,
                };
                if i < words.len() && contrast.is_none() {
                    continue;
                }
                let clause = &words[start..i];
                if let Some(Role::Contrast(x)) = clause.first().and_then(|w| self.roles.get(w)) {
                    emphasis = *x;
                }
                self.units(clause, &mut units);
                let score = self.clause_sentiment(&units) * emphasis;
                total += score;
                // The moments of the clause: the best, and any close to it.
                clause_weights.iter_mut().for_each(|w| *w = 0.0);
                for u in &units {
                    if let Unit::Word(w) | Unit::Duration(w) = u {
                        if let Some(hits) = self.keyword(w) {
                            for &(m, x) in hits {
                                clause_weights[m] += x;
                            }
                        }
                    }
                }
                let best = clause_weights.iter().copied().fold(0.0f32, f32::max);
                let mut here: Vec<usize> = Vec::new();
                if best >= MIN_WEIGHT {
                    here.extend(
                        (0..self.moments)
                            .filter(|&m| clause_weights[m] >= MIN_WEIGHT.max(best * RUNNER_UP)),
                    );
                } else if score != 0.0 {
                    // A clause with a sentiment but only weak words: its best weak
                    // moment, else the moment of the clause before (…，很慢).
                    if best >= WEAK_WEIGHT {
                        here.extend((0..self.moments).filter(|&m| clause_weights[m] == best));
                    } else {
                        here.clone_from(&previous_moments);
                    }
                }
                for &m in &here {
                    touched[m] = true;
                    weights[m] += clause_weights[m].max(0.0);
                    scores[m] += score;
                    phrases.extend(
                        clause
                            .iter()
                            .filter(|w| w.chars().count() >= 2 && !STOP.contains(w))
                            .filter(|w| !self.roles.contains_key(*w))
                            .filter(|w| !w.chars().all(|c| c.is_ascii_punctuation()))
                            .map(|w| (m, (*w).to_owned())),
                    );
                }
                if !here.is_empty() {
                    previous_moments = here;
                }
                start = i;
                if contrast.is_none() {
                    emphasis = 1.0;
                }
            }
        }
        let moments = (0..self.moments)
            .filter(|&m| touched[m])
            .map(|m| {
                // A moment whose clauses carry no sentiment takes the comment's.
                let score = if scores[m] == 0.0 { total } else { scores[m] };
                MomentMention {
                    moment: m,
                    weight: weights[m],
                    score,
                    sentiment: Sentiment::of_score(score),
                }
            })
            .collect();
        Reading {
            moments,
            score: total,
            sentiment: Sentiment::of_score(total),
            phrases,
        }
    }

    fn keyword(&self, w: &str) -> Option<&Vec<(usize, f32)>> {
        if w.bytes().any(|b| b.is_ascii_uppercase()) {
            self.keywords.get(&w.to_lowercase())
        } else {
            self.keywords.get(w)
        }
    }

    /// The sentiment score of one clause: the lexicon's weights, scaled by the degree
    /// word before them and turned by a negator in reach.
    fn clause_sentiment(&self, units: &[Unit]) -> f32 {
        /// A negation pending over the next `left` units; `turned` once it has turned
        /// a sentiment word (it then covers the rest of its reach: 没有等很久).
        struct Negation {
            left: usize,
            nobody: bool,
            turned: bool,
        }
        let fresh = |nobody| Negation {
            left: lexicon::NEGATION_REACH,
            nobody,
            turned: false,
        };
        let mut score = 0.0;
        let mut negation: Option<Negation> = None;
        let mut degree = 1.0f32;
        for (i, u) in units.iter().enumerate() {
            let x = match *u {
                Unit::Role(Role::Negator) => {
                    // 没有不耐烦: a negated negator is the plain word after it.
                    negation = match negation {
                        Some(Negation {
                            nobody: false,
                            turned: false,
                            ..
                        }) => None,
                        _ => Some(fresh(false)),
                    };
                    continue;
                }
                Unit::Role(Role::Nobody) => {
                    negation = Some(fresh(true));
                    continue;
                }
                Unit::Role(Role::Intensifier(x)) => {
                    degree *= x;
                    continue;
                }
                Unit::Role(Role::Contrast(_)) => continue,
                Unit::Duration(_) => {
                    if matches!(units.get(i + 1), Some(Unit::Word("就"))) {
                        -lexicon::DURATION
                    } else {
                        lexicon::DURATION
                    }
                }
                Unit::Word(w) => match self.sentiment.get(w) {
                    Some(&x) => x,
                    None => {
                        if let Some(n) = negation.as_mut() {
                            n.left -= 1;
                            if n.left == 0 {
                                if !n.turned {
                                    score += lexicon::UNMET;
                                }
                                negation = None;
                            }
                        }
                        continue;
                    }
                },
            };
            let mut x = x * degree;
            degree = 1.0;
            if let Some(n) = negation.as_mut() {
                // Negated praise is a complaint; a negated complaint is milder praise
                // (不慢 is less than 快).
                x = if x > 0.0 { -x } else { -x * 0.8 };
                n.turned = true;
                n.left -= 1;
                if n.left == 0 {
                    negation = None;
                }
            }
            score += x;
        }
        // A negation with nothing to turn: something not done, nobody came.
        if negation.is_some_and(|n| !n.turned) {
            score += lexicon::UNMET;
        }
        score
    }

    /// Reads many comments on `threads` threads (in order): what `survey comments`,
    /// the analysis page and the benchmark do with a journey's comments.
    pub fn read_many<T: AsRef<str> + Sync>(&self, comments: &[T], threads: usize) -> Vec<Reading> {
        let threads = threads.clamp(1, 64);
        if threads == 1 || comments.len() < 256 {
            return comments.iter().map(|c| self.read(c.as_ref())).collect();
        }
        let size = comments.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = comments
                .chunks(size)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|c| self.read(c.as_ref()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// How many moments the journey has (the length of per-moment tallies).
    pub fn moment_count(&self) -> usize {
        self.moments
    }
}

/// Counts of phrases, for the top phrases per moment and hall.
#[derive(Debug, Default, Clone)]
pub struct PhraseCounts {
    counts: HashMap<String, u32>,
}

impl PhraseCounts {
    pub fn add(&mut self, phrase: &str) {
        *self.counts.entry(phrase.to_owned()).or_default() += 1;
    }

    /// The `n` most frequent phrases, ties in text order so results are stable.
    pub fn top(&self, n: usize) -> Vec<(String, u32)> {
        let mut all: Vec<(String, u32)> =
            self.counts.iter().map(|(p, c)| (p.clone(), *c)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyser() -> Analyser {
        Analyser::new(&peakend_core::builtin::journeys().unwrap().remove(0))
    }

    fn keys(a: &Analyser, r: &Reading) -> Vec<String> {
        let j = peakend_core::builtin::journeys().unwrap().remove(0);
        let _ = a;
        r.moments
            .iter()
            .map(|m| j.moments()[m.moment].key.to_string())
            .collect()
    }

    #[test]
    fn a_queue_complaint_is_a_negative_queue_comment() {
        let a = analyser();
        let r = a.read("排队排了一个多小时，太慢了");
        assert_eq!(keys(&a, &r), ["queue"]);
        assert_eq!(r.sentiment, Sentiment::Negative);
    }

    #[test]
    fn negation_turns_the_word_in_reach() {
        let a = analyser();
        assert_eq!(a.read("没有等很久").sentiment, Sentiment::Positive);
        assert_eq!(a.read("营业员没有不耐烦").sentiment, Sentiment::Positive);
        assert_eq!(a.read("不是很干净").sentiment, Sentiment::Negative);
        assert_eq!(a.read("没人引导").sentiment, Sentiment::Negative);
        assert_eq!(a.read("没人打扰，挺好").sentiment, Sentiment::Positive);
        assert_eq!(a.read("问题未解决").sentiment, Sentiment::Negative);
    }

    #[test]
    fn a_comment_touches_several_moments_each_with_its_sentiment() {
        let a = analyser();
        let r = a.read("排队等了一个小时，营业员态度倒是挺好的");
        assert_eq!(keys(&a, &r), ["queue", "counter_talk"]);
        assert_eq!(r.moments[0].sentiment, Sentiment::Negative);
        assert_eq!(r.moments[1].sentiment, Sentiment::Positive);
        assert_eq!(r.first_negative(), Some(r.moments[0].moment));
    }

    #[test]
    fn the_journeys_own_words_are_segmented_whole() {
        let a = analyser();
        // 等候时长 is a need of the queue moment, 办理结果 a moment's name.
        assert!(a.segment("我觉得等候时长太长").contains(&"等候时长"));
        assert!(a.segment("办理结果不对").contains(&"办理结果"));
    }
}
