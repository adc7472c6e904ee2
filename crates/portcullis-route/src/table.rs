//! The compiled route table: a segment trie searched with bounded, pruned backtracking.
//!
//! Each trie node stands for one path-template prefix *shape* (variable names erased): its
//! literal children sit in a hash map keyed by the decoded literal, plus at most one `{var}`
//! child. A node points to up to two method tables: routes whose template ends at the node, and
//! routes whose template continues with a greedy variable at the node. Both are arrays indexed
//! by method (the seven nameable methods, then `ANY`), so the method dimension costs nothing.
//!
//! Memory: a large config holds tens of thousands of nodes (10,010 routes: about 25,000), kept
//! for the life of the config, so the frozen table is laid out flat. Most nodes are path
//! prefixes no route ends at: the method tables live in a side array and a node holds their
//! indexes. Literal children live in one edge array over one string of distinct literals,
//! with a hash index for the few nodes with many children. A frozen node is 32 bytes, with no
//! allocation of its own (ARCHITECTURE.md#performance-choices).
//!
//! A lookup never looks at routes that cannot match: it only follows children that match the
//! request's segments, so its cost depends on the request path and on how many templates share
//! its prefixes, not on the size of the table. See the crate docs for the priority rules and
//! [`RouteTable::find`] for the search itself.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;
use http::Method;

use crate::error::{DuplicateRoute, PathError};
use crate::key::{ANY_SLOT, RouteKey, method_slot};
use crate::path::{self, Segment, Segs};
use crate::{Param, Params};

/// "No route" in a method table.
const NONE: u32 = u32::MAX;

/// Per-method route indexes of one node: slots 0..7 for the nameable methods, 7 for `ANY`,
/// plus hand-built keys naming any other method (rare; normally empty).
#[derive(Debug, Clone)]
struct MethodTable {
    slots: [u32; 8],
    other: Vec<(Method, u32)>,
}

impl MethodTable {
    const EMPTY: MethodTable = MethodTable { slots: [NONE; 8], other: Vec::new() };

    /// The route answering `method` (slot `slot`): the explicit method first, then `ANY`
    /// (docs/aws-compatibility.md#routes-and-route-selection: `ANY` covers methods "not otherwise
    /// defined for that same resource path").
    fn lookup(&self, slot: Option<usize>, method: &Method) -> Option<u32> {
        let explicit = match slot {
            Some(i) => self.slots[i],
            None => self.other.iter().find(|(m, _)| m == method).map_or(NONE, |(_, r)| *r),
        };
        let found = if explicit != NONE { explicit } else { self.slots[ANY_SLOT] };
        (found != NONE).then_some(found)
    }

    /// The route at the slot `key`'s method selects, for duplicate detection and insertion.
    fn entry(&mut self, key: &RouteKey) -> &mut u32 {
        let Some(sel) = key.method() else {
            unreachable!("$default never reaches a trie node");
        };
        match sel.slot() {
            Some(i) => &mut self.slots[i],
            None => {
                let crate::MethodSel::Method(m) = sel else { unreachable!("ANY always has a slot") };
                let pos = match self.other.iter().position(|(o, _)| o == m) {
                    Some(pos) => pos,
                    None => {
                        self.other.push((m.clone(), NONE));
                        self.other.len() - 1
                    }
                };
                &mut self.other[pos].1
            }
        }
    }
}

/// FxHash: the literal maps are built from the config and only *looked up* with request data,
/// so an attacker cannot lengthen any probe sequence; a fast non-keyed hash is safe here.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }
    fn finish(&self) -> u64 {
        // The multiply only carries entropy upwards, and hashbrown picks buckets with the low
        // bits: finish with murmur3's avalanche so keys differing late (`svc1`, `svc2`) spread.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The hash of a literal (or request segment) in the frozen table's indexes.
fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(bytes);
    h.finish()
}

type LiteralMap = HashMap<Arc<str>, u32, BuildHasherDefault<FxHasher>>;

