//! Forced calls (`tool_choice: required` or a named function): the text the answer starts
//! with and the JSON schema the rest must match, so the call is always valid JSON that
//! matches the function's parameter schema.

use serde_json::Value;

use super::{ToolChoice, ToolError, ToolFormat, ToolSpec};

/// What the assistant's turn starts with when a call is forced; [`super::render`] appends it
/// to the rendered prompt, so the model continues inside the call: `<tool_call>\n` for
/// [`ToolFormat::Hermes`] and [`ToolFormat::Generic`], `[TOOL_CALLS]` for
/// [`ToolFormat::Mistral`], nothing for [`ToolFormat::Llama3`].
pub fn forced_prefix(format: ToolFormat) -> &'static str {
    match format {
        ToolFormat::Hermes | ToolFormat::Generic => "<tool_call>\n",
        ToolFormat::Mistral => "[TOOL_CALLS]",
        ToolFormat::Llama3 => "",
    }
}

/// The JSON schema that a forced answer (the text after [`forced_prefix`]) must match, or
/// `None` when `choice` does not force a call:
/// - Hermes / Generic: `{"name": <const>, "arguments": <parameters>}`, an `anyOf` over the
///   allowed functions (all of `tools` for `required`, the named one otherwise);
/// - Llama3: the same with `parameters` instead of `arguments`;
/// - Mistral: an array of such objects (`arguments`), exactly one item unless `parallel`.
///
/// A function without a parameter schema takes any object.
///
/// Errors: [`ToolError::NoTools`] when a call is forced but `tools` is empty,
/// [`ToolError::UnknownFunction`] when `choice` names a function `tools` does not offer.
///
/// The workspace's `serde_json::Value` sorts object keys, so in the returned value `arguments`
/// comes before `name`; a grammar generated from it would make the model write the arguments
/// first. To constrain generation, use [`forced_call_schema_text`] (the same schema as JSON
/// text, properties in the order `name`, then `arguments`/`parameters`) with
/// [`crate::json_schema_grammar_with`] / [`crate::JsonSchemaConstraint`], which keep key order.
pub fn forced_call_schema(
    format: ToolFormat,
    tools: &[ToolSpec],
    choice: &ToolChoice,
    parallel: bool,
) -> Result<Option<Value>, ToolError> {
    Ok(
        forced_call_schema_text(format, tools, choice, parallel)?.map(|text| {
            serde_json::from_str(&text).expect("forced_call_schema_text writes valid JSON")
        }),
    )
}

/// [`forced_call_schema`] as JSON text that keeps the property order the model must write:
/// `name` first, then `arguments` (`parameters` for Llama 3). The tools' own parameter
/// schemas are written as they are held.
pub fn forced_call_schema_text(
    format: ToolFormat,
    tools: &[ToolSpec],
    choice: &ToolChoice,
    parallel: bool,
) -> Result<Option<String>, ToolError> {
    if !choice.is_forced() {
        return Ok(None);
    }
    if tools.is_empty() {
        return Err(ToolError::NoTools);
    }
    let allowed: Vec<&ToolSpec> = match choice {
        ToolChoice::Function(name) => {
            let Some(tool) = tools.iter().find(|t| &t.name == name) else {
                let available: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
                return Err(ToolError::UnknownFunction {
                    name: name.clone(),
                    available: available.join(", "),
                });
            };
            vec![tool]
        }
        _ => tools.iter().collect(),
    };
    let args_key = match format {
        ToolFormat::Llama3 => "parameters",
        _ => "arguments",
    };
    let objects: Vec<String> = allowed
        .iter()
        .map(|tool| call_object(tool, args_key))
        .collect();
    let call = if objects.len() == 1 {
        objects.into_iter().next().unwrap_or_default()
    } else {
        format!("{{\"anyOf\":[{}]}}", objects.join(","))
    };
    Ok(Some(match format {
        ToolFormat::Mistral => {
            let max = if parallel { "" } else { ",\"maxItems\":1" };
            format!("{{\"type\":\"array\",\"items\":{call},\"minItems\":1{max}}}")
        }
        _ => call,
    }))
}

/// `{"type":"object","properties":{"name":{"const":NAME},"<args_key>":PARAMS},...}`.
fn call_object(tool: &ToolSpec, args_key: &str) -> String {
    let name = serde_json::to_string(&tool.name).unwrap_or_else(|_| "\"\"".into());
    let params = match &tool.parameters {
        Some(p) => p.to_string(),
        None => r#"{"type":"object"}"#.to_string(),
    };
    format!(
        "{{\"type\":\"object\",\"properties\":{{\"name\":{{\"const\":{name}}},\"{args_key}\":{params}}},\
         \"required\":[\"name\",\"{args_key}\"],\"additionalProperties\":false}}"
    )
}
