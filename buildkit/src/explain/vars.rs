//! A stage's ARGs and ENVs: the log they are replayed from and the hash a RUN is keyed on.

use std::collections::HashMap;

use crate::hash::Hasher;

/// A point in a stage's log of ARG and ENV changes: (log, length).
pub(super) type LogPos = (usize, usize);

/// One ARG or ENV change, as the log records it.
#[derive(Debug, Clone)]
pub(super) enum VarOp {
    Arg(String, Option<String>),
    Env(String, String),
}

/// A stage's ARG and ENV changes, after those of the stage it is built FROM.
#[derive(Debug, Clone, Default)]
pub(super) struct VarLog {
    pub(super) parent: Option<LogPos>,
    pub(super) ops: Vec<VarOp>,
}

/// The ARGs and ENVs of a stage. Every change costs O(log n), so a file of n ARG, ENV and RUN
/// lines is analysed in O(n log n); a RUN's environment is keyed by a hash kept up to date,
/// not by copying it.
#[derive(Debug, Clone, Default)]
pub(super) struct Vars {
    /// ENV entries in first-set order (setting one again keeps its place).
    pub(super) env: Vec<(String, String)>,
    pub(super) env_at: HashMap<String, usize>,
    /// ARG declarations in order; a re-declared ARG moves to the end, leaving a hole.
    pub(super) args: Vec<Option<(String, Option<String>)>>,
    pub(super) arg_at: HashMap<String, usize>,
    /// What `$NAME` expands to: ARGs with a value, ENVs over them.
    pub(super) scope: HashMap<String, String>,
    pub(super) env_hash: SeqHash,
    pub(super) arg_hash: SeqHash,
}

impl Vars {
    pub(super) fn get(&self, name: &str) -> Option<String> {
        self.scope.get(name).cloned()
    }

    pub(super) fn apply(&mut self, op: &VarOp) {
        match op {
            VarOp::Arg(name, value) => self.set_arg(name, value.clone()),
            VarOp::Env(name, value) => self.set_env(name, value.clone()),
        }
    }

    pub(super) fn set_arg(&mut self, name: &str, value: Option<String>) {
        if let Some(old) = self.arg_at.remove(name) {
            self.args[old] = None;
            self.arg_hash.set(old, None);
        }
        let slot = self.args.len();
        let shadowed = self.env_at.contains_key(name);
        let entry = value.as_ref().filter(|_| !shadowed).map(|v| entry_hash(name, v));
        self.arg_hash.set(slot, entry);
        if !shadowed {
            match &value {
                Some(v) => self.scope.insert(name.to_owned(), v.clone()),
                None => self.scope.remove(name),
            };
        }
        self.args.push(Some((name.to_owned(), value)));
        self.arg_at.insert(name.to_owned(), slot);
    }

    pub(super) fn set_env(&mut self, name: &str, value: String) {
        let slot = match self.env_at.get(name) {
            Some(&slot) => {
                self.env[slot].1 = value.clone();
                slot
            }
            None => {
                // An ARG of the same name leaves the RUN environment's ARG part.
                if let Some(&a) = self.arg_at.get(name) {
                    self.arg_hash.set(a, None);
                }
                self.env.push((name.to_owned(), value.clone()));
                self.env_at.insert(name.to_owned(), self.env.len() - 1);
                self.env.len() - 1
            }
        };
        self.env_hash.set(slot, Some(entry_hash(name, &value)));
        self.scope.insert(name.to_owned(), value);
    }

    /// The hash of a RUN's environment: ENVs in order, then ARGs with a value that no ENV hides.
    pub(super) fn hash(&self) -> u64 {
        let (e, ep) = self.env_hash.root();
        let (a, ap) = self.arg_hash.root();
        let mut h = Hasher::new("ENV");
        h.field(&format!("{e:x}/{ep:x}/{a:x}/{ap:x}"));
        h.value()
    }

    /// A RUN's environment as a list, for saying what changed.
    pub(super) fn run_env(&self) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        for (k, v) in self.args.iter().flatten() {
            if let Some(v) = v
                && !self.env_at.contains_key(k)
            {
                env.push((k.clone(), v.clone()));
            }
        }
        env
    }
}

pub(super) fn entry_hash(name: &str, value: &str) -> u64 {
    let mut h = Hasher::new("VAR");
    h.field(name).field(value);
    h.value()
}

/// An order-sensitive hash of a sequence with holes (a polynomial hash in a segment tree), so
/// that setting one element costs O(log n).
#[derive(Debug, Clone, Default)]
pub(super) struct SeqHash {
    pub(super) leaves: usize,
    pub(super) tree: Vec<(u64, u64)>,
}

impl SeqHash {
    const EMPTY: (u64, u64) = (0, 1);
    const BASE: u64 = 0x0100_0000_01b3;

    pub(super) fn combine(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
        (a.0.wrapping_mul(b.1).wrapping_add(b.0), a.1.wrapping_mul(b.1))
    }

    pub(super) fn set(&mut self, slot: usize, value: Option<u64>) {
        if slot >= self.leaves {
            let mut leaves = self.leaves.max(1);
            while leaves <= slot {
                leaves *= 2;
            }
            let mut tree = vec![Self::EMPTY; 2 * leaves];
            tree[leaves..leaves + self.leaves].copy_from_slice(&self.tree[self.leaves..]);
            for i in (1..leaves).rev() {
                tree[i] = Self::combine(tree[2 * i], tree[2 * i + 1]);
            }
            (self.leaves, self.tree) = (leaves, tree);
        }
        let mut i = self.leaves + slot;
        self.tree[i] = value.map_or(Self::EMPTY, |v| (v, Self::BASE));
        while i > 1 {
            i /= 2;
            self.tree[i] = Self::combine(self.tree[2 * i], self.tree[2 * i + 1]);
        }
    }

    pub(super) fn root(&self) -> (u64, u64) {
        self.tree.get(1).copied().unwrap_or(Self::EMPTY)
    }
}
