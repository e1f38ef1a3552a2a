//! Which kept KV caches go when together they take more disk than `--kv-disk-mib`: the oldest
//! saves first, until the rest fit. A pure decision; the store removes the folders.

/// One model's save, as its manifest says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Save {
    pub model_id: i64,
    pub saved_at: i64,
    pub bytes: u64,
}

/// The models whose saves are removed so the others fit in `budget` bytes, oldest first.
pub fn over_budget(saves: &[Save], budget: u64) -> Vec<i64> {
    let mut by_age: Vec<Save> = saves.to_vec();
    by_age.sort_by_key(|save| (save.saved_at, save.model_id));
    // Saturating: the sizes come from manifests on the disk.
    let mut total = (by_age.iter()).fold(0u64, |sum, save| sum.saturating_add(save.bytes));
    let mut removed = Vec::new();
    for save in by_age {
        if total <= budget {
            break;
        }
        total = total.saturating_sub(save.bytes);
        removed.push(save.model_id);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(model_id: i64, saved_at: i64, bytes: u64) -> Save {
        Save {
            model_id,
            saved_at,
            bytes,
        }
    }

    #[test]
    fn the_oldest_saves_go_until_the_rest_fit() {
        let saves = [save(1, 300, 40), save(2, 100, 40), save(3, 200, 40)];
        assert_eq!(over_budget(&saves, 120), Vec::<i64>::new());
        assert_eq!(over_budget(&saves, 100), [2]);
        assert_eq!(over_budget(&saves, 40), [2, 3]);
        // A budget of nothing keeps nothing, the newest save included.
        assert_eq!(over_budget(&saves, 0), [2, 3, 1]);
    }

    #[test]
    fn sizes_that_would_overflow_are_taken_as_the_most_there_is() {
        let saves = [save(1, 100, u64::MAX), save(2, 200, u64::MAX)];
        assert_eq!(over_budget(&saves, u64::MAX - 1), [1]);
    }

    #[test]
    fn a_newest_save_larger_than_the_budget_is_removed_too() {
        let saves = [save(1, 100, 10), save(2, 200, 500)];
        assert_eq!(over_budget(&saves, 100), [1, 2]);
    }
}
