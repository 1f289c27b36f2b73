//! The GBNF grammar behind `response_format: {"type": "json_object"}`.
//!
//! This is llama.cpp's `grammars/json.gbnf` (MIT). It lives here until the engine crate
//! exports its own `JSON_GBNF`; then this becomes a re-export.

/// Any JSON object, with bounded whitespace so a model cannot pad forever.
pub const JSON_GBNF: &str = r#"root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4})
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

ws ::= | " " | "\n" [ \t]{0,20}
"#;
