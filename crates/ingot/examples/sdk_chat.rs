//! The SDK with an ordinary OpenAI client: the [`ingot::Manager`] finds the running ingot
//! service (or starts one), makes sure the model is downloaded and loaded, and hands its
//! endpoint and key to `async-openai`.
//!
//! ```text
//! cargo run -p ingot --example sdk_chat -- [ALIAS]      # default: smollm2-135m
//! ```
//!
//! Without a running service (`ingot service start`), the manager embeds one in this process
//! for as long as the example runs.

use async_openai::config::OpenAIConfig;
use async_openai::types::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs,
};
use async_openai::Client;
use futures_util::StreamExt;

/// A short greedy chat request for `alias`.
pub fn request(
    alias: &str,
    question: &str,
    max_tokens: u32,
) -> Result<CreateChatCompletionRequest, async_openai::error::OpenAIError> {
    CreateChatCompletionRequestArgs::default()
        .model(alias)
        .temperature(0.0)
        .max_completion_tokens(max_tokens)
        .messages([
            ChatCompletionRequestSystemMessageArgs::default()
                .content("You are a helpful assistant.")
                .build()?
                .into(),
            ChatCompletionRequestUserMessageArgs::default()
                .content(question)
                .build()?
                .into(),
        ])
        .build()
}

/// An OpenAI client for the manager's endpoint.
pub fn client(endpoint: &str, api_key: &str) -> Client<OpenAIConfig> {
    Client::with_config(
        OpenAIConfig::new()
            .with_api_base(endpoint)
            .with_api_key(api_key),
    )
}

/// One non-streaming answer.
pub async fn ask(
    client: &Client<OpenAIConfig>,
    req: CreateChatCompletionRequest,
) -> Result<String, async_openai::error::OpenAIError> {
    let resp = client.chat().create(req).await?;
    Ok(resp
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .unwrap_or_default())
}

/// One streamed answer, printed as it arrives and returned whole.
pub async fn ask_streaming(
    client: &Client<OpenAIConfig>,
    req: CreateChatCompletionRequest,
) -> Result<String, async_openai::error::OpenAIError> {
    use std::io::Write as _;
    let mut stream = client.chat().create_stream(req).await?;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            if let Some(t) = choice.delta.content {
                print!("{t}");
                let _ = std::io::stdout().flush();
                text.push_str(&t);
            }
        }
    }
    println!();
    Ok(text)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let alias = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "smollm2-135m".to_string());
    // Finds `ingot service start`'s service through its status file, or embeds one.
    let manager = ingot::Manager::builder().start_service(true).build()?;
    println!("ingot service: {}", manager.endpoint());
    manager.ensure_model(&alias)?;
    for m in manager.list_loaded()? {
        println!(
            "loaded: {} ({} bytes, context {})",
            m.id, m.size, m.context_length
        );
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = client(&manager.endpoint(), manager.api_key());
        let answer = ask(
            &client,
            request(&alias, "What is the capital of France?", 32)?,
        )
        .await?;
        println!("answer: {answer}");
        print!("streamed: ");
        ask_streaming(&client, request(&alias, "Name three colours.", 32)?).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    // Dropping the manager stops an embedded service; a detached one keeps running.
    Ok(())
}
