"""Development tools: not used at run time (e.g. the OpenAI-compatible test server)."""