/// Up to this many literal children are kept in a list: scanning a few short strings is
/// cheaper than hashing the request segment.
const FEW: usize = 8;

/// The literal children of a node being built, keyed by decoded literal: a short list, or (past
/// [`FEW`]) a map.
#[derive(Debug, Clone, Default)]
struct Literals {
    few: Vec<(Arc<str>, u32)>,
    many: Option<Box<LiteralMap>>,
}

impl Literals {
    fn get(&self, seg: &str) -> Option<u32> {
        match &self.many {
            None => self.few.iter().find(|(k, _)| **k == *seg).map(|(_, c)| *c),
            Some(many) => many.get(seg).copied(),
        }
    }

    fn insert(&mut self, literal: Arc<str>, child: u32) {
        match &mut self.many {
            None if self.few.len() < FEW => self.few.push((literal, child)),
            None => {
                let mut many: LiteralMap = self.few.drain(..).collect();
                many.insert(literal, child);
                self.few = Vec::new();
                self.many = Some(Box::new(many));
            }
            Some(many) => {
                many.insert(literal, child);
            }
        }
    }

    /// Every `(literal, child)` pair, in no particular order.
    fn iter(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        let few = self.few.iter().map(|(k, c)| (&**k, *c));
        few.chain(self.many.iter().flat_map(|m| m.iter().map(|(k, c)| (&**k, *c))))
    }

    fn children(&self) -> impl Iterator<Item = u32> + '_ {
        self.iter().map(|(_, c)| c)
    }
}

/// What a trie node leads to besides its literal children, in the builder and frozen alike.
#[derive(Debug, Clone, Copy)]
struct Links {
    /// The `{var}` child, [`NONE`] if none.
    var: u32,
    /// Index in the method tables of the routes whose template ends here, [`NONE`] if none.
    exact: u32,
    /// Index in the method tables of the routes whose template has a greedy variable right
    /// after this prefix, [`NONE`] if none.
    greedy: u32,
    /// Pruning bounds, computed by `build`: the range of remaining depths (segments below this
    /// node) at which some route ends in this subtree, `exact_min > exact_max` if none ...
    exact_min: u16,
    exact_max: u16,
    /// ... and the fewest segments below this node before a greedy table, `u16::MAX` if none.
    greedy_min: u16,
}

/// One trie node (one template-prefix shape) while the table is being built.
#[derive(Debug, Clone)]
struct Node {
    literals: Literals,
    links: Links,
}

impl Node {
    fn new() -> Self {
        let links = Links {
            var: NONE,
            exact: NONE,
            greedy: NONE,
            exact_min: u16::MAX,
            exact_max: 0,
            greedy_min: u16::MAX,
        };
        Node { literals: Literals::default(), links }
    }
}

/// A literal child in the frozen table: the bytes `text[start..start + len]` lead to `child`.
#[derive(Debug, Clone, Copy)]
struct Edge {
    start: u32,
    len: u32,
    child: u32,
}

/// A node of the frozen table. Its literal children are `edges[first..first + count]`, scanned
/// when there are at most [`FEW`], found through `maps[map]` (edge numbers by literal hash)
/// when there are more.
#[derive(Debug, Clone)]
struct FrozenNode {
    first: u32,
    count: u32,
    map: u32,
    links: Links,
}

/// The literal children of every frozen node, stored once for the whole table.
#[derive(Debug, Clone, Default)]
struct Children {
    /// Every distinct literal, concatenated.
    text: Box<str>,
    edges: Box<[Edge]>,
    maps: Box<[HashTable<u32>]>,
}

impl Children {
    fn literal(&self, edge: &Edge) -> &[u8] {
        let start = edge.start as usize;
        self.text.as_bytes().get(start..start + edge.len as usize).unwrap_or_default()
    }

