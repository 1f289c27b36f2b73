// Drives `ingot serve` with the official Ollama JavaScript client: list and a streamed chat.
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
  console.log('OK')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
