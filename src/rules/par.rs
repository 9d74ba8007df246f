//! Loading rules on every core: compiling, deriving and checking one rule
//! needs nothing of another, so a large rule file (a thousand rules of a
//! user's) is spread over the available cores, results kept in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Most threads a load uses.
const MAX_THREADS: usize = 8;

/// `f` of each item, in order, on up to one thread per core when at least
/// `min_per_thread` items of real work (`costly`) come per thread; on this
/// thread otherwise (thread start-up would cost more than it saves).
/// Threads take the next item as they finish one, so a run of costly items
/// (a user's file after the precomputed built-ins) is shared too.
pub fn map<T: Send, R: Send>(
    items: Vec<T>,
    costly: usize,
    min_per_thread: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(MAX_THREADS).min(costly / min_per_thread.max(1));
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let n = items.len();
    let inputs: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let outputs: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let item = take(&inputs[i]).expect("each item is taken once");
                let out = f(item);
                *outputs[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
            });
        }
    });
    outputs
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every item was mapped")
        })
        .collect()
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items_on_any_number_of_threads() {
        let items: Vec<usize> = (0..1000).collect();
        let expect: Vec<usize> = items.iter().map(|i| i * 3).collect();
        for (costly, min) in [(0, 1), (1000, 1), (1000, 10), (1000, 2000)] {
            assert_eq!(map(items.clone(), costly, min, |i| i * 3), expect);
        }
        assert!(map(Vec::<u8>::new(), 10, 1, |b| b).is_empty());
    }
}
