//! The todo list itself, free of any host API.

use std::collections::BTreeMap;

/// The most items the list holds; an `add` beyond it is refused.
pub const MAX_ITEMS: usize = 1000;

/// One item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// What to do.
    pub text: String,
    /// Whether it is done.
    pub done: bool,
}

/// Which item an operation changed (added, updated or removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The item's id.
    pub id: u64,
}

/// Counts of items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// All items.
    pub total: usize,
    /// Done items.
    pub done: usize,
    /// Items not done.
    pub open: usize,
}

/// The list, ordered by id (the order items were added in).
#[derive(Debug, Default)]
pub struct TodoList {
    items: BTreeMap<u64, Item>,
    last_id: u64,
}

impl TodoList {
    /// The item with this id.
    pub fn get(&self, id: u64) -> Option<&Item> {
        self.items.get(&id)
    }

    /// Appends a new item with the next id.
    pub fn add(&mut self, text: &str) -> Result<Change, String> {
        if self.items.len() >= MAX_ITEMS {
            return Err(format!("the list is full ({MAX_ITEMS} items): remove some first"));
        }
        self.last_id += 1;
        self.items.insert(self.last_id, Item { text: text.trim().to_owned(), done: false });
        Ok(Change { id: self.last_id })
    }

    /// Flips an item's `done`.
    pub fn toggle(&mut self, id: u64) -> Result<Change, String> {
        let item = self.items.get_mut(&id).ok_or_else(|| format!("there is no item {id}"))?;
        item.done = !item.done;
        Ok(Change { id })
    }

    /// Deletes an item.
    pub fn remove(&mut self, id: u64) -> Result<Change, String> {
        self.items.remove(&id).ok_or_else(|| format!("there is no item {id}"))?;
        Ok(Change { id })
    }

    /// Deletes every done item; returns them.
    pub fn clear_done(&mut self) -> Vec<Change> {
        let done: Vec<u64> = self.items.iter().filter(|(_, item)| item.done).map(|(id, _)| *id).collect();
        for id in &done {
            self.items.remove(id);
        }
        done.into_iter().map(|id| Change { id }).collect()
    }

    /// Every item, as a change (to publish the whole list again).
    pub fn all(&self) -> Vec<Change> {
        self.items.keys().map(|id| Change { id: *id }).collect()
    }

    /// The counts.
    pub fn summary(&self) -> Summary {
        let done = self.items.values().filter(|item| item.done).count();
        Summary { total: self.items.len(), done, open: self.items.len() - done }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_and_clear_done_removes_only_done_items() {
        let mut list = TodoList::default();
        assert_eq!(list.add(" a ").map(|c| c.id), Ok(1));
        assert_eq!(list.add("b").map(|c| c.id), Ok(2));
        assert_eq!(list.get(1).map(|i| i.text.as_str()), Some("a"));
        list.toggle(1).expect("toggle");
        list.remove(2).expect("remove");
        assert_eq!(list.add("c").map(|c| c.id), Ok(3));
        assert_eq!(list.summary(), Summary { total: 2, done: 1, open: 1 });
        assert_eq!(list.clear_done(), vec![Change { id: 1 }]);
        assert_eq!(list.summary(), Summary { total: 1, done: 0, open: 1 });
        assert!(list.toggle(1).is_err() && list.remove(9).is_err());
    }

    #[test]
    fn the_list_is_bounded() {
        let mut list = TodoList::default();
        for _ in 0..MAX_ITEMS {
            list.add("x").expect("room");
        }
        assert!(list.add("one too many").is_err());
    }
}
