//! Large per-answer buffers on huge pages.
//!
//! A burst of 200 M answers holds about 1 GB of per-answer arrays (the
//! `WorkerOut` columns: 5 bytes per answer on the threads runtime without
//! a history, 9 where durations are stored; an answer window's plans add
//! 4). Backed by 4 KiB pages, each buffer takes a page fault per 4 KiB the
//! first time it is written: over 250,000 faults for 1 GB, each a trip
//! into the kernel (and, on a VM, often out to the hypervisor), and as many
//! pages to unmap at the end. That storm, not the answers, was most of such
//! a run's wall time.
//!
//! Linux backs memory with 2 MiB transparent huge pages when a range asks
//! for them (`madvise(MADV_HUGEPAGE)`; Debian's default THP mode is
//! `madvise`): 512 times fewer faults. The advice changes how pages are
//! backed, never what they hold; where it is refused (THP off, another
//! OS) the buffers simply stay on small pages.

/// Buffers smaller than this are left alone: their faults are few.
const MIN_BYTES: usize = 8 << 20;

/// An empty vector with room for `n` elements, its memory advised onto huge
/// pages before anything is written to it.
pub(crate) fn with_capacity<T>(n: usize) -> Vec<T> {
    let v = Vec::with_capacity(n);
    advise(&v);
    v
}

/// `n` copies of `value`, written after the advice (see [`with_capacity`]).
pub(crate) fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = with_capacity(n);
    v.resize(n, value);
    v
}

/// Asks Linux to back the vector's allocation with huge pages: the whole
/// 2 MiB-aligned part of it, which is all of it but the ends.
fn advise<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
        if bytes < MIN_BYTES {
            return;
        }
        let begin = v.as_ptr() as usize;
        let start = begin.next_multiple_of(HUGE);
        let end = (begin + bytes) & !(HUGE - 1);
        if end > start {
            // SAFETY: [start, end) lies inside the vector's own allocation
            // (its capacity) and is page-aligned, as madvise requires.
            // MADV_HUGEPAGE only changes how the range is backed, never its
            // contents; a refusal (EINVAL where THP is compiled out) leaves
            // it on small pages, which is what the return value would tell
            // us and why it is ignored.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_hold_what_they_were_given() {
        let big: Vec<u64> = filled(3 << 20, 7);
        assert_eq!(big.len(), 3 << 20);
        assert!(big.iter().all(|&x| x == 7));
        let mut empty: Vec<u32> = with_capacity(5 << 20);
        assert!(empty.is_empty() && empty.capacity() >= 5 << 20);
        empty.extend(0..10);
        assert_eq!(empty[9], 9);
        let small: Vec<u8> = filled(3, 1);
        assert_eq!(small, [1, 1, 1]);
    }

    /// Where the kernel offers huge pages on request, a large buffer gets
    /// them (the `AnonHugePages` of its own mapping in `/proc/self/smaps`):
    /// the advice is not a no-op. Where THP is neither in `madvise` nor in
    /// `always` mode there is nothing to check, and the test says so.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_buffer_lands_on_huge_pages_where_the_kernel_offers_them() {
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !(mode.contains("[madvise]") || mode.contains("[always]")) {
            eprintln!("transparent huge pages are off here ({mode:?}): nothing to check");
            return;
        }
        let v: Vec<u64> = filled(8 << 20, 1); // 64 MiB, every page written
        let at = v.as_ptr() as usize + v.len() * 4; // inside, past the first 2 MiB
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut huge_kb = None;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = range.split_once('-') {
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = a <= at && at < b;
                    continue;
                }
            }
            if inside && line.starts_with("AnonHugePages:") {
                huge_kb = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok());
            }
        }
        let huge_kb = huge_kb.expect("the buffer's mapping is in /proc/self/smaps");
        assert_eq!(v[v.len() - 1], 1);
        assert!(
            huge_kb >= 32 * 1024,
            "a 64 MiB buffer has {huge_kb} kB on huge pages"
        );
    }
}