    /// The child of `node` whose literal is `seg`.
    fn get(&self, node: &FrozenNode, seg: &str) -> Option<u32> {
        let seg = seg.as_bytes();
        let edge = if node.map == NONE {
            let first = node.first as usize;
            let edges = self.edges.get(first..first + node.count as usize)?;
            edges.iter().find(|edge| self.literal(edge) == seg)?
        } else {
            let map = self.maps.get(node.map as usize)?;
            let is_seg = |e: &u32| self.edges.get(*e as usize).is_some_and(|edge| self.literal(edge) == seg);
            self.edges.get(*map.find(hash_bytes(seg), is_seg)? as usize)?
        };
        Some(edge.child)
    }

    /// Lays out the literal children of `nodes`, in node order; `frozen[i]` gets node `i`'s.
    fn freeze(nodes: &[Node], frozen: &mut [FrozenNode]) -> Children {
        let index = |n: usize| u32::try_from(n).expect("route table larger than 4 GiB");
        let mut text = String::new();
        let mut interned: HashMap<&str, u32, BuildHasherDefault<FxHasher>> = HashMap::default();
        let mut edges = Vec::new();
        let mut maps = Vec::new();
        for (node, out) in nodes.iter().zip(frozen.iter_mut()) {
            let first = edges.len();
            for (literal, child) in node.literals.iter() {
                let start = *interned.entry(literal).or_insert_with(|| {
                    text.push_str(literal);
                    index(text.len() - literal.len())
                });
                edges.push(Edge { start, len: index(literal.len()), child });
            }
            let count = edges.len() - first;
            (out.first, out.count) = (index(first), index(count));
            if count > FEW {
                let rehash = |e: &u32| {
                    let edge: &Edge = &edges[*e as usize];
                    let start = edge.start as usize;
                    hash_bytes(&text.as_bytes()[start..start + edge.len as usize])
                };
                let mut map = HashTable::with_capacity(count);
                for e in first..edges.len() {
                    map.insert_unique(rehash(&index(e)), index(e), rehash);
                }
                out.map = index(maps.len());
                maps.push(map);
            }
        }
        Children {
            text: text.into_boxed_str(),
            edges: edges.into_boxed_slice(),
            maps: maps.into_boxed_slice(),
        }
    }
}

/// Collects routes, refusing duplicates, then [`build`](RouteTableBuilder::build)s an immutable
/// [`RouteTable`].
#[derive(Debug, Clone)]
pub struct RouteTableBuilder<T> {
    routes: Vec<(RouteKey, T)>,
    nodes: Vec<Node>,
    tables: Vec<MethodTable>,
    /// Every literal and variable name seen, so each is stored once (see `share_names`).
    names: HashSet<Arc<str>, BuildHasherDefault<FxHasher>>,
    default: u32,
    root_greedy_takes_slash: bool,
}

