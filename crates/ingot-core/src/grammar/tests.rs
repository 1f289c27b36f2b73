use super::*;

fn ok(g: &str) -> Result<(), String> {
    check(g, &|t| t == "<|im_end|>")
}

#[test]
fn accepts_real_grammars() {
    ok(super::JSON_GBNF).unwrap();
    ok("root ::= \"yes\" | \"no\"").unwrap();
    ok("root ::= (\"a\" | [b-d]+ ( \"x\"{2,5} )? )* <|im_end|>\n# comment\n").unwrap();
    ok("root ::= item{1,3} \".\"\nitem ::= [^\\n\\x41\\u00e9] | .\r\n").unwrap();
    ok("root ::= ( \n \"a\" \n | \"b\" \n )").unwrap();
    ok("root ::= <[42]> !<[7]>").unwrap();
}

#[test]
fn refuses_oversized_grammars() {
    let big = format!("root ::= \"{}\"", "a".repeat(MAX_GRAMMAR_BYTES));
    let e = ok(&big).unwrap_err();
    assert!(e.contains("bytes") && e.contains("65536"), "{e}");
}

#[test]
fn refuses_deep_nesting_without_recursing() {
    // The crash: 100,000 nested groups overflowed llama.cpp's recursive parser.
    // The check itself is iterative, so even far beyond the byte limit it cannot overflow.
    let n = 100_000;
    let deep = format!("root ::= {}\"a\"{}", "(".repeat(n), ")".repeat(n));
    let e = check(&deep, &|_| false).unwrap_err();
    assert!(e.contains("bytes"), "{e}");
    let n = 1000;
    let deep = format!("root ::= {}\"a\"{}", "(".repeat(n), ")".repeat(n));
    let e = ok(&deep).unwrap_err();
    assert!(e.contains("nests groups deeper than 128"), "{e}");
    let fine = format!("root ::= {}\"a\"{}", "(".repeat(100), ")".repeat(100));
    ok(&fine).unwrap();
}

#[test]
fn refuses_repetitions_that_expand_too_far() {
    // llama.cpp itself refuses counts above 2000, but would print the whole grammar.
    let lit = "x".repeat(1000);
    let e = ok(&format!("root ::= \"{lit}\"{{100000}}")).unwrap_err();
    assert!(e.contains("repetition count 100000"), "{e}");
    // Within its threshold, a long literal repeated 2000 times is 2M elements.
    let e = ok(&format!("root ::= \"{lit}\"{{2000}}")).unwrap_err();
    assert!(e.contains("expands to more than"), "{e}");
    let e = ok(&format!("root ::= \"{lit}\"{{0,2000}}")).unwrap_err();
    assert!(e.contains("expands to more than"), "{e}");
    // Nested repetitions: llama.cpp's own product rule.
    let e = ok("root ::= ((\"a\"{0,100}){0,100})").unwrap_err();
    assert!(e.contains("multiply"), "{e}");
    // A maximum below the minimum would make llama.cpp create 2^64 rules.
    let e = ok("root ::= \"a\"{5,3}").unwrap_err();
    assert!(e.contains("maximum below its minimum"), "{e}");
    ok(&format!("root ::= \"{}\"{{10}}", "y".repeat(100))).unwrap();
    ok("root ::= \"a\"{3000,}").unwrap_err();
    ok("root ::= \"a\"{10,3000}").unwrap();
}

#[test]
fn reports_syntax_errors_with_a_position() {
    for (g, want) in [
        ("root ::= (\"a\"", "expecting `)` at line 1, column 14"),
        ("root := \"a\"", "expecting `::=`"),
        ("root ::= \"a", "unexpected end of the grammar"),
        ("root ::= [a-", "unexpected end"),
        ("root ::= \"\\q\"", "unknown escape at line 1, column 11"),
        ("root ::= \"\\x4\"", "hex digits"),
        ("root ::= *", "needs an item before it"),
        ("root ::= \"a\"{x}", "expecting a number"),
        ("root ::= \"a\"{2;}", "expecting `,` or `}`"),
        ("root ::= \"a\"{2,3", "expecting `}`"),
        ("root ::= \"a\" )", "expecting a newline"),
        ("root ::= other", "`other` but never defines it"),
        ("main ::= \"a\"", "no `root` rule"),
        ("root ::= <nope>", "not a single token"),
        ("root ::= <[99999999999]>", "too large"),
        ("root ::= \"a\"{99999999999999999999999}", "too large"),
        ("", "defines no rules"),
        ("  # only a comment\n", "defines no rules"),
        (
            "root ::= \"a\"\n\n ::= \"b\"",
            "expecting a rule name at line 3",
        ),
        ("root ::= \"a\0\"", "NUL"),
    ] {
        let e = ok(g).expect_err(g);
        assert!(e.contains(want), "{g:?}: {e}");
    }
}
