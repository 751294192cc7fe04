//! Bytes with holes: a [`crate::MemFs`] file's contents, held in pages. A
//! page of zeros is a hole and holds no memory, whether it was never
//! written (a write past the end, a length extended) or zeros were
//! written to it, as a Fossil's leaves of zeros are holes.

use std::collections::BTreeMap;

/// Bytes per page: the unit holes are found in (tmpfs's).
pub(crate) const PAGE: u64 = 4096;

/// A file's bytes: a length and the pages that hold something not zero.
#[derive(Default)]
pub(crate) struct SparseBytes {
    len: u64,
    /// Page number -> its [`PAGE`] bytes.
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl SparseBytes {
    /// The bytes of `data`.
    pub fn from_vec(data: &[u8]) -> SparseBytes {
        let mut s = SparseBytes::default();
        s.write(0, data);
        s
    }

    /// The length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Bytes of memory the pages hold.
    pub fn held(&self) -> u64 {
        self.pages.len() as u64 * PAGE
    }

    /// Up to `count` bytes at `offset` (none at or past the end).
    pub fn read(&self, offset: u64, count: u32) -> Vec<u8> {
        let end = offset.saturating_add(count as u64).min(self.len);
        if end <= offset {
            return Vec::new();
        }
        let mut out = vec![0; (end - offset) as usize];
        for (&p, page) in self.pages.range(offset / PAGE..end.div_ceil(PAGE)) {
            let (from, to) = ((p * PAGE).max(offset), ((p + 1) * PAGE).min(end));
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&page[(from - p * PAGE) as usize..(to - p * PAGE) as usize]);
        }
        out
    }

    /// Writes `data` at `offset`, growing the length to cover it (callers
    /// check the end against their limit).
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        let mut at = offset;
        while at < end {
            let p = at / PAGE;
            let to = end.min((p + 1) * PAGE);
            let src = &data[(at - offset) as usize..(to - offset) as usize];
            let start = (at - p * PAGE) as usize;
            match self.pages.get_mut(&p) {
                Some(page) => page[start..start + src.len()].copy_from_slice(src),
                None if src.iter().all(|&b| b == 0) => {}
                None => {
                    let mut page = vec![0; PAGE as usize].into_boxed_slice();
                    page[start..start + src.len()].copy_from_slice(src);
                    self.pages.insert(p, page);
                }
            }
            self.drop_if_zero(p);
            at = to;
        }
        self.len = self.len.max(end);
    }

    /// Truncates or extends (with a hole) to `len` bytes.
    pub fn set_len(&mut self, len: u64) {
        self.pages.split_off(&len.div_ceil(PAGE));
        if len % PAGE != 0
            && let Some(page) = self.pages.get_mut(&(len / PAGE))
        {
            page[(len % PAGE) as usize..].fill(0);
            self.drop_if_zero(len / PAGE);
        }
        self.len = len;
    }

    /// Where the first data (`data`) or hole (`!data`) at or after `offset`
    /// starts, a page at a time; the end counts as a hole. `None` if
    /// `offset` is at or past the end, or no data follows it.
    pub fn seek(&self, offset: u64, data: bool) -> Option<u64> {
        if offset >= self.len {
            return None;
        }
        let first = offset / PAGE;
        let at = if data {
            *self.pages.range(first..).next()?.0 * PAGE
        } else {
            let mut p = first;
            for &held in self.pages.range(first..).map(|(p, _)| p) {
                if held != p {
                    break;
                }
                p += 1;
            }
            p * PAGE
        };
        (at < self.len || !data).then_some(at.max(offset).min(self.len))
    }

    fn drop_if_zero(&mut self, p: u64) {
        if self
            .pages
            .get(&p)
            .is_some_and(|page| page.iter().all(|&b| b == 0))
        {
            self.pages.remove(&p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Write(u64, Vec<u8>),
        Len(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..40000, prop::collection::vec(any::<u8>(), 1..9000))
                .prop_map(|(o, d)| Op::Write(o, d)),
            (0u64..40000, 1usize..9000).prop_map(|(o, n)| Op::Write(o, vec![0; n])),
            (0u64..45000).prop_map(Op::Len),
        ]
    }

    /// What `seek` must answer: a page holds data exactly when it holds a
    /// byte that is not zero.
    fn model_seek(model: &[u8], offset: u64, data: bool) -> Option<u64> {
        let len = model.len() as u64;
        if offset >= len {
            return None;
        }
        let mut p = offset / PAGE;
        while p * PAGE < len {
            let page = &model[(p * PAGE) as usize..len.min((p + 1) * PAGE) as usize];
            if page.iter().any(|&b| b != 0) == data {
                return Some(offset.max(p * PAGE));
            }
            p += 1;
        }
        (!data).then_some(len)
    }

    proptest! {
        #[test]
        fn matches_a_vec(ops in prop::collection::vec(op(), 1..20)) {
            let mut s = SparseBytes::default();
            let mut model: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Write(o, d) => {
                        s.write(o, &d);
                        let end = o as usize + d.len();
                        if model.len() < end { model.resize(end, 0); }
                        model[o as usize..end].copy_from_slice(&d);
                    }
                    Op::Len(n) => { s.set_len(n); model.resize(n as usize, 0); }
                }
                prop_assert_eq!(s.len(), model.len() as u64);
                prop_assert_eq!(s.read(0, u32::MAX), model.clone());
                prop_assert_eq!(s.read(777, 5000), model.get(777..).map_or(vec![], |m| m[..m.len().min(5000)].to_vec()));
                let data_pages = model.chunks(PAGE as usize).filter(|p| p.iter().any(|&b| b != 0)).count();
                prop_assert_eq!(s.held(), data_pages as u64 * PAGE);
                for at in (0..model.len() as u64 + 300).step_by(331) {
                    prop_assert_eq!(s.seek(at, true), model_seek(&model, at, true));
                    prop_assert_eq!(s.seek(at, false), model_seek(&model, at, false));
                }
            }
        }
    }
}