impl<T> Default for RouteTableBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RouteTableBuilder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        RouteTableBuilder {
            routes: Vec::new(),
            nodes: vec![Node::new()],
            tables: Vec::new(),
            names: HashSet::default(),
            default: NONE,
            root_greedy_takes_slash: true,
        }
    }

    /// Whether a root-level greedy route (`ANY /{proxy+}`) also matches the bare `/`, with an
    /// empty value. Default `true`: AWS does not document it
    /// (docs/aws-compatibility.md#routes-and-route-selection `[UNDOC]`); AWS's own emulator does
    /// it, and the spec recommends it, configurable. A `… /` route wins either way.
    pub fn root_greedy_takes_slash(&mut self, yes: bool) -> &mut Self {
        self.root_greedy_takes_slash = yes;
        self
    }

    /// Adds a route. The table keeps its own copy of each literal and variable name, shared by
    /// every route that uses it, and none of `key`'s allocations.
    ///
    /// # Errors
    /// [`DuplicateRoute`] if an earlier route has the same method selector and path shape
    /// (variable names ignored, literals compared decoded); the table is left unchanged.
    pub fn insert(&mut self, mut key: RouteKey, value: T) -> Result<(), DuplicateRoute> {
        if let RouteKey::Route { path, .. } = &mut key {
            path.share_names(&mut self.names);
        }
        let index = u32::try_from(self.routes.len()).expect("more than 4 billion routes");
        let slot = match &key {
            RouteKey::Default => &mut self.default,
            RouteKey::Route { path, .. } => {
                let mut node = 0usize;
                let mut greedy = false;
                for seg in path.segments() {
                    node = match seg {
                        Segment::Literal(lit) => match self.nodes[node].literals.get(lit) {
                            Some(child) => child as usize,
                            None => {
                                let child = self.push_node();
                                self.nodes[node].literals.insert(lit.clone(), child as u32);
                                child
                            }
                        },
                        Segment::Var(_) => match self.nodes[node].links.var {
                            NONE => {
                                let child = self.push_node();
                                self.nodes[node].links.var = child as u32;
                                child
                            }
                            child => child as usize,
                        },
                        Segment::Greedy(_) => {
                            greedy = true;
                            node
                        }
                    };
                }
                let node = &mut self.nodes[node];
                let table = if greedy { &mut node.links.greedy } else { &mut node.links.exact };
                if *table == NONE {
                    *table = u32::try_from(self.tables.len()).expect("more than 4 billion method tables");
                    self.tables.push(MethodTable::EMPTY);
                }
                self.tables[*table as usize].entry(&key)
            }
        };
        if *slot != NONE {
            let existing = *slot as usize;
            return Err(DuplicateRoute {
                key,
                existing: self.routes[existing].0.clone(),
                existing_index: existing,
            });
        }
        *slot = index;
        self.routes.push((key, value));
        Ok(())
    }

    fn push_node(&mut self) -> usize {
        self.nodes.push(Node::new());
        self.nodes.len() - 1
    }

    /// Number of routes accepted so far.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route was accepted yet.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Freezes the table, precomputing the pruning bounds of every node.
    pub fn build(self) -> RouteTable<T> {
        let RouteTableBuilder {
            mut routes,
            mut nodes,
            mut tables,
            names: _,
            default,
            root_greedy_takes_slash,
        } = self;
        // Children are always pushed after their parent, so a reverse sweep sees every child
        // before its parent.
        for i in (0..nodes.len()).rev() {
            let (mut emin, mut emax, mut gmin) = (u16::MAX, 0u16, u16::MAX);
            // A table exists only once a route was inserted into it, so it is never empty.
            if nodes[i].links.exact != NONE {
                (emin, emax) = (0, 0);
            }
            if nodes[i].links.greedy != NONE {
                gmin = 0;
            }
            let var = nodes[i].links.var;
            let children = nodes[i].literals.children().chain((var != NONE).then_some(var));
            for c in children {
                let c = &nodes[c as usize].links;
                if c.exact_min <= c.exact_max {
                    emin = emin.min(c.exact_min + 1);
                    emax = emax.max(c.exact_max + 1);
                }
                gmin = gmin.min(c.greedy_min.saturating_add(1));
            }
            let n = &mut nodes[i].links;
            (n.exact_min, n.exact_max, n.greedy_min) = (emin, emax, gmin);
        }
        let mut frozen: Box<[FrozenNode]> =
            nodes.iter().map(|n| FrozenNode { first: 0, count: 0, map: NONE, links: n.links }).collect();
        let children = Children::freeze(&nodes, &mut frozen);
        routes.shrink_to_fit();
        tables.shrink_to_fit();
        let var_counts = routes.iter().map(|(k, _)| k.path().map_or(0, |p| p.var_names().count())).collect();
        RouteTable { routes, nodes: frozen, children, tables, default, var_counts, root_greedy_takes_slash }
    }
}

/// An immutable, compiled set of routes. Cheap to share behind an `Arc`; lookups take `&self`.
#[derive(Debug, Clone)]
pub struct RouteTable<T> {
    routes: Vec<(RouteKey, T)>,
    nodes: Box<[FrozenNode]>,
    children: Children,
    tables: Vec<MethodTable>,
    default: u32,
    var_counts: Vec<usize>,
    root_greedy_takes_slash: bool,
}

