//! An allocator for plugins that stream: large blocks (network read buffers) are kept for
//! reuse instead of going back to the C library, which hands them to the kernel and takes them
//! back page by page.
//!
//! A plugin that holds a budget of data between its network tasks and the daemon's reads frees
//! and allocates its whole budget again and again. glibc trims such memory from its arenas
//! (`madvise`), so every new buffer is fresh pages: in a profile of a 1 GiB backup, page faults
//! and page clearing were a fifth of the plugin's CPU. With this allocator as the cdylib's
//! `#[global_allocator]` ([`PooledAlloc`]; it serves only the plugin's own Rust allocations; the daemon's
//! `malloc` is untouched), freed blocks of 32 KiB to 16 MiB stay in per-size free lists up to
//! [`BlockPool::CACHE_BYTES`] in all; [`BlockPool::release`] (at the end of a job) returns them.
//! Everything else goes straight to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::Mutex;

/// Smallest block kept.
const MIN_BLOCK: usize = 32 << 10;
/// Largest block kept.
const MAX_BLOCK: usize = 16 << 20;
/// Alignment of the blocks (what `malloc` gives anyway).
const ALIGN: usize = 16;
/// Size classes: four per power of two from 32 KiB (32, 40, 48, 56, 64, 80, … KiB) up to
/// 16 MiB, so a block is at most 25 % larger than asked.
const CLASSES: usize = 4 * 9 + 1;

/// The size of class `c`.
const fn class_size(c: usize) -> usize {
    let base = MIN_BLOCK << (c / 4);
    base + (base / 4) * (c % 4)
}

/// The smallest class that holds `size` bytes (`size` within `MIN_BLOCK..=MAX_BLOCK`).
fn class_of(size: usize) -> usize {
    // The power of two at or below size, relative to MIN_BLOCK.
    let octave = (usize::BITS - 1 - (size / MIN_BLOCK).leading_zeros()) as usize;
    let base = MIN_BLOCK << octave;
    let quarter = base / 4;
    let step = (size - base).div_ceil(quarter);
    4 * octave + step
}

struct Lists {
    /// Head of each class's free list; a free block holds the address of the next one.
    heads: [*mut u8; CLASSES],
    cached: usize,
}

// SAFETY: the pointers are owned free blocks, only touched under the mutex.
unsafe impl Send for Lists {}

pub struct BlockPool {
    lists: Mutex<Lists>,
}

impl Default for BlockPool {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockPool {
    /// Free blocks kept at most, in bytes.
    pub const CACHE_BYTES: usize = 96 << 20;

    pub const fn new() -> Self {
        BlockPool {
            lists: Mutex::new(Lists {
                heads: [ptr::null_mut(); CLASSES],
                cached: 0,
            }),
        }
    }

    /// Whether a layout is served from the pool (and the class it rounds to).
    fn class(layout: &Layout) -> Option<usize> {
        let size = layout.size();
        (layout.align() <= ALIGN && (MIN_BLOCK..=MAX_BLOCK).contains(&size)).then(|| class_of(size))
    }

