//! Sharing equal values (pure). One spec fanned out to 10,000 namespaces gives 10,000
//! Secrets with the same labels, annotations and data; keeping one copy behind an `Arc`
//! instead of 10,000 is most of what a large sync needs in memory (a small `BTreeMap` costs
//! a 500-byte node however few entries it holds) and saves as many allocations.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

/// Labels (or any string map) shared between objects.
pub type SharedMap = Arc<BTreeMap<String, String>>;

/// Hands out one `Arc` per distinct value.
#[derive(Debug)]
pub struct Interner<T: Hash + Eq> {
    set: HashSet<Arc<T>>,
}

impl<T: Hash + Eq> Default for Interner<T> {
    fn default() -> Self {
        Self { set: HashSet::new() }
    }
}

impl<T: Hash + Eq> Interner<T> {
    /// The shared copy of `value`.
    pub fn intern(&mut self, value: T) -> Arc<T> {
        if let Some(shared) = self.set.get(&value) {
            return shared.clone();
        }
        let shared = Arc::new(value);
        self.set.insert(shared.clone());
        shared
    }

    /// Forget values nobody else holds any more, so a long-lived interner stays the size of
    /// what is in use.
    pub fn purge(&mut self) {
        self.set.retain(|shared| Arc::strong_count(shared) > 1);
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_unused_ones_are_forgotten() {
        let mut interner = Interner::default();
        let map = |v: &str| BTreeMap::from([("team".to_string(), v.to_string())]);
        let a = interner.intern(map("ml"));
        let b = interner.intern(map("ml"));
        let c = interner.intern(map("infra"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(interner.len(), 2);
        drop(c);
        interner.purge();
        assert_eq!(interner.len(), 1, "only the value still in use is kept");
        drop((a, b));
        interner.purge();
        assert!(interner.is_empty());
    }
}