/// The route a request matched and the path parameters it captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'a, T> {
    /// The value stored with the route.
    pub value: &'a T,
    /// The route key that matched (`requestContext.routeKey`).
    pub key: &'a RouteKey,
    /// The captured path parameters, in path order.
    pub params: Params,
}

/// The best candidate found so far by one search phase.
#[derive(Clone, Copy)]
struct Best {
    route: u32,
    literals: usize,
    /// Segments matched before the greedy variable (phase 2 only).
    depth: usize,
}

/// State of one search.
struct Search<'s, 'p> {
    nodes: &'s [FrozenNode],
    children: &'s Children,
    tables: &'s [MethodTable],
    segs: Segs<'p>,
    slot: Option<usize>,
    method: &'p Method,
    best: Option<Best>,
    root_greedy_takes_slash: bool,
    /// Trie nodes entered, for the tests that pin the cost of a lookup.
    visits: usize,
}

impl Search<'_, '_> {
    /// The route of method table `table` ([`NONE`]: no table) answering the request's method.
    fn table(&self, table: u32) -> Option<u32> {
        self.tables.get(table as usize)?.lookup(self.slot, self.method)
    }

    /// Phase 1: routes without a greedy variable, ending exactly at the last segment.
    ///
    /// Depth-first, literal child before `{var}` child, so candidates are met in rule-6 order
    /// (position by position, literal first) and the first one found wins ties. A subtree is
    /// skipped when no route in it ends at the right depth, or when even all-literal remaining
    /// segments could not beat the literal count of the best candidate so far (rule 2).
    fn exact(&mut self, node: u32, depth: usize, literals: usize) {
        self.visits += 1;
        let frozen = &self.nodes[node as usize];
        let n = &frozen.links;
        let remaining = self.segs.len() - depth;
        if remaining < usize::from(n.exact_min) || remaining > usize::from(n.exact_max) {
            return;
        }
        if self.best.is_some_and(|b| b.literals >= literals + remaining) {
            return;
        }
        if remaining == 0 {
            if let Some(route) = self.table(n.exact) {
                self.best = Some(Best { route, literals, depth });
            }
            return;
        }
        let seg = self.segs.get(depth);
        if let Some(child) = self.children.get(frozen, seg) {
            self.exact(child, depth + 1, literals + 1);
        }
        if n.var != NONE && !seg.is_empty() {
            self.exact(n.var, depth + 1, literals);
        }
    }

    /// Phase 2: routes ending in a greedy variable that takes the segments from `depth` on.
    ///
    /// Ranked by literal count (rule 2), then by segments before the greedy variable (rule 3);
    /// rules 4 and 5 follow from those two, rule 6 from the literal-first visiting order.
    fn greedy(&mut self, node: u32, depth: usize, literals: usize) {
        self.visits += 1;
        let frozen = &self.nodes[node as usize];
        let n = &frozen.links;
        let last = self.segs.len() - 1; // the deepest position a greedy variable can start at
        if depth > last || usize::from(n.greedy_min) > last - depth {
            return;
        }
        let reachable = (literals + (last - depth), last);
        if self.best.is_some_and(|b| (b.literals, b.depth) >= reachable) {
            return;
        }
        // A greedy variable needs a non-empty value; the root-level one (`/{proxy+}`) also
        // takes the bare `/` (docs/aws-compatibility.md#routes-and-route-selection recommendation,
        // AWS emulator behaviour).
        let takes_rest =
            (depth == 0 && self.root_greedy_takes_slash) || depth < last || !self.segs.get(depth).is_empty();
        if takes_rest
            && let Some(route) = self.table(n.greedy)
            && self.best.is_none_or(|b| (literals, depth) > (b.literals, b.depth))
        {
            self.best = Some(Best { route, literals, depth });
        }
        let seg = self.segs.get(depth);
        if let Some(child) = self.children.get(frozen, seg) {
            self.greedy(child, depth + 1, literals + 1);
        }
        if n.var != NONE && !seg.is_empty() {
            self.greedy(n.var, depth + 1, literals);
        }
    }
}

