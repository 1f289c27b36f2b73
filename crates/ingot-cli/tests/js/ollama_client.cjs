// Drives `ingot serve` with the official Ollama JavaScript client: list, a streamed chat, and
// embeddings (issue 15; SmolLM2 embeds with its last token).
// Usage: node ollama_client.cjs HOST (with the `ollama` package on NODE_PATH).
const { Ollama } = require('ollama')

async function main() {
  const ollama = new Ollama({ host: process.argv[2] })
  const list = await ollama.list()
  if (!list.models.some((m) => m.name === 'smollm2-135m:latest')) {
    throw new Error('smollm2-135m:latest not listed: ' + JSON.stringify(list))
  }
  const stream = await ollama.chat({
    model: 'smollm2-135m',
    messages: [{ role: 'user', content: 'Say hello.' }],
    stream: true,
    options: { temperature: 0, num_predict: 16 },
  })
  let text = ''
  let done = 0
  for await (const part of stream) {
    text += part.message.content
    if (part.done) done += 1
  }
  if (!text.trim() || done !== 1) throw new Error(`bad stream: ${JSON.stringify(text)} done=${done}`)
  const e = await ollama.embed({ model: 'smollm2-135m', input: ['hello', 'meeting notes'] })
  if (e.embeddings.length !== 2 || e.embeddings[0].length !== 576) {
    throw new Error('bad embed: ' + JSON.stringify(e).slice(0, 200))
  }
  console.log('OK')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
