//! The crate's layering, read from its sources: which top-level module names which through
//! `crate::…`. Fails on an import cycle between top-level modules, on the value layer reaching
//! outside itself, and on a pure stage (spec, render, plan, schedule, image, time) naming a module
//! with a client or a crate that does I/O — the properties `src/lib.rs` and `src/value/mod.rs`
//! promise a reader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that hold clients, files, processes or the runtime.
const EFFECT_MODULES: &[&str] = &[
    "admission",
    "app",
    "cli",
    "credentials",
    "daemon",
    "engine",
    "k8s",
    "provider",
    "repo",
    "signing",
    "sink",
    "telemetry",
];

/// Stages the data flow calls pure, and the modules each may name.
const PURE_STAGES: &[&str] = &["image", "plan", "render", "schedule", "spec", "time", "value"];

/// Paths of external crates that do I/O or need the runtime; none belongs in a value or a
/// decision (spec is left out: `spec::load` reads the spec folder by design).
const IO_PATHS: &[&str] = &[
    "reqwest::",
    "kube::",
    "tokio::",
    "std::fs",
    "std::net",
    "std::process",
    "git2::",
];

/// Crate-root aliases (`pub use value::{intern, secret}` in lib.rs) mapped to their module.
fn canonical(name: &str) -> &str {
    match name {
        "secret" | "intern" => "value",
        other => other,
    }
}

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to (`None` for lib.rs and main.rs).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(stem) => Some(stem.to_string()),
        None => Some(first),
    }
}

/// Code without comments and without its `#[cfg(test)]` tail (tests may reach anywhere).
fn production_code(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or("");
    body.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every top-level module named through `crate::name` or `crate::{a, b::c}`.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `pullsync_crate::x` or `my_crate::` are not the crate root.
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(canonical(&name).to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(canonical(&name).to_string());
            }
        }
    }
    found
}

/// The module graph of `src/` and, per module, the I/O paths its production code names.
fn read_crate() -> (Graph, BTreeMap<String, BTreeSet<&'static str>>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    let mut io = BTreeMap::<String, BTreeSet<&'static str>>::new();
    for file in files {
        let Some(module) = top_module(&src, &file) else {
            continue;
        };
        let code = production_code(&std::fs::read_to_string(&file).expect("read source"));
        let edges = graph.entry(module.clone()).or_default();
        for target in crate_references(&code) {
            if target != module {
                edges.insert(target);
            }
        }
        for path in IO_PATHS {
            if code.contains(path) {
                io.entry(module.clone()).or_default().insert(path);
            }
        }
    }
    (graph, io)
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let targets: Vec<&'g str> = s
            .graph
            .get(v)
            .map(|t| t.iter().map(String::as_str).collect())
            .unwrap_or_default();
        for w in targets {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn render(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(m, t)| format!("  {m} → {}", t.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn top_level_modules_form_no_import_cycle() {
    let (graph, _) = read_crate();
    assert!(
        graph.len() >= 15,
        "expected the crate's top-level modules, read {}",
        graph.len()
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules: {found:?}\nthe graph:\n{}",
        render(&graph)
    );
}

#[test]
fn the_value_layer_imports_nothing_else_of_the_crate() {
    let (graph, io) = read_crate();
    let outside: Vec<_> = graph["value"].iter().collect();
    assert!(
        outside.is_empty(),
        "src/value names {outside:?}; values are what other layers speak about and depend on nothing"
    );
    assert!(
        !io.contains_key("value"),
        "src/value does I/O: {:?}",
        io.get("value")
    );
}

#[test]
fn pure_stages_name_no_client_and_no_io() {
    let (graph, io) = read_crate();
    let mut wrong = Vec::new();
    for stage in PURE_STAGES {
        let Some(targets) = graph.get(*stage) else {
            panic!("no module {stage} under src/");
        };
        for target in targets {
            if EFFECT_MODULES.contains(&target.as_str()) {
                wrong.push(format!("{stage} → {target}"));
            }
        }
        if *stage != "spec"
            && let Some(paths) = io.get(*stage)
        {
            wrong.push(format!("{stage} names {paths:?}"));
        }
    }
    assert!(wrong.is_empty(), "pure stages reach effects: {wrong:?}");
}

/// The checker itself: a cycle through three modules is found, a chain is not, and both import
/// spellings are read.
#[test]
fn the_checker_finds_what_it_looks_for() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g = Graph::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        cycles(&graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])),
        vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]
    );
    assert!(cycles(&graph(&[("a", "b"), ("b", "c")])).is_empty());
    let refs = crate_references(
        "use crate::{spec::Catalog, k8s};\nuse crate::secret::SecretValue;\nlet x = my_crate::y;",
    );
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        vec!["k8s".to_string(), "spec".to_string(), "value".to_string()]
    );
    assert!(crate_references(&production_code("// crate::engine\nfn f() {}")).is_empty());
}
