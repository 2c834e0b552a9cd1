//! Work spread over the machine's cores, with results in input order (so output stays
//! deterministic whatever the threads do).

/// Tells the C allocator that this process is short-lived and allocates much (`rotgen
/// build`): grow the heap 16 MiB at a time, which the worker threads' heaps otherwise do
/// a page at a time (one `mprotect` call each: thousands for a large spec). Memory is
/// only touched when used, so the peak RSS does not change. glibc only; elsewhere a no-op.
pub fn short_lived_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's mallopt(3) and M_TOP_PAD (malloc.h).
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TOP_PAD: i32 = -2;
        // SAFETY: mallopt only sets a tuning parameter; any value is valid.
        unsafe {
            mallopt(M_TOP_PAD, 16 << 20);
        }
    }
}

/// `f` over `items` on every core; the results in the items' order. Small inputs stay on
/// this thread.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_from(2, items, f)
}

/// [`map`], on this thread alone below `min` items: starting threads costs more than
/// a few small jobs (a spec of ten secrets, each rotation of the macro).
pub fn map_from<T: Sync, R: Send>(min: usize, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < min.max(2) || threads == 1 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            super::map(&items, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert_eq!(super::map(&[] as &[u32], |x| *x), Vec::<u32>::new());
    }
}