    fn block_layout(class: usize) -> Layout {
        // SAFETY: class sizes are non-zero multiples of ALIGN, far below isize::MAX.
        unsafe { Layout::from_size_align_unchecked(class_size(class), ALIGN) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lists> {
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes held in free blocks now.
    pub fn cached_bytes(&self) -> usize {
        self.lock().cached
    }

    /// Returns every free block to the system allocator.
    pub fn release(&self) {
        let mut lists = self.lock();
        for class in 0..CLASSES {
            let mut block = std::mem::replace(&mut lists.heads[class], ptr::null_mut());
            while !block.is_null() {
                // SAFETY: a free block of this class, its first word the next block.
                unsafe {
                    let next = block.cast::<*mut u8>().read();
                    System.dealloc(block, Self::block_layout(class));
                    block = next;
                }
            }
        }
        lists.cached = 0;
    }

    fn take(&self, class: usize) -> *mut u8 {
        let mut lists = self.lock();
        let block = lists.heads[class];
        if !block.is_null() {
            // SAFETY: a free block of this class, its first word the next block.
            lists.heads[class] = unsafe { block.cast::<*mut u8>().read() };
            lists.cached -= class_size(class);
        }
        block
    }

    /// Keeps `block` of `class` for reuse; false if the cache is full.
    fn keep(&self, block: *mut u8, class: usize) -> bool {
        let mut lists = self.lock();
        if lists.cached + class_size(class) > Self::CACHE_BYTES {
            return false;
        }
        // SAFETY: the caller gives up `block`, which is at least MIN_BLOCK bytes and aligned.
        unsafe { block.cast::<*mut u8>().write(lists.heads[class]) };
        lists.heads[class] = block;
        lists.cached += class_size(class);
        true
    }
}

// SAFETY: every block handed out is at least `layout.size()` bytes with `layout.align()`
// alignment (pooled blocks: their class size, aligned to 16, for layouts that need no more),
// and is given back to the allocator that made it with the layout it was made with.
unsafe impl GlobalAlloc for BlockPool {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match Self::class(&layout) {
            Some(class) => {
                let block = self.take(class);
                if block.is_null() {
                    // SAFETY: non-zero size.
                    unsafe { System.alloc(Self::block_layout(class)) }
                } else {
                    block
                }
            }
            // SAFETY: forwarded as the caller gave it.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match Self::class(&layout) {
            Some(_) => {
                // SAFETY: as alloc; the block is then cleared (a reused one holds old data).
                unsafe {
                    let block = self.alloc(layout);
                    if !block.is_null() {
                        ptr::write_bytes(block, 0, layout.size());
                    }
                    block
                }
            }
            // SAFETY: forwarded as the caller gave it.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        match Self::class(&layout) {
            Some(class) => {
                if !self.keep(block, class) {
                    // SAFETY: made by System with the class's layout.
                    unsafe { System.dealloc(block, Self::block_layout(class)) }
                }
            }
            // SAFETY: made by System with this layout.
            None => unsafe { System.dealloc(block, layout) },
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees new_size > 0 and a valid layout with it.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (Self::class(&layout), Self::class(&new_layout)) {
            // SAFETY: made by System with this layout; System keeps the alignment.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            (Some(old), Some(new)) if old == new => block,
            _ => {
                // SAFETY: a new block, the common bytes copied, the old one given back.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

/// The pool behind [`PooledAlloc`].
pub static POOL: BlockPool = BlockPool::new();

/// The allocator a plugin cdylib declares as `#[global_allocator]` to serve its allocations
/// from [`POOL`]; the SDK releases the pool's free blocks when a job's context is freed.
pub struct PooledAlloc;

// SAFETY: delegates every call to POOL, a valid allocator.
unsafe impl GlobalAlloc for PooledAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { POOL.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { POOL.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { POOL.dealloc(block, layout) }
    }
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe { POOL.realloc(block, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_every_size_with_at_most_a_quarter_more() {
        assert_eq!(class_size(0), 32 << 10);
        assert_eq!(class_size(1), 40 << 10);
        assert_eq!(class_size(4), 64 << 10);
        assert_eq!(class_size(CLASSES - 1), MAX_BLOCK);
        for size in (MIN_BLOCK..=MAX_BLOCK)
            .step_by(4093)
            .chain([MIN_BLOCK, MAX_BLOCK])
        {
            let c = class_of(size);
            assert!(c < CLASSES, "{size}");
            assert!(class_size(c) >= size, "{size}");
            assert!(
                c == 0 || class_size(c - 1) < size,
                "{size}: not the smallest class"
            );
            assert!(class_size(c) <= size + size / 4, "{size}");
        }
    }

    #[test]
    fn blocks_are_reused_kept_within_the_cap_and_released() {
        let pool = BlockPool::new();
        let layout = Layout::from_size_align(100_000, 8).unwrap();
        unsafe {
            let a = pool.alloc(layout);
            pool.dealloc(a, layout);
            assert_eq!(pool.cached_bytes(), class_size(class_of(100_000)));
            // A request of the same class gets the same block back.
            let b = pool.alloc(Layout::from_size_align(110_000, 16).unwrap());
            assert_eq!(a, b);
            assert_eq!(pool.cached_bytes(), 0);
            b.write_bytes(7, 110_000);
            // Growing within the class keeps the block; beyond it, moves with the data.
            let b = pool.realloc(b, Layout::from_size_align(110_000, 16).unwrap(), 114_000);
            assert_eq!(a, b);
            let c = pool.realloc(b, Layout::from_size_align(114_000, 16).unwrap(), 1 << 20);
            assert!(!c.is_null());
            assert!(std::slice::from_raw_parts(c, 110_000)
                .iter()
                .all(|&x| x == 7));
            assert_eq!(pool.cached_bytes(), class_size(class_of(100_000)));
            pool.dealloc(c, Layout::from_size_align(1 << 20, 8).unwrap());
            // Zeroed blocks are zero even when reused.
            let z = pool.alloc_zeroed(Layout::from_size_align(1 << 20, 8).unwrap());
            assert!(std::slice::from_raw_parts(z, 1 << 20)
                .iter()
                .all(|&x| x == 0));
            pool.dealloc(z, Layout::from_size_align(1 << 20, 8).unwrap());
            // Small and over-aligned layouts bypass the pool.
            let small = Layout::from_size_align(100, 8).unwrap();
            let s = pool.alloc(small);
            pool.dealloc(s, small);
            let aligned = Layout::from_size_align(1 << 16, 4096).unwrap();
            let p = pool.alloc(aligned);
            assert_eq!(p as usize % 4096, 0);
            pool.dealloc(p, aligned);
            let before = pool.cached_bytes();
            assert_eq!(before, class_size(class_of(100_000)) + (1 << 20));
            // The cap holds.
            let big = Layout::from_size_align(MAX_BLOCK, 16).unwrap();
            let blocks: Vec<_> = (0..8).map(|_| pool.alloc(big)).collect();
            for b in blocks {
                pool.dealloc(b, big);
            }
            assert!(pool.cached_bytes() <= BlockPool::CACHE_BYTES);
            pool.release();
            assert_eq!(pool.cached_bytes(), 0);
        }
    }

    #[test]
    fn concurrent_use_never_hands_out_a_block_twice() {
        let pool = std::sync::Arc::new(BlockPool::new());
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || unsafe {
                    for i in 0..500usize {
                        let size = MIN_BLOCK + (i * 7919 + t as usize * 104_729) % (256 << 10);
                        let layout = Layout::from_size_align(size, 8).unwrap();
                        let p = pool.alloc(layout);
                        p.write_bytes(t, size);
                        std::thread::yield_now();
                        assert!(std::slice::from_raw_parts(p, size).iter().all(|&x| x == t));
                        pool.dealloc(p, layout);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        pool.release();
    }
}