impl<T> RouteTable<T> {
    /// Number of routes, `$default` included.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the table has no route at all.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// All routes in insertion order.
    pub fn routes(&self) -> impl Iterator<Item = (&RouteKey, &T)> {
        self.routes.iter().map(|(k, v)| (k, v))
    }

    /// Selects the route for a request (docs/aws-compatibility.md#routes-and-route-selection; the
    /// full rules are in the crate docs).
    ///
    /// `raw_path` is the request path without the query string, still percent-encoded, and
    /// starting with `/`. `Ok(None)` is a miss (the pipeline answers 404); there is no 405.
    ///
    /// # Errors
    /// [`PathError`] for a path the gateway refuses to route: not starting with `/`, invalid
    /// percent-encoding or UTF-8, a `.`/`..` segment (raw or encoded), more than
    /// [`MAX_SEGMENTS`](crate::MAX_SEGMENTS) segments. Checked before any route is considered,
    /// so a refused path is refused even when only `$default` exists.
    pub fn find(&self, method: &Method, raw_path: &str) -> Result<Option<Match<'_, T>>, PathError> {
        let found = path::with_segments(raw_path, |raw, segs| {
            let best = self.search(method, segs).best?;
            Some((best.route, self.params(best.route, raw, segs)))
        })?;
        let (route, params) = match found {
            Some(found) => found,
            None if self.default != NONE => (self.default, Params::default()),
            None => return Ok(None),
        };
        let (key, value) = &self.routes[route as usize];
        Ok(Some(Match { value, key, params }))
    }

    /// Runs both search phases: routes without a greedy variable, then (only if none
    /// matched) routes with one.
    fn search<'s, 'p>(&'s self, method: &'p Method, segs: Segs<'p>) -> Search<'s, 'p> {
        let mut search = Search {
            nodes: &self.nodes,
            children: &self.children,
            tables: &self.tables,
            segs,
            slot: method_slot(method),
            method,
            best: None,
            root_greedy_takes_slash: self.root_greedy_takes_slash,
            visits: 0,
        };
        search.exact(0, 0, 0);
        if search.best.is_none() {
            search.greedy(0, 0, 0);
        }
        search
    }

    /// How many trie nodes a lookup enters (tests pin that this does not grow with the table).
    #[cfg(test)]
    pub(crate) fn visits(&self, method: &Method, raw_path: &str) -> Result<usize, PathError> {
        path::with_segments(raw_path, |_, segs| self.search(method, segs).visits)
    }

    /// Captures the parameters of route `route`, known to match `segs` (decoded) / `raw`.
    fn params(&self, route: u32, raw: Segs<'_>, segs: Segs<'_>) -> Params {
        let route = route as usize;
        let Some(template) = self.routes[route].0.path() else {
            return Params::default();
        };
        let mut params = Vec::with_capacity(self.var_counts[route]);
        for (i, seg) in template.segments().iter().enumerate() {
            match seg {
                Segment::Literal(_) => {}
                Segment::Var(name) => params.push(Param {
                    name: name.clone(),
                    raw: raw.get(i).to_owned(),
                    decoded: segs.get(i).to_owned(),
                }),
                Segment::Greedy(name) => params.push(Param {
                    name: name.clone(),
                    raw: raw.rest(i).to_owned(),
                    decoded: segs.rest(i).to_owned(),
                }),
            }
        }
        Params(params)
    }
}

#[cfg(test)]
mod size {
    /// Pins the node size the module docs promise: every one of the ~2.5 nodes per route pays it.
    #[test]
    fn a_frozen_node_stays_small() {
        assert_eq!(std::mem::size_of::<super::FrozenNode>(), 32);
    }
}
