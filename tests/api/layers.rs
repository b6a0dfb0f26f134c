//! The crate's top-level modules import each other without circles: every
//! `crate::…` path in `src/` (in `use` trees and in code) is an edge from the
//! module whose file holds it to the module it names, and the graph must
//! have no cycle. `identity` sits below `auth` and `db`, and the layers below
//! `server` record metrics through the `metrics` facade, so none of them
//! needs the one above.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The top-level modules named by `crate::` paths in `source`, including
/// the heads of grouped imports (`use crate::{a::X, b::{Y, Z}}`).
fn named_modules(source: &str) -> BTreeSet<String> {
    let code: String =
        source.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let preceded =
            rest[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        rest = &rest[at + "crate::".len()..];
        if preceded {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // The group's items at depth one: each starts with a module.
            let (mut depth, mut start) = (0usize, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && !c.is_whitespace() => {
                        out.insert(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// Each top-level module of `src/` and the other top-level modules it names.
fn module_graph(src: &Path) -> Graph {
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let top = |path: &Path| {
        let first = path.strip_prefix(src).expect("under src").components().next().expect("a component");
        first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> =
        files.iter().map(|f| top(f)).filter(|m| m != "lib" && m != "main").collect();
    let mut graph = Graph::new();
    for file in &files {
        let from = top(file);
        if !modules.contains(&from) {
            continue;
        }
        let source = std::fs::read_to_string(file).expect("a source file");
        let edges = graph.entry(from.clone()).or_default();
        edges.extend(named_modules(&source).into_iter().filter(|m| modules.contains(m) && *m != from));
    }
    graph
}

/// One cycle of `graph`, as the path around it, if there is any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    // The walk saw the crate: the layers named in docs/architecture.md.
    for (module, below) in [("db", "identity"), ("auth", "identity"), ("auth", "db"), ("server", "api")] {
        assert!(graph[module].contains(below), "{module} should import {below}: {graph:#?}");
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle between top-level modules: {}", cycle.join(" -> "));
    }
}

/// The lines of the files under `dir` that name poem-openapi: an import, a
/// path, or one of its derives.
fn wire_mentions(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("the directory is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("a source file");
            for (n, line) in source.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let derives = code.trim_start().starts_with("#[derive(")
                    && ["Object", "ApiResponse", "Enum", "Union", "Multipart"]
                        .iter()
                        .any(|d| code.split(|c: char| !c.is_alphanumeric()).any(|w| w == *d));
                if code.contains("poem_openapi") || code.contains("#[oai(") || derives {
                    out.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

/// Rows are not the wire: `db` returns plain row structs, and the API's
/// objects (in `api`, converted from the rows) are the contract, so a column
/// can change without changing the spec by accident. The value types both
/// share (`domain`: ids, text, `text_enum!` vocabularies) are the exception.
#[test]
fn db_returns_rows_and_knows_nothing_of_the_wire() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = wire_mentions(&src.join("db"));
    assert!(found.is_empty(), "src/db names poem-openapi:\n{}", found.join("\n"));
    // The check can see one: the API's own files are full of them.
    assert!(wire_mentions(&src.join("api")).len() > 100);
}

#[test]
fn the_check_sees_grouped_imports_and_finds_a_circle() {
    let source = "use crate::{\n    auth::{Principal, api_keys::Scope},\n    db::Db, // crate::server in a comment\n};\n\
                  fn f() { crate::error::Error::internal(x); $crate::macros::m!(); }";
    assert_eq!(named_modules(source), ["auth", "db", "error"].map(String::from).into_iter().collect());

    let edges = |pairs: &[(&str, &str)]| {
        let mut g = Graph::new();
        for (a, b) in pairs {
            g.entry((*a).to_owned()).or_default().insert((*b).to_owned());
            g.entry((*b).to_owned()).or_default();
        }
        g
    };
    assert_eq!(find_cycle(&edges(&[("api", "db"), ("db", "identity"), ("auth", "identity")])), None);
    let cycle = find_cycle(&edges(&[("api", "db"), ("db", "server"), ("server", "api")])).expect("a circle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
}
