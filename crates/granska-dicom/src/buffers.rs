//! Image-sized buffers that are cheap to fill. A decoded mammogram is ~25 MB; glibc gives
//! each such buffer its own mapping (the server sets a 1 MiB mmap threshold to bound
//! fragmentation), and filling it took one page fault per 4 KiB: 6,000 faults, about three
//! quarters of the time of decoding an uncompressed view (perf: `exc_page_fault`,
//! `clear_page_erms`). Asking for transparent huge pages on the still untouched mapping makes
//! that ~13 faults of 2 MiB. The memory is returned to the system when freed, as before.

/// Buffers smaller than this are left to the allocator as they come.
const HUGE_FROM_BYTES: usize = 4 << 20;

/// `n` zeroed values, in memory backed by transparent huge pages where the kernel offers them
/// (`madvise` mode included). The allocation is made zeroed by the allocator (`calloc`, whose
/// fresh mapping is not touched), so the advice comes before the first fault.
pub(crate) fn zeroed<T: bytemuck::Zeroable + Clone>(n: usize) -> Vec<T> {
    let v = vec![T::zeroed(); n];
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    if bytes >= HUGE_FROM_BYTES {
        advise_huge_pages(v.as_ptr().cast(), bytes);
    }
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(start: *const u8, len: usize) {
    const PAGE: usize = 4096;
    let begin = (start as usize).next_multiple_of(PAGE);
    let end = (start as usize + len) / PAGE * PAGE;
    if end > begin {
        // SAFETY: the range lies inside the live allocation `start..start + len` (rounded
        // inwards to whole pages); MADV_HUGEPAGE changes only how the kernel backs those pages,
        // never their contents, and a failure (e.g. THP disabled) changes nothing.
        unsafe {
            libc::madvise(begin as *mut libc::c_void, end - begin, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_start: *const u8, _len: usize) {}
