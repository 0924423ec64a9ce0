//! Answers remembered per string view, so that functions over a dictionary-encoded column run
//! once per distinct value rather than once per row.
//!
//! A Parquet string column decodes each dictionary entry to one view that all its rows share,
//! and a string of at most 12 bytes is its own view; so rows with the same view hold the same
//! text. Most of what hunting queries filter and transform (user agents, application names,
//! operations, result codes) is such a column. A memo lives on the thread that evaluates, keyed
//! by what is evaluated, and is kept across the batches of a column chunk, which share one
//! buffer of dictionary values.

use std::cell::RefCell;
use std::thread::LocalKey;

use datafusion::arrow::array::StringViewArray;
use datafusion::arrow::buffer::Buffer;

/// Answers (non-zero numbers) per view. Keys and answers sit in separate arrays, so that a
/// probe reads one answer and, on a hit, one key; at 4,096 slots the hundreds of distinct values
/// of a dictionary page rarely collide, and a miss past a few probes is treated as unknown.
pub struct ViewCache {
    views: Box<[u128; VIEW_CACHE_SLOTS]>,
    /// 0: empty slot.
    answers: Box<[u32; VIEW_CACHE_SLOTS]>,
    filled: usize,
}

const VIEW_CACHE_SLOTS: usize = 1 << 12;
const VIEW_CACHE_PROBES: usize = 8;

impl ViewCache {
    fn new() -> ViewCache {
        ViewCache { views: Box::new([0; VIEW_CACHE_SLOTS]), answers: Box::new([0; VIEW_CACHE_SLOTS]), filled: 0 }
    }

    pub fn clear(&mut self) {
        if self.filled > 0 {
            self.answers.fill(0);
            self.filled = 0;
        }
    }

    /// Filled to three quarters: probes get long, so the owner should start over.
    pub fn is_full(&self) -> bool {
        self.filled >= VIEW_CACHE_SLOTS / 4 * 3
    }

    #[inline(always)]
    fn home(view: u128) -> usize {
        let mixed = (view as u64) ^ ((view >> 64) as u64);
        (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - VIEW_CACHE_SLOTS.trailing_zeros())) as usize
    }

    /// The answer if `view` sits in its home slot, as nearly all do: small enough to inline into
    /// a per-row loop.
    #[inline(always)]
    pub fn get_at_home(&self, view: u128) -> Option<u32> {
        let home = Self::home(view);
        let answer = self.answers[home];
        (answer != 0 && self.views[home] == view).then_some(answer)
    }

    pub fn get(&self, view: u128) -> Option<u32> {
        let home = Self::home(view);
        for probe in 0..VIEW_CACHE_PROBES {
            let slot = (home + probe) & (VIEW_CACHE_SLOTS - 1);
            match self.answers[slot] {
                0 => return None,
                answer if self.views[slot] == view => return Some(answer),
                _ => {}
            }
        }
        None
    }

    /// Remembers a non-zero `answer`, unless the view's probe sequence is full.
    pub fn insert(&mut self, view: u128, answer: u32) {
        debug_assert_ne!(answer, 0);
        let home = Self::home(view);
        for probe in 0..VIEW_CACHE_PROBES {
            let slot = (home + probe) & (VIEW_CACHE_SLOTS - 1);
            if self.answers[slot] == 0 {
                self.views[slot] = view;
                self.answers[slot] = answer;
                self.filled += 1;
                return;
            }
        }
    }
}

/// Data buffers up to this size are held by a memo so that its answers outlive the array.
const MAX_HELD_BUFFER_BYTES: usize = 1 << 20;

/// A `ViewCache` that stays valid from one array to the next while they share their buffers.
pub struct ViewMemo {
    pub cache: ViewCache,
    /// The data buffers that the long views in `cache` point into, held so that their addresses
    /// cannot be taken by other buffers while their answers are kept.
    buffers: Vec<Buffer>,
}

impl ViewMemo {
    pub fn new() -> ViewMemo {
        ViewMemo { cache: ViewCache::new(), buffers: Vec::new() }
    }

    /// Prepares for `array`, forgetting the answers that its views could misread; true when it
    /// forgot them.
    pub fn adopt(&mut self, array: &StringViewArray) -> bool {
        let buffers = array.data_buffers();
        // Without buffers the array has only inline views, which mean the same in every array.
        let same = buffers.is_empty()
            || (buffers.len() == self.buffers.len() && buffers.iter().zip(&self.buffers).all(|(b, k)| b.ptr_eq(k)));
        if same {
            return false;
        }
        self.cache.clear();
        self.buffers.clear();
        if buffers.iter().map(Buffer::len).sum::<usize>() <= MAX_HELD_BUFFER_BYTES {
            self.buffers.extend(buffers.iter().cloned());
        }
        true
    }
}

impl Default for ViewMemo {
    fn default() -> ViewMemo {
        ViewMemo::new()
    }
}

/// The memos one thread keeps for the functions it evaluates, by key, the most recently used
/// last.
pub type MemoTable<K, M> = RefCell<Vec<(K, M)>>;

/// How many functions a thread keeps memos for (a query's filter evaluates a few in turn).
const MEMOS_PER_THREAD: usize = 4;

/// Runs `f` with the thread's memo for `key`, made by `make` if there is none (and a fresh one,
/// not kept, when a function being evaluated evaluates another).
pub fn with_memo<K: PartialEq + 'static, M: 'static, R>(
    table: &'static LocalKey<MemoTable<K, M>>,
    key: K,
    make: impl FnOnce() -> M,
    f: impl FnOnce(&mut M) -> R,
) -> R {
    table.with(|cell| match cell.try_borrow_mut() {
        Ok(mut memos) => {
            match memos.iter().position(|(k, _)| *k == key) {
                Some(index) => {
                    let entry = memos.remove(index);
                    memos.push(entry);
                }
                None => {
                    if memos.len() == MEMOS_PER_THREAD {
                        memos.remove(0);
                    }
                    memos.push((key, make()));
                }
            }
            let (_, memo) = memos.last_mut().expect("just pushed");
            f(memo)
        }
        Err(_) => f(&mut make()),
    })
}
