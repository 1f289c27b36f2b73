//! `ingot model import`: a Hugging Face checkpoint converted to GGUF, quantized and
//! registered, through the SDK's [`ingot::import::import_model`] (nothing is registered or
//! cached unless every step succeeds); this says what was imported.

use std::sync::Arc;

use anyhow::Result;
use ingot::import::{import_model, NewImport};
use ingot_catalog::NewModel;
use ingot_engine::units::human_bytes;

use crate::cli::ImportArgs;
use crate::output::print_json;
use crate::Context;

pub(crate) fn import(ctx: &Context, args: ImportArgs) -> Result<()> {
    let catalog = ctx.catalog()?;
    let quantize: ingot_engine::QuantType = args.quantize.parse()?;
    let model = NewModel {
        alias: args.alias.clone(),
        name: args.name.clone(),
        license: args.license.clone(),
        description: args.description.clone(),
        sha256: None,
        capabilities: Vec::new(),
        chat_template_override: match &args.chat_template {
            Some(p) => Some(ingot::models::read_chat_template(p)?),
            None => None,
        },
    };
    let new = NewImport {
        source: args.source.clone(),
        quantize,
    };
    let reporter = crate::progress::BarReporter::new(&args.alias);
    let engine: Arc<dyn ingot_engine::Engine> = Arc::new(ingot_engine::LlamaEngine::new());
    let done = import_model(&ctx.home, &catalog, &model, &new, Some(engine), &reporter)?;
    let entry = &done.entry;
    if args.json {
        return print_json(&super::model::model_json(entry, Some(&done.cached.path)));
    }
    match &done.variant_of {
        Some(base) => println!(
            "Imported '{base}:{}' (a variant of '{base}', stored as '{}') into {}",
            ingot_catalog::tag_of(entry),
            entry.alias,
            done.catalog.display()
        ),
        None => println!("Imported '{}' into {}", entry.alias, done.catalog.display()),
    }
    if let Some(s) = entry.sources.first() {
        println!("  source:        {}", super::model::describe_source(s));
    }
    println!(
        "  file:          {} ({})",
        done.cached.path.display(),
        human_bytes(done.cached.size)
    );
    println!("  architecture:  {}", entry.architecture);
    println!("  parameters:    {}", entry.parameters_display());
    println!("  quantization:  {}", entry.quantization);
    println!("  context:       {} tokens", entry.context_length);
    println!("  license:       {}", entry.license);
    let caps: Vec<String> = entry.capabilities.iter().map(|c| c.to_string()).collect();
    println!("  capabilities:  {}", caps.join(", "));
    println!("  sha256:        {}", done.cached.sha256);
    if entry.has(ingot_engine::Capability::Embedding) {
        println!(
            "Try it with: ingot model run {} --embed \"hello\"   (or POST /v1/embeddings on ingot serve)",
            entry.alias
        );
    } else {
        println!("Run it with: ingot model run {}", entry.alias);
    }
    Ok(())
}
